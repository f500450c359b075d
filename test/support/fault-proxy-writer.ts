/**
 * Object writers whose requests go through the fault proxy to a local s3rver, for tests of what the
 * writer does when S3 fails, stalls or answers slowly. One bucket, one proxy, an access-key
 * destination; each test adds the proxy's rules it needs.
 */
import crypto from 'node:crypto';
import { createObjectWriter, type ObjectWriterOptions, type S3ObjectWriter } from '../../src/destinations/s3/object-writer.js';
import type { S3DestinationConfig } from '../../src/destinations/s3/types.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { allowS3rverAccessKey, startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { localNetwork, startS3, type TestS3 } from './s3.js';
import { noIdentity } from './transfer-fixture.js';

const ACCESS_KEY = { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'secretsecretsecretsecret' };

export interface FaultProxyWriters {
  s3: TestS3;
  proxy: FaultProxy;
  /** A destination that reaches the bucket through the proxy (a new id each time). */
  config(over?: Partial<S3DestinationConfig>): S3DestinationConfig;
  /** A writer for `config(over.config)`, with the defaults' options and then `over.options`. */
  writer(over?: { config?: Partial<S3DestinationConfig>; options?: ObjectWriterOptions; log?: Logger }): S3ObjectWriter;
  /** Forgets the proxy's rules and recorded requests (call before each test). */
  reset(): void;
  /** Closes every writer made, the proxy and s3rver. */
  close(): Promise<void>;
}

export async function startFaultProxyWriters(
  bucket: string,
  defaults: { config?: Partial<S3DestinationConfig>; options?: ObjectWriterOptions } = {},
): Promise<FaultProxyWriters> {
  const s3 = await startS3([bucket]);
  allowS3rverAccessKey(ACCESS_KEY.accessKeyId, ACCESS_KEY.secretAccessKey);
  const proxy = await startFaultProxy(s3.endpoint);
  const writers: S3ObjectWriter[] = [];

  const config = (over: Partial<S3DestinationConfig> = {}): S3DestinationConfig => ({
    id: `dst_fault${crypto.randomBytes(3).toString('hex')}`,
    recipientId: 'rcp_test',
    audience: 'sluice-aaaaaaaaaaaaaaaaaaaaaaaaaa',
    bucket,
    region: 'us-east-1',
    prefix: 'exports',
    auth: { kind: 'access_key', ...ACCESS_KEY },
    endpoint: proxy.url,
    forcePathStyle: true,
    conditionalWrites: true,
    requestChecksums: false,
    ...defaults.config,
    ...over,
  });

  return {
    s3,
    proxy,
    config,
    writer(over = {}) {
      const w = createObjectWriter(config(over.config), {
        identity: noIdentity,
        log: over.log ?? silentLogger,
        network: localNetwork,
        options: { ...defaults.options, ...over.options },
      });
      writers.push(w);
      return w;
    },
    reset() {
      proxy.clearRules();
      proxy.requests.length = 0;
    },
    async close() {
      for (const w of writers) w.close();
      await proxy.close();
      await s3.close();
    },
  };
}

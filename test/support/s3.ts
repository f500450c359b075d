/**
 * A real S3-compatible server (s3rver) on a free loopback port, with buckets created up front, and an
 * admin client to read back what Sluice wrote. s3rver does not check signatures or If-None-Match and
 * corrupts aws-chunked streaming bodies, so Sluice talks to it with request checksums off.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
// s3rver ships no types; its surface here is tiny.
import S3rver from 's3rver';
import type { NetworkGuard } from '../../src/destinations/s3/network.js';
import { listKeys } from './s3-admin.js';

/**
 * The network rules the tests run under: the local S3 servers listen on 127.0.0.1 over http, which an
 * operator allows explicitly (SLUICE_ALLOW_HTTP_ENDPOINTS, SLUICE_ENDPOINT_ALLOWLIST=127.0.0.1).
 */
export const localNetwork: NetworkGuard = { policy: { allowHttp: true, allowlist: ['127.0.0.1'] } };

export interface TestS3 {
  endpoint: string;
  port: number;
  directory: string;
  /** A client with full access, for assertions only (Sluice itself never lists or reads). */
  admin: S3Client;
  list(bucket: string, prefix?: string): Promise<string[]>;
  get(bucket: string, key: string): Promise<Buffer>;
  close(): Promise<void>;
}

export async function startS3(buckets: string[] = ['test-bucket']): Promise<TestS3> {
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-s3-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const addr = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const admin = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    port: addr.port,
    directory,
    admin,
    list: (bucket, prefix) => listKeys(admin, bucket, prefix),
    async get(bucket, key) {
      const r = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    async close() {
      admin.destroy();
      await server.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

/** The API body of a destination that writes to `s3` (path style, access keys, no streaming checksums). */
export function s3rverDestination(s3: TestS3, bucket: string, auth: { accessKeyId: string; secretAccessKey: string }) {
  return { bucket, region: 'us-east-1', prefix: 'exports', endpoint: s3.endpoint, forcePathStyle: true, requestChecksums: false, auth: { ...auth } };
}

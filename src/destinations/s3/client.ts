/**
 * One S3 client per destination: its region, its endpoint (path-style for S3-compatible stores), its
 * credentials, checksums as the destination asks, no automatic region redirects (a wrong region is an
 * error the recipient must fix, not something to paper over) and bounded timeouts.
 *
 * The SDK's own retries are off (maxAttempts 1) by default: the object writer retries each request
 * itself with Buffers, and the connection test reports the first failure as it is.
 */
import crypto from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import type { IdentitySource } from '../../core/identity.js';
import type { Logger } from '../../core/log.js';
import { createCredentialProvider, type AwsCredentialIdentityProvider } from './credentials.js';
import { guardedRequestHandler, type NetworkGuard } from './network.js';
import type { S3DestinationConfig } from './types.js';

export interface ClientOptions {
  credentials: AwsCredentialIdentityProvider;
  /** The network rules every connection of the client obeys (network.ts). */
  network: NetworkGuard;
  /** Time to establish a connection (default 5 s). */
  connectionTimeoutMs?: number;
  /** Time for a whole request, including its body (default 120 s: an 8 MiB part on a slow link). */
  requestTimeoutMs?: number;
  /** SDK attempts per request (default 1: callers retry themselves). */
  maxAttempts?: number;
}

export function createS3Client(config: S3DestinationConfig, opts: ClientOptions): S3Client {
  const checksums = config.requestChecksums ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    credentials: opts.credentials,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    followRegionRedirects: false,
    maxAttempts: opts.maxAttempts ?? 1,
    requestHandler: guardedRequestHandler(opts.network, {
      connectionTimeout: opts.connectionTimeoutMs ?? 5_000,
      requestTimeout: opts.requestTimeoutMs ?? 120_000,
    }),
  });
}

/** `{ ExpectedBucketOwner }` when the bucket's account is known, to spread into every object call. */
export function ownerParams(config: S3DestinationConfig): { ExpectedBucketOwner?: string } {
  return config.accountId ? { ExpectedBucketOwner: config.accountId } : {};
}

export interface DestinationClientDeps {
  identity: IdentitySource;
  log: Logger;
  network: NetworkGuard;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** Clients kept per destination, most recently used last; evicted ones are destroyed. */
const clients = new Map<string, { fingerprint: string; resolver: NetworkGuard['resolver']; client: S3Client }>();
export const MAX_CACHED_CLIENTS = 256;

/**
 * The destination's shared client: one per destination in this process, so its sockets and its role
 * session (cached until 5 minutes before expiry) are reused across transfers. A changed configuration
 * (new region, endpoint, credentials, …) replaces the client.
 */
export function destinationClient(config: S3DestinationConfig, deps: DestinationClientDeps): S3Client {
  const fingerprint = crypto
    .createHash('sha256')
    .update(JSON.stringify([config, deps.network.policy, deps.connectionTimeoutMs ?? null, deps.requestTimeoutMs ?? null]))
    .digest('hex');
  const found = clients.get(config.id);
  clients.delete(config.id);
  if (found && found.fingerprint === fingerprint && found.resolver === deps.network.resolver) {
    clients.set(config.id, found);
    return found.client;
  }
  found?.client.destroy();
  const client = createS3Client(config, {
    credentials: createCredentialProvider(config, { identity: deps.identity, log: deps.log, network: deps.network }),
    network: deps.network,
    ...(deps.connectionTimeoutMs ? { connectionTimeoutMs: deps.connectionTimeoutMs } : {}),
    ...(deps.requestTimeoutMs ? { requestTimeoutMs: deps.requestTimeoutMs } : {}),
  });
  clients.set(config.id, { fingerprint, resolver: deps.network.resolver, client });
  while (clients.size > MAX_CACHED_CLIENTS) {
    const [oldest, entry] = clients.entries().next().value as [string, { client: S3Client }];
    clients.delete(oldest);
    entry.client.destroy();
  }
  return client;
}

/** Destroys every shared client (process shutdown, tests). */
export function closeDestinationClients(): void {
  for (const { client } of clients.values()) client.destroy();
  clients.clear();
}

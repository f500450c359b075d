/**
 * The S3 client of a destination: its region, its endpoint (path-style for S3-compatible stores), its
 * credentials, checksums as the destination asks, no automatic region redirects (a wrong region is an
 * error the recipient must fix, not something to paper over) and bounded timeouts.
 *
 * The SDK's own retries are off (maxAttempts 1) by default: the object writer retries each request
 * itself with Buffers, and the connection test reports the first failure as it is.
 */
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

/**
 * A client for one transfer of one destination, with its own role session: the role is assumed (a
 * fresh token, a fresh AssumeRoleWithWebIdentity) on the transfer's first request, and the session
 * dies with the client when the transfer ends. Nothing is shared across destinations or transfers, so
 * a recipient's change to its trust policy (a fix, or a revocation) holds from the very next transfer
 * (docs/trust.md). Cost: one STS call per transfer of a role destination, and one more per hour of a
 * transfer that runs longer than the session. Callers destroy the client when the transfer ends.
 */
export function transferClient(config: S3DestinationConfig, deps: DestinationClientDeps): S3Client {
  return createS3Client(config, {
    credentials: createCredentialProvider(config, { identity: deps.identity, log: deps.log, network: deps.network }),
    network: deps.network,
    ...(deps.connectionTimeoutMs ? { connectionTimeoutMs: deps.connectionTimeoutMs } : {}),
    ...(deps.requestTimeoutMs ? { requestTimeoutMs: deps.requestTimeoutMs } : {}),
  });
}

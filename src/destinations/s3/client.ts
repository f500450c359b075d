/**
 * The S3 client of a destination: its region, its endpoint (path-style for S3-compatible stores), its
 * credentials, checksums as the destination asks, no automatic region redirects (a wrong region is an
 * error the recipient must fix, not something to paper over) and bounded timeouts.
 *
 * The SDK's own retries are off (maxAttempts 1) by default: the object writer retries each request
 * itself with Buffers, and the connection test reports the first failure as it is.
 */
import { Readable } from 'node:stream';
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
  /**
   * Time for a whole request, including its body (default: none). Calls that must answer quickly
   * (connection tests, STS) set it; uploads do not — a big part on a slow but working link may take
   * long, and what matters is whether it moves (stallTimeoutMs).
   */
  requestTimeoutMs?: number;
  /**
   * A request whose connection moved no bytes, in either direction, for this long is abandoned as
   * stalled (default DEFAULT_STALL_TIMEOUT_MS). The caller retries it.
   */
  stallTimeoutMs?: number;
  /** SDK attempts per request (default 1: callers retry themselves). */
  maxAttempts?: number;
}

/** Default of SLUICE_UPLOAD_STALL_SECONDS (jobs/settings.ts), in ms. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export function createS3Client(config: S3DestinationConfig, opts: ClientOptions): S3Client {
  const checksums = config.requestChecksums ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  const client = new S3Client({
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
      // Node's socket inactivity timer: reset whenever bytes are read, or a write is handed to or
      // completed by the operating system.
      socketTimeout: opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
      ...(opts.requestTimeoutMs ? { requestTimeout: opts.requestTimeoutMs } : {}),
    }),
  });
  sendBodiesInPieces(client);
  return client;
}

/** Size of each socket write of a request body. */
export const BODY_PIECE_BYTES = 64 * 1024;

/**
 * The inactivity timer above is reset when a socket write completes, and a body handed over as one
 * Buffer is one write: an 8 MiB part on a slow link would look idle until all of it is sent. So, once
 * the request is signed and its checksums are set (both computed from the whole Buffer, as before),
 * its body is sent as a stream of 64 KiB pieces: each piece the network takes counts as progress, and
 * only a connection that really stops moving runs into the timer.
 */
function sendBodiesInPieces(client: S3Client): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      // Every request here is an HTTP request; only its body is looked at.
      const request = args.request as { body?: unknown } | undefined;
      const body = request?.body;
      if (request && body instanceof Uint8Array && body.byteLength > BODY_PIECE_BYTES) request.body = inPieces(body);
      return next(args);
    },
    { step: 'deserialize', name: 'sluiceBodyInPieces' },
  );
}

function inPieces(body: Uint8Array): Readable {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let offset = 0;
  return new Readable({
    read() {
      const end = Math.min(buf.length, offset + BODY_PIECE_BYTES);
      this.push(buf.subarray(offset, end));
      offset = end;
      if (offset >= buf.length) this.push(null);
    },
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
  stallTimeoutMs?: number;
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
    ...(deps.stallTimeoutMs ? { stallTimeoutMs: deps.stallTimeoutMs } : {}),
  });
}

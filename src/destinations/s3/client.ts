/**
 * One S3 client per destination: its region, its endpoint (path-style for S3-compatible stores), its
 * credentials, checksums as the destination asks, no automatic region redirects (a wrong region is an
 * error the recipient must fix, not something to paper over) and bounded timeouts.
 *
 * The SDK's own retries are off (maxAttempts 1) by default: the object writer retries each request
 * itself with Buffers, and the connection test reports the first failure as it is.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import type { IdentitySource } from '../../core/identity.js';
import type { Logger } from '../../core/log.js';
import { createCredentialProvider, type AwsCredentialIdentityProvider } from './credentials.js';
import type { S3DestinationConfig } from './types.js';

export interface ClientOptions {
  credentials: AwsCredentialIdentityProvider;
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
    requestHandler: {
      connectionTimeout: opts.connectionTimeoutMs ?? 5_000,
      // Node's socket inactivity timer: reset whenever bytes are read, or a write is handed to or
      // completed by the operating system.
      socketTimeout: opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
      ...(opts.requestTimeoutMs ? { requestTimeout: opts.requestTimeoutMs } : {}),
      throwOnRequestTimeout: true,
    },
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
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  stallTimeoutMs?: number;
}

/** Clients kept per destination, most recently used last; evicted ones are destroyed. */
const clients = new Map<string, { fingerprint: string; client: S3Client }>();
export const MAX_CACHED_CLIENTS = 256;

/**
 * The destination's shared client: one per destination in this process, so its sockets and its role
 * session (cached until 5 minutes before expiry) are reused across transfers. A changed configuration
 * (new region, endpoint, credentials, …) replaces the client.
 */
export function destinationClient(config: S3DestinationConfig, deps: DestinationClientDeps): S3Client {
  const fingerprint = crypto
    .createHash('sha256')
    .update(JSON.stringify([config, deps.connectionTimeoutMs ?? null, deps.requestTimeoutMs ?? null, deps.stallTimeoutMs ?? null]))
    .digest('hex');
  const found = clients.get(config.id);
  clients.delete(config.id);
  if (found && found.fingerprint === fingerprint) {
    clients.set(config.id, found);
    return found.client;
  }
  found?.client.destroy();
  const client = createS3Client(config, {
    credentials: createCredentialProvider(config, { identity: deps.identity, log: deps.log }),
    ...(deps.connectionTimeoutMs ? { connectionTimeoutMs: deps.connectionTimeoutMs } : {}),
    ...(deps.requestTimeoutMs ? { requestTimeoutMs: deps.requestTimeoutMs } : {}),
    ...(deps.stallTimeoutMs ? { stallTimeoutMs: deps.stallTimeoutMs } : {}),
  });
  clients.set(config.id, { fingerprint, client });
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

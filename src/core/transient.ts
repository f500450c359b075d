/**
 * Which failures are transient: the one table every retry decision reads — a request's retry in the
 * object writer (destinations/s3/retry.ts), the connection test's short retries, a failed transfer
 * job's retry (jobs/failures.ts) — and the one list of network and PostgreSQL errors that mean "the
 * connection went away" (destinations/s3/errors.ts, sources/postgres/reader.ts).
 *
 * A transient code comes in one of three kinds:
 * - `momentary`: the same request a moment later very likely succeeds (throttling, a 5xx, a reset,
 *   a write racing another). Worth a quick retry even where an answer is awaited (connection test).
 * - `outage`: something Sluice needs is down or unreachable for a while (the endpoint, the identity
 *   provider, Sluice's issuer, the source database). Retried with backoff; a quick retry would only
 *   delay the answer.
 * - `concurrency`: Sluice's own coordination (another run of the destination has not finished, a
 *   run was interrupted, a worker lost its session). The transfer runs again later.
 * Anything else is not transient: someone must act (error-codes.ts and docs/errors.md say who).
 */
import type { ErrorCode } from './error-codes.js';

export type Transience = 'momentary' | 'outage' | 'concurrency';

export const TRANSIENT: Readonly<Partial<Record<ErrorCode, Transience>>> = {
  throttled: 'momentary',
  transient: 'momentary',
  write_conflict: 'momentary',
  endpoint_timeout: 'outage',
  endpoint_unreachable: 'outage',
  upload_stalled: 'outage',
  source_unavailable: 'outage',
  // Sluice's own side of the token exchange (checked before an STS refusal is blamed on a recipient).
  issuer_unreachable: 'outage',
  signing_key_unpublished: 'outage',
  clock_skew: 'outage',
  idp_unreachable: 'outage',
  identity_unavailable: 'outage',
  transfer_already_running: 'concurrency',
  transfer_interrupted: 'concurrency',
  // This worker's control-store session was lost during the run; another worker may run it now.
  worker_session_lost: 'concurrency',
};

/** The kind of a transient code; undefined when the code is not transient. */
export function transience(code: string): Transience | undefined {
  return Object.hasOwn(TRANSIENT, code) ? TRANSIENT[code as ErrorCode] : undefined;
}

export function isTransientCode(code: string): boolean {
  return transience(code) !== undefined;
}

/** Node's and undici's codes of a connection that could not be opened. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/** … of a connection that dropped while in use. */
const RESET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);
const TIMEOUT = new Set(['ETIMEDOUT']);

export type NetworkFailure = 'unreachable' | 'reset' | 'timeout';

/** What a network error code (`err.code` of a socket error) says about the connection. */
export function networkFailure(code: unknown): NetworkFailure | undefined {
  if (typeof code !== 'string') return undefined;
  if (UNREACHABLE.has(code)) return 'unreachable';
  if (RESET.has(code)) return 'reset';
  if (TIMEOUT.has(code)) return 'timeout';
  return undefined;
}

/**
 * The connection to a PostgreSQL server went away rather than the query failing: the server shut
 * down or restarted (SQLSTATE 57P01, 57P02, 57P03), a connection exception (class 08), the network
 * dropped, or node-postgres reports its connection gone. Worth retrying; not the query's fault.
 */
export function isConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (/^57P0[123]$/.test(code) || code.startsWith('08') || networkFailure(code) !== undefined)) return true;
  const message = err instanceof Error ? err.message : '';
  return /^Connection terminated|connection ended|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(message);
}

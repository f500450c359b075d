/**
 * What to do with a failed transfer, from who must act:
 * - `retry`: transient — network, 5xx, throttling, timeouts, Sluice's own hiccups. graphile-worker
 *   runs the job again with exponential backoff. A connection refused, an unknown host or a timeout
 *   is transient too (a server restarting, a DNS blip) until it persists across every attempt: then
 *   the destination needs attention (see `persistedNetworkFailure`).
 * - `needs_attention`: the recipient must fix something (access denied, bucket missing, trust
 *   policy). Retrying cannot help; the destination stops being scheduled until a connection test
 *   passes.
 * - `fail`: the provider must fix something (configuration, a model that no longer matches the
 *   source). Not retried; the next scheduled run tries again.
 */
import type { ErrorCode } from '../core/error-codes.js';
import { isErrorRecord, SluiceError, type DatedErrorRecord } from '../core/errors.js';

export type FailureAction = 'retry' | 'needs_attention' | 'fail';

const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'transient',
  'throttled',
  'endpoint_timeout',
  'endpoint_unreachable',
  'upload_stalled',
  'source_unavailable',
  // The transfer runner's own per-destination guard: another run of it has not finished yet.
  'transfer_already_running',
  'transfer_interrupted',
  // Sluice's own side of the token exchange (checked before an STS refusal is blamed on a recipient).
  'issuer_unreachable',
  'signing_key_unpublished',
  'clock_skew',
  'idp_unreachable',
  'identity_unavailable',
  // This worker's control-store session was lost during the run; another worker may run it now.
  'worker_session_lost',
]);

const NODE_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function classifyFailure(err: unknown): FailureAction {
  if (err instanceof SluiceError || isErrorRecord(err)) {
    const e = err as { code: ErrorCode; actor?: string };
    if (TRANSIENT_CODES.has(e.code)) return 'retry';
    if (e.actor === 'recipient') return 'needs_attention';
    if (e.actor === 'sluice') return 'retry';
    return 'fail';
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && NODE_NETWORK_CODES.has(code)) return 'retry';
  // An unexpected exception is most often a transient condition (a dropped connection inside a
  // library); a few retries cost little and a real bug still surfaces in the logs and metrics.
  return 'retry';
}

/** Failures that are transient at first but, persisting across every attempt, need someone to look. */
const NETWORK_PERSISTENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['endpoint_unreachable', 'endpoint_timeout']);

/**
 * When a connection failure persisted across every attempt of a transfer: the record the destination
 * gets (it needs attention). Who must act is not knowable from here — the endpoint or its DNS name may
 * be wrong or down (the recipient's), or the network path from Sluice blocked (the provider's) — so
 * the hint names both, and the actor stays the one the error named (recipient for a custom endpoint,
 * provider for AWS's own).
 */
export function persistedNetworkFailure(err: unknown, attempts: number): DatedErrorRecord | null {
  if (!(err instanceof SluiceError || isErrorRecord(err))) return null;
  const e = err as { code: ErrorCode; actor: DatedErrorRecord['actor']; message: string };
  if (!NETWORK_PERSISTENT.has(e.code)) return null;
  return {
    code: e.code,
    actor: e.actor,
    message: `${e.message} It failed on all ${attempts} attempts, so the destination is parked until a connection test passes.`,
    hint:
      'Either the endpoint is wrong or down (recipient: check the endpoint URL, its DNS name and that the server runs), ' +
      'or the network between Sluice and it blocks the connection (provider: firewall, proxy, DNS resolver of the machines running Sluice). ' +
      'Then run the connection test.',
    at: new Date().toISOString(),
  };
}

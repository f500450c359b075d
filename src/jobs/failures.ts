/**
 * What to do with a failed transfer, from who must act:
 * - `retry`: transient — network, 5xx, throttling, timeouts, Sluice's own hiccups. graphile-worker
 *   runs the job again with exponential backoff.
 * - `needs_attention`: the recipient must fix something (access denied, bucket missing, trust
 *   policy). Retrying cannot help; the destination stops being scheduled until a connection test
 *   passes.
 * - `fail`: the provider must fix something (configuration, a model that no longer matches the
 *   source). Not retried; the next scheduled run tries again.
 */
import type { ErrorCode } from '../core/error-codes.js';
import { isErrorRecord, SluiceError } from '../core/errors.js';

export type FailureAction = 'retry' | 'needs_attention' | 'fail';

const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'transient',
  'throttled',
  'endpoint_timeout',
  'upload_stalled',
  'source_unavailable',
  // The transfer runner's own per-destination guard: another run of it has not finished yet.
  'transfer_already_running',
  'transfer_interrupted',
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

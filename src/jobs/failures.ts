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
import { SluiceError } from '../core/errors.js';

export type FailureAction = 'retry' | 'needs_attention' | 'fail';

const TRANSIENT_CODES = new Set([
  'transient',
  'throttled',
  'slow_down',
  'endpoint_timeout',
  'network_error',
  'server_error',
  'service_unavailable',
  'destination_busy',
  'source_unavailable',
  'source_timeout',
  // The transfer runner's own per-destination guard: another run of it has not finished yet.
  'transfer_already_running',
  'transfer_interrupted',
]);

const NODE_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function classifyFailure(err: unknown): FailureAction {
  if (err instanceof SluiceError || isErrorShape(err)) {
    const e = err as { code: string; actor?: string };
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

/** A plain `{code, actor, message}` object, as transfer results carry per-model errors. */
function isErrorShape(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && 'actor' in err;
}

/** The error as stored in `destinations.last_error` and shown by the API: no stack, no secrets. */
/** An error as stored in the control store (last_error, a test's error): no stack, no secrets. */
export interface ErrorRecord {
  code: string;
  message: string;
  actor: string;
  hint?: string;
  at: string;
}

export function errorRecord(err: unknown): ErrorRecord {
  const at = new Date().toISOString();
  if (err instanceof SluiceError) {
    return { code: err.code, message: err.message, actor: err.actor, ...(err.hint ? { hint: err.hint } : {}), at };
  }
  if (isErrorShape(err)) {
    const e = err as { code: string; actor: string; message?: string; hint?: string };
    return { code: e.code, message: e.message ?? e.code, actor: e.actor, ...(e.hint ? { hint: e.hint } : {}), at };
  }
  return { code: 'internal', message: err instanceof Error ? err.message : String(err), actor: 'sluice', at };
}

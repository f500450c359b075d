/**
 * What to do with a failed transfer, from who must act:
 * - `retry`: transient (core/transient.ts's table) — network, 5xx, throttling, timeouts, Sluice's own
 *   hiccups, and any failure whose actor is Sluice. graphile-worker
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
import { isTransientCode } from '../core/transient.js';

export type FailureAction = 'retry' | 'needs_attention' | 'fail';

export function classifyFailure(err: unknown): FailureAction {
  if (err instanceof SluiceError || isErrorRecord(err)) {
    const e = err as { code: ErrorCode; actor?: string };
    if (isTransientCode(e.code)) return 'retry';
    if (e.actor === 'recipient') return 'needs_attention';
    if (e.actor === 'sluice') return 'retry';
    return 'fail';
  }
  // Not one of ours: a dropped connection inside a library (core/transient.ts's network errors), or
  // another unexpected exception, which is most often a transient condition too; a few retries cost
  // little and a real bug still surfaces in the logs and metrics.
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

/**
 * Settings of workers and the scheduler, from the environment (documented in docs/operations.md,
 * "Configuration"). Kept beside the jobs code because only worker processes read them.
 */
import { z } from 'zod';
import { validationError } from '../core/errors.js';

const seconds = (def: number, min: number) => z.coerce.number().min(min).default(def);

const JobsEnv = z.object({
  /** Transfers (and connection tests) one worker process runs at once. */
  SLUICE_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** Transfers running at once against the source database, across all workers. */
  SLUICE_SOURCE_MAX_TRANSFERS: z.coerce.number().int().min(1).max(256).default(8),
  /** On SIGTERM/SIGINT: how long the current transfers may run on before they are aborted. */
  SLUICE_SHUTDOWN_GRACE_SECONDS: seconds(30, 1),
  /** A worker silent for this long is presumed dead and its transfers are handed to another worker. */
  SLUICE_WORKER_DEAD_AFTER_SECONDS: seconds(60, 2),
  /** How often a worker says it is alive (well under the bound above). */
  SLUICE_WORKER_HEARTBEAT_SECONDS: seconds(10, 0.2),
  /** How often each worker looks for workers whose control-store session is gone (killed, disconnected). */
  SLUICE_WORKER_CHECK_SECONDS: seconds(1, 0.1),
  /** An upload request whose connection moved no bytes for this long is abandoned and retried. */
  SLUICE_UPLOAD_STALL_SECONDS: seconds(60, 1),
  /** How often a running transfer records its rows, bytes and files per model (GET /v1/transfers/:id, the CLI's bar). */
  SLUICE_PROGRESS_SECONDS: seconds(2, 0.1),
  /** How often each worker looks for due destinations. */
  SLUICE_SCHEDULER_INTERVAL_SECONDS: seconds(15, 0.1),
  /**
   * TESTS ONLY: the length of a schedule "minute" in milliseconds, so that a 15-minute schedule can
   * run every few seconds in the scale-out test. Not exposed by the API; never set it in production.
   */
  SLUICE_TEST_MINUTE_MS: z.coerce.number().int().min(1).optional(),
});

export interface JobSettings {
  concurrency: number;
  sourceMaxTransfers: number;
  shutdownGraceMs: number;
  deadAfterMs: number;
  heartbeatMs: number;
  checkMs: number;
  uploadStallMs: number;
  schedulerIntervalMs: number;
  minuteMs: number;
}

export function loadJobSettings(env: NodeJS.ProcessEnv = process.env): JobSettings {
  const parsed = JobsEnv.safeParse(env);
  if (!parsed.success) {
    throw validationError(
      parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
      'environment',
    );
  }
  const e = parsed.data;
  const heartbeatMs = e.SLUICE_WORKER_HEARTBEAT_SECONDS * 1000;
  const deadAfterMs = e.SLUICE_WORKER_DEAD_AFTER_SECONDS * 1000;
  if (heartbeatMs * 2 > deadAfterMs) {
    throw validationError(
      [{ field: 'SLUICE_WORKER_HEARTBEAT_SECONDS', message: 'must be at most half of SLUICE_WORKER_DEAD_AFTER_SECONDS, or live workers would be taken for dead' }],
      'environment',
    );
  }
  return {
    concurrency: e.SLUICE_WORKER_CONCURRENCY,
    sourceMaxTransfers: e.SLUICE_SOURCE_MAX_TRANSFERS,
    shutdownGraceMs: e.SLUICE_SHUTDOWN_GRACE_SECONDS * 1000,
    deadAfterMs,
    heartbeatMs,
    checkMs: e.SLUICE_WORKER_CHECK_SECONDS * 1000,
    uploadStallMs: e.SLUICE_UPLOAD_STALL_SECONDS * 1000,
    schedulerIntervalMs: e.SLUICE_SCHEDULER_INTERVAL_SECONDS * 1000,
    minuteMs: e.SLUICE_TEST_MINUTE_MS ?? 60_000,
  };
}

/** How often a running transfer records its progress (SLUICE_PROGRESS_SECONDS): workers and `sluice transfer` alike. */
export function loadProgressIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const parsed = JobsEnv.pick({ SLUICE_PROGRESS_SECONDS: true }).safeParse(env);
  if (!parsed.success) {
    throw validationError(
      parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
      'environment',
    );
  }
  return parsed.data.SLUICE_PROGRESS_SECONDS * 1000;
}

/**
 * The scheduler: enqueues a transfer for every destination that is due. Every worker process runs
 * it; one SQL statement per batch locks due destinations with SKIP LOCKED, advances their
 * `next_run_at` and adds their jobs in the same transaction, so each due run is enqueued exactly
 * once however many processes tick at the same moment.
 */
import { SluiceError } from '../core/errors.js';
import type { Queryable } from '../control/db.js';
import type { Logger } from '../core/log.js';
import { deliverableSql } from '../control/delivery-gate.js';
import { insertScheduledTransfersSql } from '../transfer/store/transfers.js';
import { addScheduledTransferJobsSql } from './queue-jobs.js';
import { QUEUE_SCHEMA } from './queue.js';

export interface ScheduleOptions {
  /** Length of a schedule minute (60 000 except in tests). */
  minuteMs?: number;
  /** Destinations handled per statement. */
  batchSize?: number;
}

// Only destinations the delivery gate lets through are due (deliverableSql: the same rule the API, the
// worker and the runner apply one destination at a time).
// A destination already having a waiting transfer (a manual trigger, or a retry backing off) is not
// given a second one: that one delivers everything up to its start anyway. The transfer (id in the
// shape of ids.ts: `trf_` + 16 URL-safe characters) is recorded as queued in the same statement,
// by the clauses the transfers table's and the queue's owners write (one statement keeps a pass
// over thousands of destinations cheap).
const SCHEDULE_SQL = `
WITH due AS (
  SELECT d.id, d.frequency_minutes
    FROM destinations d
   WHERE d.enabled AND d.frequency_minutes IS NOT NULL AND ${deliverableSql('d')}
     AND (d.next_run_at IS NULL OR d.next_run_at <= now())
   ORDER BY d.next_run_at NULLS FIRST
   LIMIT $2
   FOR UPDATE SKIP LOCKED
), advanced AS (
  UPDATE destinations d
     SET next_run_at = now() + d.frequency_minutes * $1::float8 * interval '1 millisecond'
    FROM due
   WHERE d.id = due.id
  RETURNING d.id
), minted AS (
  SELECT a.id AS destination_id,
         'trf_' || substr(translate(encode(uuid_send(gen_random_uuid()), 'base64'), '+/=', 'xxx'), 1, 16) AS transfer_id
    FROM advanced a
   WHERE NOT EXISTS (
           SELECT 1 FROM ${QUEUE_SCHEMA}._private_jobs j
            WHERE j.key = 'transfer:' || a.id AND j.locked_at IS NULL AND j.attempts < j.max_attempts)
), recorded AS (
  ${insertScheduledTransfersSql('minted')}
), enqueued AS (
  ${addScheduledTransferJobsSql('recorded')}
)
SELECT (SELECT count(*) FROM advanced)::int AS due, (SELECT count(*) FROM enqueued)::int AS enqueued`;

export interface ScheduleResult {
  /** Destinations found due (and advanced). */
  due: number;
  /** Transfers enqueued (due minus those that already had one waiting). */
  enqueued: number;
}

/** Enqueues every due destination, in batches; returns the totals. */
export async function scheduleDue(db: Queryable, opts: ScheduleOptions = {}): Promise<ScheduleResult> {
  const minuteMs = opts.minuteMs ?? 60_000;
  const batch = opts.batchSize ?? 500;
  const total: ScheduleResult = { due: 0, enqueued: 0 };
  for (;;) {
    const { rows } = await db.query<ScheduleResult>(SCHEDULE_SQL, [minuteMs, batch]);
    const r = rows[0] ?? { due: 0, enqueued: 0 };
    total.due += r.due;
    total.enqueued += r.enqueued;
    if (r.due < batch) return total;
  }
}

export interface Scheduler {
  /** Runs one pass now (also used by tests and benchmarks). */
  tick(): Promise<ScheduleResult>;
  stop(): Promise<void>;
}

/** Ticks every `intervalMs`, starting now; errors are logged and the next tick tries again. */
export function startScheduler(db: Queryable, log: Logger, opts: ScheduleOptions & { intervalMs: number }): Scheduler {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = async (): Promise<ScheduleResult> => {
    const r = await scheduleDue(db, opts);
    if (r.due > 0) log.info({ due: r.due, enqueued: r.enqueued }, 'scheduled due destinations');
    return r;
  };
  const loop = (): void => {
    if (stopped) return;
    running = tick()
      .catch((err: unknown) => log.error({ err: err instanceof SluiceError ? err.toJSON() : err }, 'scheduler pass failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.intervalMs);
      });
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(loop, 0);
  return {
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/**
 * The scheduler: enqueues a transfer for every destination that is due. Every worker process runs
 * it; one transaction per batch locks due destinations with SKIP LOCKED, advances their
 * `next_run_at` and adds their jobs, so each due run is enqueued exactly
 * once however many processes tick at the same moment.
 */
import { SluiceError } from '../core/errors.js';
import { withTransaction, type Pool } from '../control/db.js';
import type { Logger } from '../core/log.js';
import { advanceDueDestinations } from '../control/destination-store.js';
import { insertScheduledTransfersSql } from '../transfer/store/transfers.js';
import { addScheduledTransferJobsSql } from './queue-jobs.js';
import { QUEUE_SCHEMA } from './queue.js';

export interface ScheduleOptions {
  /** Length of a schedule minute (60 000 except in tests). */
  minuteMs?: number;
  /** Destinations handled per statement. */
  batchSize?: number;
}

// The due destinations are taken and advanced by the destinations' store (advanceDueDestinations:
// only those the delivery gate lets through, locked with SKIP LOCKED until this transaction ends).
// A destination already having a waiting transfer (a manual trigger, or a retry backing off) is not
// given a second one: that one delivers everything up to its start anyway. The transfer (id in the
// shape of ids.ts: `trf_` + 16 URL-safe characters) is recorded as queued in the same transaction, by the clauses the transfers table's and the
// queue's owners write.
const ENQUEUE_SQL = `
WITH minted AS (
  SELECT a.id AS destination_id,
         'trf_' || substr(translate(encode(uuid_send(gen_random_uuid()), 'base64'), '+/=', 'xxx'), 1, 16) AS transfer_id
    FROM unnest($1::text[]) AS a(id)
   WHERE NOT EXISTS (
           SELECT 1 FROM ${QUEUE_SCHEMA}._private_jobs j
            WHERE j.key = 'transfer:' || a.id AND j.locked_at IS NULL AND j.attempts < j.max_attempts)
), recorded AS (
  ${insertScheduledTransfersSql('minted')}
), enqueued AS (
  ${addScheduledTransferJobsSql('recorded')}
)
SELECT (SELECT count(*) FROM enqueued)::int AS enqueued`;

export interface ScheduleResult {
  /** Destinations found due (and advanced). */
  due: number;
  /** Transfers enqueued (due minus those that already had one waiting). */
  enqueued: number;
}

/** Enqueues every due destination, in batches; returns the totals. */
export async function scheduleDue(pool: Pool, opts: ScheduleOptions = {}): Promise<ScheduleResult> {
  const minuteMs = opts.minuteMs ?? 60_000;
  const batch = opts.batchSize ?? 500;
  const total: ScheduleResult = { due: 0, enqueued: 0 };
  for (;;) {
    const r = await withTransaction(pool, async (tx): Promise<ScheduleResult> => {
      const due = await advanceDueDestinations(tx, { minuteMs, limit: batch });
      if (due.length === 0) return { due: 0, enqueued: 0 };
      const { rows } = await tx.query<{ enqueued: number }>(ENQUEUE_SQL, [due]);
      return { due: due.length, enqueued: rows[0]?.enqueued ?? 0 };
    });
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
export function startScheduler(pool: Pool, log: Logger, opts: ScheduleOptions & { intervalMs: number }): Scheduler {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = async (): Promise<ScheduleResult> => {
    const r = await scheduleDue(pool, opts);
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

/**
 * Crash recovery. graphile-worker leaves the jobs of a worker that died locked for 4 hours. Every
 * worker pool therefore writes a heartbeat into `workers`; each live worker, on its own heartbeat,
 * unlocks the jobs of pools whose heartbeat is older than the bound — and of pools
 * that never wrote one — so that another worker picks the destination up within about
 * `deadAfter + heartbeat`.
 */
import os from 'node:os';
import type { Queryable } from '../control/db.js';
import type { Logger } from '../core/log.js';
import { closeOrphanedTransfers } from '../transfer/store.js';
import { closeAbandonedConnectionTests } from './connection-tests.js';
import { QUEUE_SCHEMA } from './queue.js';

export async function beat(db: Queryable, workerId: string, concurrency: number): Promise<void> {
  await db.query(
    `INSERT INTO workers (id, hostname, pid, concurrency) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET last_seen_at = now()`,
    [workerId, os.hostname(), process.pid, concurrency],
  );
}

export async function retire(db: Queryable, workerId: string): Promise<void> {
  await db.query('DELETE FROM workers WHERE id = $1', [workerId]);
}

/**
 * Unlocks the jobs of dead workers; returns their ids. Safe to run from every worker at once: the
 * DELETE … RETURNING hands each dead row to one caller, and unlocking twice is harmless.
 */
export async function recoverDeadWorkers(db: Queryable, deadAfterMs: number): Promise<string[]> {
  const { rows } = await db.query<{ ids: string[] | null }>(
    `WITH dead AS (
       DELETE FROM workers WHERE last_seen_at < now() - $1::float8 * interval '1 millisecond' RETURNING id
     ), unregistered AS (
       SELECT DISTINCT j.locked_by AS id
         FROM ${QUEUE_SCHEMA}._private_jobs j
        WHERE j.locked_by IS NOT NULL
          AND j.locked_at < now() - $1::float8 * interval '1 millisecond'
          AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = j.locked_by)
     )
     SELECT array_agg(id) AS ids FROM (SELECT id FROM dead UNION SELECT id FROM unregistered) x`,
    [deadAfterMs],
  );
  const ids = rows[0]?.ids ?? [];
  if (ids.length > 0) {
    await db.query(`SELECT ${QUEUE_SCHEMA}.force_unlock_workers($1::text[])`, [ids]);
    // A connection test that was on its last attempt will not run again: say so on its row.
    await closeAbandonedConnectionTests(db, deadAfterMs);
  }
  return ids;
}

export interface Heartbeat {
  stop(): Promise<void>;
}

export function startHeartbeat(
  db: Queryable,
  log: Logger,
  opts: { workerId: string; concurrency: number; intervalMs: number; deadAfterMs: number; onRecovered?: (ids: string[]) => void },
): Heartbeat {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const once = async (): Promise<void> => {
    try {
      await beat(db, opts.workerId, opts.concurrency);
      const ids = await recoverDeadWorkers(db, opts.deadAfterMs);
      if (ids.length > 0) {
        log.warn({ deadWorkers: ids }, 'unlocked the jobs of workers that stopped sending heartbeats');
        opts.onRecovered?.(ids);
      }
    } catch (err) {
      log.error({ err }, 'heartbeat failed');
    }
    try {
      // Transfers whose process is gone (no one holds their destination lock): closed now, not at the
      // destination's next transfer. The first beat runs at the worker's start.
      const closed = await closeOrphanedTransfers(db);
      if (closed.length > 0) log.warn({ transfers: closed }, 'closed transfers whose process stopped before they finished');
    } catch (err) {
      log.error({ err }, 'could not close interrupted transfers');
    }
  };
  const loop = (): void => {
    if (stopped) return;
    current = once().finally(() => {
      if (!stopped) timer = setTimeout(loop, opts.intervalMs);
    });
  };
  let timer: NodeJS.Timeout | undefined;
  loop();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}

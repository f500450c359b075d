/**
 * The `workers` table: one row per running worker (its heartbeat, and the backend pid of its liveness
 * session). Every write to it is here; jobs/recovery.ts decides when a worker is gone.
 */
import os from 'node:os';
import type { Queryable } from '../control/db.js';
import { QUEUE_SCHEMA } from './queue.js';

/** First key of every liveness lock; the second is the holder's backend pid (unique among live sessions). */
export const LIVENESS_LOCK_NAMESPACE = 0x5117e;

/** Writes the heartbeat. Returns false when the row was missing: someone took this worker for dead. */
export async function beat(db: Queryable, workerId: string, concurrency: number): Promise<boolean> {
  const { rows } = await db.query<{ existed: boolean }>(
    `INSERT INTO workers (id, hostname, pid, concurrency) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET last_seen_at = now()
     RETURNING (xmax <> 0) AS existed`,
    [workerId, os.hostname(), process.pid, concurrency],
  );
  return rows[0]?.existed ?? false;
}

export async function retire(db: Queryable, workerId: string): Promise<void> {
  await db.query('DELETE FROM workers WHERE id = $1', [workerId]);
}

/** Registers (or re-registers) a worker with the backend pid of the connection it runs this on: its liveness session. */
export async function registerSession(db: Queryable, workerId: string, concurrency: number): Promise<void> {
  await db.query(
    `INSERT INTO workers (id, hostname, pid, concurrency, session_pid) VALUES ($1, $2, $3, $4, pg_backend_pid())
     ON CONFLICT (id) DO UPDATE SET session_pid = pg_backend_pid(), last_seen_at = now()`,
    [workerId, os.hostname(), process.pid, concurrency],
  );
}

/**
 * Removes the rows of workers that are gone (heartbeat older than `deadAfterMs`, or liveness session
 * ended) and returns their ids, with those of unregistered workers whose jobs have been locked that
 * long. The DELETE … RETURNING hands each dead row to one caller.
 */
export async function removeDeadWorkers(db: Queryable, deadAfterMs: number): Promise<string[]> {
  const { rows } = await db.query<{ ids: string[] | null }>(
    `WITH dead AS (
       DELETE FROM workers w
        WHERE w.last_seen_at < now() - $1::float8 * interval '1 millisecond'
           OR (w.session_pid IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM pg_locks l
                  WHERE l.locktype = 'advisory' AND l.granted AND l.pid = w.session_pid
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.classid = $2::int::oid AND l.objid = w.session_pid::oid AND l.objsubid = 2))
       RETURNING id
     ), unregistered AS (
       SELECT DISTINCT j.locked_by AS id
         FROM ${QUEUE_SCHEMA}._private_jobs j
        WHERE j.locked_by IS NOT NULL
          AND j.locked_at < now() - $1::float8 * interval '1 millisecond'
          AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = j.locked_by)
     )
     SELECT array_agg(id) AS ids FROM (SELECT id FROM dead UNION SELECT id FROM unregistered) x`,
    [deadAfterMs, LIVENESS_LOCK_NAMESPACE],
  );
  return rows[0]?.ids ?? [];
}

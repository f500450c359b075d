/**
 * The job queue's tables (graphile-worker's, schema `graphile_worker`): every write Sluice makes to
 * them is here — adding jobs, taking a waiting one off, giving back an attempt, unlocking the jobs
 * of dead workers.
 *
 * graphile-worker's public `jobs` view has no payload; the payload column of its table is stable API
 * for reading (its own docs query it), and only unlocked rows, or rows locked by this worker, are
 * changed here.
 */
import type { Queryable } from '../control/db.js';
import {
  CONNECTION_TEST_TASK,
  QUEUE_SCHEMA,
  TRANSFER_MAX_ATTEMPTS,
  TRANSFER_TASK,
  connectionTestJobKey,
  transferJobKey,
  type ConnectionTestJob,
  type TransferJob,
} from './queue.js';

export async function addTransferJob(db: Queryable, payload: TransferJob, runAt?: Date): Promise<void> {
  await db.query(
    `SELECT ${QUEUE_SCHEMA}.add_job($1, $2::json, job_key => $3, max_attempts => $4, run_at => $5)`,
    [TRANSFER_TASK, JSON.stringify(payload), transferJobKey(payload.destinationId), TRANSFER_MAX_ATTEMPTS, runAt ?? null],
  );
}

/**
 * The scheduler's add_job, as a clause of its one statement (jobs/scheduler.ts): a transfer job per
 * row of `recorded` (columns id, destination_id).
 */
export const addScheduledTransferJobsSql = (recorded: string): string =>
  `SELECT ${QUEUE_SCHEMA}.add_job(
           '${TRANSFER_TASK}',
           json_build_object('transferId', r.id, 'destinationId', r.destination_id, 'kind', 'INCREMENTAL', 'trigger', 'schedule'),
           job_key => 'transfer:' || r.destination_id,
           max_attempts => ${TRANSFER_MAX_ATTEMPTS})
    FROM ${recorded} r`;

/**
 * Adds a connection test job; callers go through requestConnectionTest (jobs/connection-tests.ts),
 * which coalesces requests. The key keeps one waiting per destination. A negative priority runs it
 * before waiting transfers: someone is usually waiting for the answer. Two attempts: the second only
 * happens when the worker running the first died (the task records its own failures and returns).
 */
export async function addConnectionTestJob(db: Queryable, payload: ConnectionTestJob): Promise<void> {
  await db.query(
    `SELECT ${QUEUE_SCHEMA}.add_job($1, $2::json, job_key => $3, max_attempts => 2, priority => -10)`,
    [CONNECTION_TEST_TASK, JSON.stringify(payload), connectionTestJobKey(payload.destinationId)],
  );
}

export interface QueuedTransferJob {
  id: string;
  key: string | null;
  running: boolean;
  payload: TransferJob;
}

/** The waiting and running transfer jobs of a destination, locked for the caller's transaction. */
export async function transferJobsOf(db: Queryable, destinationId: string): Promise<QueuedTransferJob[]> {
  // The waiting job is found by its key; running ones (a handful per worker) by their payload.
  const { rows } = await db.query<{ id: string; key: string | null; running: boolean; payload: TransferJob }>(
    `SELECT j.id::text, j.key, j.locked_at IS NOT NULL AS running, j.payload
       FROM ${QUEUE_SCHEMA}._private_jobs j
      WHERE (j.key = $1 AND j.attempts < j.max_attempts)
         OR (j.locked_at IS NOT NULL AND j.payload->>'destinationId' = $2
             AND j.task_id = (SELECT id FROM ${QUEUE_SCHEMA}._private_tasks WHERE identifier = $3))
        -- Holding the rows keeps a worker from taking the waiting job while we decide about it.
        FOR UPDATE OF j`,
    [transferJobKey(destinationId), destinationId, TRANSFER_TASK],
  );
  return rows;
}

/** The job of a transfer, locked for the caller's transaction; undefined when it has none. */
export async function transferJobOf(db: Queryable, transferId: string): Promise<{ id: string; running: boolean } | undefined> {
  const { rows } = await db.query<{ id: string; running: boolean }>(
    `SELECT j.id::text, j.locked_at IS NOT NULL AS running
       FROM ${QUEUE_SCHEMA}._private_jobs j
       JOIN ${QUEUE_SCHEMA}._private_tasks t ON t.id = j.task_id
      WHERE t.identifier = $1 AND j.payload->>'transferId' = $2
      FOR UPDATE OF j`,
    [TRANSFER_TASK, transferId],
  );
  return rows[0];
}

/** A failed attempt's job, waiting for its next attempt (graphile-worker's backoff). */
export interface ScheduledRetry {
  at: Date;
  /** The attempt that will run next, counting from 1. */
  attempt: number;
  maxAttempts: number;
}

/**
 * The next attempt of each of `transferIds` whose last attempt failed and whose job waits to run it
 * again: `failed` on such a transfer is not its last word yet. Reads only; one query for a page.
 */
export async function scheduledRetriesOf(db: Queryable, transferIds: readonly string[]): Promise<Map<string, ScheduledRetry>> {
  if (transferIds.length === 0) return new Map();
  let rows: Array<{ transfer_id: string; at: Date; attempts: number; max_attempts: number }>;
  try {
    ({ rows } = await db.query(
      `SELECT j.payload->>'transferId' AS transfer_id, j.run_at AS at, j.attempts, j.max_attempts
         FROM ${QUEUE_SCHEMA}._private_jobs j
         JOIN ${QUEUE_SCHEMA}._private_tasks t ON t.id = j.task_id
        WHERE t.identifier = $1 AND j.payload->>'transferId' = ANY($2::text[])
          AND j.locked_at IS NULL AND j.attempts > 0 AND j.attempts < j.max_attempts`,
      [TRANSFER_TASK, transferIds],
    ));
  } catch (err) {
    // An API that has queued nothing yet may read before the queue's schema exists: no retries then.
    if (isMissingRelation(err)) return new Map();
    throw err;
  }
  return new Map(rows.map((r) => [r.transfer_id, { at: r.at, attempt: r.attempts + 1, maxAttempts: r.max_attempts }]));
}

/** undefined_table or invalid_schema_name: the queue's tables are not there yet. */
const isMissingRelation = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '42P01' || code === '3F000';
};

/** Takes a waiting job off the queue. */
export async function deleteWaitingJob(db: Queryable, jobId: string): Promise<void> {
  await db.query(`DELETE FROM ${QUEUE_SCHEMA}._private_jobs WHERE id = $1 AND locked_at IS NULL`, [jobId]);
}

/**
 * "Worker `workerId` still holds job `jobId`" (no other worker took it over), as a condition over $2
 * and $3 for another table's statement (transfer/store/transfers.ts, markTransferQueuedAgain).
 */
export function jobHeldBy(jobId: string, workerId: string): { sql: string; params: [string, string] } {
  return { sql: `EXISTS (SELECT 1 FROM ${QUEUE_SCHEMA}._private_jobs WHERE id = $2 AND locked_by = $3)`, params: [jobId, workerId] };
}

/** Gives back the attempt a run counted (a shutdown is not the job's failure). */
export async function giveBackAttempt(db: Queryable, jobId: string, workerId: string): Promise<void> {
  await db.query(`UPDATE ${QUEUE_SCHEMA}._private_jobs SET attempts = greatest(attempts - 1, 0) WHERE id = $1 AND locked_by = $2`, [jobId, workerId]);
}

/**
 * Unlocks the jobs of workers that are gone, and wakes the workers listening for jobs (graphile-worker's
 * own signal, as add_job sends it, with how many came free): idle ones fetch them now rather than at
 * their next poll.
 */
export async function unlockJobsOf(db: Queryable, workerIds: string[]): Promise<void> {
  const { rows: held } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${QUEUE_SCHEMA}._private_jobs WHERE locked_by = ANY($1::text[])`, [workerIds]);
  await db.query(`SELECT ${QUEUE_SCHEMA}.force_unlock_workers($1::text[])`, [workerIds]);
  await db.query(`SELECT pg_notify('jobs:insert', json_build_object('count', $1::int)::text)`, [held[0]?.n ?? 0]);
}

/**
 * Connection tests of saved destinations as `connection_test` jobs. The test runs on a worker — where
 * transfers run, with the worker's network and identity, so a pass means the worker can deliver — and
 * its outcome lands in `connection_tests` (steps) and on the destination (status, last test, last
 * error). The API and the CLI request a test, then wait for that row or hand out its id.
 *
 * Requests coalesce: while a test of the destination waits in the queue, another request joins it
 * instead of queueing a second one. A request made while a test runs queues a new one (the running
 * test may predate the change the operator wants to check); further requests join that one.
 *
 * Only ids go into the job: the worker loads the configuration and decrypts the secret itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, Queryable } from '../control/db.js';
import { withTransaction } from '../control/db.js';
import type { ConnectionTestResult, ConnectionTestStep } from '../destinations/s3/types.js';
import { SluiceError, notFound, type DatedErrorRecord } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { addConnectionTestJob } from './queue-jobs.js';
import { QUEUE_SCHEMA, connectionTestJobKey, prepareQueue } from './queue.js';
import type { ConnectionTester } from './outcomes.js';

export type ConnectionTestStatus = 'queued' | 'running' | 'passed' | 'failed' | 'error';

/** One requested connection test, as the API shows it. */
export interface ConnectionTestRun {
  id: string;
  destinationId: string;
  status: ConnectionTestStatus;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The steps, once passed or failed. */
  result: ConnectionTestResult | null;
  /** Why the test could not run (status `error`). */
  error: DatedErrorRecord | null;
}

export interface RequestedConnectionTest {
  run: ConnectionTestRun;
  /** True when the request joined a test that was already waiting in the queue. */
  coalesced: boolean;
}

/** Finished tests kept per destination (older ones are deleted when a new test is requested). */
const KEEP_PER_DESTINATION = 50;

interface Row {
  id: string;
  destination_id: string;
  status: ConnectionTestStatus;
  requested_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  result: ConnectionTestResult | null;
  error: DatedErrorRecord | null;
}

function view(r: Row): ConnectionTestRun {
  return {
    id: r.id,
    destinationId: r.destination_id,
    status: r.status,
    requestedAt: r.requested_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
    result: r.result,
    error: r.error,
  };
}

export const isFinished = (run: ConnectionTestRun): boolean => ['passed', 'failed', 'error'].includes(run.status);

/** Queues a connection test of a saved destination, or joins the one already waiting. */
export async function requestConnectionTest(pool: Pool, destinationId: string): Promise<RequestedConnectionTest> {
  // The queue's schema may not exist yet when no worker has ever run (a fresh control store).
  await prepareQueue(pool);
  return withTransaction(pool, async (client) => {
    // The destination's row lock serialises requests: two clicks at once give one queued test.
    const dst = await client.query('SELECT 1 FROM destinations WHERE id = $1 AND deleted_at IS NULL FOR UPDATE', [destinationId]);
    if (dst.rowCount === 0) throw notFound('destination', destinationId);
    // A waiting test is one whose job no worker has taken yet (a taken job is locked).
    const waiting = await client.query<Row>(
      `SELECT c.* FROM connection_tests c
         JOIN ${QUEUE_SCHEMA}._private_jobs j ON j.key = $2 AND j.locked_at IS NULL AND j.payload->>'testId' = c.id
        WHERE c.destination_id = $1 AND c.status = 'queued'`,
      [destinationId, connectionTestJobKey(destinationId)],
    );
    if (waiting.rows[0]) return { run: view(waiting.rows[0]), coalesced: true };
    const id = newId('ctt');
    const { rows } = await client.query<Row>('INSERT INTO connection_tests (id, destination_id) VALUES ($1, $2) RETURNING *', [id, destinationId]);
    await addConnectionTestJob(client, { destinationId, testId: id });
    await client.query(
      `DELETE FROM connection_tests WHERE destination_id = $1 AND status IN ('passed', 'failed', 'error')
          AND id NOT IN (SELECT id FROM connection_tests WHERE destination_id = $1 ORDER BY requested_at DESC LIMIT $2)`,
      [destinationId, KEEP_PER_DESTINATION],
    );
    return { run: view(rows[0] as Row), coalesced: false };
  });
}

export async function getConnectionTest(db: Queryable, destinationId: string, testId: string): Promise<ConnectionTestRun> {
  const { rows } = await db.query<Row>('SELECT * FROM connection_tests WHERE id = $1 AND destination_id = $2', [testId, destinationId]);
  if (!rows[0]) throw notFound('connection test', testId);
  return view(rows[0]);
}

/** The destination's most recent tests, newest first. */
export async function listConnectionTests(db: Queryable, destinationId: string, limit: number): Promise<ConnectionTestRun[]> {
  const dst = await db.query('SELECT 1 FROM destinations WHERE id = $1 AND deleted_at IS NULL', [destinationId]);
  if (dst.rowCount === 0) throw notFound('destination', destinationId);
  const { rows } = await db.query<Row>(
    'SELECT * FROM connection_tests WHERE destination_id = $1 ORDER BY requested_at DESC, id LIMIT $2',
    [destinationId, limit],
  );
  return rows.map(view);
}

export interface AwaitOptions {
  timeoutMs: number;
  /** A worker silent for this long is not counted as running (to tell "no worker" from "all busy"). */
  deadAfterMs: number;
}

/**
 * Waits until the test has finished and returns it. Polls the row (from 50 ms up to 500 ms apart):
 * one cheap indexed read per poll, and no connection held between polls — unlike a LISTEN per request.
 * At the bound, throws an error that says what is going on and what to do; the test is not cancelled.
 */
export async function awaitConnectionTest(db: Queryable, run: ConnectionTestRun, opts: AwaitOptions): Promise<ConnectionTestRun> {
  const deadline = Date.now() + opts.timeoutMs;
  let pause = 50;
  let current = run;
  for (;;) {
    current = await getConnectionTest(db, run.destinationId, run.id);
    if (isFinished(current)) return current;
    const left = deadline - Date.now();
    if (left <= 0) throw await waitTimeout(db, current, opts);
    await sleep(Math.min(pause, left));
    pause = Math.min(500, Math.round(pause * 1.5));
  }
}

async function waitTimeout(db: Queryable, run: ConnectionTestRun, opts: AwaitOptions): Promise<SluiceError> {
  const seconds = Math.round(opts.timeoutMs / 100) / 10;
  const later = `It stays queued and runs when a worker is free; its result will be at GET /v1/destinations/${run.destinationId}/tests/${run.id} and its outcome on the destination (\`sluice destinations show ${run.destinationId}\`).`;
  if (run.status === 'running') {
    return new SluiceError({
      code: 'connection_test_timeout',
      status: 504,
      message: `Connection test ${run.id} of destination ${run.destinationId} is still running after ${seconds} s.`,
      hint: `Fetch its result later: GET /v1/destinations/${run.destinationId}/tests/${run.id}.`,
    });
  }
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM workers WHERE last_seen_at > now() - $1::float8 * interval '1 millisecond'`,
    [opts.deadAfterMs],
  );
  const live = rows[0]?.n ?? 0;
  if (live === 0) {
    return new SluiceError({
      code: 'no_worker',
      status: 503,
      message: `No worker took connection test ${run.id} within ${seconds} s: no worker process is running.`,
      hint: `Start a worker: \`sluice worker\` (or \`sluice start\`, which runs the API and a worker in one process). ${later}`,
    });
  }
  return new SluiceError({
    code: 'workers_busy',
    status: 503,
    message: `${live} worker${live === 1 ? ' is' : 's are'} running, but none took connection test ${run.id} within ${seconds} s: every slot is busy.`,
    hint: `Add workers or raise SLUICE_WORKER_CONCURRENCY. ${later}`,
  });
}

// ---- Worker side ----

/**
 * Closes tests whose job can no longer run: its worker died on the job's last attempt, so after the
 * job is unlocked (recovery.ts) nothing would ever finish the row, and whoever waits would only time
 * out. A job still locked, or with attempts left, counts as alive; `olderThanMs` leaves young rows alone.
 * Returns how many were closed.
 */
export async function closeAbandonedConnectionTests(db: Queryable, olderThanMs: number): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE connection_tests c
        SET status = 'error', finished_at = now(),
            error = jsonb_build_object(
              'code', 'worker_lost', 'actor', 'sluice',
              'message', 'The worker running this connection test stopped before it finished, on every attempt.',
              'hint', 'Request the test again; if it keeps happening, look at the workers'' logs for what stops them.')
      WHERE c.status IN ('queued', 'running')
        AND coalesce(c.started_at, c.requested_at) < now() - $1::float8 * interval '1 millisecond'
        AND NOT EXISTS (
              SELECT 1 FROM ${QUEUE_SCHEMA}._private_jobs j
               WHERE j.payload->>'testId' = c.id
                 AND (j.locked_at IS NOT NULL OR j.attempts < j.max_attempts))`,
    [olderThanMs],
  );
  return rowCount ?? 0;
}

/** A test row for a job queued without one (by an older version). */
export async function insertConnectionTestRun(db: Queryable, destinationId: string): Promise<string> {
  const id = newId('ctt');
  await db.query(`INSERT INTO connection_tests (id, destination_id, status, started_at) VALUES ($1, $2, 'running', now())`, [id, destinationId]);
  return id;
}

export async function markConnectionTestRunning(db: Queryable, testId: string): Promise<void> {
  await db.query(`UPDATE connection_tests SET status = 'running', started_at = now() WHERE id = $1`, [testId]);
}

/** The steps so far of a running test (the final result replaces them when it finishes). */
export async function recordConnectionTestProgress(db: Queryable, testId: string, steps: readonly ConnectionTestStep[]): Promise<void> {
  await db.query(`UPDATE connection_tests SET result = $2::jsonb WHERE id = $1 AND status = 'running'`, [
    testId,
    JSON.stringify({ passed: false, steps }),
  ]);
}

export async function finishConnectionTestRun(
  db: Queryable,
  testId: string,
  outcome: { status: 'passed' | 'failed'; result: ConnectionTestResult } | { status: 'error'; error: DatedErrorRecord },
): Promise<void> {
  await db.query(`UPDATE connection_tests SET status = $2, finished_at = now(), result = $3::jsonb, error = $4::jsonb WHERE id = $1`, [
    testId,
    outcome.status,
    outcome.status === 'error' ? null : JSON.stringify(outcome.result),
    outcome.status === 'error' ? JSON.stringify(outcome.error) : null,
  ]);
}

/** The error a finished-but-not-run test stands for (e.g. the destination was deleted meanwhile). */
export function runError(run: ConnectionTestRun): SluiceError {
  const e = run.error;
  if (e?.code === 'not_found') return notFound('destination', run.destinationId);
  return new SluiceError({
    code: e?.code ?? 'internal',
    actor: e?.actor === 'recipient' || e?.actor === 'provider' || e?.actor === 'sluice' ? e.actor : 'sluice',
    message: `Connection test ${run.id} could not run: ${e?.message ?? 'unknown error'}`,
    ...(e?.hint ? { hint: e.hint } : {}),
    status: 500,
  });
}

/**
 * A ConnectionTester that goes through the queue (for `sluice start`'s demo, whose worker runs in the
 * same process): requests the test and waits for it.
 */
export function queuedConnectionTester(pool: Pool, opts: AwaitOptions): ConnectionTester {
  return async (destinationId) => {
    const { run } = await requestConnectionTest(pool, destinationId);
    const done = await awaitConnectionTest(pool, run, opts);
    if (done.status === 'error') throw runError(done);
    const failed = done.result?.steps.find((s) => s.status === 'failed');
    return {
      passed: done.status === 'passed',
      ...(done.result ? { result: done.result } : {}),
      ...(failed ? { error: { code: failed.code ?? 'connection_test_failed', actor: failed.actor ?? 'recipient', message: failed.message } } : {}),
    };
  };
}

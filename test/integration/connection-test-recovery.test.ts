/**
 * A connection test whose worker died on the job's last attempt is closed as `worker_lost` when the
 * dead worker's jobs are unlocked, so nobody waits on it forever; one with attempts left stays queued.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { awaitConnectionTest, getConnectionTest, requestConnectionTest } from '../../src/jobs/connection-tests.js';
import { QUEUE_SCHEMA } from '../../src/jobs/queue.js';
import { recoverDeadWorkers } from '../../src/jobs/recovery.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { insertDestinations } from '../support/jobs-fixtures.js';

describe('connection tests after a worker dies', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase({ prefix: 'sluice_ct_recovery' });
  });
  after(() => db.drop());

  /** The test's job as a worker that died two minutes ago left it: locked, `attempts` used. */
  async function diedDuring(testId: string, attempts: number): Promise<void> {
    await db.pool.query(
      `UPDATE ${QUEUE_SCHEMA}._private_jobs SET attempts = $2, locked_at = now() - interval '2 minutes', locked_by = 'worker-that-died'
        WHERE payload->>'testId' = $1`,
      [testId, attempts],
    );
    await db.pool.query(`UPDATE connection_tests SET status = 'running', started_at = now() - interval '2 minutes' WHERE id = $1`, [testId]);
  }

  it('closes the test whose last attempt died, and leaves one with attempts left to be retried', async () => {
    const [lost, retried] = await insertDestinations(db.pool, 2, { frequencyMinutes: null });
    const a = (await requestConnectionTest(db.pool, lost!.id)).run;
    const b = (await requestConnectionTest(db.pool, retried!.id)).run;
    await diedDuring(a.id, 2);
    await diedDuring(b.id, 1);

    assert.deepEqual(await recoverDeadWorkers(db.pool, 60_000), ['worker-that-died']);

    const closed = await awaitConnectionTest(db.pool, a, { timeoutMs: 1000, deadAfterMs: 60_000 });
    assert.equal(closed.status, 'error');
    assert.equal(closed.error?.code, 'worker_lost');
    assert.ok(closed.finishedAt);
    // Unlocked with an attempt left: a live worker takes it again, so its row stays open.
    assert.equal((await getConnectionTest(db.pool, retried!.id, b.id)).status, 'running');
    const job = await db.pool.query(`SELECT locked_at FROM ${QUEUE_SCHEMA}._private_jobs WHERE payload->>'testId' = $1`, [b.id]);
    assert.equal(job.rows[0].locked_at, null);
  });
});

/**
 * A graceful shutdown is not a failure of the transfer it interrupts: SIGTERM during a transfer gives
 * back the attempt the run counted. Interrupted more times than a transfer has attempts (6), the
 * transfer still runs to its end on the next worker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { TRANSFER_MAX_ATTEMPTS } from '../../src/jobs/queue.js';
import { insertDestinations } from '../support/jobs-fixtures.js';
import { recordingStore, stopProc, workerIdOf, type RecordingStore } from '../support/jobs-processes.js';
import { until } from '../support/wait.js';

describe('graceful shutdown and attempts', () => {
  let store: RecordingStore;
  const worker = (runMs: number) =>
    store.worker({ JOBS_TEST_RUN_MS: String(runMs), SLUICE_SHUTDOWN_GRACE_SECONDS: '1', SLUICE_WORKER_CONCURRENCY: '1' });

  before(async () => (store = await recordingStore()));
  after(() => store?.close());

  it(`does not use up an attempt: ${TRANSFER_MAX_ATTEMPTS + 1} shutdowns mid-transfer, then the transfer completes`, async () => {
    const [dst] = await insertDestinations(store.db.pool, 1, { frequencyMinutes: null });
    const { transferId } = await enqueueTransfer(store.db.pool, { destinationId: dst!.id });
    const job = async () =>
      (
        await store.db.pool.query<{ attempts: number; max_attempts: number; locked_by: string | null; last_error: string | null }>(
          `SELECT attempts, max_attempts, locked_by, last_error FROM graphile_worker._private_jobs WHERE payload->>'transferId' = $1`,
          [transferId],
        )
      ).rows[0];
    for (let i = 0; i <= TRANSFER_MAX_ATTEMPTS; i++) {
      // A transfer that would run a minute: the shutdown always interrupts it.
      const w = worker(60_000);
      const id = await workerIdOf(w);
      await until('the worker to run the transfer', async () => (await job())?.locked_by === id, 30_000);
      assert.equal((await job())!.attempts, 1, 'a running job counts its attempt');
      assert.equal(await stopProc(w, 'SIGTERM'), 0, w.output().slice(-2000));
      assert.match(w.output(), /transfer abandoned for shutdown; it will run again \(the attempt is not counted\)/);
      const after = (await job())!;
      assert.equal(after.locked_by, null);
      assert.equal(after.attempts, 0, `after shutdown ${i + 1}: ${JSON.stringify(after)}`);
      assert.match(after.last_error ?? '', /worker stopped/);
    }
    const { rows: status } = await store.db.pool.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [transferId]);
    assert.equal(status[0]!.status, 'queued');
    // A worker that lets it finish: it runs and completes on its first counted attempt.
    const last = worker(10);
    // Its start (tsx, the control store) is not what is bounded: on a loaded machine it alone can take 30 s.
    await workerIdOf(last);
    await until('the transfer to complete', async () => (await job()) === undefined, 30_000);
    const runs = await store.db.pool.query('SELECT 1 FROM public.test_runs WHERE transfer_id = $1', [transferId]);
    assert.equal(runs.rowCount, 1);
    assert.equal(await stopProc(last, 'SIGTERM'), 0);
  });
});

/**
 * Fast takeover: a worker killed with SIGKILL while it runs a transfer is found gone through its
 * control-store session, not its heartbeat, and another worker runs the transfer within seconds. The
 * heartbeat bound is left at its default of 60 s, which the old recovery needed (median 59 s). The
 * bound asserted here is loose, for a loaded machine; `npm run bench:takeover` measures the figure.
 *
 * A worker whose session is terminated while its process lives may be taken over the same way, so
 * it stops what it was running, reconnects, and the transfer runs again and to its end exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { insertDestinations } from '../support/jobs-fixtures.js';
import { recordingStore, workerIdOf, type RecordingStore } from '../support/jobs-processes.js';
import { measureTakeovers, summarise } from '../support/takeover.js';
import { until } from '../support/wait.js';

describe('fast takeover', () => {
  it('another worker runs a SIGKILLed worker’s transfer within seconds, far below the heartbeat bound', async () => {
    const { seconds } = await measureTakeovers(3);
    const { median, worst } = summarise(seconds);
    console.log(`# takeover after SIGKILL: ${seconds.map((s) => s.toFixed(1)).join(', ')} s (median ${median.toFixed(1)}, worst ${worst.toFixed(1)})`);
    for (const s of seconds) assert.ok(s < 20, `took over after ${s.toFixed(1)} s; the heartbeat bound is 60 s`);
  });

  describe('a worker whose session is terminated while its process lives', () => {
    let store: RecordingStore;
    before(async () => (store = await recordingStore()));
    after(() => store?.close());

    it('stops its run, reconnects, and the transfer completes once', async () => {
      const a = store.worker({ JOBS_TEST_RUN_MS: '6000' });
      const aId = await workerIdOf(a);
      const [dst] = await insertDestinations(store.db.pool, 1, { frequencyMinutes: null });
      const { transferId } = await enqueueTransfer(store.db.pool, { destinationId: dst!.id });
      const holder = async (): Promise<string | null | undefined> =>
        (await store.db.pool.query<{ locked_by: string | null }>(`SELECT locked_by FROM graphile_worker._private_jobs WHERE payload->>'transferId' = $1`, [transferId]))
          .rows[0]?.locked_by;
      await until('the worker to run the transfer', async () => (await holder()) === aId, 30_000);
      // Locked is not yet running: wait until the task has started the transfer.
      await a.waitFor(/"attempt":1,"msg":"transfer started"/, 30_000);
      // Only the worker's liveness session goes; its other connections stay.
      const { rows } = await store.db.pool.query<{ pid: number }>(
        `SELECT pg_terminate_backend(pid)::int AS pid FROM pg_stat_activity
          WHERE datname = current_database() AND pid = (SELECT session_pid FROM workers WHERE id = $1)`,
        [aId],
      );
      assert.equal(rows.length, 1);
      await a.waitFor(/lost the control-store session that shows this worker is alive; reconnecting/, 30_000);
      await a.waitFor(/aborting the running transfers/, 30_000);
      await a.waitFor(/control-store session restored/, 30_000);
      await until('the transfer to complete', async () => (await holder()) === undefined, 60_000);
      const runs = await store.db.pool.query<{ worker_id: string }>('SELECT worker_id FROM public.test_runs WHERE transfer_id = $1', [transferId]);
      assert.equal(runs.rowCount, 1, 'ran to its end once');
      assert.match(a.output(), /"attempt":2,"msg":"transfer started"/);
      assert.equal(a.child.exitCode, null, 'the worker is still running');
      // And it is a worker again: registered with a live session.
      await until('the worker to be registered again', async () => {
        const r = await store.db.pool.query('SELECT 1 FROM workers WHERE id = $1 AND session_pid IS NOT NULL', [aId]);
        return (r.rowCount ?? 0) > 0;
      });
    });
  });
});

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { recordConnectionTest } from '../../src/control/destination-store.js';
import { currentFingerprint } from '../../src/control/delivery-gate.js';
import { SluiceError } from '../../src/core/errors.js';
import { cancelTransfer } from '../../src/jobs/cancel.js';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { queueStats } from '../../src/jobs/queue-stats.js';
import { prepareQueue } from '../../src/jobs/queue.js';
import { recoverDeadWorkers } from '../../src/jobs/recovery.js';
import { scheduleDue } from '../../src/jobs/scheduler.js';
import type { TransferRunner } from '../../src/jobs/outcomes.js';
import { startWorker, type Worker } from '../../src/jobs/worker.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/metrics.js';
import { until } from '../support/wait.js';
import { testJobSettings } from '../support/in-process-worker.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { insertDestinations, transferResult } from '../support/jobs-fixtures.js';
import type { TransferJob } from '../../src/jobs/queue.js';

const settings = testJobSettings({ concurrency: 4, sourceMaxTransfers: 8, deadAfterMs: 2000, heartbeatMs: 500, checkMs: 500 });


const ok = (job: TransferJob) => transferResult(job, 'succeeded', [{ model: 'orders', rows: 1, bytes: 10, files: 1 }]);

describe('job queue, scheduler and worker', () => {
  let db: TestDatabase;
  before(async () => {
    db = await freshDatabase();
    await prepareQueue(db.pool);
  });
  after(async () => db.drop());

  it('enqueues each due destination exactly once, whatever the number of concurrent schedulers', async () => {
    const dsts = await insertDestinations(db.pool, 30);
    await insertDestinations(db.pool, 3, { frequencyMinutes: null }); // manual only
    await insertDestinations(db.pool, 2, { enabled: false });
    await insertDestinations(db.pool, 2, { status: 'needs_attention' });
    const results = await Promise.all([1, 2, 3, 4].map(() => scheduleDue(db.pool, { batchSize: 7 })));
    assert.equal(results.reduce((n, r) => n + r.enqueued, 0), 30);
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = 'transfer' AND key = ANY($1)`,
      [dsts.map((d) => `transfer:${d.id}`)],
    );
    assert.equal(rows[0]?.n, 30);
    const recorded = await db.pool.query(`SELECT count(*)::int AS n FROM transfers WHERE status = 'queued' AND destination_id = ANY($1)`, [dsts.map((d) => d.id)]);
    assert.equal(recorded.rows[0].n, 30, 'each scheduled transfer is recorded as queued');
    assert.deepEqual(await scheduleDue(db.pool), { due: 0, enqueued: 0 }, 'nothing is due until next_run_at');
    // Due again while the first is still waiting: the schedule advances, no second job.
    await db.pool.query(`UPDATE destinations SET next_run_at = now() - interval '1 s' WHERE id = ANY($1)`, [dsts.map((d) => d.id)]);
    assert.deepEqual(await scheduleDue(db.pool), { due: 30, enqueued: 0 });
    await db.pool.query(`DELETE FROM graphile_worker._private_jobs`);
  });

  it('reports a trigger while one waits as already queued, and rejects unknown destinations', async () => {
    const [d] = await insertDestinations(db.pool, 1, { frequencyMinutes: null });
    const a = await enqueueTransfer(db.pool, { destinationId: d!.id });
    const b = await enqueueTransfer(db.pool, { destinationId: d!.id });
    assert.equal(a.status, 'queued');
    assert.equal(b.status, 'already_queued');
    assert.equal(b.transferId, a.transferId);
    const full = await enqueueTransfer(db.pool, { destinationId: d!.id, kind: 'FULL_REFRESH' });
    assert.equal(full.status, 'queued', 'a different request replaces the waiting one');
    assert.notEqual(full.transferId, a.transferId);
    assert.equal((await queueStats(db.pool)).waiting.transfer, 1);
    const statuses = await db.pool.query('SELECT id, status, error FROM transfers WHERE destination_id = $1 ORDER BY requested_at', [d!.id]);
    assert.deepEqual(statuses.rows.map((r) => [r.id, r.status]), [[a.transferId, 'cancelled'], [full.transferId, 'queued']]);
    assert.equal(statuses.rows[0].error.code, 'replaced');
    assert.deepEqual(await cancelTransfer(db.pool, full.transferId), { status: 'cancelled', transferId: full.transferId, destinationId: d!.id });
    assert.equal((await queueStats(db.pool)).waiting.transfer, undefined);
    assert.equal((await cancelTransfer(db.pool, full.transferId))?.status, 'finished');
    assert.equal(await cancelTransfer(db.pool, 'trf_unknown'), undefined);
    await assert.rejects(enqueueTransfer(db.pool, { destinationId: 'dst_nope' }), (e: SluiceError) => e.code === 'not_found');
    await assert.rejects(
      enqueueTransfer(db.pool, { destinationId: d!.id, kind: 'BACKFILL', from: '2024-01-01' }),
      (e: SluiceError) => e.code === 'invalid_input',
    );
  });

  describe('with a worker', () => {
    let worker: Worker;
    const behaviour = new Map<string, TransferRunner>();
    const calls: Array<{ destinationId: string; transferId: string; start: number; end: number }> = [];
    const metrics = createMetrics({ defaultMetrics: false });
    before(async () => {
      worker = await startWorker({
        pool: db.pool,
        databaseUrl: db.url,
        log: silentLogger,
        metrics,
        settings,
        sourceKey: 'test',
        schedule: false,
        runTransfer: async (job, ctx) => {
          const start = Date.now();
          try {
            const fn = behaviour.get(job.destinationId);
            return fn ? await fn(job, ctx) : ok(job);
          } finally {
            calls.push({ destinationId: job.destinationId, transferId: job.transferId, start, end: Date.now() });
          }
        },
        runConnectionTest: async () => ({ passed: true }),
      });
    });
    after(async () => worker.stop());

    it('runs one transfer per destination at a time; a trigger during a run runs after it', async () => {
      const [d] = await insertDestinations(db.pool, 1, { frequencyMinutes: null });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let gated: string | null = null;
      behaviour.set(d!.id, async (job) => {
        if (gated === null) {
          gated = job.transferId;
          await gate;
        }
        return ok(job);
      });
      const a = await enqueueTransfer(db.pool, { destinationId: d!.id });
      // Wait until a holds the destination (inside the runner), not merely until its job was taken:
      // between the two, a trigger's job could take the destination's lock first.
      await until('first transfer to start', async () => gated !== null);
      assert.equal(gated, a.transferId);
      const b = await enqueueTransfer(db.pool, { destinationId: d!.id });
      assert.equal(b.status, 'queued');
      assert.equal(b.behindRunning, true);
      const c = await enqueueTransfer(db.pool, { destinationId: d!.id });
      await sleep(300);
      const ranEarly = calls.filter((x) => x.destinationId === d!.id).length;
      release();
      assert.equal(ranEarly, 0, 'the second waits for the first');
      // c finds b waiting (already queued) — or, when a worker is just putting b back behind the
      // running one, is queued itself and b, finding c waiting, is superseded by it. Either way two
      // transfers run, one after the other.
      assert.ok(['already_queued', 'queued'].includes(c.status));
      const expected = 2;
      const done = await until('the transfers', async () => {
        const mine = calls.filter((x) => x.destinationId === d!.id);
        return mine.length === expected && mine;
      });
      assert.equal(done[0]!.transferId, a.transferId, 'a runs first');
      for (const x of done) assert.ok([a.transferId, b.transferId, c.transferId].includes(x.transferId));
      for (let i = 1; i < done.length; i++) assert.ok(done[i]!.start >= done[i - 1]!.end);
    });

    it('retries transient failures and marks recipient failures as needing attention until a test passes', async () => {
      const [flaky, denied] = await insertDestinations(db.pool, 2, { frequencyMinutes: null });
      let attempts = 0;
      behaviour.set(flaky!.id, async (job) => {
        attempts++;
        if (attempts === 1) throw new SluiceError({ code: 'throttled', message: 'SlowDown', actor: 'sluice' });
        return ok(job);
      });
      behaviour.set(denied!.id, async (job) =>
        transferResult(job, 'failed', [
          { model: 'orders', status: 'failed', error: { code: 'access_denied_put', message: 'PutObject was denied.', actor: 'recipient' } },
        ]),
      );
      await enqueueTransfer(db.pool, { destinationId: flaky!.id });
      await enqueueTransfer(db.pool, { destinationId: denied!.id });
      await until('retry to succeed', async () => attempts === 2, 20_000);
      const row = await until('needs attention', async () => {
        const r = await db.pool.query('SELECT status, last_error FROM destinations WHERE id = $1', [denied!.id]);
        return r.rows[0].status === 'needs_attention' && r.rows[0];
      });
      assert.equal(row.last_error.code, 'access_denied_put');
      assert.equal(calls.filter((c) => c.destinationId === denied!.id).length, 1, 'not retried');
      await assert.rejects(enqueueTransfer(db.pool, { destinationId: denied!.id }), (e: SluiceError) => e.code === 'destination_needs_attention');
      await recordConnectionTest(db.pool, denied!.id, { passed: true, fingerprint: await currentFingerprint(db.pool, denied!.id) });
      const back = await db.pool.query('SELECT status, last_error FROM destinations WHERE id = $1', [denied!.id]);
      assert.equal(back.rows[0].status, 'active');
      assert.equal(back.rows[0].last_error, null);
    });

    it('cancels a running transfer through its abort signal', async () => {
      const [d] = await insertDestinations(db.pool, 1, { frequencyMinutes: null });
      let sawAbort = false;
      behaviour.set(d!.id, async (job, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        sawAbort = true;
        return transferResult(job, 'cancelled');
      });
      const t = await enqueueTransfer(db.pool, { destinationId: d!.id });
      await until('transfer to run', async () => worker.running() === 1);
      assert.equal((await cancelTransfer(db.pool, t.transferId))?.status, 'cancelling');
      await until('abort', async () => sawAbort);
      await until('the cancellation to be counted', async () =>
        /status="cancelled"/.test(await metrics.registry.getSingleMetricAsString('sluice_transfers_total')),
      );
    });

    it('exposes each model\'s watermark lag and its lookback fallbacks in metrics', async () => {
      const [d] = await insertDestinations(db.pool, 1, { frequencyMinutes: null });
      behaviour.set(d!.id, async (job) =>
        transferResult(job, 'succeeded', [
          { model: 'held', watermark: { method: 'commit_safe', fallback: null, lagSeconds: 42.5, heldBy: null } },
          { model: 'standby', watermark: { method: 'lookback', fallback: 'replica', lagSeconds: null, heldBy: null } },
        ]),
      );
      await enqueueTransfer(db.pool, { destinationId: d!.id });
      await until('the lag to be exposed', async () =>
        /sluice_watermark_lag_seconds\{model="held"\} 42\.5/.test(await metrics.registry.getSingleMetricAsString('sluice_watermark_lag_seconds')),
      );
      assert.match(await metrics.registry.getSingleMetricAsString('sluice_watermark_fallbacks_total'), /\{model="standby",reason="replica"\} 1/);
    });

    it('records connection tests and exposes queue depth in metrics', async () => {
      metrics.observeQueue(() => queueStats(db.pool));
      const text = await metrics.registry.metrics();
      assert.match(text, /sluice_queue_jobs/);
      assert.match(text, /sluice_transfers_total\{status="succeeded"/);
    });
  });

  it('unlocks the jobs of a worker whose heartbeat stopped', async () => {
    const [d] = await insertDestinations(db.pool, 1, { frequencyMinutes: null });
    await enqueueTransfer(db.pool, { destinationId: d!.id });
    // A worker that took the job and then died: its heartbeat is old, the job and queue stay locked.
    await db.pool.query(`INSERT INTO workers (id, hostname, pid, concurrency, last_seen_at) VALUES ('pool-dead', 'h', 1, 1, now() - interval '1 hour')`);
    await db.pool.query(
      `UPDATE graphile_worker._private_jobs SET locked_by = 'pool-dead', locked_at = now() - interval '1 hour', attempts = 1 WHERE key = $1`,
      [`transfer:${d!.id}`],
    );
    await db.pool.query(`INSERT INTO workers (id, hostname, pid, concurrency) VALUES ('pool-alive', 'h', 2, 1)`);
    assert.deepEqual(await recoverDeadWorkers(db.pool, 60_000), ['pool-dead']);
    const { rows } = await db.pool.query('SELECT locked_by, locked_at FROM graphile_worker._private_jobs WHERE key = $1', [`transfer:${d!.id}`]);
    assert.deepEqual(rows, [{ locked_by: null, locked_at: null }]);
    const live = await db.pool.query('SELECT id FROM workers ORDER BY id');
    assert.deepEqual(live.rows.map((r) => r.id), ['pool-alive']);
  });
});

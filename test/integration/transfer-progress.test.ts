/**
 * What a provider sees of transfers while and after they run: live progress in the control store
 * (what GET /v1/transfers/:id and `sluice transfers show` read), a warning for a tenant id that
 * matches no row, transfers whose process died closed at once with a record that agrees with itself,
 * and an unreachable endpoint retried on every attempt before the destination is parked.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { PARQUET_MAX_ROWS_PER_FILE } from '../../src/formats/parquet.js';
import { prepareQueue, TRANSFER_MAX_ATTEMPTS } from '../../src/jobs/queue.js';
import { startHeartbeat } from '../../src/jobs/recovery.js';
import { newId } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/log.js';
import { runTransfer } from '../../src/transfer/run.js';
import { DESTINATION_LOCK_NAMESPACE } from '../../src/transfer/destination-lock.js';
import { closeOrphanedTransfers } from '../../src/transfer/interrupted.js';
import { modelRows } from '../../src/transfer/store/transfer-models.js';
import { modelView } from '../../src/transfer/store/views.js';
import { tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';
import { markTested } from '../support/trust.js';
import { transferDetails } from '../../src/jobs/transfer-details.js';
import { getTransferRow } from '../../src/transfer/store/transfers.js';
import { startPipelineWorker } from '../support/in-process-worker.js';
import { until } from '../support/wait.js';

let fx: TransferFixture;
const orders = tableModel('orders', 'orders');
const carts = tableModel('carts', 'carts');
/** More rows than one Parquet file holds (PARQUET_MAX_ROWS_PER_FILE): the first file lands mid-read. */
const CART_ROWS = 300_000;

before(async () => {
  fx = await transferFixture(['progress', 'parquet', 'empty', 'parked']);
  await prepareQueue(fx.control.pool);
  await fx.sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, note text);
    CREATE INDEX ON orders (tenant_id, updated_at, id);
    INSERT INTO orders SELECT g, CASE WHEN g % 10 = 0 THEN 'small' ELSE 'big' END, timestamptz '2026-01-01' + g * interval '1 second', repeat('x', 40)
      FROM generate_series(1, 20000) g;
    ANALYZE orders;
    CREATE TABLE carts (id bigint PRIMARY KEY, tenant_id text NOT NULL, items jsonb NOT NULL, updated_at timestamptz NOT NULL);
    CREATE INDEX ON carts (tenant_id, updated_at, id);
    INSERT INTO carts SELECT g, 'shop', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || g % 250, 'qty', 1 + g % 4)),
                             timestamptz '2026-01-01' + g * interval '1 ms'
      FROM generate_series(1, ${CART_ROWS}) g;
    ANALYZE carts;
  `);
});
after(async () => {
  await fx.close();
});

test('a running transfer writes its rows, bytes and files every few seconds, with the planner\'s estimate as a total', async () => {
  const dst = await fx.addDestination({ tenantId: 'big', bucket: 'progress' });
  const seen: Array<ReturnType<typeof modelView>> = [];
  let paused = false;
  const r = await runTransfer(
    fx.deps([orders], {
      fileLimits: { maxRowsPerFile: 3000, maxBytesPerFile: 1 << 30 },
      progressIntervalMs: 50,
      // Hold the pipeline after its first file and look at what the control store shows meanwhile.
      step: async (s, at) => {
        if (s !== 'file_written' || paused) return;
        paused = true;
        const m = await until('progress in the control store', async () => {
          const [row] = await modelRows(fx.control.pool, at.transferId);
          const v = row && modelView(row);
          return v && v.status === 'running' && v.rows >= 3000 && v.files === 1 && v.progressAt ? v : undefined;
        });
        seen.push(m);
      },
    }),
    { destinationId: dst },
  );
  assert.equal(r.status, 'succeeded');
  assert.equal(r.models[0]!.rows, 18000);
  const mid = seen[0]!;
  assert.ok(mid.bytes > 0 && mid.rows < 18000 + 1, JSON.stringify(mid));
  // The estimate comes from the planner on the (tenant, cursor, pk) index: close, not exact.
  assert.ok(mid.estimatedRows !== null && mid.estimatedRows > 9000 && mid.estimatedRows < 36000, `estimate ${mid.estimatedRows}`);
  const [final] = await modelRows(fx.control.pool, r.id);
  assert.equal(Number(final!.rows), 18000, 'the final counts are the files\' counts, not a late progress write');
  assert.equal(final!.files, 6);
});

test('a Parquet full refresh of a few hundred thousand rows with a jsonb column shows its rows in the record before it finishes', async () => {
  const dst = await fx.addDestination({ tenantId: 'shop', bucket: 'parquet', format: 'parquet', compression: 'snappy' });
  let mid: ReturnType<typeof modelView> | undefined;
  const r = await runTransfer(
    fx.deps([carts], {
      progressIntervalMs: 50,
      // Hold the pipeline once the first Parquet file is in the bucket, and read the record then.
      step: async (s, at) => {
        if (s !== 'file_written' || mid) return;
        mid = await until('Parquet progress in the control store', async () => {
          const [row] = await modelRows(fx.control.pool, at.transferId);
          const v = row && modelView(row);
          return v && v.status === 'running' && v.files === 1 && v.rows >= PARQUET_MAX_ROWS_PER_FILE && v.progressAt ? v : undefined;
        });
      },
    }),
    { destinationId: dst, kind: 'FULL_REFRESH' },
  );
  assert.equal(r.status, 'succeeded', JSON.stringify(r.models[0]?.error));
  assert.ok(mid, 'the record was seen mid-transfer');
  assert.ok(mid.rows < CART_ROWS + 1 && mid.bytes > 0, JSON.stringify(mid));
  assert.ok(mid.estimatedRows !== null && mid.estimatedRows > CART_ROWS / 2, `the planner's estimate as a total: ${mid.estimatedRows}`);
  const [final] = await modelRows(fx.control.pool, r.id);
  assert.equal(Number(final!.rows), CART_ROWS);
  assert.equal(final!.files, 2);
});

test('a tenant id that matches no row in any model gets a warning, not a silent empty success', async () => {
  const dst = await fx.addDestination({ tenantId: 'nobody', bucket: 'empty' });
  const r = await runTransfer(fx.deps([orders]), { destinationId: dst });
  assert.equal(r.status, 'succeeded');
  assert.equal(r.warnings[0]?.code, 'tenant_has_no_rows');
  const stored = await fx.control.pool.query<{ warnings: Array<{ code: string }> }>('SELECT warnings FROM transfers WHERE id = $1', [r.id]);
  assert.equal(stored.rows[0]?.warnings[0]?.code, 'tenant_has_no_rows');
  const good = await fx.addDestination({ tenantId: 'small', bucket: 'empty', prefix: 'good' });
  assert.deepEqual((await runTransfer(fx.deps([orders]), { destinationId: good })).warnings, []);
});

test('a transfer whose process is gone is closed at once (a worker\'s first heartbeat), with a record that agrees with itself', async () => {
  const dst = await fx.addDestination({ tenantId: 'small', bucket: 'empty', prefix: 'orphaned' });
  const live = await fx.addDestination({ tenantId: 'small', bucket: 'empty', prefix: 'live' });
  const dead = newId('trf');
  const alive = newId('trf');
  for (const [id, d] of [[dead, dst], [alive, live]] as const) {
    await fx.control.pool.query(`INSERT INTO transfers (id, destination_id, kind, status, started_at, attempt) VALUES ($1, $2, 'INCREMENTAL', 'running', now(), 1)`, [id, d]);
    await fx.control.pool.query(`INSERT INTO transfer_models (transfer_id, model, status, rows, started_at) VALUES ($1, 'orders', 'running', 1234, now())`, [id]);
  }
  // The live one's runner holds its destination lock, as runTransfer does.
  const holder = await fx.control.pool.connect();
  try {
    await holder.query('SELECT pg_advisory_lock($1, hashtext($2))', [DESTINATION_LOCK_NAMESPACE, live]);
    const hb = startHeartbeat(fx.control.pool, silentLogger, { workerId: 'w-test', concurrency: 1, intervalMs: 60_000, deadAfterMs: 120_000 });
    await until('the orphaned transfer closed', async () => {
      const r = await fx.control.pool.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [dead]);
      return r.rows[0]?.status === 'failed';
    });
    await hb.stop();
    const t = await fx.control.pool.query<{ status: string; error: { code: string } | null; finished_at: Date | null }>('SELECT status, error, finished_at FROM transfers WHERE id = $1', [dead]);
    assert.equal(t.rows[0]!.error?.code, 'transfer_interrupted');
    assert.ok(t.rows[0]!.finished_at);
    const [m] = await modelRows(fx.control.pool, dead);
    assert.equal(m!.status, 'failed');
    assert.equal(m!.manifest_key, null);
    assert.equal(m!.error?.code, 'transfer_interrupted');
    const still = await fx.control.pool.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [alive]);
    assert.equal(still.rows[0]!.status, 'running', 'a transfer whose runner holds the lock is left alone');
    assert.deepEqual(await closeOrphanedTransfers(fx.control.pool), []);
  } finally {
    await holder.query('SELECT pg_advisory_unlock_all()');
    holder.release();
  }
});

test('an endpoint that refuses connections is retried on every attempt, then the destination is parked naming both possibilities', async () => {
  const dst = await fx.addDestination({ tenantId: 'small', bucket: 'parked' });
  // Nothing listens on port 1: connection refused.
  await fx.control.pool.query(`UPDATE destinations SET endpoint = 'http://127.0.0.1:1' WHERE id = $1`, [dst]);
  // As if its connection test had passed on this endpoint: the gate lets it deliver, the network refuses.
  await markTested(fx.control.pool, [dst]);
  // The worker's operator allows the local endpoint (startPipelineWorker): what refuses is the port, not Sluice's network rules.
  const worker = await startPipelineWorker(fx, { models: [orders], settings: { concurrency: 1, sourceMaxTransfers: 2 } });
  try {
    const { transferId } = await enqueueTransfer(fx.control.pool, { destinationId: dst });
    const statuses: string[] = [];
    const retriesShown = new Set<number>();
    await until(
      'the destination parked after the last attempt',
      async () => {
        const d = await fx.control.pool.query<{ status: string }>('SELECT status FROM destinations WHERE id = $1', [dst]);
        statuses.push(d.rows[0]!.status);
        if (d.rows[0]!.status === 'needs_attention') return true;
        // Between attempts the record says failed, and its details say that a retry will come.
        const [shown] = await transferDetails(fx.control.pool, [(await getTransferRow(fx.control.pool, transferId))!]);
        if (shown!.status === 'failed' && shown!.nextAttempt) retriesShown.add(shown!.nextAttempt.attempt);
        // graphile-worker's backoff (3 s … 2.5 min) is what production waits; the test skips it.
        await fx.control.pool.query(`UPDATE graphile_worker._private_jobs SET run_at = now() WHERE key = $1 AND locked_at IS NULL AND run_at > now()`, [`transfer:${dst}`]);
        return false;
      },
      120_000,
    );
    assert.ok(!statuses.slice(0, -1).includes('needs_attention'));
    const t = await fx.control.pool.query<{ attempt: number }>('SELECT attempt FROM transfers WHERE id = $1', [transferId]);
    assert.equal(t.rows[0]!.attempt, TRANSFER_MAX_ATTEMPTS, 'retried on every attempt before asking for attention');
    assert.ok(retriesShown.size > 0 && [...retriesShown].every((n) => n >= 2 && n <= TRANSFER_MAX_ATTEMPTS), `next attempts shown: ${[...retriesShown]}`);
    // After the last attempt nothing more will come: failed is final, and the details say so.
    const [last] = await transferDetails(fx.control.pool, [(await getTransferRow(fx.control.pool, transferId))!]);
    assert.equal(last!.status, 'failed');
    assert.equal(last!.nextAttempt, null);
    const d = await fx.control.pool.query<{ last_error: { code: string; actor: string; message: string; hint: string } }>('SELECT last_error FROM destinations WHERE id = $1', [dst]);
    const e = d.rows[0]!.last_error;
    assert.equal(e.code, 'endpoint_unreachable');
    assert.match(e.message, new RegExp(`all ${TRANSFER_MAX_ATTEMPTS} attempts`));
    assert.match(e.hint, /recipient/);
    assert.match(e.hint, /provider/);
  } finally {
    await worker.stop();
  }
});

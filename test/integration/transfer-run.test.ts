/**
 * The runner end to end on real servers: keys and manifest fields of the bucket contract, the chain,
 * empty increments, soft deletes, model isolation, full refresh, backfill, tenant isolation and the
 * one-transfer-per-destination guard.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';
import { runTransfer } from '../../src/transfer/run.js';
import { publicSigningKeys } from '../../src/control/signing-keys.js';
import { publicKeyFromJwk } from '../../src/transfer/manifest.js';
import { verifyManifestSignature } from '../../src/transfer/manifest.js';
import { deliveredRows, manifestsOf, settle, tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';

let fx: TransferFixture;
const orders = tableModel('orders', 'orders', { softDelete: 'deleted_at' });
const customers = tableModel('customers', 'customers');
const models = [orders, customers];

before(async () => {
  fx = await transferFixture(['contract', 'isolation', 'guard', 'kinds', 'broken']);
  await fx.sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL,
                         amount numeric(12,2), deleted_at timestamptz);
    CREATE INDEX ON orders (tenant_id, updated_at, id);
    CREATE TABLE customers (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, name text);
    INSERT INTO orders SELECT g, 't' || (g % 3), timestamptz '2026-01-01' + g * interval '1 minute', g * 1.25, NULL
      FROM generate_series(1, 90) g;
    INSERT INTO customers SELECT g, 't' || (g % 3), timestamptz '2026-01-01' + g * interval '1 minute', 'name ' || g
      FROM generate_series(1, 30) g;
  `);
});
after(async () => {
  await fx.close();
});

test('keys and manifests follow the bucket contract; the chain links transfers; verify passes', async () => {
  const dst = await fx.addDestination({ tenantId: 't1', bucket: 'contract', prefix: 'exports/t1' });
  const first = await runTransfer(fx.deps(models), { destinationId: dst });
  assert.equal(first.status, 'succeeded');
  const keys = await fx.s3.list('contract');
  const dt = first.startedAt.toISOString().slice(0, 10);
  const stamp = first.startedAt.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  assert.deepEqual(keys, [
    `exports/t1/_manifests/customers/dt=${dt}/manifest_${first.id}.json`,
    `exports/t1/_manifests/orders/dt=${dt}/manifest_${first.id}.json`,
    `exports/t1/customers/dt=${dt}/part-00000_${stamp}_${first.id}.jsonl.gz`,
    `exports/t1/orders/dt=${dt}/part-00000_${stamp}_${first.id}.jsonl.gz`,
  ]);

  const [m1] = await manifestsOf(fx.s3, 'contract', 'exports/t1', 'orders');
  const m = m1!.manifest;
  assert.equal(m.version, 1);
  assert.equal(m.transfer_id, first.id);
  assert.equal(m.destination_id, dst);
  assert.equal(m.model, 'orders');
  assert.equal(m.type, 'INCREMENTAL');
  // Commit-safe: the window ends before the probe's bound, on the cursor alone (docs/change-detection.md).
  assert.deepEqual(Object.keys(m.window).sort(), ['bounds', 'cursor_column', 'from', 'primary_key', 'to']);
  assert.equal(m.window.bounds, '()');
  assert.equal(m.window.from, null);
  assert.deepEqual(m.window.to!.primaryKey, []);
  assert.ok(Date.parse(m.window.to!.cursor) <= first.startedAt.getTime() + 60_000 && Date.parse(m.window.to!.cursor) > Date.parse('2026-01-02'));
  assert.deepEqual(
    m.schema.columns.map((c) => `${c.name}:${c.type}`),
    ['id:int64', 'tenant_id:string', 'updated_at:timestamp_us_utc', 'amount:decimal(12,2)', 'deleted_at:timestamp_us_utc',
      '_sluice_transfer_id:string', '_sluice_synced_at:timestamp_us_utc', '_sluice_deleted:boolean'],
  );
  assert.match(m.schema_sha256, /^[0-9a-f]{64}$/);
  assert.equal(m.total_rows, 30);
  assert.equal(m.files.length, 1);
  const file = await fx.s3.get('contract', m.files[0]!.key);
  assert.equal(m.files[0]!.bytes, file.length);
  assert.equal(m.files[0]!.sha256, crypto.createHash('sha256').update(file).digest('hex'));
  assert.equal(m.files[0]!.rows, 30);
  assert.equal(m.previous_manifest_sha256, null);
  assert.ok(Date.parse(m.created_at) >= first.startedAt.getTime());
  const [jwk] = await publicSigningKeys(fx.control.pool);
  assert.equal(m.key_id, jwk!.kid);
  assert.equal(verifyManifestSignature(m, publicKeyFromJwk(jwk!)), true);

  // The control store records each model's result.
  const rec = await fx.control.pool.query('SELECT * FROM transfer_models WHERE transfer_id = $1 ORDER BY model', [first.id]);
  assert.deepEqual(
    rec.rows.map((r) => [r.model, r.status, Number(r.rows), r.files, r.manifest_key === null]),
    [['customers', 'succeeded', 10, 1, false], ['orders', 'succeeded', 30, 1, false]],
  );
  assert.equal(Number(rec.rows[1].bytes), file.length);

  // New rows: the next manifest chains to the first one's bytes.
  // Cursors from the writing transaction's clock: the contract of the commit-safe watermark.
  await fx.sql.query(`INSERT INTO orders VALUES (1001, 't1', now(), 5, NULL), (1002, 't2', now(), 6, NULL)`);
  await settle();
  const second = await runTransfer(fx.deps(models), { destinationId: dst });
  assert.equal(second.status, 'succeeded');
  const chain = await manifestsOf(fx.s3, 'contract', 'exports/t1', 'orders');
  assert.equal(chain.length, 2);
  assert.equal(chain[1]!.manifest.previous_manifest_sha256, crypto.createHash('sha256').update(chain[0]!.body).digest('hex'));
  assert.equal(chain[1]!.manifest.previous_manifest_key, chain[0]!.key);
  // The next window starts exactly at the previous bound, included.
  assert.deepEqual(chain[1]!.manifest.window.from, m.window.to);
  assert.equal(chain[1]!.manifest.window.bounds, '[)');
  assert.equal(chain[1]!.manifest.total_rows, 1);
  assert.equal(second.models.find((x) => x.model === 'customers')!.rows, 0);

  // Nothing new: no object written, the model still recorded.
  const before = await fx.s3.list('contract');
  const third = await runTransfer(fx.deps(models), { destinationId: dst });
  assert.equal(third.status, 'succeeded');
  assert.deepEqual(await fx.s3.list('contract'), before);
  const empty = await fx.control.pool.query('SELECT model, status, rows, files, manifest_key FROM transfer_models WHERE transfer_id = $1 ORDER BY model', [third.id]);
  assert.deepEqual(empty.rows.map((r) => [r.model, r.status, Number(r.rows), r.files, r.manifest_key]), [
    ['customers', 'succeeded', 0, 0, null],
    ['orders', 'succeeded', 0, 0, null],
  ]);

  // A soft delete arrives as a row with _sluice_deleted = true.
  await fx.sql.query(`UPDATE orders SET deleted_at = now(), updated_at = now() WHERE id = 1001`);
  await settle();
  await runTransfer(fx.deps(models), { destinationId: dst });
  const rows = await deliveredRows(fx.s3, 'contract', 'exports/t1', 'orders');
  const versions = rows.filter((r) => r.id === 1001);
  assert.deepEqual(versions.map((r) => r._sluice_deleted), [false, true]);

  const report = await fx.verify('contract', 'exports/t1');
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(report.rows, 30 + 10 + 1 + 1);
});

test('a destination only ever receives its own tenant\'s rows', async () => {
  const dsts = await Promise.all(['t0', 't1', 't2'].map((t) => fx.addDestination({ tenantId: t === 't1' ? 't1' : t, bucket: 'isolation', prefix: t })));
  for (const d of dsts) assert.equal((await runTransfer(fx.deps(models), { destinationId: d })).status, 'succeeded');
  for (const t of ['t0', 't1', 't2']) {
    for (const model of ['orders', 'customers']) {
      const rows = await deliveredRows(fx.s3, 'isolation', t, model);
      const expected = await fx.sql.query(`SELECT id FROM ${model} WHERE tenant_id = $1 ORDER BY id`, [t]);
      assert.ok(rows.every((r) => r.tenant_id === t), `${model} of ${t} holds another tenant's row`);
      assert.deepEqual(rows.map((r) => Number(r.id)).sort((a, b) => a - b), expected.rows.map((r) => Number(r.id)));
    }
  }
});

test('one model failing does not stop the others; its error says code, actor and message', async () => {
  const boom = { ...tableModel('boom', 'orders'), source: { sql: 'SELECT id, tenant_id, updated_at, 1 / (id - id) AS z FROM orders' } };
  const dst = await fx.addDestination({ tenantId: 't2', bucket: 'broken', models: ['boom', 'orders'] });
  const r = await runTransfer(fx.deps([...models, boom]), { destinationId: dst });
  assert.equal(r.status, 'partial');
  const failed = r.models.find((m) => m.model === 'boom')!;
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error!.code, 'source_read_failed');
  assert.equal(failed.error!.actor, 'provider');
  assert.match(failed.error!.message, /division by zero/);
  assert.equal(r.models.find((m) => m.model === 'orders')!.status, 'succeeded');
  const keys = await fx.s3.list('broken');
  assert.ok(keys.some((k) => k.startsWith('_manifests/orders/')));
  assert.ok(!keys.some((k) => k.startsWith('_manifests/boom/')));
  const row = await fx.control.pool.query('SELECT status FROM transfers WHERE id = $1', [r.id]);
  assert.equal(row.rows[0].status, 'partial');
  assert.equal((await fx.verify('broken')).ok, true);
});

test('full refresh delivers every row of the tenant; a backfill its range, without moving the watermark', async () => {
  const dst = await fx.addDestination({ tenantId: 't0', bucket: 'kinds', models: ['orders'] });
  await runTransfer(fx.deps(models), { destinationId: dst });
  const full = await runTransfer(fx.deps(models), { destinationId: dst, kind: 'FULL_REFRESH' });
  const wm = await fx.control.pool.query('SELECT position FROM watermarks WHERE destination_id = $1', [dst]);
  const back = await runTransfer(fx.deps(models), { destinationId: dst, kind: 'BACKFILL', from: '2026-01-01T00:10:00Z', to: '2026-01-01T00:30:00Z' });
  assert.equal(back.status, 'succeeded');
  const ms = await manifestsOf(fx.s3, 'kinds', '', 'orders');
  const byId = new Map(ms.map((m) => [m.manifest.transfer_id, m.manifest]));
  const count = await fx.sql.query(`SELECT count(*)::int AS n FROM orders WHERE tenant_id = 't0'`);
  assert.equal(byId.get(full.id)!.type, 'FULL_REFRESH');
  assert.equal(byId.get(full.id)!.total_rows, count.rows[0].n);
  // (00:10, 00:30] holds minutes 11..30 of tenant t0 (ids ≡ 0 mod 3): 12, 15, …, 30.
  assert.equal(byId.get(back.id)!.type, 'INCREMENTAL');
  assert.equal(byId.get(back.id)!.total_rows, 7);
  const after = await fx.control.pool.query('SELECT position FROM watermarks WHERE destination_id = $1', [dst]);
  assert.deepEqual(after.rows[0].position, wm.rows[0].position);
  assert.equal((await fx.verify('kinds')).ok, true);
});

test('a second transfer of the same destination at the same time is refused', async () => {
  const dst = await fx.addDestination({ tenantId: 't1', bucket: 'guard', models: ['orders'] });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let reached!: () => void;
  const inside = new Promise<void>((r) => (reached = r));
  const running = runTransfer(
    fx.deps(models, {
      step: async (s) => {
        if (s === 'files_written') {
          reached();
          await gate;
        }
      },
    }),
    { destinationId: dst },
  );
  await inside;
  await assert.rejects(runTransfer(fx.deps(models), { destinationId: dst }), (err: { code?: string }) => err.code === 'transfer_already_running');
  release();
  assert.equal((await running).status, 'succeeded');
  assert.equal((await runTransfer(fx.deps(models), { destinationId: dst })).status, 'succeeded');
});

test('a transfer cancelled between files commits nothing for that model; progress reports rows, bytes and rate', async () => {
  const dst = await fx.addDestination({ tenantId: 't2', bucket: 'guard', prefix: 'cancel', models: ['orders'] });
  const abort = new AbortController();
  const events: Array<{ status: string; rows: number; bytes: number }> = [];
  const r = await runTransfer(
    fx.deps(models, {
      fileLimits: { maxRowsPerFile: 10, maxBytesPerFile: 1 << 20 },
      step: (s) => {
        if (s === 'file_written') abort.abort(new Error('operator cancelled'));
      },
    }),
    { destinationId: dst, signal: abort.signal, onProgress: (p) => events.push({ status: p.status, rows: p.rows, bytes: p.bytes }) },
  );
  assert.equal(r.status, 'cancelled');
  assert.equal(r.models[0]!.status, 'cancelled');
  assert.equal(r.models[0]!.error, null);
  const keys = await fx.s3.list('guard', 'cancel/');
  assert.ok(!keys.some((k) => k.includes('_manifests')), 'no manifest for a cancelled model');
  assert.ok(events.some((e) => e.status === 'running' && e.bytes > 0 && e.rows >= 10), JSON.stringify(events));
  assert.equal(events.at(-1)!.status, 'cancelled');

  // The next transfer delivers everything; the cancelled attempt's file is an orphan (information only).
  const next = await runTransfer(fx.deps(models), { destinationId: dst });
  assert.equal(next.status, 'succeeded');
  const count = await fx.sql.query(`SELECT count(*)::int AS n FROM orders WHERE tenant_id = 't2'`);
  assert.equal(next.models[0]!.rows, count.rows[0].n);
  const report = await fx.verify('guard', 'cancel');
  assert.equal(report.ok, true);
  assert.ok(report.problems.some((p) => p.code === 'orphan_file'));
});

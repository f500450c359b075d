/**
 * The README's DuckDB query ("Reading the data") on a real delivery: Parquet files of several
 * transfers with updates, a soft delete, a tracked hard delete and a full refresh after an untracked
 * one, plus an orphan file that no manifest lists. The query, run on a local copy of the bucket, must
 * give exactly the source's current rows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { deleteTrackingSql } from '../../src/sources/postgres/deletes.js';
import { runTransfer } from '../../src/transfer/run.js';
import { tableModel, transferFixture, type TransferFixture, settle } from '../support/transfer-fixture.js';

let fx: TransferFixture;

before(async () => {
  fx = await transferFixture(['reading']);
  await fx.sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL,
                         amount numeric(12,2), deleted_at timestamptz);
    INSERT INTO orders SELECT g, 'r', timestamptz '2026-01-01' + g * interval '1 min', g, NULL FROM generate_series(1, 50) g;
  `);
});
after(async () => {
  await fx.close();
});

async function readmeQuery(): Promise<string> {
  const readme = await fs.readFile('docs/verification.md', 'utf8');
  const at = readme.indexOf('<!-- duckdb-latest -->');
  assert.ok(at >= 0, 'docs/verification.md has the DuckDB query');
  const m = /```sql\n([\s\S]*?)```/.exec(readme.slice(at));
  return m![1]!;
}

/** The README's view over a local mirror of the bucket (plus an orphan that must be ignored): "id=amount" of the current rows. */
async function currentRows(): Promise<string[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-reading-'));
  try {
    const keys = await fx.s3.list('reading');
    for (const key of keys) {
      await fs.mkdir(path.join(dir, path.dirname(key)), { recursive: true });
      await fs.writeFile(path.join(dir, key), await fx.s3.get('reading', key));
    }
    const first = keys.find((k) => k.startsWith('exports/orders/') && k.endsWith('.parquet'))!;
    const orphan = first.replace(/part-00000_(\d{14})_trf_\w+/, 'part-00000_20990101000000_trf_orphan');
    const sql = (await readmeQuery()).replaceAll('s3://my-bucket/', `${dir}/`);
    const duck = await DuckDBInstance.create(':memory:');
    const conn = await duck.connect();
    try {
      // The orphan holds *newer* versions of every row: were it read, every amount would be wrong.
      await conn.run(
        `COPY (SELECT * REPLACE (amount + 999 AS amount, updated_at + INTERVAL 1000 DAY AS updated_at)
               FROM read_parquet('${path.join(dir, first)}'))
         TO '${path.join(dir, orphan)}' (FORMAT parquet)`,
      );
      const statements = sql.split(';').map((s) => s.trim()).filter((s) => s && !/^--[^\n]*$/.test(s));
      await conn.run(statements[0]!);
      const deleted = await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM orders_current WHERE _sluice_deleted');
      assert.equal(Number(deleted.getRowObjects()[0]!.n), 0, 'the view drops deleted keys');
      const current = await conn.runAndReadAll(`SELECT id::BIGINT AS id, amount::VARCHAR AS amount FROM orders_current ORDER BY id`);
      return current.getRowObjects().map((r) => `${r.id}=${r.amount}`);
    } finally {
      conn.closeSync();
      duck.closeSync();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function sourceRows(): Promise<string[]> {
  const src = await fx.sql.query(`SELECT id, amount::text AS amount FROM orders WHERE deleted_at IS NULL ORDER BY id`);
  return src.rows.map((r) => `${r.id}=${r.amount}`);
}

test('the README\'s DuckDB query gives the rows that exist now, from committed files only: soft deletes, tracked hard deletes and a full refresh drop keys', async () => {
  const model = tableModel('orders', 'orders', { softDelete: 'deleted_at', lookback: 120 });
  const dst = await fx.addDestination({ tenantId: 'r', bucket: 'reading', prefix: 'exports', format: 'parquet' });
  const deps = fx.deps([model]);
  assert.equal((await runTransfer(deps, { destinationId: dst })).status, 'succeeded');
  // Cursors from the writing transaction's clock (the commit-safe watermark's contract).
  await fx.sql.query(`UPDATE orders SET amount = amount + 1000, updated_at = now() WHERE id <= 10`);
  await fx.sql.query(`UPDATE orders SET deleted_at = now(), updated_at = now() WHERE id = 20`);
  await settle();
  assert.equal((await runTransfer(deps, { destinationId: dst })).status, 'succeeded');
  await fx.sql.query(`UPDATE orders SET amount = -1, updated_at = now() WHERE id = 5`);
  await settle();
  assert.equal((await runTransfer(deps, { destinationId: dst })).status, 'succeeded');
  let got = await currentRows();
  assert.deepEqual(got, await sourceRows());
  assert.ok(!got.some((r) => r.startsWith('20=')), 'the soft-deleted key is dropped');

  // A hard delete with delete tracking: its tombstone drops the key.
  await fx.sql.query(deleteTrackingSql({ relation: 'public.orders', tenant: 'tenant_id', cursor: 'updated_at', primaryKey: ['id'], readerRole: 'postgres' }));
  const tracked = { ...model, deletes: 'track' as const };
  await fx.sql.query('DELETE FROM orders WHERE id = 30');
  await settle();
  assert.equal((await runTransfer(fx.deps([tracked]), { destinationId: dst })).status, 'succeeded');
  got = await currentRows();
  assert.deepEqual(got, await sourceRows());
  assert.ok(!got.some((r) => r.startsWith('30=')));

  // An untracked hard delete is not delivered: the key stays until a full refresh, which drops it.
  await fx.sql.query('DROP TRIGGER sluice_track_deletes ON orders; DELETE FROM orders WHERE id = 40');
  await settle();
  assert.equal((await runTransfer(deps, { destinationId: dst })).status, 'succeeded');
  assert.ok((await currentRows()).some((r) => r.startsWith('40=')), 'not delivered without tracking');
  assert.equal((await runTransfer(deps, { destinationId: dst, kind: 'FULL_REFRESH' })).status, 'succeeded');
  got = await currentRows();
  assert.deepEqual(got, await sourceRows());
  assert.ok(!got.some((r) => r.startsWith('40=')), 'the full refresh drops it');
});

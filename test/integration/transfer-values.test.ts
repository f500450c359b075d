/**
 * The tricky values (test/support/tricky-values.ts) through a real transfer into s3rver, as a recipient
 * gets them: the files the manifests list are downloaded, read back by DuckDB with the manifest's
 * schema and compared value by value with the source, in every format. A model holding a value
 * Parquet cannot carry fails alone, naming model, column and key; the others are delivered.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { METADATA_COLUMNS } from '../../src/core/row-layout.js';
import type { ColumnInfo, Compression, Format } from '../../src/core/types.js';
import { describeTable } from '../../src/sources/postgres/catalog.js';
import { runTransfer } from '../../src/transfer/run.js';
import { readBackAll, sameCanonical, sourceAll } from '../support/readback.js';
import { manifestsOf, tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';
import { N_ROWS, PRELUDE, tableSql } from '../support/tricky-values.js';

let fx: TransferFixture;
let dir: string;
let columns: ColumnInfo[];
const vals = tableModel('vals', 'vals');
const nan = tableModel('vals_nan', 'vals_nan');

before(async () => {
  fx = await transferFixture(['v-csv', 'v-jsonl', 'v-parquet']);
  await fx.sql.query(PRELUDE);
  // The Parquet variant of the table: every format delivers it.
  for (const sql of tableSql('vals', 'parquet')) await fx.sql.query(sql);
  await fx.sql.query(`CREATE TABLE vals_nan (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, amount v_dec[])`);
  await fx.sql.query(`INSERT INTO vals_nan VALUES (1, 'a', '2024-01-01', '{1.500}'), (7, 'a', '2024-01-02', '{2.250,NaN}')`);
  columns = (await describeTable(fx.sql, 'vals'))!.columns;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-transfer-values-'));
});
after(async () => {
  await fx?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

for (const [format, compression] of [['csv', 'zstd'], ['jsonl', 'gzip'], ['parquet', 'zstd']] as const satisfies ReadonlyArray<readonly [Format, Compression]>) {
  test(`${format} / ${compression}: a recipient reads back every source value; a refused value fails its model alone`, async () => {
    const bucket = `v-${format}`;
    const dst = await fx.addDestination({ tenantId: 'a', bucket, format, compression });
    const r = await runTransfer(fx.deps([vals, nan]), { destinationId: dst });

    const refused = r.models.find((m) => m.model === 'vals_nan')!;
    if (format === 'parquet') {
      assert.equal(r.status, 'partial');
      assert.equal(refused.status, 'failed');
      assert.equal(refused.error!.code, 'value_not_representable');
      assert.equal(refused.error!.actor, 'provider');
      assert.match(refused.error!.message, /Model vals_nan, column amount, row with primary key \(id=7\)/);
      assert.ok(!refused.error!.message.includes('2.25'), refused.error!.message);
    } else {
      assert.equal(r.status, 'succeeded');
    }

    const [delivered] = await manifestsOf(fx.s3, bucket, '', 'vals');
    const manifest = delivered!.manifest;
    const fileColumns = [...columns, ...METADATA_COLUMNS];
    assert.deepEqual(manifest.schema.columns.map((c) => `${c.name}:${c.type}`), fileColumns.map((c) => `${c.name}:${c.logicalType}`));
    assert.equal(manifest.total_rows, N_ROWS);
    const files: string[] = [];
    for (const f of manifest.files) {
      const file = path.join(dir, path.basename(f.key));
      await fs.writeFile(file, await fx.s3.get(bucket, f.key));
      files.push(file);
    }
    const got = await readBackAll(format, compression, files, fileColumns);
    const expected = await sourceAll(fx.sourceDb.pool, 'vals', 'updated_at, id', columns);
    assert.equal(got.length, N_ROWS);
    const wrong: string[] = [];
    for (let row = 0; row < N_ROWS; row++) {
      columns.forEach((col, c) => {
        if (!sameCanonical(col.logicalType, got[row]![c]!, expected[row]![c]!, format)) {
          wrong.push(`row ${row + 1} ${col.name}: file ${JSON.stringify(got[row]![c])?.slice(0, 200)} ≠ source ${JSON.stringify(expected[row]![c])?.slice(0, 200)}`);
        }
      });
    }
    assert.deepEqual(wrong, []);
    assert.equal((await fx.verify(bucket)).ok, true);
  });
}

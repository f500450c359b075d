/**
 * Round trip for every format × compression: the type-torture table is read for one tenant, encoded,
 * written to files, read back with DuckDB (and hyparquet for Parquet) and compared with the source
 * value by value.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { describeTable } from '../../src/sources/postgres/catalog.js';
import { openModelRead } from '../../src/sources/postgres/reader.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import { METADATA_COLUMNS } from '../../src/core/row-layout.js';
import type { ColumnInfo, Compression, Format, ModelDefinition } from '../../src/core/types.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { zstdFrames } from '../support/zstd-frames.js';
import { FORMAT_CASES, deliverToFiles, readBack, sameValue, sourceRows, zstdDecompress, type DeliveredFiles } from '../support/readback.js';
import { createTorture } from '../support/torture.js';

const model: ModelDefinition = {
  name: 'torture',
  source: { table: 'torture' },
  primaryKey: ['id'],
  cursor: 'updated_at',
  tenant: 'tenant_id',
  softDelete: 'deleted_at',
  lookback: 0,
};
const syncedAt = new Date('2026-01-02T03:04:05.678Z');

describe('round trip: source rows = delivered rows', () => {
  let db: TestDatabase;
  let source: PostgresSource;
  let columns: ColumnInfo[];
  let dir: string;

  before(async () => {
    db = await freshDatabase({ migrate: false, prefix: 'sluice_src_rt' });
    await createTorture(db.pool);
    columns = (await describeTable(db.pool, 'torture'))!.columns;
    source = createPostgresSource(db.url, { maxConcurrentQueries: 2 });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-rt-'));
  });
  after(async () => {
    await source.close();
    await db.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  function deliver(format: Format, compression: Compression): Promise<DeliveredFiles> {
    // 5 rows per file: the 13 rows of tenant a make three files, so rotation is part of the proof.
    return deliverToFiles(source, { model, columns, format, compression, maxRowsPerFile: 5, dir, transferId: 'trf_roundtrip', syncedAt });
  }

  for (const [format, compression] of FORMAT_CASES) {
    it(`${format} / ${compression}`, async () => {
      const { files, rows, fileColumns } = await deliver(format, compression);
      assert.deepEqual(rows, [5, 5, 3]);
      if (compression === 'gzip' && format !== 'parquet') assert.deepEqual([...(await fs.readFile(files[0]!)).subarray(0, 2)], [0x1f, 0x8b]);
      if (compression === 'zstd' && format !== 'parquet') {
        // Each file is ONE zstd frame: many readers stop after a first frame without an error.
        for (const file of files) assert.deepEqual(zstdFrames(await fs.readFile(file)).map((f) => f.kind), ['zstd'], file);
      }

      const got = await readBack(format, compression, files, fileColumns);
      const expected = await sourceRows(db.pool, 'torture', `tenant_id = 'a'`, 'updated_at, id', columns);
      assert.equal(got.length, expected.length);
      const n = columns.length;
      for (let r = 0; r < expected.length; r++) {
        for (let c = 0; c < n; c++) {
          const col = columns[c]!;
          assert.ok(sameValue(col, got[r]![c]!, expected[r]![c]!), `row ${r} column ${col.name}: file ${JSON.stringify(got[r]![c])} ≠ source ${JSON.stringify(expected[r]![c])}`);
        }
        const id = expected[r]![0];
        assert.equal(got[r]![n], 'trf_roundtrip');
        assert.equal(got[r]![n + 1], String(syncedAt.getTime() * 1000));
        assert.equal(got[r]![n + 2], id === '7' ? 'true' : 'false', `_sluice_deleted of row ${id}`);
      }
      // Every column of tenant a's NULL row (id 13) is NULL except the key, tenant and cursor.
      const nullRow = got.find((row) => row[0] === '13')!;
      columns.forEach((col, i) => {
        if (!['id', 'tenant_id', 'updated_at'].includes(col.name)) assert.equal(nullRow[i], null, `NULL in ${col.name}`);
      });
    });
  }

  it('parquet keeps logical types (checked with hyparquet)', async () => {
    for (const compression of ['snappy', 'zstd', 'gzip', 'none'] as const) {
      const { files } = await deliver('parquet', compression);
      const file = await asyncBufferFromFile(files[0]!);
      const meta = await parquetMetadataAsync(file);
      const el = (name: string) => meta.schema.find((s) => s.name === name)!;
      assert.equal(el('amount').converted_type, 'DECIMAL');
      assert.equal(el('amount').precision, 12);
      assert.equal(el('amount').scale, 2);
      assert.equal(el('big').precision, 38);
      assert.deepEqual(el('updated_at').logical_type, { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' });
      assert.deepEqual(el('ts').logical_type, { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'MICROS' });
      assert.equal(el('d').converted_type, 'DATE');
      assert.equal(el('b').type, 'BYTE_ARRAY');
      assert.equal(el('b').converted_type, undefined);
      assert.equal(el('free').converted_type, 'UTF8');

      const rows = await parquetReadObjects({
        file,
        utf8: false, // BYTE_ARRAY without a string annotation stays bytes; UTF8 columns are still strings
        compressors: { GZIP: (input: Uint8Array) => zlib.gunzipSync(input), ZSTD: zstdDecompress },
        parsers: { timestampFromMicroseconds: (v: bigint) => v, timestampFromMilliseconds: (v: bigint) => v, timestampFromNanoseconds: (v: bigint) => v, dateFromDays: (d: number) => d },
      });
      const pg = await db.pool.query(
        `SELECT id, txt, texts, ints, flag, u::text, jb::text, b, m::text, (extract(epoch FROM updated_at) * 1000000)::bigint::text AS us,
                (d - date '1970-01-01') AS days, amount::float8 AS amount
         FROM torture WHERE tenant_id = 'a' ORDER BY updated_at, id LIMIT 5`,
      );
      assert.equal(rows.length, 5);
      rows.forEach((row, i) => {
        const src = pg.rows[i];
        assert.equal(row.id, BigInt(src.id));
        assert.equal(row.txt, src.txt);
        assert.deepEqual(row.texts, src.texts);
        assert.deepEqual(row.ints, src.ints);
        assert.equal(row.flag, src.flag);
        assert.equal(row.u, src.u);
        assert.equal(row.jb, src.jb);
        assert.deepEqual(Buffer.from(row.b as Uint8Array), src.b);
        assert.equal(row.m, src.m);
        assert.equal(String(row.updated_at), src.us);
        assert.equal(row.d, src.days);
        assert.equal(row.amount, src.amount);
      });
    }
  });

  it('file columns are the model columns followed by the _sluice_* columns', async () => {
    const read = await openModelRead(source, { model, columns, tenantId: 'a', window: { from: null, to: null }, transferId: 't', syncedAt });
    await read.close();
    assert.deepEqual(read.columns.map((c) => c.name), [...columns.map((c) => c.name), ...METADATA_COLUMNS.map((c) => c.name)]);
  });
});

/**
 * Every built-in PostgreSQL type (scalars, arrays of one to three dimensions, BC dates, years past
 * 9999, ±infinity, NaN, 24:00:00, NULL everywhere), delivered in every format and compression and
 * read back by DuckDB as a recipient would: every value of every row must equal the source's. Values
 * a format cannot carry (docs/types.md) must fail the model with `value_not_representable`, naming
 * model, column and primary key, never the value.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SluiceError } from '../../src/core/errors.js';
import { describeQuery, describeTable } from '../../src/sources/postgres/catalog.js';
import { openModelRead } from '../../src/sources/postgres/reader.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import type { ColumnInfo, Compression, Format, ModelDefinition } from '../../src/core/types.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { FORMAT_CASES, deliverToFiles, readBackAll, sameCanonical, sourceAll, type DeliveredFiles } from '../support/readback.js';
import { TORTURE_TYPES_PRELUDE, createTypesTorture } from '../support/torture.js';

const modelOf = (table: string, extra: Partial<ModelDefinition> = {}): ModelDefinition => ({
  name: table,
  source: { table },
  primaryKey: ['id'],
  cursor: 'updated_at',
  tenant: 'tenant_id',
  lookback: 0,
  ...extra,
});

describe('every type, every format: source values = delivered values', () => {
  let db: TestDatabase;
  let source: PostgresSource;
  let dir: string;
  const rowsOf: Record<string, number> = {};

  before(async () => {
    db = await freshDatabase({ migrate: false, prefix: 'sluice_src_types' });
    await db.pool.query(TORTURE_TYPES_PRELUDE);
    // Parquet's table leaves out the values Parquet refuses; they are delivered (and checked) in CSV and JSON Lines.
    for (const f of ['parquet', 'csv', 'jsonl']) rowsOf[f] = await createTypesTorture(db.pool, `types_${f}`, f);
    source = createPostgresSource(db.url, { maxConcurrentQueries: 2 });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-types-'));
  });
  after(async () => {
    await source.close();
    await db.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  function deliver(model: ModelDefinition, columns: ColumnInfo[], format: Format, compression: Compression): Promise<DeliveredFiles> {
    return deliverToFiles(source, { model, columns, format, compression, maxRowsPerFile: 4, dir, transferId: 'trf_types', syncedAt: new Date() });
  }

  for (const [format, compression] of FORMAT_CASES) {
    it(`${format} / ${compression}: every value of every row`, async () => {
      const table = `types_${format}`;
      const columns = (await describeTable(db.pool, table))!.columns;
      const { files, rows, fileColumns } = await deliver(modelOf(table), columns, format, compression);
      assert.equal(rows.reduce((a, b) => a + b, 0), rowsOf[format]);
      const got = await readBackAll(format, compression, files, fileColumns);
      const expected = await sourceAll(db.pool, table, 'updated_at, id', columns);
      assert.equal(got.length, expected.length);
      const wrong: string[] = [];
      for (let r = 0; r < expected.length; r++) {
        columns.forEach((col, c) => {
          if (!sameCanonical(col.logicalType, got[r]![c]!, expected[r]![c]!, format)) {
            wrong.push(`row ${expected[r]![0]} ${col.name} (${col.pgType} → ${col.logicalType}): file ${JSON.stringify(got[r]![c])} ≠ source ${JSON.stringify(expected[r]![c])}`);
          }
        });
      }
      assert.deepEqual(wrong, []);
      // The last row is NULL in every column but the key, tenant and cursor.
      const last = got[got.length - 1]!;
      columns.slice(3).forEach((col, i) => assert.equal(last[i + 3], null, `NULL in ${col.name}`));
    });
  }

  it('JSON Lines rows rebuilt for a BC value keep the soft-delete flag and every column', async () => {
    const columns = (await describeTable(db.pool, 'types_jsonl'))!.columns;
    const model = modelOf('types_jsonl', { softDelete: 'c_bool' });
    const { files } = await deliver(model, columns, 'jsonl', 'none');
    const lines = (await Promise.all(files.map((f) => fs.readFile(f, 'utf8')))).join('').trim().split('\n');
    const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, rowsOf.jsonl);
    const bc = rows.find((r) => r.id === 4)!; // c_date '0044-03-15 BC'
    assert.equal(bc.c_date, '-0043-03-15');
    for (const r of rows) {
      assert.deepEqual(Object.keys(r).slice(0, columns.length), columns.map((c) => c.name));
      assert.equal(r._sluice_deleted, r.c_bool === true, `row ${String(r.id)}`);
    }
  });

  it('declared dimensions decide the list type: int[][] is list<list<int32>>, date[][][] three deep', async () => {
    const columns = (await describeTable(db.pool, 'types_csv'))!.columns;
    const type = (name: string) => columns.find((c) => c.name === name)!.logicalType;
    assert.equal(type('a_int4'), 'list<int32>');
    assert.equal(type('m_int2d'), 'list<list<int32>>');
    assert.equal(type('m_date3d'), 'list<list<list<date>>>');
    assert.equal(type('m_dec2d'), 'list<list<decimal(12,2)>>');
    // A SQL model's column taken straight from a table keeps the declared dimensions.
    const client = await db.pool.connect();
    try {
      const q = await describeQuery(client, 'SELECT id, m_int2d, array_agg_x FROM (SELECT id, m_int2d, ARRAY[id] AS array_agg_x FROM types_csv) s');
      assert.equal(q.columns.find((c) => c.name === 'm_int2d')!.logicalType, 'list<list<int32>>');
      assert.equal(q.columns.find((c) => c.name === 'array_agg_x')!.logicalType, 'list<int64>');
    } finally {
      client.release();
    }
  });

  // A table with one good row and one row holding `value` in column `col`.
  async function refusalTable(name: string, type: string, value: string): Promise<ColumnInfo[]> {
    await db.pool.query(`CREATE TABLE ${name} (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, col ${type})`);
    await db.pool.query(`INSERT INTO ${name} VALUES (1, 'a', '2024-01-01', NULL), (42, 'a', '2024-01-02', ${value}::${type})`);
    return (await describeTable(db.pool, name))!.columns;
  }

  async function refusalOf(model: ModelDefinition, columns: ColumnInfo[], format: Format): Promise<SluiceError> {
    try {
      await deliver(model, columns, format, format === 'parquet' ? 'snappy' : 'gzip');
    } catch (err) {
      assert.ok(err instanceof SluiceError, `a SluiceError, got ${String(err)}`);
      return err;
    }
    assert.fail(`${model.name} was delivered as ${format}`);
  }

  const PARQUET_REFUSALS: Array<[string, string, string, string]> = [
    ['r_date_inf', 'date', `'infinity'`, 'infinite'],
    ['r_date_ninf', 'date', `'-infinity'`, 'infinite'],
    ['r_ts_inf', 'timestamp', `'infinity'`, 'infinite'],
    ['r_tstz_ninf', 'timestamptz', `'-infinity'`, 'infinite'],
    ['r_ts_far', 'timestamp', `'294270-01-01 00:00:00'`, 'after 294247'],
    ['r_tstz_far', 'timestamptz', `'294270-01-01 00:00:00+00'`, 'after 294247'],
    ['r_dec_nan', 'numeric(10,2)', `'NaN'`, 'NaN'],
    ['r_dec_nan_list', 'numeric(10,2)[]', `'{1.5,NaN}'`, 'NaN'],
    ['r_date_inf_list', 'date[]', `'{2024-01-01,infinity}'`, 'infinite'],
    ['r_tstz_far_list', 'timestamptz[]', `'{"294270-01-01 00:00:00+00"}'`, 'after 294247'],
  ];
  for (const [name, type, value, reason] of PARQUET_REFUSALS) {
    it(`parquet refuses ${type} ${value}, naming model, column and key; CSV and JSON Lines carry it`, async () => {
      const columns = await refusalTable(name, type, value);
      const err = await refusalOf(modelOf(name), columns, 'parquet');
      assert.equal(err.code, 'value_not_representable');
      assert.equal(err.actor, 'provider');
      assert.match(err.message, new RegExp(`Model ${name}, column col, row with primary key \\(id=42\\)`));
      assert.ok(err.message.includes(reason), err.message);
      assert.ok(err.hint);
      const raw = value.replace(/'/g, '').replace(/[{}"]/g, '');
      for (const part of raw.split(',')) assert.ok(!err.message.includes(part) || part === 'infinity' || part === 'NaN', `the message holds the value ${part}: ${err.message}`);
      for (const format of ['csv', 'jsonl'] as const) {
        const { files } = await deliver(modelOf(name), columns, format, 'none');
        const text = await fs.readFile(files[0]!, 'utf8');
        assert.equal(text.trim().split('\n').length, format === 'csv' ? 3 : 2);
      }
    });
  }

  const SHAPE_REFUSALS: Array<[string, string, string]> = [
    ['s_flat_gets_matrix', 'integer[]', `'{{1,2},{3,4}}'`],
    ['s_matrix_gets_flat', 'integer[][]', `'{1,2}'`],
    ['s_lower_bound', 'text[]', `'[0:1]={a,b}'`],
    ['s_cube_gets_matrix', 'date[][][]', `'{{2024-01-01}}'`],
  ];
  for (const [name, type, value] of SHAPE_REFUSALS) {
    it(`every format refuses a ${type} holding ${value} (the list type would not match)`, async () => {
      const columns = await refusalTable(name, type, value);
      for (const format of ['parquet', 'csv', 'jsonl'] as const) {
        const err = await refusalOf(modelOf(name), columns, format);
        assert.equal(err.code, 'value_not_representable');
        assert.match(err.message, new RegExp(`Model ${name}, column col, row with primary key \\(id=42\\) holds an array whose shape`));
        assert.ok(!/\{|\[0:1\]/.test(err.message), err.message);
      }
    });
  }

  it('a NULL cursor of a SQL model is refused with null_cursor, naming the row (full refresh included)', async () => {
    await db.pool.query(`CREATE TABLE n_cursor (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz)`);
    await db.pool.query(`INSERT INTO n_cursor VALUES (1, 'a', '2024-01-01'), (7, 'a', NULL)`);
    const model = modelOf('n_sql', { source: { sql: 'SELECT * FROM n_cursor' } });
    const client = await db.pool.connect();
    const columns = (await describeQuery(client, 'SELECT * FROM n_cursor')).columns;
    client.release();
    const read = await openModelRead(source, { model, columns, tenantId: 'a', window: { from: null, to: null }, transferId: 't', syncedAt: new Date() });
    try {
      await assert.rejects(read.high(), (err: SluiceError) => {
        assert.equal(err.code, 'null_cursor');
        assert.equal(err.actor, 'provider');
        assert.match(err.message, /Model n_sql: the row with primary key \(id=7\) has NULL in cursor column updated_at/);
        return true;
      });
    } finally {
      await read.close();
    }
  });
});

/**
 * Tricky values, checked as a recipient's data engineer would: a table of edge values (scale of
 * decimals, -0, NaN, empty string vs NULL, control characters, every byte, BC and far-future instants,
 * domains and arrays of domains, awkward column names…) is delivered in every format, read back by
 * DuckDB and compared value by value with the source; the JSON Lines file is also parsed with
 * JSON.parse and every value's JSON kind checked against the manifest's logical type (a decimal or a
 * `string` column that arrives as a JSON number is read as a double by most readers). The source
 * database runs with unusual output settings, which the reader must override.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SluiceError } from '../../src/core/errors.js';
import { describeTable } from '../../src/sources/postgres/catalog.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import { listElement, type ColumnInfo, type Format, type ModelDefinition } from '../../src/core/types.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { deliverToFiles, readBackAll, readerConnection, sameCanonical, sourceAll } from '../support/readback.js';
import { N_ROWS, PRELUDE, tableSql } from '../support/tricky-values.js';

const modelOf = (table: string): ModelDefinition => ({ name: table, source: { table }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'tenant_id', lookback: 0 });

/** The JSON kinds a JSON Lines value of `logicalType` may have (JSON has no NaN or infinity: floats may be strings). */
function jsonKindOk(logicalType: string, value: unknown): boolean {
  if (value === null) return true;
  const elem = listElement(logicalType);
  if (elem) return Array.isArray(value) && value.every((x) => jsonKindOk(elem, x));
  if (/^int(16|32|64)$/.test(logicalType)) return typeof value === 'number';
  if (logicalType.startsWith('float')) return typeof value === 'number' || ['NaN', 'Infinity', '-Infinity'].includes(value as string);
  if (logicalType === 'boolean') return typeof value === 'boolean';
  // Decimals, dates, times, binary, json and every string type: a JSON string.
  return typeof value === 'string';
}

describe('tricky values: every value exact or refused', () => {
  let db: TestDatabase;
  let source: PostgresSource;
  let dir: string;
  const columnsOf: Partial<Record<Format, ColumnInfo[]>> = {};

  before(async () => {
    db = await freshDatabase({ migrate: false, prefix: 'sluice_src_values' });
    // Output settings a provider's server may have; the reader sets its own for every session.
    await db.pool.query(`ALTER DATABASE ${db.name} SET bytea_output = 'escape'`);
    await db.pool.query(`ALTER DATABASE ${db.name} SET extra_float_digits = -15`);
    await db.pool.query(`ALTER DATABASE ${db.name} SET IntervalStyle = 'sql_standard'`);
    await db.pool.query(`ALTER DATABASE ${db.name} SET DateStyle = 'SQL, DMY'`);
    await db.pool.query(`ALTER DATABASE ${db.name} SET TimeZone = 'Pacific/Kiritimati'`);
    await db.pool.query(PRELUDE);
    for (const format of ['csv', 'jsonl', 'parquet'] as const) {
      for (const sql of tableSql(`vals_${format}`, format)) await db.pool.query(sql);
      columnsOf[format] = (await describeTable(db.pool, `vals_${format}`))!.columns;
    }
    source = createPostgresSource(db.url, { maxConcurrentQueries: 2 });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-values-'));
  });
  after(async () => {
    await source?.close();
    await db?.drop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('domains and arrays of domains take their base type: decimals, dates, timestamps, lists', () => {
    const type = (name: string): string => columnsOf.csv!.find((c) => c.name === name)!.logicalType;
    assert.equal(type('num_dom'), 'string');
    assert.equal(type('dec_dom'), 'decimal(8,3)');
    assert.equal(type('num_dom_arr'), 'list<string>');
    assert.equal(type('dec_dom_arr'), 'list<decimal(8,3)>');
    assert.equal(type('decs_dom'), 'list<decimal(6,2)>');
    assert.equal(type('ints_dom'), 'list<int32>');
    assert.equal(type('date_dom_arr'), 'list<date>');
    assert.equal(type('tstz_dom_arr'), 'list<timestamp_us_utc>');
    assert.equal(type('bytes_dom_arr'), 'list<binary>');
    assert.equal(type('gen'), 'int64');
  });

  for (const [format, compression] of [['csv', 'gzip'], ['jsonl', 'zstd'], ['parquet', 'snappy']] as const) {
    it(`${format}: every delivered value equals the source's`, async () => {
      const table = `vals_${format}`;
      const columns = columnsOf[format]!;
      const { files, fileColumns } = await deliverToFiles(source, { model: modelOf(table), columns, format, compression, maxRowsPerFile: 7, dir, transferId: 'trf_values', syncedAt: new Date() });
      const got = await readBackAll(format, compression, files, fileColumns);
      const expected = await sourceAll(db.pool, table, 'updated_at, id', columns);
      assert.equal(got.length, N_ROWS);
      const wrong: string[] = [];
      for (let r = 0; r < N_ROWS; r++) {
        columns.forEach((col, c) => {
          if (!sameCanonical(col.logicalType, got[r]![c]!, expected[r]![c]!, format)) {
            wrong.push(`row ${r + 1} ${col.name} (${col.pgType} → ${col.logicalType}): file ${JSON.stringify(got[r]![c])?.slice(0, 200)} ≠ source ${JSON.stringify(expected[r]![c])?.slice(0, 200)}`);
          }
        });
      }
      assert.deepEqual(wrong, []);
    });
  }

  // DuckDB drops a byte order mark at the start of a CSV file: the Parquet feed's first value must keep it.
  it('a text key starting with U+FEFF (byte order mark) keeps it in every format, first row of a file included', async () => {
    await db.pool.query(`CREATE TABLE bom (k text PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL)`);
    await db.pool.query(`INSERT INTO bom VALUES (E'\\uFEFFa', 'a', '2024-01-01'), (E'\\uFEFF', 'a', '2024-01-02')`);
    const columns = (await describeTable(db.pool, 'bom'))!.columns;
    const model: ModelDefinition = { ...modelOf('bom'), primaryKey: ['k'] };
    const conn = await readerConnection();
    for (const format of ['csv', 'jsonl', 'parquet'] as const) {
      const { files } = await deliverToFiles(source, { model, columns, format, compression: 'none', maxRowsPerFile: 1, dir, transferId: 'trf_values', syncedAt: new Date() });
      assert.equal(files.length, 2);
      const list = `[${files.map((f) => `'${f}'`).join(', ')}]`;
      const relation =
        format === 'parquet'
          ? `read_parquet(${list})`
          : format === 'csv'
            ? `read_csv(${list}, header = true, auto_detect = false, columns = {'k': 'VARCHAR', 'tenant_id': 'VARCHAR', 'updated_at': 'VARCHAR', '_sluice_transfer_id': 'VARCHAR', '_sluice_synced_at': 'VARCHAR', '_sluice_deleted': 'VARCHAR'})`
            : `read_json(${list}, format = 'newline_delimited', columns = {'k': 'VARCHAR'})`;
      const rows = (await conn.runAndReadAll(`SELECT hex(k) FROM ${relation} ORDER BY 1`)).getRows().map((r) => String(r[0]));
      assert.deepEqual(rows, ['EFBBBF', 'EFBBBF61'], format);
    }
  });

  // The read query's own aliases (src, r, f, u, e, o, d…) must never be taken for a model's column.
  it('columns named like the read query\'s aliases are delivered in every format', async () => {
    const names = ['src', 'r', 'f', 'u', 'e', 'o', 'd', 'k', 'sluice_model'];
    await db.pool.query(`CREATE TABLE aliases (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL,
      ${names.map((n, i) => `${n} ${i % 2 === 0 ? 'date[]' : 'int'}`).join(', ')})`);
    // Row 1 has BC values: JSON Lines rebuilds such rows (a second row_to_json); row 2 has none.
    const values = names.map((_, i) => (i % 2 === 0 ? `'{0044-03-15 BC,2024-01-01}'` : String(i)));
    await db.pool.query(`INSERT INTO aliases VALUES (1, 'a', '0044-03-15 10:00:00+00 BC', ${values.join(', ')}), (2, 'a', '2024-01-01', ${values.join(', ')})`);
    const columns = (await describeTable(db.pool, 'aliases'))!.columns;
    for (const [format, compression] of [['csv', 'none'], ['jsonl', 'none'], ['parquet', 'zstd']] as const) {
      const { files, fileColumns } = await deliverToFiles(source, { model: modelOf('aliases'), columns, format, compression, maxRowsPerFile: 10, dir, transferId: 'trf_values', syncedAt: new Date() });
      const got = await readBackAll(format, compression, files, fileColumns);
      const expected = await sourceAll(db.pool, 'aliases', 'updated_at, id', columns);
      assert.equal(got.length, 2, format);
      for (let r = 0; r < 2; r++) columns.forEach((col, c) => assert.ok(sameCanonical(col.logicalType, got[r]![c]!, expected[r]![c]!, format), `${format} row ${r + 1} ${col.name}`));
    }
  });

  it('columns differing only in letter case: Parquet refuses the model, naming both; CSV and JSON Lines carry them', async () => {
    await db.pool.query(`CREATE TABLE cases (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, "Name" text, name text)`);
    await db.pool.query(`INSERT INTO cases VALUES (1, 'a', '2024-01-01', 'Upper', 'lower')`);
    const columns = (await describeTable(db.pool, 'cases'))!.columns;
    const deliver = (format: Format) => deliverToFiles(source, { model: modelOf('cases'), columns, format, compression: 'none', maxRowsPerFile: 10, dir, transferId: 'trf_values', syncedAt: new Date() });
    await assert.rejects(deliver('parquet'), (e: unknown) => e instanceof SluiceError && e.code === 'parquet_column_names_clash' && e.message.includes('"Name" and "name"'));
    const csv = await fs.readFile((await deliver('csv')).files[0]!, 'utf8');
    assert.match(csv, /^id,tenant_id,updated_at,Name,name,.*\n1,a,[^,]+,Upper,lower,/);
    const line = JSON.parse(await fs.readFile((await deliver('jsonl')).files[0]!, 'utf8')) as Record<string, unknown>;
    assert.deepEqual([line.Name, line.name], ['Upper', 'lower']);
  });

  it('JSON Lines: every value has the JSON kind its logical type promises (decimals and strings never numbers)', async () => {
    const columns = columnsOf.jsonl!;
    const { files } = await deliverToFiles(source, { model: modelOf('vals_jsonl'), columns, format: 'jsonl', compression: 'none', maxRowsPerFile: 1000, dir, transferId: 'trf_values', syncedAt: new Date() });
    const lines = (await fs.readFile(files[0]!, 'utf8')).split('\n').filter((l) => l !== '');
    assert.equal(lines.length, N_ROWS);
    const wrong: string[] = [];
    for (const line of lines) {
      const row = JSON.parse(line) as Record<string, unknown>;
      for (const col of columns) if (!jsonKindOk(col.logicalType, row[col.name])) wrong.push(`row ${String(row.id)} ${col.name} (${col.logicalType}): ${JSON.stringify(row[col.name])}`);
    }
    assert.deepEqual(wrong, []);
  });
});

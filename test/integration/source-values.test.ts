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

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const v = (type: string, ...texts: string[]): string[] => texts.map((t) => `${lit(t)}::${type}`);
/** A value Parquet refuses (docs/types.md): left out of the Parquet table, delivered in CSV and JSON Lines. */
const np = (sql: string): { sql: string; notParquet: true } => ({ sql, notParquet: true });

const PRELUDE = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TYPE v_tag AS ENUM ('x', 'y,z');
-- A cast to json, which to_json and row_to_json would use instead of the output function.
CREATE FUNCTION v_tag_json(v_tag) RETURNS json LANGUAGE sql AS $$ SELECT json_build_object('tag', $1::text) $$;
CREATE CAST (v_tag AS json) WITH FUNCTION v_tag_json(v_tag);
CREATE TYPE v_mood AS ENUM ('', 'a,b', 'NULL');
CREATE TYPE v_pair AS (s text, n numeric);
CREATE DOMAIN v_num AS numeric;
CREATE DOMAIN v_dec AS numeric(8,3);
CREATE DOMAIN v_dec2 AS v_dec;
CREATE DOMAIN v_date AS date;
CREATE DOMAIN v_tstz AS timestamptz;
CREATE DOMAIN v_bytes AS bytea;
CREATE DOMAIN v_ints AS integer[];
CREATE DOMAIN v_decs AS numeric(6,2)[];
`;

type Value = string | { sql: string; notParquet: true };

/** Column name → [SQL type, values]. Row i takes the i-th value of every column (NULL past the end). */
const COLUMNS: Array<[string, string, Value[]]> = [
  ['num', 'numeric', [...v('numeric', '0.1', '-0.000000000000000000001', '1e-130', '1.10', '0.000', '-1.0', 'NaN', 'Infinity', '-Infinity'), `repeat('9', 1000)::numeric`, `('0.' || repeat('0', 999) || '1')::numeric`]],
  ['num_scale', 'numeric(20,5)', v('numeric(20,5)', '1.1', '-0.00001', '0', '123456789012345.12345')],
  ['num_wide', 'numeric(60,30)', v('numeric(60,30)', '123456789012345678901234567890.123456789012345678901234567890', '-0.000000000000000000000000000001')],
  ['num_dom', 'v_num', v('v_num', '1.10', '12345678901234567890.120', 'NaN', '-Infinity', '1e-30')],
  ['dec_dom', 'v_dec2', [...v('v_dec2', '1.500', '-0.001', '99999.999'), np(`'NaN'::v_dec2`)]],
  ['num_dom_arr', 'v_num[]', v('v_num[]', '{1.10,NaN,NULL,-0.000}', '{}', '{Infinity,12345678901234567890.120}')],
  ['dec_dom_arr', 'v_dec[]', [...v('v_dec[]', '{1.500,-0.001,NULL}', '{}'), np(`'{NaN}'::v_dec[]`)]],
  ['decs_dom', 'v_decs', v('v_decs', '{1.50,-0.01}', '{}')],
  ['ints_dom', 'v_ints', v('v_ints', '{1,NULL,-2147483648}', '{}')],
  ['date_dom', 'v_date', [...v('v_date', '0044-03-15 BC', '2024-02-29', '10000-01-01'), np(`'infinity'::v_date`)]],
  ['date_dom_arr', 'v_date[]', [...v('v_date[]', '{0044-03-15 BC,2024-01-01,NULL}', '{0001-01-01 BC}'), np(`'{-infinity}'::v_date[]`)]],
  ['tstz_dom_arr', 'v_tstz[]', [...v('v_tstz[]', '{"0044-03-15 10:00:00.5+00 BC","1969-12-31 23:59:59.999999+00"}'), np(`'{infinity}'::v_tstz[]`)]],
  ['bytes_dom_arr', 'v_bytes[]', v('v_bytes[]', '{"\\\\x00ff",NULL,"\\\\x"}')],
  ['i8', 'bigint', v('bigint', '9007199254740993', '-9223372036854775808', '9223372036854775807', '-9007199254740993')],
  ['i8_arr', 'bigint[]', v('bigint[]', '{9007199254740993,-9223372036854775808,NULL}')],
  ['f4', 'real', v('real', '-0', 'NaN', 'Infinity', '-Infinity', '0.1', '1e-45', '3.4028235e38', '1.1754942e-38', '16777217')],
  ['f8', 'double precision', v('double precision', '-0', '1e308', '5e-324', '0.1', '2.2250738585072014e-308', '-1.7976931348623157e308', '9007199254740993', '0.30000000000000004')],
  ['f4_arr', 'real[]', v('real[]', '{-0,0.1,NaN,-Infinity,1e-45,NULL}')],
  [
    'txt',
    'text',
    [
      ...v('text', '', '"', ',', '\r', '\n', '\r\n', '\t', '\\', '\\N', '  lead', 'trail  ', 'a\uFEFFb', '😀𝄞', '\u2028\u2029', '\u0301', 'NULL', 'null', '\\.', '"a"",b\r\n\\.'),
      `repeat('x', 3 * 1024 * 1024 / 2)`,
    ],
  ],
  ['txt_arr', 'text[]', v('text[]', '{NULL,"NULL","","a,b","\\"q\\"","\\\\","{}","a\nb"," "}', '{}', '{""}')],
  ['bpc', 'char(5)', v('char(5)', 'a', '', ' b')],
  ['bpc_arr', 'char(3)[]', v('char(3)[]', '{a,"",NULL}')],
  ['ci', 'citext', v('citext', 'MiXeD', '')],
  ['js', 'json', v('json', '{"a":1,"a":2}', '1e400', '12345678901234567890', '"\\u0000"', '{"b":1,  "a":[2, 1]}', ' 1.50 ')],
  ['jsb', 'jsonb', v('jsonb', '{"b":1,"a":2}', '12345678901234567890.10', '{"a":1,"a":2}', '"\\u00e9"', '[]', '{}')],
  ['js_arr', 'json[]', [`ARRAY['{"a":1,"a":2}'::json, NULL, '1.50'::json]`]],
  [
    'tstz',
    'timestamptz',
    [
      ...v('timestamptz', '2024-03-01 10:00:00.123456+00', '1969-12-31 23:59:59.999999+00', '1970-01-01 00:00:00.000001+00', '0001-01-01 00:00:00+00', '0001-01-01 00:00:00+00 BC', '2024-03-01 10:00:00+14'),
      np(`'infinity'::timestamptz`),
      np(`'-infinity'::timestamptz`),
    ],
  ],
  ['ts', 'timestamp', v('timestamp', '2024-03-01 10:00:00.000001', '1900-01-01 00:00:00', '0001-01-01 00:00:00 BC', '294247-01-10 04:00:54.775806')],
  ['tm', 'time', v('time', '24:00:00', '00:00:00', '23:59:59.999999')],
  ['tmtz', 'timetz', v('timetz', '24:00:00+00', '00:00:00-15:59', '12:00:00.000001+14')],
  ['dt', 'date', [...v('date', '0001-01-01 BC', '1970-01-01', '5874897-12-31'), np(`'infinity'::date`), np(`'-infinity'::date`)]],
  ['iv', 'interval', v('interval', '1 mon 2 days 00:00:00.000001', '-1 mon +2 days -00:00:01.5', '-178000000 years', '0', '1 day -24 hours')],
  ['iv_arr', 'interval[]', v('interval[]', '{"1 mon -1 day",NULL}')],
  ['bin', 'bytea', [`(SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g)`, `'\\x'::bytea`]],
  ['bin_arr', 'bytea[]', [`ARRAY[(SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g), NULL, '\\x'::bytea]`]],
  ['uid', 'uuid', v('uuid', '00000000-0000-0000-0000-000000000000', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')],
  ['ip', 'inet', v('inet', '::ffff:1.2.3.4', '192.168.0.1/24', '2001:db8::1/64')],
  ['ip_arr', 'inet[]', v('inet[]', '{::1,10.0.0.1/8}')],
  ['net', 'cidr', v('cidr', '2001:db8::/32', '10.0.0.0/8')],
  ['mac8', 'macaddr8', v('macaddr8', '08:00:2b:01:02:03:04:05')],
  ['vb', 'varbit', v('varbit', '', '0', '000101')],
  ['mny', 'money', v('money', '-92233720368547758.08', '0.01')],
  ['mood', 'v_mood', v('v_mood', '', 'a,b', 'NULL')],
  ['mood_arr', 'v_mood[]', v('v_mood[]', '{"",NULL,"NULL","a,b"}')],
  ['tag', 'v_tag', v('v_tag', 'x', 'y,z')],
  ['tag_arr', 'v_tag[]', v('v_tag[]', '{x,NULL,"y,z"}')],
  ['hs', 'hstore', v('hstore', 'a=>1, "b,c"=>NULL, "\\"q\\""=>""', '')],
  ['hs_arr', 'hstore[]', [`ARRAY['a=>1'::hstore, NULL, ''::hstore]`]],
  ['pair', 'v_pair', [`ROW('', NULL)::v_pair`, `ROW(NULL, NULL)::v_pair`, `ROW('a,"b"', 1.10)::v_pair`]],
  ['pair_arr', 'v_pair[]', [`ARRAY[ROW('', 1.10)::v_pair, NULL, ROW(NULL, NULL)::v_pair]`]],
  ['rng', 'numrange', v('numrange', 'empty', '(,)', '[1.10,2.200)')],
  ['mrng', 'tstzmultirange', v('tstzmultirange', '{}', '{[2024-01-01 00:00:00.000001+00,infinity)}')],
  ['tsv', 'tsvector', v('tsvector', "'a' 'b c':1A", '')],
  ['doc', 'xml', v('xml', '<a>x &amp; "y"</a>', '')],
  ['pt', 'point', v('point', '(-0,0.1)', '(1e-300,NaN)')],
  ['rc', 'regclass', v('regclass', 'pg_class')],
  ['int2d', 'integer[][]', v('integer[][]', '{{1,NULL},{NULL,NULL}}', '{}')],
];

const N_ROWS = Math.max(...COLUMNS.map(([, , values]) => values.length)) + 1; // the last row is NULL in every column

/** The table for `format`: Parquet's leaves out the values Parquet refuses. */
function tableSql(table: string, format: Format): string[] {
  const cols = COLUMNS.map(([name, type]) => `${name} ${type}`);
  const ddl = `CREATE TABLE ${table} (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL,
    ${cols.join(',\n    ')},
    gen bigint GENERATED ALWAYS AS (id * 9007199254740993) STORED)`;
  const kept = COLUMNS.map(([, , values]) => values.filter((x) => typeof x === 'string' || format !== 'parquet').map((x) => (typeof x === 'string' ? x : x.sql)));
  const inserts = Array.from({ length: N_ROWS }, (_, r) => {
    const values = kept.map((vals) => vals[r] ?? 'NULL');
    return `INSERT INTO ${table} VALUES (${r + 1}, 'a', timestamptz '2024-03-01 10:00:00+00' + ${r} * interval '1 second', ${values.join(', ')})`;
  });
  return [ddl, ...inserts];
}

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

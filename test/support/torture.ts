/**
 * The "type torture" table: every type whose meaning Sluice promises to keep, awkward text, NULLs in
 * every nullable column, two tenants sharing the table, ties on the cursor.
 */
import type { Queryable } from '../../src/control/db.js';

export const TORTURE_DDL = `
CREATE TYPE mood AS ENUM ('happy', 'sad', 'it''s "complicated"');
CREATE TABLE torture (
  id          bigint PRIMARY KEY,
  tenant_id   text NOT NULL,
  updated_at  timestamptz NOT NULL,
  amount      numeric(12,2),
  big         numeric(38,10),
  free        numeric,
  i2          smallint,
  i4          integer,
  f8          double precision,
  ts          timestamp,
  d           date,
  t           time,
  u           uuid,
  j           json,
  jb          jsonb,
  b           bytea,
  ints        integer[],
  texts       text[],
  m           mood,
  flag        boolean,
  txt         text,
  deleted_at  timestamptz
);
CREATE INDEX torture_tenant_cursor ON torture (tenant_id, updated_at, id);
`;

/** Awkward text: quotes, commas, CR/LF, tabs, backslashes, unicode, a lone `\\.` line, a leading quote. */
export const AWKWARD = [
  'plain',
  'comma, "quoted" and ""doubled""',
  'line one\nline two\r\nline three',
  'back\\slash \\N \\x41 \\\\ end\\',
  'tab\there',
  'üñíçødé — 漢字 — 🎉',
  '\\.',
  '"',
  '',
  'x\u0001y',
];

export async function createTorture(db: Queryable): Promise<void> {
  await db.query(TORTURE_DDL);
  // Tenant a: ids 1..12, awkward text, ties on updated_at (ids 3,4,5 share one instant).
  await db.query(`
    INSERT INTO torture
    SELECT g, 'a', timestamptz '2024-03-01 10:00:00.123456+00' + (CASE WHEN g BETWEEN 3 AND 5 THEN 3 ELSE g END) * interval '1 minute',
           (g * 1234567.89 / 7)::numeric(12,2) * (CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END),
           CASE WHEN g = 1 THEN 9999999999999999999999999999.9999999999 ELSE g * 0.0000000001 END,
           CASE WHEN g = 1 THEN 123456789012345678901234567890123456789012.000000000000000000001 ELSE g / 3.0 END,
           (g * 1000 - 5000)::smallint, g * -100000, CASE WHEN g = 2 THEN 'NaN'::float8 ELSE g / 3.0 END,
           timestamp '1999-12-31 23:59:59.999999' + g * interval '1 day',
           date '2000-02-28' + g,
           time '00:00:00.000001' + g * interval '1 hour',
           ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
           ('{"k": ' || g || ', "s": "a\\"b\\nc", "u": "é"}')::json,
           jsonb_build_object('n', g, 'nested', jsonb_build_array(1, 'two', null), 'q', 'quote"comma,')::jsonb,
           decode(repeat(lpad(to_hex(g), 2, '0'), g) || '00ff0a0d22', 'hex'),
           ARRAY[g, NULL, -g]::int[],
           ARRAY[($1::text[])[1 + g % 10], NULL, 'x,y', '{"a"}']::text[],
           (ARRAY['happy', 'sad', 'it''s "complicated"']::mood[])[1 + g % 3],
           g % 2 = 0,
           ($1::text[])[1 + (g - 1) % 10],
           CASE WHEN g = 7 THEN timestamptz '2024-03-02 00:00:00+00' END
    FROM generate_series(1, 12) g`, [AWKWARD]);
  // A row with NULL in every nullable column.
  await db.query(`INSERT INTO torture (id, tenant_id, updated_at) VALUES (13, 'a', '2024-03-01 12:00:00+00')`);
  // Tenant b (and a tenant whose id looks like SQL) must never show up in tenant a's files.
  await db.query(`
    INSERT INTO torture (id, tenant_id, updated_at, txt)
    SELECT 100 + g, CASE WHEN g % 2 = 0 THEN 'b' ELSE 'a''; DROP TABLE torture; --' END,
           timestamptz '2024-03-01 10:00:00+00' + g * interval '1 minute', 'other tenant'
    FROM generate_series(1, 6) g`);
}

/**
 * Every built-in type of PostgreSQL, with the values that are hard to carry: extremes, BC dates, years
 * past 9999, ±infinity, NaN, 24:00:00, awkward text. `refusedBy` names the format that refuses the
 * value (docs/types.md); such values go only into the table delivered in other formats.
 */
export interface TortureType {
  /** Column name suffix. */
  name: string;
  /** SQL type. */
  type: string;
  /** SQL expressions of values of that type. */
  values: Array<string | { sql: string; refusedBy: 'parquet' }>;
  /** Also an array column of this type (default true). */
  array?: boolean;
}

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const v = (type: string, ...texts: string[]): string[] => texts.map((t) => `${lit(t)}::${type}`);
const refused = (type: string, ...texts: string[]) => texts.map((t) => ({ sql: `${lit(t)}::${type}`, refusedBy: 'parquet' as const }));

export const TORTURE_TYPES: TortureType[] = [
  { name: 'bool', type: 'boolean', values: ['true', 'false'] },
  { name: 'int2', type: 'smallint', values: v('smallint', '-32768', '32767', '0') },
  { name: 'int4', type: 'integer', values: v('integer', '-2147483648', '2147483647') },
  { name: 'int8', type: 'bigint', values: v('bigint', '-9223372036854775808', '9223372036854775807', '9007199254740993') },
  { name: 'float4', type: 'real', values: v('real', 'NaN', 'Infinity', '-Infinity', '1.17549435e-38', '3.4028235e38', '-0', '0.1', '1e-45') },
  { name: 'float8', type: 'double precision', values: v('double precision', 'NaN', 'Infinity', '-Infinity', '2.2250738585072014e-308', '1.7976931348623157e308', '-0', '0.1', '5e-324') },
  { name: 'dec', type: 'numeric(12,2)', values: [...v('numeric(12,2)', '-9999999999.99', '0.00', '0.01', '1.50'), ...refused('numeric(12,2)', 'NaN')] },
  { name: 'dec38', type: 'numeric(38,10)', values: v('numeric(38,10)', '9999999999999999999999999999.9999999999', '-0.0000000001') },
  { name: 'num', type: 'numeric', values: v('numeric', 'NaN', 'Infinity', '-Infinity', '123456789012345678901234567890.123456789012345678901234567890', '0.0000000000000000000000000001', '-1e-100') },
  { name: 'numneg', type: 'numeric(5,-2)', values: v('numeric(5,-2)', '12345') },
  { name: 'money', type: 'money', values: v('money', '-92233720368547758.08', '1234.56') },
  { name: 'text', type: 'text', values: AWKWARD.map(lit) },
  { name: 'varchar', type: 'varchar(12)', values: v('varchar(12)', 'a,b "c"', '') },
  { name: 'bpchar', type: 'char(5)', values: v('char(5)', 'ab', '') },
  { name: 'qchar', type: '"char"', values: v('"char"', 'a', ',') },
  { name: 'name', type: 'name', values: v('name', 'pg_catalog', 'Mixed Case') },
  { name: 'bytea', type: 'bytea', values: v('bytea', '\\x', '\\x00ff0a0d222c5c') },
  { name: 'date', type: 'date', values: [...v('date', '2024-02-29', '0001-01-01', '0001-12-31 BC', '0044-03-15 BC', '4713-01-01 BC', '10000-01-01', '5874897-12-31'), ...refused('date', 'infinity', '-infinity')] },
  { name: 'time', type: 'time', values: v('time', '00:00:00', '23:59:59.999999', '24:00:00', '10:00:00.5') },
  { name: 'timetz', type: 'timetz', values: v('timetz', '10:00:00+05:30', '24:00:00-15:59') },
  {
    name: 'ts',
    type: 'timestamp',
    values: [
      ...v('timestamp', '2024-03-01 10:00:00.123456', '0001-01-01 00:00:00', '0044-03-15 10:00:00.5 BC', '4713-01-01 00:00:00 BC', '12345-06-07 08:09:10.000001', '294247-01-10 04:00:54.775806'),
      ...refused('timestamp', 'infinity', '-infinity'),
    ],
  },
  {
    name: 'tstz',
    type: 'timestamptz',
    values: [
      ...v('timestamptz', '2024-03-01 10:00:00.123456+05:30', '0001-01-01 00:00:00+00', '0001-12-31 23:59:59.999999+00 BC', '4713-01-01 00:00:00+00 BC', '12345-06-07 08:09:10.000001+00'),
      ...refused('timestamptz', 'infinity', '-infinity'),
    ],
  },
  { name: 'interval', type: 'interval', values: v('interval', '1 year 2 mons 3 days 04:05:06.789', '-1 day', '0', '178000000 years', '-00:00:00.000001') },
  { name: 'uuid', type: 'uuid', values: v('uuid', '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-4fff-bfff-ffffffffffff') },
  { name: 'json', type: 'json', values: v('json', '{ "a":1,  "a":2, "s": "x\\"y\\u0000" }', '"str"', '[]', '1.0e1000') },
  { name: 'jsonb', type: 'jsonb', values: v('jsonb', '{"nested": {"k": [1, null, "é", 1.50]}}', 'null', '"\\u00e9"') },
  { name: 'xml', type: 'xml', values: v('xml', '<a x="1">t &amp; u</a>', 'just text') },
  { name: 'bit', type: 'bit(3)', values: v('bit(3)', '101') },
  { name: 'varbit', type: 'varbit', values: v('varbit', '', '1100110011') },
  { name: 'point', type: 'point', values: v('point', '(1.5,-2)') },
  { name: 'line', type: 'line', values: v('line', '{1,2,3}') },
  { name: 'lseg', type: 'lseg', values: v('lseg', '[(0,0),(1,1)]') },
  { name: 'box', type: 'box', values: v('box', '(1,1),(0,0)') },
  { name: 'path', type: 'path', values: v('path', '[(0,0),(1,1),(2,0)]') },
  { name: 'polygon', type: 'polygon', values: v('polygon', '((0,0),(1,1),(2,0))') },
  { name: 'circle', type: 'circle', values: v('circle', '<(0,0),1.5>') },
  { name: 'inet', type: 'inet', values: v('inet', '192.168.0.1/24', '::1') },
  { name: 'cidr', type: 'cidr', values: v('cidr', '10.0.0.0/8') },
  { name: 'macaddr', type: 'macaddr', values: v('macaddr', '08:00:2b:01:02:03') },
  { name: 'macaddr8', type: 'macaddr8', values: v('macaddr8', '08:00:2b:01:02:03:04:05') },
  { name: 'tsvector', type: 'tsvector', values: v('tsvector', "a fat cat:1,3 'it''s'") },
  { name: 'tsquery', type: 'tsquery', values: v('tsquery', 'fat & !rat') },
  { name: 'int4range', type: 'int4range', values: v('int4range', '[1,10)', 'empty') },
  { name: 'int8range', type: 'int8range', values: v('int8range', '(,9223372036854775807)') },
  { name: 'numrange', type: 'numrange', values: v('numrange', '(1.5,)') },
  { name: 'tsrange', type: 'tsrange', values: v('tsrange', '[2024-01-01,infinity)') },
  { name: 'tstzrange', type: 'tstzrange', values: v('tstzrange', '[0044-03-15 BC,2024-01-01 00:00:00+00)') },
  { name: 'daterange', type: 'daterange', values: v('daterange', '[-infinity,2024-01-01)') },
  { name: 'int4multirange', type: 'int4multirange', values: v('int4multirange', '{[1,3),[5,7)}') },
  { name: 'datemultirange', type: 'datemultirange', values: v('datemultirange', '{}') },
  { name: 'pglsn', type: 'pg_lsn', values: v('pg_lsn', '16/B374D848') },
  { name: 'oid', type: 'oid', values: v('oid', '4294967295') },
  { name: 'xid', type: 'xid', values: v('xid', '12345') },
  { name: 'xid8', type: 'xid8', values: v('xid8', '18446744073709551615') },
  { name: 'cid', type: 'cid', values: v('cid', '7') },
  { name: 'tid', type: 'tid', values: v('tid', '(0,1)') },
  { name: 'regclass', type: 'regclass', values: v('regclass', 'pg_class') },
  { name: 'regtype', type: 'regtype', values: v('regtype', 'integer') },
  { name: 'regproc', type: 'regproc', values: v('regproc', 'now') },
  { name: 'regnamespace', type: 'regnamespace', values: v('regnamespace', 'pg_catalog') },
  { name: 'regconfig', type: 'regconfig', values: v('regconfig', 'english') },
  { name: 'jsonpath', type: 'jsonpath', values: v('jsonpath', '$.a[*] ? (@ > 1)') },
  { name: 'snapshot', type: 'pg_snapshot', values: v('pg_snapshot', '10:20:10,14,15') },
  { name: 'mood', type: 'torture_mood', values: v('torture_mood', 'happy', 'it\'s "complicated"') },
  { name: 'pair', type: 'torture_pair', values: ["ROW(1, 'a,\"b\"')::torture_pair", "ROW(NULL, NULL)::torture_pair"] },
  { name: 'money_dom', type: 'torture_amount', values: v('torture_amount', '12345.678') },
];

/** Arrays of more than one dimension: nested lists. Values are SQL expressions; `dims` is declared. */
export const TORTURE_MULTI: Array<{ name: string; type: string; values: Array<string | { sql: string; refusedBy: 'parquet' }> }> = [
  { name: 'm_int2d', type: 'integer[][]', values: [`'{{1,2},{3,NULL}}'`, `'{{1},{2},{3}}'`] },
  { name: 'm_text2d', type: 'text[][]', values: [`ARRAY[ARRAY['a,b', NULL], ARRAY['"q"', E'line\\nbreak']]`] },
  { name: 'm_dec2d', type: 'numeric(12,2)[][]', values: [`'{{1.50,-2.25},{0.01,NULL}}'`, { sql: `'{{NaN}}'`, refusedBy: 'parquet' }] },
  { name: 'm_date3d', type: 'date[][][]', values: [`'{{{2024-01-01,0044-03-15 BC},{10000-01-01,NULL}},{{0001-12-31 BC,0001-01-01},{2000-02-29,1999-12-31}}}'`, { sql: `'{{{infinity}}}'`, refusedBy: 'parquet' }] },
  { name: 'm_tstz2d', type: 'timestamptz[][]', values: [`'{{"2024-03-01 10:00:00.123456+00","0044-03-15 10:00:00.5+00 BC"}}'`] },
  { name: 'm_bytea2d', type: 'bytea[][]', values: [`ARRAY[ARRAY['\\x00ff'::bytea, NULL], ARRAY['\\x'::bytea, '\\x0a0d'::bytea]]`] },
  { name: 'm_jsonb3d', type: 'jsonb[][][]', values: [`ARRAY[ARRAY[ARRAY['{"a": 1}'::jsonb, 'null'::jsonb]]]`] },
  { name: 'm_float3d', type: 'double precision[][][]', values: [`'{{{NaN,Infinity},{-Infinity,-0}}}'`] },
];

/** Columns, rows and SQL of a types table; `format` leaves out the values that format refuses. */
export function typesTortureSql(table: string, format: string): { ddl: string; inserts: string[]; rows: number } {
  const keep = (values: Array<string | { sql: string; refusedBy: string }>): string[] =>
    values.filter((x) => typeof x === 'string' || x.refusedBy !== format).map((x) => (typeof x === 'string' ? x : x.sql));
  const cols: string[] = [];
  const colValues: Array<Array<string>> = [];
  for (const t of TORTURE_TYPES) {
    const vals = keep(t.values);
    cols.push(`c_${t.name} ${t.type}`);
    colValues.push(vals);
    if (t.array !== false) {
      cols.push(`a_${t.name} ${t.type}[]`);
      colValues.push([`ARRAY[${[...vals, 'NULL'].join(', ')}]::${t.type}[]`, `'{}'::${t.type}[]`, `ARRAY[NULL]::${t.type}[]`, `ARRAY[${vals[vals.length - 1]}]::${t.type}[]`]);
    }
  }
  for (const m of TORTURE_MULTI) {
    cols.push(`${m.name} ${m.type}`);
    colValues.push(keep(m.values).map((x) => `${x}::${m.type}`));
  }
  const rows = Math.max(...colValues.map((x) => x.length)) + 1; // the last row is NULL everywhere
  const ddl = `CREATE TABLE ${table} (
  id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL,
  ${cols.join(',\n  ')}
)`;
  const inserts: string[] = [];
  for (let r = 0; r < rows; r++) {
    const vals = colValues.map((x) => x[r] ?? 'NULL');
    inserts.push(`INSERT INTO ${table} VALUES (${r + 1}, 'a', timestamptz '2024-03-01 10:00:00+00' + ${r} * interval '1 second', ${vals.join(', ')})`);
  }
  return { ddl, inserts, rows };
}

export const TORTURE_TYPES_PRELUDE = `
CREATE TYPE torture_mood AS ENUM ('happy', 'sad', 'it''s "complicated"');
CREATE TYPE torture_pair AS (n int, s text);
CREATE DOMAIN torture_amount AS numeric(8,3);
`;

export async function createTypesTorture(db: Queryable, table: string, format: string): Promise<number> {
  const { ddl, inserts, rows } = typesTortureSql(table, format);
  await db.query(ddl);
  for (const sql of inserts) await db.query(sql);
  return rows;
}

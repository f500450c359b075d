/**
 * Tricky values for the value-by-value tests (test/integration/source-values.test.ts and
 * transfer-values.test.ts): decimal scale, -0, NaN, empty string vs NULL, control characters, every
 * byte, BC and far-future instants, domains and arrays of domains, types with a cast to json.
 */
import type { Format } from '../../src/core/types.js';

const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const v = (type: string, ...texts: string[]): string[] => texts.map((t) => `${lit(t)}::${type}`);
/** A value Parquet refuses (docs/types.md): left out of the Parquet table, delivered in CSV and JSON Lines. */
const np = (sql: string): { sql: string; notParquet: true } => ({ sql, notParquet: true });

export const PRELUDE = `
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

export type Value = string | { sql: string; notParquet: true };

/** Column name → [SQL type, values]. Row i takes the i-th value of every column (NULL past the end). */
export const COLUMNS: Array<[string, string, Value[]]> = [
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

export const N_ROWS = Math.max(...COLUMNS.map(([, , values]) => values.length)) + 1; // the last row is NULL in every column

/** The table for `format`: Parquet's leaves out the values Parquet refuses. */
export function tableSql(table: string, format: Format): string[] {
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


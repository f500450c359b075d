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

/**
 * The COPY reader against a real PostgreSQL: one batch entry per row whatever the socket's chunking,
 * rows longer than a socket read, errors before and during the COPY, and a connection that is usable
 * afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { RowBatch } from '../../src/formats/rows.js';
import { copyOut } from '../../src/sources/postgres/copy-out.js';
import { serverUrl } from '../support/db.js';

async function rowsOf(client: pg.Client, sql: string): Promise<string[]> {
  const rows: string[] = [];
  for await (const b of copyOut(client, sql) as AsyncIterable<RowBatch>) {
    let start = 0;
    for (let i = 0; i < b.rows; i++) {
      rows.push(b.data.toString('utf8', start, b.ends[i]));
      start = b.ends[i]!;
    }
    assert.equal(start, b.data.length, 'the last row ends where the batch ends');
  }
  return rows;
}

describe('COPY reader', () => {
  let client: pg.Client;
  before(async () => {
    client = new pg.Client({ connectionString: serverUrl() });
    await client.connect();
  });
  after(() => client.end());

  it('yields every row whole, with its own end offset', async () => {
    // Rows of varying length (0–400 bytes of text), quotes and newlines inside quoted fields.
    const rows = await rowsOf(
      client,
      `COPY (SELECT g, repeat('x', g % 400), CASE WHEN g % 5 = 0 THEN E'a "b"\\nc' END FROM generate_series(1, 60000) g) TO STDOUT (FORMAT csv)`,
    );
    assert.equal(rows.length, 60000);
    for (const g of [1, 5, 399, 400, 59999, 60000]) {
      const third = g % 5 === 0 ? '"a ""b""\nc"' : '';
      // PostgreSQL quotes the empty string ("") to tell it from NULL (nothing).
      const second = g % 400 === 0 ? '""' : 'x'.repeat(g % 400);
      assert.equal(rows[g - 1], `${g},${second},${third}\n`);
    }
  });

  it('reassembles rows longer than a socket read', async () => {
    const rows = await rowsOf(client, `COPY (SELECT g, repeat(md5(g::text), 100000) FROM generate_series(1, 3) g) TO STDOUT (FORMAT csv)`);
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r, i) => r.length === String(i + 1).length + 1 + 3_200_000 + 1 && r.endsWith('\n')));
  });

  it('ends without a batch when there are no rows', async () => {
    assert.deepEqual(await rowsOf(client, `COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT csv)`), []);
  });

  it("fails with PostgreSQL's error mid-COPY, and the connection stays usable", async () => {
    await assert.rejects(
      rowsOf(client, `COPY (SELECT CASE WHEN g = 40000 THEN 1 / 0 ELSE g END FROM generate_series(1, 50000) g) TO STDOUT (FORMAT csv)`),
      (e: unknown) => (e as { code?: string }).code === '22012',
    );
    assert.equal((await client.query('SELECT 41 + 1 AS n')).rows[0].n, 42);
  });

  it('fails before the COPY starts (bad SQL), and the connection stays usable', async () => {
    await assert.rejects(rowsOf(client, `COPY (SELECT nope FROM nowhere) TO STDOUT`), /nowhere/);
    assert.equal((await client.query('SELECT 1 AS n')).rows[0].n, 1);
  });

  it('keeps up under backpressure from a slow consumer', async () => {
    const stream = copyOut(client, `COPY (SELECT g, repeat('y', 200) FROM generate_series(1, 20000) g) TO STDOUT (FORMAT csv)`);
    let rows = 0;
    for await (const b of stream as AsyncIterable<RowBatch>) {
      rows += b.rows;
      if (rows < 2000) await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(rows, 20000);
    assert.equal(stream.rowCount, 20000);
    assert.equal((await client.query('SELECT 2 AS n')).rows[0].n, 2);
  });
});

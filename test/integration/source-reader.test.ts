/**
 * The reader's promises: tenant isolation, (from, to] windows on (cursor, pk) with ties, one snapshot
 * per session, soft delete, statement timeout, the per-source query cap, rotation, and clean stops.
 */
import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { SluiceError } from '../../src/core/errors.js';
import { describeQuery, describeTable } from '../../src/sources/postgres/catalog.js';
import { openModelRead } from '../../src/sources/postgres/reader.js';
import { encodedFiles } from '../../src/transfer/postgres-source.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import type { ColumnInfo, EncodeOptions, ModelDefinition, ReadSpec, ReadWindow } from '../../src/core/types.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { createTorture } from '../support/torture.js';

const model: ModelDefinition = {
  name: 'torture',
  source: { table: 'torture' },
  // No multi-line text here, so the test can split CSV on newlines (the round-trip test covers text).
  columns: ['id', 'tenant_id', 'updated_at', 'amount', 'deleted_at'],
  primaryKey: ['id'],
  cursor: 'updated_at',
  tenant: 'tenant_id',
  softDelete: 'deleted_at',
  lookback: 0,
};
const csv: EncodeOptions = { format: 'csv', compression: 'none', maxRowsPerFile: 1000, maxBytesPerFile: 1 << 30 };
const TIE = '2024-03-01 10:03:00.123456+00'; // ids 3, 4 and 5 of tenant a share this cursor value

describe('postgres reader', () => {
  let db: TestDatabase;
  let source: PostgresSource;
  let columns: ColumnInfo[];

  before(async () => {
    db = await freshDatabase({ migrate: false, prefix: 'sluice_src_rd' });
    await createTorture(db.pool);
    columns = (await describeTable(db.pool, 'torture'))!.columns;
    source = createPostgresSource(db.url, { maxConcurrentQueries: 1 });
  });
  after(async () => {
    await source.close();
    await db.drop();
  });

  const spec = (over: Partial<ReadSpec> = {}): ReadSpec => ({
    model,
    columns,
    tenantId: 'a',
    window: { from: null, to: null },
    transferId: 'trf_t',
    syncedAt: new Date('2026-01-01T00:00:00Z'),
    ...over,
  });

  /** Reads a window as CSV and returns [id, _sluice_deleted] per row, plus the number of files. */
  async function readIds(s: ReadSpec, window?: ReadWindow, opts: EncodeOptions = csv): Promise<{ ids: string[]; deleted: string[]; files: number }> {
    const read = await openModelRead(source, s);
    try {
      const ids: string[] = [];
      const deleted: string[] = [];
      let files = 0;
      for await (const f of encodedFiles(read, window, opts)) {
        files++;
        const lines = (await text(f.body)).split('\n').filter(Boolean).slice(1);
        for (const line of lines) {
          ids.push(line.split(',')[0]!);
          deleted.push(line.split(',').at(-1)!);
        }
        assert.equal((await f.done).rows, lines.length);
      }
      return { ids, deleted, files };
    } finally {
      await read.close();
    }
  }

  it('reads only the tenant’s rows, in (cursor, pk) order', async () => {
    const { ids } = await readIds(spec());
    assert.deepEqual(ids, ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13']);
  });

  it('treats the tenant id as a value, never as SQL', async () => {
    const { ids } = await readIds(spec({ tenantId: "a'; DROP TABLE torture; --" }));
    assert.deepEqual(ids, ['101', '103', '105']);
    const { ids: b } = await readIds(spec({ tenantId: 'b' }));
    assert.deepEqual(b, ['102', '104', '106']);
    const { ids: none, files } = await readIds(spec({ tenantId: 'nobody' }));
    assert.deepEqual(none, []);
    assert.equal(files, 0, 'no rows, no files');
  });

  it('high() is the tenant’s max (cursor, pk); null for a tenant without rows', async () => {
    const read = await openModelRead(source, spec());
    try {
      assert.deepEqual(await read.high(), { cursor: '2024-03-01 12:00:00+00', primaryKey: ['13'] });
    } finally {
      await read.close();
    }
    const empty = await openModelRead(source, spec({ tenantId: 'nobody' }));
    try {
      assert.equal(await empty.high(), null);
    } finally {
      await empty.close();
    }
  });

  it('windows are (from, to] on (cursor, pk), ties split by the key', async () => {
    const at = (id: string) => ({ cursor: TIE, primaryKey: [id] });
    assert.deepEqual((await readIds(spec(), { from: at('3'), to: at('4') })).ids, ['4']);
    assert.deepEqual((await readIds(spec(), { from: null, to: at('3') })).ids, ['1', '2', '3']);
    assert.deepEqual((await readIds(spec(), { from: at('5'), to: { cursor: '2024-03-01 10:06:00.123456+00', primaryKey: ['6'] } })).ids, ['6']);
    // A cursor-only bound: `from` excludes all rows at that instant, `to` includes them all.
    assert.deepEqual((await readIds(spec(), { from: { cursor: TIE, primaryKey: [] }, to: { cursor: '2024-03-01 10:06:00.123456+00', primaryKey: [] } })).ids, ['6']);
    assert.deepEqual((await readIds(spec(), { from: { cursor: '2024-03-01 10:02:00.123456+00', primaryKey: [] }, to: { cursor: TIE, primaryKey: [] } })).ids, ['3', '4', '5']);
  });

  it('consecutive windows from high() cover every row exactly once', async () => {
    const first = await openModelRead(source, spec());
    let high;
    try {
      high = await first.high();
    } finally {
      await first.close();
    }
    const a = await readIds(spec(), { from: null, to: { cursor: TIE, primaryKey: ['4'] } });
    const b = await readIds(spec(), { from: { cursor: TIE, primaryKey: ['4'] }, to: high });
    assert.deepEqual([...a.ids, ...b.ids], (await readIds(spec())).ids);
  });

  it('one snapshot per session: rows committed after open are invisible to high() and encode()', async () => {
    const read = await openModelRead(source, spec());
    try {
      const high = await read.high();
      await db.pool.query(`INSERT INTO torture (id, tenant_id, updated_at) VALUES (50, 'a', '2030-01-01Z')`);
      assert.deepEqual(await read.high(), high);
      const ids: string[] = [];
      for await (const f of encodedFiles(read, undefined, csv)) ids.push(...(await text(f.body)).split('\n').slice(1).filter(Boolean).map((l) => l.split(',')[0]!));
      assert.ok(!ids.includes('50'));
    } finally {
      await read.close();
      await db.pool.query('DELETE FROM torture WHERE id = 50');
    }
  });

  it('moves a time cursor back by the lookback', async () => {
    const read = await openModelRead(source, spec());
    try {
      assert.deepEqual(await read.withLookback({ cursor: TIE, primaryKey: ['4'] }, 300), { cursor: '2024-03-01 09:58:00.123456+00', primaryKey: [] });
      assert.equal(await read.withLookback(null, 300), null);
    } finally {
      await read.close();
    }
  });

  it('flags soft-deleted rows (timestamp column set, or a boolean column true)', async () => {
    const { ids, deleted } = await readIds(spec());
    assert.deepEqual(ids.filter((_, i) => deleted[i] === 't'), ['7']);
    const sql = `SELECT id, tenant_id, updated_at, deleted_at IS NOT NULL OR id = 2 AS gone FROM torture`;
    const sqlModel: ModelDefinition = { ...model, source: { sql }, columns: undefined, softDelete: 'gone' };
    const client = await db.pool.connect();
    const sqlColumns = (await describeQuery(client, sql)).columns;
    client.release();
    const r = await readIds(spec({ model: sqlModel, columns: sqlColumns }));
    assert.deepEqual(r.ids.filter((_, i) => r.deleted[i] === 't'), ['2', '7']);
  });

  it('rotates files at the row count and at the byte size, always on whole rows', async () => {
    const byRows = await readIds(spec(), undefined, { ...csv, maxRowsPerFile: 4 });
    assert.equal(byRows.files, 4);
    assert.equal(byRows.ids.length, 13);
    // 1 byte: every file is over the size after its header, so each holds exactly one row.
    const byBytes = await readIds(spec(), undefined, { ...csv, maxBytesPerFile: 1 });
    assert.equal(byBytes.files, 13);
    assert.deepEqual(byBytes.ids, byRows.ids);
  });

  it('cancels a read that exceeds the statement timeout with a clear error', async () => {
    const slow = createPostgresSource(db.url, { statementTimeoutMs: 50 });
    const sql = `SELECT t.*, pg_sleep(0.2) IS NULL AS slept FROM torture t`;
    const client = await db.pool.connect();
    const sqlColumns = (await describeQuery(client, sql)).columns;
    client.release();
    const read = await openModelRead(slow, spec({ model: { ...model, columns: undefined, source: { sql } }, columns: sqlColumns }));
    try {
      await assert.rejects(
        async () => {
          for await (const f of encodedFiles(read, undefined, csv)) await text(f.body);
        },
        (e: unknown) => e instanceof SluiceError && e.code === 'source_statement_timeout' && e.actor === 'provider' && /statement timeout/.test(e.message),
      );
    } finally {
      await read.close();
      await slow.close();
    }
  });

  it('caps concurrent reads per source; a session stopped early frees its slot', async () => {
    const first = await openModelRead(source, spec());
    let secondOpen = false;
    const second = openModelRead(source, spec()).then((r) => {
      secondOpen = true;
      return r;
    });
    await first.high(); // a round trip: the second open had every chance to proceed
    assert.equal(secondOpen, false, 'a second session waits while the only slot is held');
    for await (const f of encodedFiles(first, undefined, { ...csv, maxRowsPerFile: 2 })) {
      f.body.resume();
      break; // the consumer stops after the first file
    }
    await first.close();
    const s = await second;
    assert.equal(secondOpen, true);
    assert.ok(await s.high());
    await s.close();
    assert.equal(source.slots.inUse, 0);
  });
});

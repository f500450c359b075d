import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { encodeFiles } from '../../src/formats/index.js';
import { METADATA_COLUMNS } from '../../src/core/row-layout.js';
import { MAX_ROW_BYTES, caseClash } from '../../src/formats/parquet.js';
import { rowBatches } from '../../src/formats/rows.js';
import { SluiceError } from '../../src/core/errors.js';
import type { ColumnInfo } from '../../src/core/types.js';

const col = (name: string, logicalType: string): ColumnInfo => ({ name, pgType: 'x', typeOid: 0, isArray: false, nullable: true, logicalType });

const encode = (input: Readable, columns: ColumnInfo[]) =>
  encodeFiles(input, { columns: [...columns, ...METADATA_COLUMNS], deletedInFeed: false, transferId: 'trf_test', syncedAt: new Date() }, { format: 'parquet', compression: 'snappy', maxRowsPerFile: 2, maxBytesPerFile: 1 << 30 });

async function drain(input: Readable, columns: ColumnInfo[]): Promise<number[]> {
  const rows: number[] = [];
  for await (const f of encode(input, columns)) {
    f.body.resume();
    rows.push((await f.done).rows);
  }
  return rows;
}


describe('parquet encoder', () => {
  it('rotates by rows, one DuckDB conversion per file', async () => {
    assert.deepEqual(await drain(rowBatches(['1,a\n', '2,"b\nc"\n', '3,\n']), [col('n', 'int32'), col('s', 'string')]), [2, 1]);
  });

  it('surfaces a DuckDB conversion failure as an error naming the column, never the value or the line', async () => {
    await assert.rejects(drain(rowBatches(['1,secret-value-7\n']), [col('ok', 'int32'), col('amount', 'int32')]), (e: unknown) => {
      assert.ok(e instanceof SluiceError, String(e));
      assert.equal(e.code, 'parquet_conversion_failed');
      assert.equal(e.actor, 'sluice');
      assert.match(e.message, /column amount/);
      assert.ok(!e.message.includes('secret-value-7'), e.message);
      return true;
    });
  });

  it('refuses, before reading a row, columns that differ only in ASCII letter case (DuckDB takes them for one)', async () => {
    const input = rowBatches(['1,2\n']);
    await assert.rejects(drain(input, [col('Name', 'int32'), col('name', 'int32')]), (e: unknown) => {
      assert.ok(e instanceof SluiceError, String(e));
      assert.equal(e.code, 'parquet_column_names_clash');
      assert.equal(e.actor, 'provider');
      assert.match(e.message, /"Name" and "name"/);
      return true;
    });
    assert.ok(input.destroyed);
    assert.deepEqual(caseClash([col('_SLUICE_DELETED', 'int32'), ...METADATA_COLUMNS]), ['_SLUICE_DELETED', '_sluice_deleted']);
    // DuckDB folds ASCII letters only: these are two columns to it, and are delivered.
    assert.equal(caseClash([col('É', 'int32'), col('é', 'int32'), col('ß', 'int32'), col('SS', 'int32')]), null);
    assert.deepEqual(await drain(rowBatches(['1,2,3,4\n']), [col('É', 'int32'), col('é', 'int32'), col('ß', 'int32'), col('SS', 'int32')]), [1]);
  });

  it('names the row-size limit with a hint', async () => {
    const huge = Buffer.from(`"${'x'.repeat(3 * 1024 * 1024)}"\n`);
    await assert.rejects(drain(rowBatches([huge]), [col('s', 'string')]), (e: unknown) => e instanceof SluiceError && e.code === 'row_too_large_for_parquet');
    // Past DuckDB's CSV buffer (4 MiB) DuckDB calls a long quoted value an unterminated quote: the
    // encoder measures rows itself, so the error stays the same at any size.
    const larger = Buffer.from(`1,"${'ab\n""'.repeat(2 * 1024 * 1024)}"\n`);
    await assert.rejects(drain(rowBatches(['1,ok\n', larger]), [col('n', 'int32'), col('s', 'string')]), (e: unknown) => e instanceof SluiceError && e.code === 'row_too_large_for_parquet');
    // A row of exactly the limit is delivered.
    const limit = Buffer.from(`"${'x'.repeat(MAX_ROW_BYTES - 2)}"\n`);
    assert.deepEqual(await drain(rowBatches([limit]), [col('s', 'string')]), [1]);
  });

  it('leaves no temporary files, also when the consumer stops after the first file', async (t) => {
    // A private TMPDIR (os.tmpdir() reads it at each call): other test files encode Parquet at the same time.
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'parquet-tmp-test-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    t.after(async () => {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      await fs.rm(tmp, { recursive: true, force: true });
    });
    const rows = Array.from({ length: 9 }, (_, i) => `${i}\n`);
    assert.deepEqual(await drain(rowBatches(rows, 3), [col('n', 'int32')]), [2, 2, 2, 2, 1]);
    for await (const f of encode(rowBatches(rows, 3), [col('n', 'int32')])) {
      f.body.destroy();
      break;
    }
    // Files are removed when their body closes, the folder when iteration ends.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await fs.readdir(tmp), []);
  });
});

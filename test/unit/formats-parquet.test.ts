import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { encodeFiles } from '../../src/formats/index.js';
import { METADATA_COLUMNS } from '../../src/formats/metadata.js';
import { rowBatches } from '../../src/formats/rows.js';
import { SluiceError } from '../../src/errors.js';
import type { ColumnInfo } from '../../src/transfer/types.js';

const col = (name: string, logicalType: string): ColumnInfo => ({ name, pgType: 'x', typeOid: 0, isArray: false, nullable: true, logicalType });

async function drain(input: Readable, columns: ColumnInfo[]): Promise<number[]> {
  const rows: number[] = [];
  for await (const f of encodeFiles(input, { columns: [...columns, ...METADATA_COLUMNS], deletedInFeed: false, transferId: 'trf_test', syncedAt: new Date() }, { format: 'parquet', compression: 'snappy', maxRowsPerFile: 2, maxBytesPerFile: 1 << 30 })) {
    f.body.resume();
    rows.push((await f.done).rows);
  }
  return rows;
}

describe('parquet encoder', () => {
  it('rotates by rows, one DuckDB conversion per file', async () => {
    assert.deepEqual(await drain(rowBatches(['1,a\n', '2,"b\nc"\n', '3,\n']), [col('n', 'int32'), col('s', 'string')]), [2, 1]);
  });

  it('surfaces a DuckDB failure as an error, not a crash', async () => {
    await assert.rejects(drain(rowBatches(['not a number\n']), [col('n', 'int32')]), /Could not convert|Conversion Error|not a number/i);
  });

  it('names the row-size limit with a hint', async () => {
    const huge = Buffer.from(`"${'x'.repeat(3 * 1024 * 1024)}"\n`);
    await assert.rejects(drain(rowBatches([huge]), [col('s', 'string')]), (e: unknown) => e instanceof SluiceError && e.code === 'row_too_large_for_parquet');
  });
});

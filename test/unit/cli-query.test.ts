import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatTable, runQuery } from '../../src/cli/commands/query.js';
import { SluiceError } from '../../src/core/errors.js';

describe('sluice query', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-query-test-'));
    await runQuery(`COPY (SELECT i AS id, 'row ' || i AS label FROM range(5) t(i)) TO '${dir}/rows.parquet' (FORMAT parquet)`, 10);
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('reads delivered files with the bundled DuckDB', async () => {
    const r = await runQuery(`SELECT count(*)::INTEGER AS n, max(label) AS last FROM read_parquet('${dir}/*.parquet')`, 10);
    assert.deepEqual(r, { columns: ['n', 'last'], rows: [[5, 'row 4']], truncated: false });
  });

  it('keeps at most --max-rows rows and says so', async () => {
    const r = await runQuery(`SELECT id::INTEGER AS id FROM read_parquet('${dir}/rows.parquet') ORDER BY id`, 2);
    assert.equal(r.truncated, true);
    assert.equal(formatTable(r), 'id\n--\n0\n1\n(first 2 rows)');
    assert.match(formatTable({ columns: ['x'], rows: [[null]], truncated: false }), /NULL\n\(1 row\)$/);
  });

  it('turns a DuckDB error into query_failed with a hint', async () => {
    await assert.rejects(runQuery(`SELECT * FROM read_parquet('${dir}/missing/*.parquet')`, 10), (e: unknown) => {
      return e instanceof SluiceError && e.code === 'query_failed' && /No files found/.test(e.message) && /read_parquet/.test(e.hint ?? '');
    });
  });
});

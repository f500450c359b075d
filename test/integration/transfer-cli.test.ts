/**
 * `sluice transfer` in-process, as an operator runs it: configuration from the environment and
 * sluice.yaml, plain progress lines when not on a terminal, a per-model summary, the exit code.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { parseTransferOptions, progressReporter, registerTransfer } from '../../src/cli/commands/transfer.js';
import { transferFixture, type TransferFixture } from '../support/transfer-fixture.js';

let fx: TransferFixture;
let dir: string;
const saved = { ...process.env };

before(async () => {
  fx = await transferFixture(['cli']);
  await fx.sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO orders SELECT g, 'c', timestamptz '2026-01-01' + g * interval '1 s' FROM generate_series(1, 25) g;
  `);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-cli-'));
  await fs.writeFile(
    path.join(dir, 'sluice.yaml'),
    ['models:', '  - name: orders', '    table: orders', '    cursor: updated_at', '    tenant: tenant_id', '    lookback: 1m', ''].join('\n'),
  );
  Object.assign(process.env, {
    DATABASE_URL: fx.control.url,
    SLUICE_SOURCE_URL: fx.sourceDb.url,
    SLUICE_CONFIG: path.join(dir, 'sluice.yaml'),
    SLUICE_SECRET_KEY: fx.secretKey,
    SLUICE_DATA_DIR: dir,
    SLUICE_PUBLIC_URL: 'https://sluice.test.example',
    SLUICE_LOG_LEVEL: 'error',
    // The fixture's S3 server is local plain http, which this operator allows.
    SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
    SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
  });
});
after(async () => {
  process.env = saved;
  await fs.rm(dir, { recursive: true, force: true });
  await fx.close();
});

async function sluice(args: string[]): Promise<{ out: string[]; exitCode: number }> {
  const program = new Command('sluice').exitOverride();
  registerTransfer(program);
  const out: string[] = [];
  const log = console.log;
  const write = process.stdout.write;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'sluice', ...args]);
    return { out, exitCode: Number(process.exitCode ?? 0) };
  } finally {
    console.log = log;
    process.stdout.write = write;
    process.exitCode = before;
  }
}

test('sluice transfer delivers and prints a summary per model; exit code 0', async () => {
  const dst = await fx.addDestination({ tenantId: 'c', bucket: 'cli' });
  const first = await sluice(['transfer', dst]);
  assert.equal(first.exitCode, 0, first.out.join('\n'));
  assert.match(first.out[0]!, new RegExp(`^transfer trf_\\w+ \\(INCREMENTAL\\) of ${dst}: succeeded$`));
  assert.match(first.out[1]!, /^ {2}orders\s+succeeded\s+[\d.]+ s\s+25 rows, 1 files, [\d.]+ K?B, manifest _manifests\/orders\//);
  const again = await sluice(['transfer', dst, '--models', 'orders']);
  assert.match(again.out[1]!, /nothing new$/);
  const json = await sluice(['transfer', dst, '--full-refresh', '--json']);
  assert.equal(json.exitCode, 0);
  const result = JSON.parse(json.out.join('\n')) as { kind: string; models: Array<{ rows: number }> };
  assert.equal(result.kind, 'FULL_REFRESH');
  assert.equal(result.models[0]!.rows, 25);
});

test('sluice transfer refuses an unknown model and unparsable backfill bounds before running, naming the flag', async () => {
  const dst = await fx.addDestination({ tenantId: 'c', bucket: 'cli', prefix: 'other' });
  await assert.rejects(sluice(['transfer', dst, '--models', 'nope']), /Invalid transfer request\. --models: names no model of sluice\.yaml; the models are orders/);
  await assert.rejects(
    sluice(['transfer', dst, '--from', 'last tuesday', '--to', '2026-02-01']),
    /--from: is not a value of model orders's cursor column "updated_at" \(timestamp with time zone\)/,
  );
  const { rows } = await fx.control.pool.query('SELECT count(*)::int AS n FROM transfers WHERE destination_id = $1', [dst]);
  assert.equal(rows[0].n, 0, 'nothing was started');
});

test('options: kinds from flags; contradictory flags refused', () => {
  assert.deepEqual(parseTransferOptions({}), { kind: 'INCREMENTAL' });
  assert.deepEqual(parseTransferOptions({ fullRefresh: true, models: 'a, b' }), { kind: 'FULL_REFRESH', models: ['a', 'b'] });
  assert.deepEqual(parseTransferOptions({ from: '2026-01-01', to: '2026-02-01' }), { kind: 'BACKFILL', from: '2026-01-01', to: '2026-02-01' });
  assert.throws(() => parseTransferOptions({ fullRefresh: true, from: 'x' }), /cannot be combined/);
});

test('plain progress: one line per status change, rows, bytes and rate', () => {
  const lines: string[] = [];
  const p = progressReporter(false, (l) => lines.push(l));
  const base = { transferId: 'trf_x', model: 'orders', rows: 0, bytes: 0, files: 0, estimatedRows: null, elapsedMs: 0, rowsPerSecond: 0, bytesPerSecond: 0 };
  p.update({ ...base, status: 'running' });
  p.update({ ...base, status: 'running', rows: 10 });
  p.update({ ...base, status: 'succeeded', rows: 1000, bytes: 2_500_000, files: 1, rowsPerSecond: 500, bytesPerSecond: 1_250_000 });
  p.stop();
  assert.deepEqual(lines, [
    'orders: running, 0 rows, 0 B, 0 files, 0 rows/s, 0 B/s',
    'orders: succeeded, 1000 rows, 2.5 MB, 1 files, 500 rows/s, 1.3 MB/s',
  ]);
});

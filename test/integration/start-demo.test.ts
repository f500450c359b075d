/**
 * `npm start` end to end, as a newcomer runs it (the compiled build, through the `sluice` bin): a child process with a fresh data folder and no
 * DATABASE_URL (embedded PostgreSQL), waiting for the first delivery, reading the files in the local
 * bucket with DuckDB, stopping with SIGINT, starting again and seeing an incremental delivery.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { freePort } from '../../src/control/embedded.js';
import { ensureBuilt, SLUICE_BIN } from '../support/build.js';

interface Started {
  child: ChildProcess;
  output: () => string;
  summary: string;
}

async function npmStart(dataDir: string, port: number): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_PORT: String(port), SLUICE_LOG_FORMAT: 'json', SLUICE_LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  delete env.SLUICE_SOURCE_URL;
  // The test runner turns the AWS SDK's Node 20 notice off; the start must do that itself.
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  env.SLUICE_CONFIG = path.join(dataDir, 'no-project-models.yaml');
  const child = spawn(process.execPath, [...SLUICE_BIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const summary = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no delivery report within 120 s:\n${out.slice(-3000)}`)), 120_000);
    const check = (): void => {
      const i = out.indexOf('Sluice is running');
      const j = out.indexOf('  stop ', i);
      if (i >= 0 && j >= 0) {
        clearTimeout(timer);
        resolve(out.slice(i, out.indexOf('\n', j)));
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
  return { child, output: () => out, summary };
}

async function stop(s: Started): Promise<number | null> {
  s.child.removeAllListeners('exit');
  const exited = new Promise<number | null>((resolve) => s.child.on('exit', (code) => resolve(code)));
  s.child.kill('SIGINT');
  return exited;
}

async function parquetFiles(root: string, model: string): Promise<string[]> {
  const dir = path.join(root, model);
  const entries = (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])) as string[];
  return entries.filter((e) => e.endsWith('.parquet._S3rver_object')).map((e) => path.join(dir, e)).sort();
}

describe('npm start', () => {
  let dataDir: string;
  let port: number;
  const running: Started[] = [];
  before(async () => {
    await ensureBuilt();
    // Inside the project's .tmp (like the suite's own PostgreSQL): as root, embedded PostgreSQL runs as
    // a `postgres` user, which cannot enter a private mkdtemp folder.
    await fs.mkdir(path.resolve('.tmp'), { recursive: true });
    dataDir = await fs.mkdtemp(path.resolve('.tmp', 'start-'));
    await fs.chmod(dataDir, 0o755);
    port = await freePort();
  });
  after(async () => {
    for (const s of running) if (s.child.exitCode === null) await stop(s);
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('delivers the demo data on the first start, and only what changed on the second', async () => {
    const first = await npmStart(dataDir, port);
    running.push(first);
    assert.match(first.summary, /connection test {2}passed/);
    // An ordinary start prints no Node warning (the AWS SDK's Node 20 notice is in the README instead).
    assert.doesNotMatch(first.output(), /\(node:\d+\) \w*Warning/);
    assert.match(first.summary, /first transfer/);
    assert.match(first.summary, /succeeded, 2805 rows/);
    assert.match(first.summary, new RegExp(`API {14}http://127\\.0\\.0\\.1:${port}`));
    assert.match(first.summary, /curl -X POST -H "Authorization: Bearer sk_/);
    const bucketDir = path.join(dataDir, 's3', 'sluice-demo', 'exports');
    assert.ok(first.summary.includes(bucketDir), 'the report says where the files are');

    // The files are in the bucket's folder and DuckDB reads them: every acme order, no other tenant.
    const duck = await DuckDBInstance.create(':memory:');
    const conn = await duck.connect();
    try {
      const orders1 = await parquetFiles(bucketDir, 'orders');
      assert.equal(orders1.length, 1);
      const read = async (files: string[]) =>
        (
          await conn.runAndReadAll(
            `SELECT count(*)::INTEGER AS n, count(DISTINCT tenant_id)::INTEGER AS tenants, min(tenant_id) AS tenant
               FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}])`,
          )
        ).getRowObjects()[0]!;
      assert.deepEqual(await read(orders1), { n: 2000, tenants: 1, tenant: 'acme' });

      // Ctrl-C: a clean stop.
      assert.equal(await stop(first), 0, first.output().slice(-2000));
      assert.match(first.output(), /worker stopped/);

      const second = await npmStart(dataDir, port);
      running.push(second);
      assert.match(second.summary, /incremental transfer \(only what changed/);
      const m = /succeeded, (\d+) rows/.exec(second.summary);
      assert.ok(m, second.summary);
      const rows = Number(m[1]);
      assert.ok(rows > 0 && rows < 100, `an incremental delivery of the few changed rows, not ${rows}`);
      const orders2 = (await parquetFiles(bucketDir, 'orders')).filter((f) => !orders1.includes(f));
      assert.equal(orders2.length, 1, 'one new orders file');
      const delta = await read(orders2);
      assert.equal(delta.tenant, 'acme');
      const n = Number(delta.n);
      // Only the orders changed since the first read (commit-safe watermark: nothing is read twice).
      assert.ok(n > 0 && n < 100, `only changed orders (${n})`);
      assert.equal(await stop(second), 0, second.output().slice(-2000));
    } finally {
      conn.closeSync();
    }
  });
});

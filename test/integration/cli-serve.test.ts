/**
 * `sluice serve` as a child process: it listens where configured, serves the public routes without a
 * key and /v1 with one, and on SIGTERM stops cleanly with exit code 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createApiKey } from '../../src/control/apikeys.js';
import { freePort } from '../../src/control/embedded.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let dataDir: string;

before(async () => {
  db = await freshDatabase();
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-serve-'));
});
after(async () => {
  await db.drop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function waitForHealth(url: string, exited: () => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (exited()) throw new Error('sluice serve exited before listening');
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('sluice serve did not start listening within 60 s');
}

describe('sluice serve', () => {
  it('serves the API and shuts down gracefully on SIGTERM', async () => {
    const port = await freePort();
    const { key } = await createApiKey(db.pool, { name: 'serve-test' });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve'], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        SLUICE_DATA_DIR: dataDir,
        SLUICE_HOST: '127.0.0.1',
        SLUICE_PORT: String(port),
        SLUICE_SECRET_KEY: 'lEqJ0WQ6ys1n1Ur1nH0Jo5W3uGd2o3xGq1Zr6YlB5Ns=',
        SLUICE_LOG_LEVEL: 'info',
        SLUICE_LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        exitCode = code;
        resolve(code);
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHealth(url, () => exitCode !== undefined);
      assert.equal((await fetch(`${url}/v1/recipients`)).status, 401);
      const ok = await fetch(`${url}/v1/recipients`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { recipients: [] });
      assert.equal((await fetch(`${url}/.well-known/openid-configuration`)).status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output);
    assert.match(output, /"msg":"stopped"/);
    assert.ok(!output.includes(key), 'the API key is not logged');
  });
});

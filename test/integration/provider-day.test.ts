/**
 * A provider's first day, as the README's walkthrough has it: `npm start` in one terminal (its own
 * process group, like a terminal's foreground job), the real CLI in a second one beside it, the API
 * with curl's requests, a Ctrl-C (SIGINT to the process group) during a transfer, and a restart.
 *
 * Holds: CLI commands use the running embedded PostgreSQL and never stop it; the walkthrough's
 * commands work as printed; a transfer's progress is visible in the API while it runs; Ctrl-C lets the
 * running transfer finish and exits 0; the ports (embedded PostgreSQL, demo bucket) are the same after
 * a restart, so a destination made on the demo bucket still passes its connection test.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { freePort } from '../../src/control/ports.js';
import { until } from '../support/wait.js';
import { ensureBuilt } from '../support/build.js';

interface Started {
  child: ChildProcess;
  output: () => string;
  summary: string;
  exit: Promise<number | null>;
}

let dataDir: string;
let apiPort: number;

function baseEnv(): NodeJS.ProcessEnv {
  // Progress every 0.2 s (default 2 s): an idle machine reads this model in about as long as two
  // seconds, and the check below must see the transfer while it runs.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SLUICE_DATA_DIR: dataDir,
    SLUICE_PORT: String(apiPort),
    SLUICE_LOG_FORMAT: 'json',
    SLUICE_LOG_LEVEL: 'info',
    SLUICE_PROGRESS_SECONDS: '0.2',
  };
  delete env.DATABASE_URL;
  delete env.SLUICE_SOURCE_URL;
  delete env.SLUICE_EMBEDDED_POSTGRES_PORT;
  delete env.SLUICE_DEMO_S3_PORT;
  env.SLUICE_CONFIG = path.join(dataDir, 'no-project-models.yaml');
  return env;
}

/** `npm start`, detached: its own process group, as a terminal runs a foreground job. */
async function npmStart(): Promise<Started> {
  const child = spawn('npm', ['start'], { env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const summary = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start summary within 180 s:\n${out.slice(-3000)}`)), 180_000);
    const check = (): void => {
      const i = out.indexOf('Sluice is running');
      const j = out.indexOf('  again ', i);
      if (i >= 0 && j >= 0) {
        clearTimeout(timer);
        resolve(out.slice(i, out.indexOf('\n', j)));
      }
    };
    child.stdout!.on('data', check);
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
  return { child, output: () => out, summary, exit };
}

/** Ctrl-C as a terminal sends it: SIGINT to every process of the foreground process group. */
async function ctrlC(s: Started): Promise<number | null> {
  process.kill(-s.child.pid!, 'SIGINT');
  return s.exit;
}

/** The real CLI, as the README prints it: `npm run sluice -- …` (with -s, so stdout is the command's). */
async function sluice(args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('npm', ['run', '-s', 'sluice', '--', ...args], { env: { ...baseEnv(), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.end(stdin ?? '');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

function field(text: string, re: RegExp): string {
  const m = re.exec(text);
  assert.ok(m?.[1], `${re} in:\n${text}`);
  return m[1];
}

describe('a provider\'s first day: npm start, the CLI beside it, Ctrl-C, restart', () => {
  const running: Started[] = [];
  before(async () => {
    // npm start and npm run sluice run the compiled build: it must be the code under test.
    await ensureBuilt();
    // Inside the project's .tmp: as root, the embedded PostgreSQL runs as a `postgres` user, which
    // cannot enter a private mkdtemp folder elsewhere.
    await fs.mkdir(path.resolve('.tmp'), { recursive: true });
    dataDir = await fs.mkdtemp(path.resolve('.tmp', 'day-'));
    await fs.chmod(dataDir, 0o755);
    apiPort = await freePort();
  });
  after(async () => {
    for (const s of running) if (s.child.exitCode === null && s.child.signalCode === null) await ctrlC(s).catch(() => undefined);
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('walks through the README beside a running npm start, stops on Ctrl-C after the transfer, keeps its ports', async () => {
    const first = await npmStart();
    running.push(first);
    const apiKey = field(first.summary, /key: (sk_\S+)/);
    const demoDst = field(first.summary, /destination (dst_\w+)/);
    const api = `http://127.0.0.1:${apiPort}`;
    const auth = { authorization: `Bearer ${apiKey}` };
    const state1 = JSON.parse(await fs.readFile(path.join(dataDir, 'postgres.json'), 'utf8')) as { port: number; ownerPid: number; postmasterPid: number };
    const ports1 = await fs.readFile(path.join(dataDir, 'ports.json'), 'utf8');

    // 1. A CLI command beside the server uses its PostgreSQL and leaves it running.
    const list = await sluice(['recipients', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /acme/);
    assert.equal((await fetch(`${api}/readyz`)).status, 200);
    assert.equal((await fetch(`${api}/v1/recipients`, { headers: auth })).status, 200, 'the server still answers after the CLI exited');
    const state1b = JSON.parse(await fs.readFile(path.join(dataDir, 'postgres.json'), 'utf8')) as { postmasterPid: number };
    assert.equal(state1b.postmasterPid, state1.postmasterPid, 'the same postmaster');

    // 2. The walkthrough: what it needs, printed by `sluice demo info`.
    const info = await sluice(['demo', 'info']);
    assert.equal(info.code, 0, info.stderr);
    const exported: NodeJS.ProcessEnv = {
      SLUICE_CONFIG: field(info.stdout, /export SLUICE_CONFIG=(\S+)/),
      SLUICE_SOURCE_URL: field(info.stdout, /export SLUICE_SOURCE_URL=(\S+)/),
      SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
      SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
    };
    assert.match(info.stdout, /export SLUICE_ALLOW_HTTP_ENDPOINTS=true SLUICE_ENDPOINT_ALLOWLIST=127\.0\.0\.1/);
    const endpoint = field(info.stdout, /demo bucket +sluice-demo at (http:\/\/127\.0\.0\.1:\d+)/);
    const accessKey = field(info.stdout, /initech: +access key (\S+),/);
    const secret = field(info.stdout, /initech: +access key \S+, secret (\S+) \(local bucket only\)/);
    assert.match(info.stdout, /tenants +acme .*initech/);

    const models = await sluice(['models'], exported);
    assert.equal(models.code, 0, models.stderr);
    assert.match(models.stdout, /^orders {2}\(table shop\.orders/m);

    const rcp = await sluice(['recipients', 'create', '--name', 'Initech', '--tenant-id', 'initech'], exported);
    assert.equal(rcp.code, 0, rcp.stderr);
    const rcpId = field(rcp.stdout, /^id: (rcp_\w+)/m);
    const dst = await sluice(
      ['destinations', 'create', '--recipient', rcpId, '--bucket', 'sluice-demo', '--region', 'us-east-1', '--prefix', 'initech', '--endpoint', endpoint,
        '--force-path-style', '--no-conditional-writes', '--no-request-checksums', '--access-key-id', accessKey, '--secret-access-key-stdin', '--frequency', 'manual'],
      exported,
      `${secret}\n`,
    );
    assert.equal(dst.code, 0, dst.stderr);
    const dstId = field(dst.stdout, /^id: (dst_\w+)/m);
    const test = await sluice(['destinations', 'test', dstId], exported);
    assert.equal(test.code, 0, `${test.stdout}\n${test.stderr}`);

    const transfer = await sluice(['transfer', dstId], exported);
    assert.equal(transfer.code, 0, `${transfer.stdout}\n${transfer.stderr}`);
    assert.match(transfer.stdout, /: succeeded/);
    const trfId = field(transfer.stdout, /^transfer (trf_\w+)/m);
    const listed = await sluice(['transfers', 'list', '--destination', dstId]);
    assert.equal(listed.code, 0, listed.stderr);
    // The demo changes a few rows every minute (new orders among them): about 2000 initech orders.
    assert.match(listed.stdout, new RegExp(`${trfId} .*succeeded .*orders:20\\d\\d`));
    const shown = await sluice(['transfers', 'show', trfId]);
    assert.match(shown.stdout, /orders succeeded 20\d\d rows 1 files/);
    const apiList = (await (await fetch(`${api}/v1/transfers?destination=${dstId}`, { headers: auth })).json()) as { transfers: Array<{ id: string; results: Array<{ model: string; rows: number }> }> };
    assert.ok((apiList.transfers[0]?.results.find((m) => m.model === 'orders')?.rows ?? 0) >= 2000, 'listing transfers carries per-model results');

    const inspect = await sluice(['query', field(first.summary, /inspect +npm run sluice -- query "(.+)"$/m)]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /delivered/);

    // 3. Progress while a transfer runs, then Ctrl-C during it: it finishes within the grace period.
    const source = new pg.Client({ connectionString: exported.SLUICE_SOURCE_URL });
    await source.connect();
    await source.query(
      `INSERT INTO shop.orders (id, tenant_id, customer_id, merchant_id, status, total, currency, items, ordered_at, updated_at)
       SELECT 35000000 + g, 'initech', 3000001, 3001, 'paid', 10.00, 'EUR', '[{"sku":"SKU-1","qty":1}]', now(), now() - interval '1 hour' + g * interval '1 ms'
         FROM generate_series(1, 300000) g`,
    );
    await source.query('ANALYZE shop.orders');
    await source.end();
    const trigger = await fetch(`${api}/v1/destinations/${dstId}/transfers`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'FULL_REFRESH', models: ['orders'] }),
    });
    assert.equal(trigger.status, 202);
    const { transferId } = (await trigger.json()) as { transferId: string };
    type Shown = { status: string; results: Array<{ model: string; status: string; rows: number; estimatedRows: number | null; progressAt: string | null }> };
    const mid = await until(
      'rows of the running transfer in GET /v1/transfers/:id',
      async () => {
        const t = (await (await fetch(`${api}/v1/transfers/${transferId}`, { headers: auth })).json()) as Shown;
        const m = t.results.find((r) => r.model === 'orders');
        // Ended before any progress was seen: say so at once rather than wait out the timeout.
        if (m && m.status !== 'running') assert.fail(`the transfer's model ended (${m.status}, ${m.rows} rows) before progress showed mid-transfer`);
        return m && m.rows > 0 ? m : undefined;
      },
      // Rows show within seconds (2.5 s on 2026-12-01, 2 cores, load average 10–25): the wait is
      // for a busy machine, not for the read.
      60_000,
    );
    assert.ok(mid.progressAt, `progress mid-transfer: ${JSON.stringify(mid)}`);
    assert.ok(mid.estimatedRows && mid.estimatedRows > 100_000, `the planner's estimate as a total: ${mid.estimatedRows}`);

    assert.equal(await ctrlC(first), 0, first.output().slice(-3000));
    assert.match(first.output(), /worker stopped/);
    const after1 = await shownTransfer(transferId);
    assert.equal(after1.status, 'succeeded', 'the running transfer finished within the grace period');
    assert.ok(after1.rows >= 302_000, `every initech order delivered: ${after1.rows}`);
    assert.throws(() => process.kill(state1.postmasterPid, 0), 'the postmaster was stopped, last');

    // 4. Restart: the same ports, so the destination made on the demo bucket still passes its test.
    const second = await npmStart();
    running.push(second);
    assert.equal(await fs.readFile(path.join(dataDir, 'ports.json'), 'utf8'), ports1);
    assert.ok(second.summary.includes(endpoint), 'the demo bucket is at the same endpoint');
    const state2 = JSON.parse(await fs.readFile(path.join(dataDir, 'postgres.json'), 'utf8')) as { port: number };
    assert.equal(state2.port, state1.port);
    const again = await sluice(['destinations', 'test', dstId], exported);
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    const demoShown = await sluice(['destinations', 'show', demoDst]);
    assert.match(demoShown.stdout, /status: active/);
    assert.equal(await ctrlC(second), 0, second.output().slice(-3000));
  });

  it('refuses a port in use with one line naming the setting, before anything starts', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const fresh = await fs.mkdtemp(path.resolve('.tmp', 'port-'));
    try {
      for (const command of ['start', 'serve']) {
        const r = await sluice([command], { SLUICE_PORT: String(port), SLUICE_DATA_DIR: fresh });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`^error \\[port_in_use\\]: Port ${port} on 127\\.0\\.0\\.1 \\(the API\\) is already in use`, 'm'));
        assert.match(r.stderr, /hint: .*SLUICE_PORT/);
        assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
        assert.deepEqual(await fs.readdir(fresh), [], `${command}: nothing started (no PostgreSQL, no bucket)`);
      }
    } finally {
      taken.close();
      await fs.rm(fresh, { recursive: true, force: true });
    }
  });
});

/** A transfer through the CLI (after the server stopped: the CLI starts the embedded cluster itself). */
async function shownTransfer(id: string): Promise<{ status: string; rows: number }> {
  const r = await sluice(['transfers', 'show', id, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const t = JSON.parse(r.stdout) as { status: string; results: Array<{ rows: number }> };
  return { status: t.status, rows: t.results.reduce((n, m) => n + m.rows, 0) };
}

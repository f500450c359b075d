/**
 * Two one-off `sluice` commands sharing the embedded PostgreSQL: the first starts the cluster, the
 * second joins it, and the first exits while the second is still in the middle of its command. The
 * cluster must outlive the first (the second finishes its work on it) and stop when the second, the
 * last user, exits.
 *
 * Each command is held mid-command by its source database: `recipients create` checks the tenant
 * against the models, and the SQL model's LIMIT 0 plan waits for a table lock the test holds (one
 * source database per command, so each is released on its own). Real processes, real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { readEmbeddedState } from '../../src/control/embedded.js';
import { ensureBuilt } from '../support/build.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { until } from '../support/wait.js';

let dataDir: string;
let modelsFile: string;
const sources: TestDatabase[] = [];
const holds: pg.Client[] = [];

interface Cli {
  child: ChildProcess;
  exit: Promise<{ code: number | null; stdout: string; out: string }>;
}

function cli(args: string[], sourceUrl: string): Cli {
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_DATA_DIR: dataDir, SLUICE_CONFIG: modelsFile, SLUICE_SOURCE_URL: sourceUrl, SLUICE_LOG_FORMAT: 'json' };
  delete env.DATABASE_URL;
  delete env.SLUICE_EMBEDDED_POSTGRES_PORT;
  const child = spawn(process.execPath, ['dist/cli/main.js', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let out = '';
  child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
    out += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<{ code: number | null; stdout: string; out: string }>((resolve) => child.on('exit', (code) => resolve({ code, stdout, out })));
  return { child, exit };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** An open transaction holding ACCESS EXCLUSIVE on the source's table: a command planning the model waits. */
async function holdTable(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  // A failed run drops the database under it (DROP … WITH (FORCE)).
  c.on('error', () => undefined);
  holds.push(c);
  await c.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
  return c;
}

describe('the embedded PostgreSQL shared by two one-off commands', () => {
  before(async () => {
    await ensureBuilt();
    // Inside the project's .tmp: as root, PostgreSQL runs as `postgres`, which must reach the folder.
    await fs.mkdir(path.resolve('.tmp'), { recursive: true });
    dataDir = await fs.mkdtemp(path.resolve('.tmp', 'clients-'));
    await fs.chmod(dataDir, 0o755);
    for (let i = 0; i < 2; i++) {
      const db = await freshDatabase({ migrate: false, prefix: 'sluice_clients' });
      await db.pool.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
        INSERT INTO accounts VALUES (1, 'first', now()), (2, 'second', now())`);
      sources.push(db);
    }
    modelsFile = path.join(dataDir, 'sluice.yaml');
    await fs.writeFile(
      modelsFile,
      ['models:', '  - name: accounts', '    sql: SELECT id, tenant_id, updated_at FROM accounts', '    primary_key: [id]', '    cursor: updated_at', '    tenant: tenant_id', ''].join('\n'),
    );
  });
  after(async () => {
    const state = await readEmbeddedState(dataDir);
    if (state && alive(state.postmasterPid)) process.kill(state.postmasterPid, 'SIGINT');
    for (const c of holds) await c.end().catch(() => undefined);
    for (const db of sources) await db.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the cluster while the second command runs, and the last one out stops it', async () => {
    const [one, two] = sources as [TestDatabase, TestDatabase];
    // Migrations first, so that neither command below waits for the other's.
    const prepared = await cli(['recipients', 'list'], one.url).exit;
    assert.equal(prepared.code, 0, prepared.out);
    assert.equal(await readEmbeddedState(dataDir), null, 'a lone one-off command stops the cluster it started');

    const hold1 = await holdTable(one.url);
    const hold2 = await holdTable(two.url);
    const first = cli(['recipients', 'create', '--name', 'First', '--tenant-id', 'first'], one.url);
    await until('the first command starts the cluster', async () => {
      const s = await readEmbeddedState(dataDir);
      return s?.ownerPid === first.child.pid ? s : undefined;
    }, 120_000);
    const state = (await readEmbeddedState(dataDir))!;
    const second = cli(['recipients', 'create', '--name', 'Second', '--tenant-id', 'second'], two.url);
    // The second checks the models (and waits for lock 2) only once it has joined the cluster: from
    // then on it is mid-command.
    await until('the second command joined the cluster and waits on its source', async () => {
      const r = await hold2.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'accounts'::regclass
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      return r.rows[0]!.n > 0;
    }, 120_000);

    await hold1.query('ROLLBACK');
    const firstDone = await first.exit;
    assert.equal(firstDone.code, 0, firstDone.out);
    assert.ok(alive(state.postmasterPid), 'the first command left the cluster running: the second still uses it');
    assert.equal((await readEmbeddedState(dataDir))?.postmasterPid, state.postmasterPid);

    await hold2.query('ROLLBACK');
    const secondDone = await second.exit;
    assert.equal(secondDone.code, 0, secondDone.out);
    assert.match(secondDone.stdout, /second/);
    await until('the last user stops the cluster', async () => !alive(state.postmasterPid), 30_000);
    assert.equal(await readEmbeddedState(dataDir), null, 'the state file is gone with the cluster');

    // Both recipients were written: the second command's work landed after the first one exited.
    const list = await cli(['recipients', 'list', '--json'], one.url).exit;
    assert.equal(list.code, 0, list.out);
    const names = (JSON.parse(list.stdout) as Array<{ name: string }>).map((r) => r.name).sort();
    assert.deepEqual(names, ['First', 'Second']);
  });
});

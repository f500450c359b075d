/**
 * Child processes for the jobs tests: workers (test/support/jobs-worker-process.ts) and `sluice serve`,
 * with their output kept for failure messages; and the control stores those workers run against, in
 * both of the worker's test modes (record: the real queue with a runner that only records; pipeline:
 * the real transfer of an `events` table into s3rver).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { prepareQueue } from '../../src/jobs/queue.js';
import { freshDatabase, type TestDatabase } from './db.js';
import { settle, transferFixture, type TransferFixture } from './transfer-fixture.js';

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Waits until the output matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export function spawnProc(args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: { ...process.env, SLUICE_LOG_FORMAT: 'json', SLUICE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer): void => {
    out += b.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(out);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re} in:\n${out.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`process exited before ${re}:\n${out.slice(-3000)}`));
          }
        });
        check();
      });
    },
  };
}

export function spawnWorker(env: NodeJS.ProcessEnv): Proc {
  return spawnProc(['test/support/jobs-worker-process.ts'], env);
}

/** Stops a process with `signal` and waits for it (SIGKILL after `timeoutMs`). */
export async function stopProc(p: Proc, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited;
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The worker's pool id, from its "worker started" log line. */
export async function workerIdOf(p: Proc): Promise<string> {
  const m = await p.waitFor(/"workerId":"(pool-[0-9a-f]+)"[^\n]*"msg":"worker started"/);
  return m[1]!;
}

/** Processes started by a test, all killed by `stopAll` (a test's `after`). */
class ProcGroup {
  private readonly procs: Proc[] = [];
  track(p: Proc): Proc {
    this.procs.push(p);
    return p;
  }
  async stopAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => stopProc(p, 'SIGKILL')));
  }
}

export interface RecordingStore {
  db: TestDatabase;
  /** A record-mode worker on this store (JOBS_TEST_MODE=record; `env` on top), killed by `close`. */
  worker(env?: NodeJS.ProcessEnv): Proc;
  /** Another process on this store (`src/cli/main.ts serve`, …), killed by `close`. */
  spawn(args: string[], env?: NodeJS.ProcessEnv): Proc;
  /** Kills every process started here and drops the database. */
  close(): Promise<void>;
}

/**
 * A fresh control store with the queue and the `test_runs` table that record-mode workers write each
 * run to (transfer, destination, worker, start, end).
 */
export async function recordingStore(opts: { prefix?: string } = {}): Promise<RecordingStore> {
  const db = await freshDatabase(opts.prefix === undefined ? {} : { prefix: opts.prefix });
  const group = new ProcGroup();
  try {
    await prepareQueue(db.pool);
    await db.pool.query(
      `CREATE TABLE public.test_runs (transfer_id text, destination_id text, worker_id text, started_at timestamptz, finished_at timestamptz)`,
    );
  } catch (err) {
    await db.drop();
    throw err;
  }
  const base = { DATABASE_URL: db.url, SLUICE_SECRET_KEY: 'a'.repeat(64) };
  return {
    db,
    // The scheduler stays quiet unless a test sets its interval: tests queue their own transfers.
    worker: (env = {}) => group.track(spawnWorker({ ...base, JOBS_TEST_MODE: 'record', SLUICE_SCHEDULER_INTERVAL_SECONDS: '3600', ...env })),
    spawn: (args, env = {}) => group.track(spawnProc(args, { ...base, ...env })),
    async close() {
      await group.stopAll();
      await db.drop();
    },
  };
}

export interface EventsPipeline {
  /** The control store, source database and s3rver bucket the workers deliver with. */
  fx: TransferFixture;
  /** Appends `n` rows for `tenant` (ids follow on) and waits until a transfer would read them. */
  addRows(tenant: string, n: number, opts?: { payloadRepeat?: number }): Promise<void>;
  /** A pipeline worker (the real `sluice worker`, JOBS_TEST_FILE_ROWS rows a file; `env` on top), killed by `close`. */
  worker(env?: NodeJS.ProcessEnv): Proc;
  close(): Promise<void>;
}

/**
 * The real pipeline for worker processes: a source table `events` (id, tenant_id, updated_at, payload)
 * and its model file, delivered as small files (100 rows) into s3rver bucket `bucket`, so a transfer
 * runs long enough to be interrupted.
 */
export async function eventsPipeline(bucket: string): Promise<EventsPipeline> {
  const fx = await transferFixture([bucket]);
  const group = new ProcGroup();
  let dir: string | undefined;
  const close = async (): Promise<void> => {
    await group.stopAll();
    await fx.close();
    if (dir !== undefined) await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await prepareQueue(fx.control.pool);
    await fx.sql.query(`CREATE TABLE events (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, payload text);
                        CREATE INDEX ON events (tenant_id, updated_at, id)`);
    await fs.mkdir(path.resolve('.tmp'), { recursive: true });
    dir = await fs.mkdtemp(path.resolve('.tmp', `jobs-${bucket}-`));
    const models = path.join(dir, 'sluice.yaml');
    await fs.writeFile(models, 'models:\n  - name: events\n    table: public.events\n    cursor: updated_at\n    tenant: tenant_id\n');
    const base: NodeJS.ProcessEnv = {
      DATABASE_URL: fx.control.url,
      SLUICE_SOURCE_URL: fx.sourceDb.url,
      SLUICE_CONFIG: models,
      SLUICE_SECRET_KEY: fx.secretKey,
      SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
      SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
      JOBS_TEST_MODE: 'pipeline',
      JOBS_TEST_FILE_ROWS: '100',
      SLUICE_SCHEDULER_INTERVAL_SECONDS: '3600',
    };
    let nextId = 1;
    return {
      fx,
      async addRows(tenant, n, opts = {}) {
        await fx.sql.query(
          `INSERT INTO events (id, tenant_id, updated_at, payload)
           SELECT $1::bigint + g, $2, clock_timestamp(), repeat(md5(g::text), $4) FROM generate_series(0, $3::int - 1) g`,
          [nextId, tenant, n, opts.payloadRepeat ?? 4],
        );
        nextId += n;
        // Rows reach a transfer once they are below the commit-safe bound (docs/change-detection.md).
        await settle();
      },
      worker: (env = {}) => group.track(spawnWorker({ ...base, ...env })),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

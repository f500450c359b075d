/**
 * Crash recovery: finding workers that are gone and handing their jobs to live ones. graphile-worker
 * itself leaves the jobs of a worker that died locked for 4 hours.
 *
 * A worker is gone when either
 * - its **session** is gone: every worker holds a session-level advisory lock on a control-store
 *   connection of its own (its liveness session, see startLiveness) and records that backend's pid in
 *   `workers.session_pid`. PostgreSQL drops the lock as soon as the session ends — the process was
 *   killed, its machine vanished, the connection was terminated — so `pg_locks` says within moments
 *   that nobody holds it. Live workers check this every `checkMs` (seconds), which is what makes a
 *   killed worker's destinations resume in seconds rather than a minute;
 * - or its **heartbeat** is stale: a worker hung while still connected keeps its lock, so each worker
 *   still writes `last_seen_at`, and one silent for `deadAfter` is presumed dead too;
 * - or it never registered and its jobs have been locked for `deadAfter` (a worker that died while
 *   starting, or a version without either mechanism).
 *
 * recoverDeadWorkers is the one place that decides this; anything that must tidy up after dead workers
 * (a process starting, a test, an operator command) calls it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Pool, Queryable } from '../control/db.js';
import { SCHEMA } from '../control/db.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { closeOrphanedTransfers } from '../transfer/interrupted.js';
import { closeAbandonedConnectionTests } from './connection-tests.js';
import { unlockJobsOf } from './queue-jobs.js';
import { beat, LIVENESS_LOCK_NAMESPACE, registerSession, removeDeadWorkers } from './workers.js';

/**
 * Unlocks the jobs of dead workers (see the module comment); returns their ids. Safe to run from
 * every worker at once: the DELETE … RETURNING hands each dead row to one caller, and unlocking twice
 * is harmless. Wakes the workers listening for jobs so that the unlocked ones start at once.
 */
export async function recoverDeadWorkers(db: Queryable, deadAfterMs: number): Promise<string[]> {
  const ids = await removeDeadWorkers(db, deadAfterMs);
  if (ids.length > 0) {
    // Idle workers are woken to fetch them now rather than at their next poll.
    await unlockJobsOf(db, ids);
    // A connection test that was on its last attempt will not run again: say so on its row.
    await closeAbandonedConnectionTests(db, Math.min(deadAfterMs, ABANDONED_TEST_MIN_AGE_MS));
  }
  return ids;
}

/** A connection test row younger than this is left alone (its job may still be on its way). */
const ABANDONED_TEST_MIN_AGE_MS = 2_000;

export interface Heartbeat {
  stop(): Promise<void>;
}

export interface HeartbeatOptions {
  workerId: string;
  concurrency: number;
  intervalMs: number;
  deadAfterMs: number;
  onRecovered?: (ids: string[]) => void;
  /** The heartbeat found this worker's row gone: another worker took it for dead and released its jobs. */
  onPresumedDead?: () => void;
}

export function startHeartbeat(db: Pool, log: Logger, opts: HeartbeatOptions): Heartbeat {
  let stopped = false;
  let first = true;
  let current: Promise<void> = Promise.resolve();
  const once = async (): Promise<void> => {
    try {
      const existed = await beat(db, opts.workerId, opts.concurrency);
      if (!existed && !first) {
        log.warn('this worker was taken for dead (its heartbeat or its session was missing): its running jobs were handed to other workers');
        opts.onPresumedDead?.();
      }
      first = false;
      await runRecovery(db, log, opts);
    } catch (err) {
      log.error({ err: describeError(err) }, 'heartbeat failed');
    }
    try {
      // Transfers whose process is gone (no one holds their destination lock): closed now, not at the
      // destination's next transfer. The first beat runs at the worker's start.
      const closed = await closeOrphanedTransfers(db);
      if (closed.length > 0) log.warn({ transfers: closed }, 'closed transfers whose process stopped before they finished');
    } catch (err) {
      log.error({ err }, 'could not close interrupted transfers');
    }
  };
  const loop = (): void => {
    if (stopped) return;
    current = once().finally(() => {
      if (!stopped) timer = setTimeout(loop, opts.intervalMs);
    });
  };
  let timer: NodeJS.Timeout | undefined;
  loop();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}

async function runRecovery(db: Queryable, log: Logger, opts: Pick<HeartbeatOptions, 'deadAfterMs' | 'onRecovered'>): Promise<void> {
  const ids = await recoverDeadWorkers(db, opts.deadAfterMs);
  if (ids.length > 0) {
    log.warn({ deadWorkers: ids }, 'unlocked the jobs of workers that are gone (session ended or heartbeat stale)');
    opts.onRecovered?.(ids);
  }
}

export interface Liveness {
  /** True while this worker holds its liveness lock and is registered with it. */
  held(): boolean;
  stop(): Promise<void>;
}

export interface LivenessOptions {
  workerId: string;
  concurrency: number;
  deadAfterMs: number;
  /** How often to look for workers whose session is gone. */
  checkMs: number;
  /** Reconnect backoff: first delay and cap. */
  backoffMs?: { first: number; max: number };
  /** The liveness session was lost: other workers may take this one's jobs from now on. */
  onLost?: (err: Error) => void;
  onRecovered?: (ids: string[]) => void;
}

/**
 * The worker's liveness session: one dedicated connection (not from a pool, so nothing else ever runs
 * on it or releases it) holding the liveness lock, registered in `workers.session_pid`. On it, every
 * `checkMs`, recoverDeadWorkers looks for workers whose session is gone. When the connection is lost
 * (PostgreSQL restarted, the backend was terminated) the worker says so, calls `onLost`, and
 * reconnects with exponential backoff until it holds its lock again.
 */
export function startLiveness(databaseUrl: string, log: Logger, opts: LivenessOptions): Liveness {
  const backoff = opts.backoffMs ?? { first: 250, max: 10_000 };
  const stopController = new AbortController();
  let client: pg.Client | undefined;
  let holding = false;
  // False until the first session is open: later ones restore a lost session.
  let restoring = false;

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: databaseUrl, application_name: 'sluice-worker-liveness', options: `-c search_path=${SCHEMA},public` });
    const lost = new Promise<Error>((resolve) => {
      // Registered before connecting: an 'error' nobody hears would exit the process.
      c.on('error', (err) => resolve(err));
      c.on('end', () => resolve(new Error('connection ended')));
    });
    try {
      await c.connect();
      await c.query('SELECT pg_advisory_lock($1, pg_backend_pid())', [LIVENESS_LOCK_NAMESPACE]);
      await registerSession(c, opts.workerId, opts.concurrency);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    void lost.then((err) => {
      if (stopController.signal.aborted || client !== c) return;
      holding = false;
      client = undefined;
      log.warn({ err: describeError(err) }, 'lost the control-store session that shows this worker is alive; reconnecting');
      opts.onLost?.(err);
      void keepConnected();
    });
    return c;
  };

  const keepConnected = async (): Promise<void> => {
    let delay = backoff.first;
    for (let attempt = 1; !stopController.signal.aborted; attempt++) {
      try {
        const c = await connect();
        if (stopController.signal.aborted) {
          await c.end().catch(() => undefined);
          return;
        }
        client = c;
        holding = true;
        if (restoring) log.info({ attempts: attempt }, 'control-store session restored; this worker is registered again');
        restoring = true;
        return;
      } catch (err) {
        log.warn({ err: describeError(err), attempt, retryInMs: delay }, 'could not open the control-store session that shows this worker is alive; retrying');
        await sleep(delay, undefined, { signal: stopController.signal }).catch(() => undefined);
        delay = Math.min(backoff.max, delay * 2);
      }
    }
  };

  let checking: Promise<void> = Promise.resolve();
  const ready = keepConnected();
  const timer = setInterval(() => {
    const c = client;
    if (!c || !holding) return;
    checking = checking
      .then(() => runRecovery(c, log, opts))
      .catch((err: unknown) => log.warn({ err: describeError(err) }, 'could not look for workers that are gone'));
  }, opts.checkMs);
  timer.unref();

  return {
    held: () => holding,
    async stop() {
      stopController.abort();
      clearInterval(timer);
      await ready.catch(() => undefined);
      await checking;
      holding = false;
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}

/**
 * The worker: a graphile-worker pool running `transfer` and `connection_test` jobs, plus what Sluice
 * adds around it — the scheduler, heartbeats and dead-worker recovery, cancellation, per-destination
 * and per-source locks, retry classification, metrics, and a bounded graceful shutdown.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runTaskList, type JobHelpers, type Task, type WorkerPool } from 'graphile-worker';
import { createPool, type Pool } from '../control/db.js';
import { SluiceError, describeError, errorRecord } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../metrics.js';
import { checkDelivery, isDeliveryRefusal } from '../control/delivery-gate.js';
import { markNeedsAttention, recordTransferFailure } from '../control/destination-store.js';
import { finishConnectionTestRun, insertConnectionTestRun, markConnectionTestRunning, recordConnectionTestProgress } from './connection-tests.js';
import { classifyFailure, persistedNetworkFailure } from './failures.js';
import { acquireTransferLocks, LockUnavailable, type TransferLocks } from './locks.js';
import { isCancelRequest, watchCancellation } from '../transfer/cancellation.js';
import { decidingError, type TransferResult } from '../transfer/result.js';
import { failQueuedTransfer, markTransferQueuedAgain } from '../transfer/store/transfers.js';
import { requeueBusyTransfer } from './enqueue.js';
import { graphileLogger } from './graphile-logger.js';
import { giveBackAttempt, jobHeldBy } from './queue-jobs.js';
import { CONNECTION_TEST_TASK, TRANSFER_TASK, prepareQueue, type ConnectionTestJob, type TransferJob } from './queue.js';
import { startHeartbeat, startLiveness, type Heartbeat, type Liveness } from './recovery.js';
import { startScheduler, type Scheduler } from './scheduler.js';
import type { ConnectionTestOutcome, ConnectionTester, TransferRunner } from './outcomes.js';
import { retire } from './workers.js';
import type { JobSettings } from './settings.js';

export interface WorkerDeps {
  /** Control store (Sluice's search_path). */
  pool: Pool;
  databaseUrl: string;
  log: Logger;
  metrics: Metrics;
  settings: JobSettings;
  runTransfer: TransferRunner;
  runConnectionTest: ConnectionTester;
  /** Identifies the source database for the per-source cap (e.g. its host:port/db). */
  sourceKey: string;
  /** Run the scheduler in this process (default true). */
  schedule?: boolean;
}

export interface Worker {
  /** graphile-worker pool id: the value in `workers.id` and in jobs' `locked_by`. */
  id: string;
  /** Transfers running now. */
  running(): number;
  /** Stops taking jobs, lets running ones finish within the grace period (then aborts them), and cleans up. */
  stop(): Promise<void>;
  /** Settles when the worker has stopped (after stop() or a fatal error). */
  promise: Promise<void>;
}

export async function startWorker(deps: WorkerDeps): Promise<Worker> {
  const { log, settings, metrics } = deps;
  await prepareQueue(deps.pool, log);
  // graphile-worker needs a connection per concurrent job plus a few for fetching and LISTEN; the
  // transfer locks hold one more per running transfer.
  const queuePool = createPool(deps.databaseUrl, { max: settings.concurrency + 4, applicationName: 'sluice-worker' });
  const lockPool = createPool(deps.databaseUrl, { max: settings.concurrency + 1, applicationName: 'sluice-worker-locks' });
  // Both pools come from createPool, whose clients never turn a lost connection into an unheard 'error'.
  // Transfers running here, by id; aborted when this worker loses its liveness session: other workers
  // may run them now. (A cancel request reaches a transfer through transfer/cancellation.ts.)
  const lostSession = new Map<string, AbortController>();

  const transferTask: Task = async (payload, helpers) => {
    const job = payload as TransferJob;
    const jlog = log.child({ transferId: job.transferId, destinationId: job.destinationId });
    // The delivery gate again, at the last moment before the job runs: the destination may have been
    // changed, deleted or failed a test since the job was queued. The runner checks once more itself.
    const verdict = await checkDelivery(deps.pool, job.destinationId);
    if (!verdict.allowed) {
      jlog.info({ code: verdict.code }, 'skipping transfer: the delivery gate refused it');
      await failQueuedTransfer(deps.pool, job.transferId, { code: verdict.code, actor: verdict.actor, message: verdict.message, hint: verdict.hint });
      metrics.transfers.inc({ status: 'skipped', kind: job.kind });
      return;
    }
    const lost = new AbortController();
    lostSession.set(job.transferId, lost);
    // The transfer's one stop signal, from the job's start (the wait for a source slot included): the
    // runner joins the same one.
    const cancellation = watchCancellation(deps.pool, job.transferId, [lost.signal, helpers.abortSignal]);
    const signal = cancellation.signal;
    let locks: TransferLocks | undefined;
    const started = process.hrtime.bigint();
    let outcome: Outcome;
    try {
      locks = await acquireTransferLocks(lockPool, {
        destinationId: job.destinationId,
        sourceKey: deps.sourceKey,
        maxPerSource: settings.sourceMaxTransfers,
        signal,
      });
      jlog.info({ kind: job.kind, trigger: job.trigger, attempt: helpers.job.attempts }, 'transfer started');
      const result = await deps.runTransfer(job, { signal, log: jlog, lock: locks.destination });
      outcome = { status: result.status, models: result.models, error: decidingError(result) };
    } catch (err) {
      outcome = { status: signal.aborted ? 'cancelled' : 'failed', models: [], error: err };
    } finally {
      cancellation.stop();
      lostSession.delete(job.transferId);
      await locks?.release().catch((err: unknown) => jlog.warn({ err: describeError(err) }, 'could not release transfer locks'));
    }
    if (outcome.error instanceof LockUnavailable) {
      // Another transfer of this destination is running (this one was triggered during it): run after it.
      const what = await requeueBusyTransfer(deps.pool, job, BUSY_REQUEUE_MS);
      jlog.info({ outcome: what }, what === 'requeued' ? 'destination busy: transfer queued to run after the current one' : 'destination busy: a waiting transfer supersedes this one');
      return;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return finishTransfer(deps, job, outcome, {
      seconds,
      log: jlog,
      userCancelled: isCancelRequest(signal.reason),
      shuttingDown: helpers.abortSignal.aborted,
      sessionLost: lost.signal.aborted,
      workerId: id,
      helpers,
    });
  };

  const connectionTestTask: Task = async (payload, helpers) => {
    const job = payload as ConnectionTestJob;
    const testId = job.testId ?? (await insertConnectionTestRun(deps.pool, job.destinationId));
    const jlog = log.child({ destinationId: job.destinationId, connectionTestId: testId });
    await markConnectionTestRunning(deps.pool, testId);
    let outcome: ConnectionTestOutcome;
    try {
      outcome = await deps.runConnectionTest(job.destinationId, {
        signal: helpers.abortSignal,
        log: jlog,
        progress: (steps) => recordConnectionTestProgress(deps.pool, testId, steps),
      });
    } catch (err) {
      // The test could not run at all (destination deleted, control store error): recorded, not
      // retried — the one waiting for it gets the error now rather than after a backoff.
      const error = errorRecord(err, new Date());
      await finishConnectionTestRun(deps.pool, testId, { status: 'error', error });
      metrics.connectionTests.inc({ outcome: 'error', code: error.code });
      jlog.warn({ error }, 'connection test could not run');
      return;
    }
    await finishConnectionTestRun(deps.pool, testId, {
      status: outcome.passed ? 'passed' : 'failed',
      result: outcome.result ?? { passed: outcome.passed, steps: [] },
    });
    metrics.connectionTests.inc({ outcome: outcome.passed ? 'passed' : 'failed', code: outcome.passed ? 'ok' : (outcome.error?.code ?? 'unknown') });
    jlog.info({ passed: outcome.passed, ...(outcome.error ? { error: outcome.error } : {}) }, 'connection test finished');
  };

  const workerPool: WorkerPool = runTaskList(
    {
      pgPool: queuePool,
      concurrency: settings.concurrency,
      noHandleSignals: true,
      logger: graphileLogger(log),
      // Jobs are announced by NOTIFY; polling only catches retries whose backoff has elapsed.
      pollInterval: 1000,
      // Abort what still runs at 70 % of the grace period, leaving the rest for it to unwind and for cleanup.
      gracefulShutdownAbortTimeout: Math.floor(settings.shutdownGraceMs * 0.7),
    },
    { [TRANSFER_TASK]: transferTask, [CONNECTION_TEST_TASK]: connectionTestTask },
    queuePool,
  );
  const id = workerPool.id;
  const wlog = log.child({ workerId: id });

  // Once other workers may take this one for dead, what it runs must stop: they will run it again.
  const abandonRunning = (why: string): void => {
    if (lostSession.size === 0) return;
    wlog.warn({ running: [...lostSession.keys()] }, `${why}: aborting the running transfers, which other workers may now take over`);
    for (const c of lostSession.values()) c.abort(new SluiceError({ code: 'worker_session_lost', message: why, actor: 'sluice' }));
  };
  const liveness: Liveness = startLiveness(deps.databaseUrl, wlog, {
    workerId: id,
    concurrency: settings.concurrency,
    deadAfterMs: settings.deadAfterMs,
    checkMs: settings.checkMs,
    onLost: () => abandonRunning('lost the control-store session that shows this worker is alive'),
    onRecovered: (ids) => metrics.workersRecovered.inc(ids.length),
  });
  const heartbeat: Heartbeat = startHeartbeat(deps.pool, wlog, {
    workerId: id,
    concurrency: settings.concurrency,
    intervalMs: settings.heartbeatMs,
    deadAfterMs: settings.deadAfterMs,
    onRecovered: (ids) => metrics.workersRecovered.inc(ids.length),
    onPresumedDead: () => abandonRunning('this worker was taken for dead'),
  });
  const scheduler: Scheduler | undefined =
    deps.schedule === false
      ? undefined
      : startScheduler(deps.pool, wlog, { intervalMs: settings.schedulerIntervalMs, minuteMs: settings.minuteMs });
  wlog.info({ concurrency: settings.concurrency, scheduler: deps.schedule !== false }, 'worker started');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      wlog.info({ running: lostSession.size, graceSeconds: settings.shutdownGraceMs / 1000 }, 'worker stopping: no new jobs; running transfers get the grace period');
      // Every step below is bounded by what is left of the grace period, so the whole stop fits in it.
      const deadline = Date.now() + settings.shutdownGraceMs;
      const left = (): number => Math.max(100, deadline - Date.now());
      await scheduler?.stop();
      // Jobs are aborted at 70 % of the grace period (gracefulShutdownAbortTimeout); by 80 % they have
      // normally unwound. One still unwinding then (a loaded machine) still uses the queue's, the locks'
      // and the control store's connections: closing them under it would crash the process when it
      // reports its end. So it gets a bounded overrun, said in the log; only a job that ignores its
      // abort beyond that has its connections closed under it.
      const drained = Promise.resolve(workerPool.gracefulShutdown('Sluice worker stopping')).then(
        () => true,
        () => true,
      );
      const hard = sleep(settings.shutdownGraceMs * 0.8, undefined, { ref: false }).then(() => false);
      if (!(await Promise.race([drained, hard]))) {
        const overrunMs = Math.max(SHUTDOWN_OVERRUN_MS, settings.shutdownGraceMs);
        wlog.warn({ running: lostSession.size, overrunSeconds: overrunMs / 1000 }, 'aborted transfers are still unwinding after the grace period; waiting for them a little longer');
        await Promise.race([drained, sleep(overrunMs, undefined, { ref: false })]);
      }
      await heartbeat.stop();
      await liveness.stop();
      await retire(deps.pool, id).catch(() => undefined);
      // A job that ignored its abort signal may still hold a connection: do not wait for it forever.
      await Promise.race([Promise.all([queuePool.end(), lockPool.end()]).catch(() => undefined), sleep(Math.min(2000, left()), undefined, { ref: false })]);
      wlog.info('worker stopped');
    })();
    return stopping;
  };

  return {
    id,
    running: () => lostSession.size,
    stop,
    promise: workerPool.promise.then(() => stopping),
  };
}

/** How long aborted jobs may still unwind after the grace period before their connections close (at least the grace period itself). */
const SHUTDOWN_OVERRUN_MS = 10_000;

/** How a transfer job ended: the runner's result, or what it threw (then no models). */
interface Outcome {
  status: TransferResult['status'];
  models: TransferResult['models'];
  /** The failure that decides what happens next (retry, needs attention, fail). */
  error?: unknown;
}

async function finishTransfer(
  deps: WorkerDeps,
  job: TransferJob,
  outcome: Outcome,
  ctx: { seconds: number; log: Logger; userCancelled: boolean; shuttingDown: boolean; sessionLost: boolean; workerId: string; helpers: JobHelpers },
): Promise<void> {
  const { metrics } = deps;
  const { log } = ctx;
  for (const m of outcome.models) {
    if (m.watermark) {
      if (m.watermark.lagSeconds !== null) metrics.watermarkLag.set({ model: m.model }, m.watermark.lagSeconds);
      if (m.watermark.method === 'lookback') metrics.watermarkFallbacks.inc({ model: m.model, reason: m.watermark.fallback ?? 'unknown' });
    }
    if (m.error) continue;
    metrics.rowsDelivered.inc({ model: m.model }, m.rows);
    metrics.bytesDelivered.inc({ model: m.model }, m.bytes);
  }
  const totals = outcome.models.reduce((t, m) => ({ rows: t.rows + m.rows, bytes: t.bytes + m.bytes, files: t.files + m.files }), { rows: 0, bytes: 0, files: 0 });

  if (outcome.status === 'succeeded') {
    metrics.transfers.inc({ status: 'succeeded', kind: job.kind });
    metrics.transferDuration.observe({ status: 'succeeded' }, ctx.seconds);
    log.info({ ...totals, seconds: round(ctx.seconds) }, 'transfer succeeded');
    return;
  }
  if (ctx.userCancelled || (outcome.status === 'cancelled' && !ctx.shuttingDown && !ctx.sessionLost)) {
    metrics.transfers.inc({ status: 'cancelled', kind: job.kind });
    metrics.transferDuration.observe({ status: 'cancelled' }, ctx.seconds);
    log.info({ ...totals, seconds: round(ctx.seconds) }, 'transfer cancelled');
    return;
  }
  if (ctx.shuttingDown || ctx.sessionLost) {
    // Abandoned: nothing of it is listed by a manifest. Back to queued, so that the retry of this job
    // runs the same transfer again instead of finding it cancelled — unless the job is no longer
    // ours (another worker took it over while this one had lost its session, and may be running it).
    const jobId = ctx.helpers.job.id;
    await markTransferQueuedAgain(deps.pool, job.transferId, jobHeldBy(jobId, ctx.workerId));
    metrics.transfers.inc({ status: 'abandoned', kind: job.kind });
    if (ctx.shuttingDown) {
      // A shutdown is not the transfer's failure: give back the attempt that this run counted, so a
      // transfer interrupted by deploys and restarts still gets all its attempts.
      await giveBackAttempt(deps.pool, jobId, ctx.workerId);
      log.warn('transfer abandoned for shutdown; it will run again (the attempt is not counted)');
      throw new SluiceError({ code: 'worker_shutdown', message: 'The worker stopped during this transfer.', actor: 'sluice' });
    }
    log.warn('transfer abandoned: this worker lost its control-store session; it will run again');
    throw new SluiceError({ code: 'worker_session_lost', message: 'The worker lost its control-store session during this transfer.', actor: 'sluice' });
  }

  const error = outcome.error ?? new SluiceError({ code: 'internal', message: 'Transfer failed without an error.', actor: 'sluice' });
  if (isDeliveryRefusal(error)) {
    // Refused by the gate inside the runner (the destination changed after the worker's own check):
    // nothing was written, and the destination's state already says what to do.
    metrics.transfers.inc({ status: 'skipped', kind: job.kind });
    log.info({ code: (error as { code: string }).code }, 'transfer refused by the delivery gate');
    return;
  }
  const action = classifyFailure(error);
  const record = errorRecord(error, new Date());
  metrics.transferDuration.observe({ status: 'failed' }, ctx.seconds);
  if (action === 'needs_attention') {
    await markNeedsAttention(deps.pool, job.destinationId, record);
    metrics.transfers.inc({ status: 'needs_attention', kind: job.kind });
    log.warn({ error: record }, 'transfer failed: the recipient must act; destination needs attention until a connection test passes');
    return;
  }
  const { attempts, max_attempts: maxAttempts } = ctx.helpers.job;
  if (action === 'retry' && attempts < maxAttempts) {
    metrics.transfers.inc({ status: 'retrying', kind: job.kind });
    log.warn({ error: record, attempt: attempts, maxAttempts }, 'transfer failed (transient); will retry with backoff');
    throw error instanceof Error ? error : new Error(record.message);
  }
  const persisted = action === 'retry' ? persistedNetworkFailure(error, attempts) : null;
  if (persisted) {
    await markNeedsAttention(deps.pool, job.destinationId, persisted);
    metrics.transfers.inc({ status: 'needs_attention', kind: job.kind });
    log.warn({ error: persisted, attempt: attempts }, 'transfer failed: the endpoint stayed unreachable on every attempt; destination needs attention until a connection test passes');
    return;
  }
  await recordTransferFailure(deps.pool, job.destinationId, record);
  metrics.transfers.inc({ status: 'failed', kind: job.kind });
  log.error({ error: record, attempt: attempts }, 'transfer failed');
}

/** How long a transfer that found its destination busy waits before trying again. */
const BUSY_REQUEUE_MS = 2000;

const round = (s: number): number => Math.round(s * 1000) / 1000;

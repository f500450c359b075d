/**
 * The job queue: graphile-worker in the control store's database (schema `graphile_worker`).
 *
 * Two tasks: `transfer` and `connection_test`. A transfer job carries the key `transfer:<destination>`,
 * so at most one transfer per destination waits in the queue: a trigger while one waits reports it
 * instead of adding another. At most one runs: the worker holds the destination's advisory lock for
 * the whole run, and a job that finds it taken (a trigger made while a transfer ran) goes back to the
 * queue to run after it.
 *
 * Why not one named queue per destination (graphile-worker's serialisation)? Its job fetch locks every
 * available named queue on each fetch, so its cost grows with the number of destinations: measured
 * here, draining 1,000 destinations took 2.2× longer with a queue each than with the key and lock.
 */
import { Logger as GraphileLogger, runMigrations } from 'graphile-worker';
import { SluiceError, validationError } from '../core/errors.js';
import type { Pool, PoolClient, Queryable } from '../control/db.js';
import { guardPoolErrors, withTransaction } from '../control/db.js';
import { newId } from '../core/ids.js';
import { checkDelivery, refusalError } from '../control/delivery-gate.js';
import { finishTransferRow, insertTransfer } from '../transfer/store.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { TransferKind } from '../core/types.js';
import type { QueueStats } from '../metrics.js';

export const QUEUE_SCHEMA = 'graphile_worker';
export const TRANSFER_TASK = 'transfer';
export const CONNECTION_TEST_TASK = 'connection_test';
/** Attempts of a transfer job: the first run and 5 retries with graphile-worker's backoff (e^n s: 3 s … 2.5 min). */
export const TRANSFER_MAX_ATTEMPTS = 6;

export const transferJobKey = (destinationId: string): string => `transfer:${destinationId}`;

export type TransferTrigger = 'schedule' | 'api' | 'cli' | 'demo' | 'setup';

/** Payload of a `transfer` job. */
export interface TransferJob {
  transferId: string;
  destinationId: string;
  kind: TransferKind;
  /** A subset of the destination's models; undefined = all of them. */
  models?: string[];
  /** Cursor range of a backfill. */
  from?: string;
  to?: string;
  trigger: TransferTrigger;
}

/** Payload of a `connection_test` job: ids only, never the destination's configuration or secrets. */
export interface ConnectionTestJob {
  destinationId: string;
  /** The `connection_tests` row the worker fills in (absent only in jobs queued by older versions). */
  testId?: string;
}

export interface TransferRequest {
  destinationId: string;
  kind?: TransferKind;
  models?: string[];
  from?: string;
  to?: string;
  trigger?: TransferTrigger;
}

export interface EnqueuedTransfer {
  transferId: string;
  destinationId: string;
  kind: TransferKind;
  /** `queued`: added now; `already_queued`: an identical request was waiting and is the one reported. */
  status: 'queued' | 'already_queued';
  /** True when a transfer of this destination is running: the queued one starts after it. */
  behindRunning: boolean;
}

const queueReady = new WeakMap<Pool, Promise<void>>();

/** Creates or upgrades graphile-worker's schema (idempotent, safe from several processes). */
export function prepareQueue(pool: Pool, log: Logger = silentLogger): Promise<void> {
  let ready = queueReady.get(pool);
  if (!ready) {
    // graphile-worker insists that a pool it is given handles errors of checked-out clients too.
    guardPoolErrors(pool);
    ready = runMigrations({ pgPool: pool, logger: graphileLogger(log) }).catch((err: unknown) => {
      queueReady.delete(pool);
      throw err;
    });
    queueReady.set(pool, ready);
  }
  return ready;
}

/**
 * Queues a transfer for a destination. Serialised per destination by locking its row, so two
 * triggers at once give one queued transfer.
 */
export async function enqueueTransfer(pool: Pool, req: TransferRequest): Promise<EnqueuedTransfer> {
  const kind = req.kind ?? 'INCREMENTAL';
  if (kind === 'BACKFILL' && (req.from === undefined || req.to === undefined)) {
    throw validationError([{ field: 'from', message: 'a backfill needs both `from` and `to`' }], 'transfer request');
  }
  return withTransaction(pool, async (client) => {
    const dst = await client.query<{ id: string }>(
      'SELECT id FROM destinations WHERE id = $1 FOR UPDATE',
      [req.destinationId],
    );
    if (!dst.rows[0]) {
      throw new SluiceError({ code: 'not_found', message: `No destination with id ${req.destinationId}.`, status: 404 });
    }
    // The delivery gate (control/delivery-gate.ts), under the row lock: nothing is queued for a
    // destination whose latest connection test did not pass for its current settings.
    const verdict = await checkDelivery(client, req.destinationId);
    if (!verdict.allowed) throw refusalError(verdict);
    const jobs = await transferJobsOf(client, req.destinationId);
    const behindRunning = jobs.some((j) => j.running);
    const waiting = jobs.find((j) => !j.running && j.key !== null);
    if (waiting && sameRequest(waiting.payload, req, kind)) {
      return {
        transferId: waiting.payload.transferId,
        destinationId: req.destinationId,
        kind,
        status: 'already_queued',
        behindRunning,
      };
    }
    const payload: TransferJob = {
      transferId: newId('trf'),
      destinationId: req.destinationId,
      kind,
      ...(req.models ? { models: req.models } : {}),
      ...(req.from !== undefined ? { from: req.from } : {}),
      ...(req.to !== undefined ? { to: req.to } : {}),
      trigger: req.trigger ?? 'api',
    };
    // A different request replaces the waiting one (the newest intent wins; the job key keeps one).
    if (waiting) {
      await finishTransferRow(client, waiting.payload.transferId, 'cancelled', {
        code: 'replaced',
        actor: 'provider',
        message: `Replaced by transfer ${payload.transferId}, requested while this one was waiting.`,
      });
    }
    await insertTransfer(client, {
      id: payload.transferId,
      destinationId: payload.destinationId,
      kind,
      models: payload.models ?? null,
      rangeFrom: payload.from ?? null,
      rangeTo: payload.to ?? null,
    });
    await addTransferJob(client, payload);
    return { transferId: payload.transferId, destinationId: req.destinationId, kind, status: 'queued', behindRunning };
  });
}

export async function addTransferJob(db: Queryable, payload: TransferJob, runAt?: Date): Promise<void> {
  await db.query(
    `SELECT ${QUEUE_SCHEMA}.add_job($1, $2::json, job_key => $3, max_attempts => $4, run_at => $5)`,
    [TRANSFER_TASK, JSON.stringify(payload), transferJobKey(payload.destinationId), TRANSFER_MAX_ATTEMPTS, runAt ?? null],
  );
}

export const connectionTestJobKey = (destinationId: string): string => `connection_test:${destinationId}`;

/**
 * Adds a connection test job; callers go through requestConnectionTest (jobs/connection-tests.ts),
 * which coalesces requests. The key keeps one waiting per destination. A negative priority runs it
 * before waiting transfers: someone is usually waiting for the answer. Two attempts: the second only
 * happens when the worker running the first died (the task records its own failures and returns).
 */
export async function addConnectionTestJob(db: Queryable, payload: ConnectionTestJob): Promise<void> {
  await db.query(
    `SELECT ${QUEUE_SCHEMA}.add_job($1, $2::json, job_key => $3, max_attempts => 2, priority => -10)`,
    [CONNECTION_TEST_TASK, JSON.stringify(payload), connectionTestJobKey(payload.destinationId)],
  );
}

interface QueuedTransferJob {
  id: string;
  key: string | null;
  running: boolean;
  payload: TransferJob;
}

// graphile-worker's public `jobs` view has no payload; the payload column of its table is stable API
// for reading (its own docs query it), and we only ever read or delete unlocked rows here.
async function transferJobsOf(db: Queryable, destinationId: string): Promise<QueuedTransferJob[]> {
  // The waiting job is found by its key; running ones (a handful per worker) by their payload.
  const { rows } = await db.query<{ id: string; key: string | null; running: boolean; payload: TransferJob }>(
    `SELECT j.id::text, j.key, j.locked_at IS NOT NULL AS running, j.payload
       FROM ${QUEUE_SCHEMA}._private_jobs j
      WHERE (j.key = $1 AND j.attempts < j.max_attempts)
         OR (j.locked_at IS NOT NULL AND j.payload->>'destinationId' = $2
             AND j.task_id = (SELECT id FROM ${QUEUE_SCHEMA}._private_tasks WHERE identifier = $3))
        -- Holding the rows keeps a worker from taking the waiting job while we decide about it.
        FOR UPDATE OF j`,
    [transferJobKey(destinationId), destinationId, TRANSFER_TASK],
  );
  return rows;
}

/**
 * A transfer job that found its destination busy goes back to the queue, to run `delayMs` later —
 * unless another transfer of the destination is already waiting, which then stands for both (it
 * reads everything up to its own start); ours is recorded as cancelled, superseded by it.
 */
export async function requeueBusyTransfer(pool: Pool, job: TransferJob, delayMs: number): Promise<'requeued' | 'superseded'> {
  return withTransaction(pool, async (client) => {
    await client.query('SELECT 1 FROM destinations WHERE id = $1 FOR UPDATE', [job.destinationId]);
    const waiting = (await transferJobsOf(client, job.destinationId)).find((j) => !j.running && j.key !== null);
    if (waiting && waiting.payload.transferId !== job.transferId) {
      await finishTransferRow(client, job.transferId, 'cancelled', {
        code: 'superseded',
        actor: 'sluice',
        message: `Transfer ${waiting.payload.transferId}, already waiting for this destination, delivers the same rows.`,
      });
      return 'superseded';
    }
    await addTransferJob(client, job, new Date(Date.now() + delayMs));
    return 'requeued';
  });
}

function sameRequest(p: TransferJob, req: TransferRequest, kind: TransferKind): boolean {
  const models = (m?: string[]): string => (m ? [...m].sort().join(',') : '*');
  return p.kind === kind && models(p.models) === models(req.models) && p.from === req.from && p.to === req.to;
}

export type CancelOutcome =
  | { status: 'cancelled' | 'cancelling'; transferId: string; destinationId: string }
  | { status: 'finished'; transferId: string; destinationId: string; transferStatus: string };

/**
 * Cancels a transfer: a queued one leaves the queue and is recorded as cancelled; a running one gets
 * `cancel_requested`, which the worker running it sees within about a second and aborts safely
 * (nothing of an aborted transfer is listed by a manifest). Undefined when no transfer has this id.
 */
export async function cancelTransfer(pool: Pool, transferId: string): Promise<CancelOutcome | undefined> {
  return withTransaction(pool, async (client: PoolClient) => {
    const t = await client.query<{ destination_id: string; status: string }>(
      'SELECT destination_id, status FROM transfers WHERE id = $1 FOR UPDATE',
      [transferId],
    );
    const row = t.rows[0];
    if (!row) return undefined;
    const base = { transferId, destinationId: row.destination_id };
    if (!['queued', 'running'].includes(row.status)) return { status: 'finished', ...base, transferStatus: row.status };
    const { rows } = await client.query<{ id: string; running: boolean }>(
      `SELECT j.id::text, j.locked_at IS NOT NULL AS running
         FROM ${QUEUE_SCHEMA}._private_jobs j
         JOIN ${QUEUE_SCHEMA}._private_tasks t ON t.id = j.task_id
        WHERE t.identifier = $1 AND j.payload->>'transferId' = $2
        FOR UPDATE OF j`,
      [TRANSFER_TASK, transferId],
    );
    const job = rows[0];
    if (job && !job.running) await client.query(`DELETE FROM ${QUEUE_SCHEMA}._private_jobs WHERE id = $1`, [job.id]);
    if (!job || !job.running) {
      await finishTransferRow(client, transferId, 'cancelled', null);
      return { status: 'cancelled', ...base };
    }
    await client.query('UPDATE transfers SET cancel_requested = true WHERE id = $1', [transferId]);
    return { status: 'cancelling', ...base };
  });
}

/** The job queue's depth and age, as /metrics reports them. */
export async function queueStats(db: Queryable): Promise<QueueStats> {
  const { rows } = await db.query<{ task: string; state: string; n: number; age: number | null }>(
    `SELECT t.identifier AS task,
            CASE WHEN j.locked_at IS NOT NULL THEN 'running' WHEN j.run_at <= now() THEN 'waiting' ELSE 'delayed' END AS state,
            count(*)::int AS n,
            extract(epoch FROM now() - min(j.run_at))::float8 AS age
       FROM ${QUEUE_SCHEMA}._private_jobs j
       JOIN ${QUEUE_SCHEMA}._private_tasks t ON t.id = j.task_id
      WHERE j.attempts < j.max_attempts OR j.locked_at IS NOT NULL
      GROUP BY 1, 2`,
  );
  const stats: QueueStats = { waiting: {}, running: {}, delayed: {}, oldestWaitingSeconds: {} };
  for (const r of rows) {
    if (r.state === 'waiting') {
      stats.waiting[r.task] = r.n;
      stats.oldestWaitingSeconds[r.task] = Math.max(0, r.age ?? 0);
    } else if (r.state === 'running') stats.running[r.task] = r.n;
    else stats.delayed[r.task] = r.n;
  }
  return stats;
}

/** graphile-worker's logger interface, forwarding to ours (its debug chatter stays at debug). */
export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((_scope) => (level, message, meta) => {
    const fields = { component: 'queue', ...(meta && typeof meta === 'object' ? pickSafe(meta as Record<string, unknown>) : {}) };
    if (level === 'error') log.error(fields, message);
    else if (level === 'warning') log.warn(fields, message);
    else if (level === 'info') log.info(fields, message);
    else log.debug(fields, message);
  });
}

// graphile-worker's meta objects can hold whole jobs or pools; keep only plain, small values.
function pickSafe(meta: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
    else if (v instanceof Error) out[k] = v.message;
  }
  return out;
}

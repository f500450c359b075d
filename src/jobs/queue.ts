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
 *
 * The files: queue.ts (this: tasks, payloads, schema), queue-jobs.ts (every write to the queue's tables),
 * enqueue.ts (a trigger becomes a job), cancel.ts, queue-stats.ts, graphile-logger.ts.
 */
import { runMigrations } from 'graphile-worker';
import { guardPoolErrors, type Pool } from '../control/db.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { TransferKind } from '../core/types.js';
import { graphileLogger } from './graphile-logger.js';

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

export const connectionTestJobKey = (destinationId: string): string => `connection_test:${destinationId}`;

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

/**
 * What the worker expects of the code that runs its jobs: a transfer runner (reporting the
 * transfer's one result type, transfer/result.ts) and a connection tester, whose outcomes decide
 * retry, needs attention or failure.
 */
import type { Logger } from '../core/log.js';
import type { ConnectionTestResult, ConnectionTestStep } from '../destinations/s3/types.js';
import type { DestinationLock } from '../transfer/destination-lock.js';
import type { TransferResult } from '../transfer/result.js';
import type { TransferJob } from './queue.js';

export interface JobContext {
  /** The job's stop signal: for a transfer, its cancellation (transfer/cancellation.ts), shutdown and a lost session. */
  signal: AbortSignal;
  /** Logger with the transfer and destination ids bound. */
  log: Logger;
  /** Connection tests: records the steps so far on the test's row while it runs. */
  progress?: (steps: readonly ConnectionTestStep[]) => Promise<void>;
}

/**
 * Runs one transfer to its end: commits what it can, and reports; throws when it could not run at all.
 * `lock`: the destination's lock, when the caller (the worker) holds it already.
 */
export type TransferRunner = (job: TransferJob, ctx: JobContext & { lock?: DestinationLock }) => Promise<TransferResult>;

export interface ConnectionTestOutcome {
  passed: boolean;
  /** The failed step's error (code, actor, message, hint). */
  error?: { code: string; actor: string; message: string; hint?: string };
  /** Every step, as the API returns them (kept in `connection_tests`). */
  result?: ConnectionTestResult;
}

/** Runs the connection test of a destination and records the outcome on it (status, last error). */
export type ConnectionTester = (destinationId: string, ctx: JobContext) => Promise<ConnectionTestOutcome>;

/**
 * What the worker expects of the code that runs its jobs: a transfer runner and a connection tester,
 * and the outcomes they report (which decide retry, needs attention or failure).
 */
import type { Logger } from '../core/log.js';
import type { ConnectionTestResult, ConnectionTestStep } from '../destinations/s3/types.js';
import type { TransferJob } from './queue.js';

/** Per-model result of a transfer, as far as the worker needs it (metrics and logs). */
export interface ModelOutcome {
  model: string;
  rows: number;
  bytes: number;
  files: number;
  /** Seconds spent reading the source, when the pipeline measured it. */
  sourceSeconds?: number;
  /** How the read's upper end was fixed (commit-safe or the lookback, and why). */
  watermark?: { method: 'commit_safe' | 'lookback'; fallback: string | null; lagSeconds: number | null };
  error?: unknown;
}

export interface TransferOutcome {
  transferId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  models: ModelOutcome[];
  /** The failure that decides what happens next (retry, needs attention, fail). */
  error?: unknown;
}

export interface JobContext {
  signal: AbortSignal;
  /** Logger with the transfer and destination ids bound. */
  log: Logger;
  /** Connection tests: records the steps so far on the test's row while it runs. */
  progress?: (steps: readonly ConnectionTestStep[]) => Promise<void>;
}

/** Runs one transfer to its end: commits what it can, and reports. */
export type TransferRunner = (job: TransferJob, ctx: JobContext) => Promise<TransferOutcome>;

export interface ConnectionTestOutcome {
  passed: boolean;
  /** The failed step's error (code, actor, message, hint). */
  error?: { code: string; actor: string; message: string; hint?: string };
  /** Every step, as the API returns them (kept in `connection_tests`). */
  result?: ConnectionTestResult;
}

/** Runs the connection test of a destination and records the outcome on it (status, last error). */
export type ConnectionTester = (destinationId: string, ctx: JobContext) => Promise<ConnectionTestOutcome>;

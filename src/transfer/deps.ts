/**
 * What a transfer needs from the running Sluice (handed in by a composition root: jobs/transfer-deps.ts)
 * and what its caller asks of it.
 */
import type { Pool } from '../core/pg.js';
import type { Logger } from '../core/log.js';
import type { TransferKind, TransferSource } from '../core/types.js';
import type { ObjectWriter, S3DestinationConfig } from '../destinations/s3/types.js';
import type { DestinationLock } from './destination-lock.js';
import type { TransferDestination } from './destination.js';
import type { SigningKey } from './manifest.js';
import type { TransferProgress } from './result.js';

/** Points of the commit protocol, for the crash tests' hook. */
export type CommitStep =
  | 'mid_file'
  | 'file_written'
  | 'files_written'
  | 'manifest_prepared'
  | 'manifest_written'
  | 'watermark_committed';

export type StepHook = (step: CommitStep, at: { transferId: string; model: string; key?: string }) => void | Promise<void>;

export interface TransferDeps {
  pool: Pool;
  log: Logger;
  /** The key that signs this transfer's manifests (control/signing-keys.ts keeps them). */
  signingKey(): Promise<SigningKey>;
  source: TransferSource;
  /**
   * The destination, or the delivery gate's refusal (control/transfer-destination.ts applies
   * control/delivery-gate.ts): called before anything is written.
   */
  loadDestination(destinationId: string): Promise<TransferDestination>;
  objectWriter(config: S3DestinationConfig): ObjectWriter;
  fileLimits?: { maxRowsPerFile: number; maxBytesPerFile: number };
  now?: () => Date;
  /** Test hook: called at each step of the commit protocol (the crash tests kill the process in it). */
  step?: StepHook;
  /** How often a running model's rows, bytes and files are written to the control store (default 2 s). */
  progressIntervalMs?: number;
  /** How often a running model's progress is logged (default 15 s). */
  progressLogIntervalMs?: number;
}

export interface RunTransferOptions {
  destinationId: string;
  kind?: TransferKind;
  models?: string[];
  /** BACKFILL: cursor range (from exclusive, to inclusive), as text in the cursor's type. */
  from?: string;
  to?: string;
  /** Run a transfer row created earlier (by the API or the job queue) instead of creating one. */
  transferId?: string;
  /** Stops the run (shutdown, Ctrl-C); a cancel request is watched by the run itself (cancellation.ts). */
  signal?: AbortSignal;
  /** The destination's lock, when the caller took it already (the worker, before it waits for a source slot). */
  lock?: DestinationLock;
  onProgress?: (p: TransferProgress) => void;
}

export const DEFAULT_FILE_LIMITS = { maxRowsPerFile: 1_000_000, maxBytesPerFile: 256 * 1024 * 1024 };

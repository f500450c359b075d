/**
 * What a transfer reports: per model and in all, with its live progress. The one result type every
 * caller reads (the CLI's summary, the worker's retry decision and metrics, the API).
 */
import type { ErrorRecord } from '../core/errors.js';
import type { CursorPosition, TransferKind, WatermarkInfo } from '../core/types.js';
import type { ModelStatus } from './store/transfer-models.js';
import type { TransferStatus } from './store/transfers.js';

export interface ModelResult {
  model: string;
  status: ModelStatus;
  rows: number;
  bytes: number;
  files: number;
  manifestKey: string | null;
  window: { from: CursorPosition | null; to: CursorPosition | null };
  /** How the read's upper end was fixed (null when the model failed before its read). */
  watermark: WatermarkInfo | null;
  durationMs: number;
  error: ErrorRecord | null;
}

export interface TransferResult {
  id: string;
  destinationId: string;
  kind: TransferKind;
  status: TransferStatus;
  startedAt: Date;
  models: ModelResult[];
  /** Not errors, but worth a look: e.g. the recipient's tenant id matches no row in any model. */
  warnings: TransferWarning[];
}

export interface TransferWarning {
  code: string;
  actor: 'recipient' | 'provider' | 'sluice';
  message: string;
  hint?: string;
}

export interface TransferProgress {
  transferId: string;
  model: string;
  status: ModelStatus;
  rows: number;
  bytes: number;
  files: number;
  /** The planner's estimate of the model's rows in this transfer, once known; null when there is none. */
  estimatedRows: number | null;
  elapsedMs: number;
  rowsPerSecond: number;
  bytesPerSecond: number;
}

/** A transfer's status from its models' (every model of the transfer, earlier attempts' included). */
export function transferStatus(statuses: ModelStatus[]): TransferStatus {
  if (statuses.length === 0) return 'succeeded';
  if (statuses.some((s) => s === 'cancelled')) return 'cancelled';
  const ok = statuses.filter((s) => s === 'succeeded').length;
  if (ok === statuses.length) return 'succeeded';
  return ok > 0 ? 'partial' : 'failed';
}

/**
 * The failure that decides what happens after a transfer that did not succeed (retry, needs
 * attention, fail): a recipient-side failure of any model outranks the others, as retrying cannot fix it.
 */
export function decidingError(result: TransferResult): ErrorRecord | undefined {
  const errors = result.models.flatMap((m) => (m.error ? [m.error] : []));
  return errors.find((e) => e.actor === 'recipient') ?? errors[0];
}

/** What every step of one transfer's run shares. */
import type { Logger } from '../core/log.js';
import type { TransferKind } from '../core/types.js';
import type { ObjectWriter } from '../destinations/s3/types.js';
import type { CommitStep, TransferDeps } from './deps.js';
import type { TransferDestination } from './destination.js';
import type { TransferProgress } from './result.js';
import type { TransferRow } from './store/transfers.js';

export interface RunContext {
  deps: TransferDeps;
  log: Logger;
  row: TransferRow;
  kind: TransferKind;
  startedAt: Date;
  destination: TransferDestination;
  writer: ObjectWriter;
  /** The run's one stop signal (cancellation.ts): a cancel request, or the caller's signal. */
  signal: AbortSignal;
  /** Models read from the beginning that have no row of the tenant at all. */
  tenantEmpty: Set<string>;
  onProgress: ((p: TransferProgress) => void) | undefined;
}

/** Live counters of a running model: rows read so far, and the planner's estimate of its rows. */
export interface Meter {
  live: { rows: number };
  estimated: number | null;
}


/** Calls the test hook at a point of the commit protocol (the crash tests kill the process in it). */
export async function step(ctx: RunContext, name: CommitStep, model: string, key?: string): Promise<void> {
  await ctx.deps.step?.(name, { transferId: ctx.row.id, model, ...(key ? { key } : {}) });
}

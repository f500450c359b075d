/**
 * One transfer of one destination: for each model, read → encode → write files → write the manifest
 * → commit the watermark. The commit protocol, per model:
 *
 *   1. files      each file is created under a new key (the contract's, with this transfer's id);
 *   2. prepare    the manifest is signed and stored in the control store as *pending*, chained to
 *                 the last committed manifest (compare-and-set on the chain);
 *   3. manifest   the manifest is created in the bucket, last;
 *   4. commit     one control-store transaction moves the watermark and the chain to it.
 *
 * A crash before 2 leaves only files that no manifest lists (orphans; the next run reads the same
 * window again under new keys). A crash between 2 and 4 leaves a pending manifest: the next run of the
 * destination writes it again (same key, same bytes; a create that finds it there is fine) and
 * commits it before anything else, so the chain never forks and no row is lost. The watermark never
 * moves before its manifest is in the bucket.
 *
 * Models are isolated: one failing is recorded (code, actor, message) and the others still commit.
 * At most one transfer runs per destination (destination-lock.ts); a cancel request or the caller's
 * signal stops it through one AbortSignal (cancellation.ts).
 *
 * The files of a run: run.ts (this: the transfer), model-run.ts (a model's result and progress),
 * deliver.ts (a model's read and files), files.ts (one file), commit.ts (the manifest and the
 * commit), store/ (the control-store tables), window.ts, keys.ts, manifest.ts, notes.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorRecord, SluiceError, validationError, type ErrorRecord } from '../core/errors.js';
import type { ModelDefinition } from '../core/types.js';
import { watchCancellation } from './cancellation.js';
import type { RunContext } from './context.js';
import type { RunTransferOptions, TransferDeps } from './deps.js';
import { alreadyRunning, tryLockDestination, unlockDestination } from './destination-lock.js';
import type { TransferDestination } from './destination.js';
import { closeInterruptedTransfers } from './interrupted.js';
import { stampOf } from './keys.js';
import { runModel } from './model-run.js';
import { tenantWarnings } from './notes.js';
import { transferStatus, type ModelResult, type TransferResult } from './result.js';
import { modelRows } from './store/transfer-models.js';
import { finishTransferRow, getTransferRow, insertTransfer, markTransferRunning, recordTransferWarnings } from './store/transfers.js';

// A predecessor killed a moment ago still holds the lock until PostgreSQL notices its connection is
// gone, so a caller without the lock waits briefly before calling the destination busy.
const LOCK_WAIT_MS = 3_000;

export async function runTransfer(deps: TransferDeps, opts: RunTransferOptions): Promise<TransferResult> {
  const now = deps.now ?? (() => new Date());
  if (opts.lock) {
    if (opts.lock.destinationId !== opts.destinationId) {
      throw new SluiceError({
        code: 'internal',
        actor: 'sluice',
        message: `A transfer of destination ${opts.destinationId} was handed the lock of destination ${opts.lock.destinationId}; nothing was run.`,
        hint: 'A bug in Sluice: report it with this message.',
      });
    }
    return runLocked(deps, opts, now);
  }
  const client = await deps.pool.connect();
  try {
    const lock = await tryLockDestination(client, opts.destinationId, LOCK_WAIT_MS);
    if (!lock) throw alreadyRunning(opts.destinationId);
    try {
      return await runLocked(deps, opts, now);
    } finally {
      await unlockDestination(lock);
    }
  } finally {
    client.release();
  }
}

async function runLocked(deps: TransferDeps, opts: RunTransferOptions, now: () => Date): Promise<TransferResult> {
  const { pool } = deps;
  const found = opts.transferId ? await getTransferRow(pool, opts.transferId) : null;
  if (found && found.destination_id !== opts.destinationId) {
    throw validationError([{ field: 'transferId', message: `transfer ${found.id} belongs to destination ${found.destination_id}` }], 'transfer');
  }
  // A job queue may hand us an id it generated: the row is created with it on first run.
  const row =
    found ??
    (await insertTransfer(pool, {
      ...(opts.transferId ? { id: opts.transferId } : {}),
      destinationId: opts.destinationId,
      kind: opts.kind ?? 'INCREMENTAL',
      models: opts.models ?? null,
      rangeFrom: opts.from ?? null,
      rangeTo: opts.to ?? null,
    }));
  const kind = row.kind;
  let startedAt = now();
  // Data keys carry the transfer id and the attempt's start second: a retry of the same transfer in
  // the same second would reuse a key, so it waits for the next second.
  if (row.started_at && stampOf(row.started_at) === stampOf(startedAt)) {
    await sleep(1000 - startedAt.getUTCMilliseconds());
    startedAt = now();
  }
  const log = deps.log.child({ transferId: row.id, destinationId: row.destination_id });

  if (row.cancel_requested || row.status === 'cancelled') {
    await finishTransferRow(pool, row.id, 'cancelled', null);
    return { id: row.id, destinationId: row.destination_id, kind, status: 'cancelled', startedAt, models: [], warnings: [] };
  }

  let destination: TransferDestination;
  let models: ModelDefinition[];
  try {
    // After the destination lock and before anything is written: the loader applies the delivery
    // gate (control/delivery-gate.ts), so every caller of the runner (worker, `sluice transfer`) goes through it.
    destination = await deps.loadDestination(row.destination_id);
    models = selectModels(deps.source.models(), destination, row.models);
    if (kind === 'BACKFILL' && row.range_from === null && row.range_to === null) {
      throw validationError([{ field: 'from', message: 'a backfill needs --from and/or --to (a cursor range)' }], 'transfer');
    }
  } catch (err) {
    await markTransferRunning(pool, row.id, startedAt);
    await finishTransferRow(pool, row.id, 'failed', errorRecord(err));
    throw err;
  }

  await markTransferRunning(pool, row.id, startedAt);
  const interrupted = await closeInterruptedTransfers(pool, row.destination_id, row.id);
  if (interrupted.length > 0) log.warn({ interrupted }, 'closed transfers whose process stopped');
  log.info({ kind, models: models.map((m) => m.name) }, 'transfer started');

  const cancellation = watchCancellation(pool, row.id, [opts.signal]);
  const ctx: RunContext = {
    deps,
    log,
    row,
    kind,
    startedAt,
    destination,
    writer: deps.objectWriter(destination.s3),
    signal: cancellation.signal,
    tenantEmpty: new Set(),
    onProgress: opts.onProgress,
  };

  const done = new Set((await modelRows(pool, row.id)).filter((m) => m.status === 'succeeded').map((m) => m.model));
  const results: ModelResult[] = [];
  try {
    for (const model of models) {
      if (done.has(model.name)) continue; // a retry of this transfer: already committed
      results.push(await runModel(ctx, model));
    }
  } finally {
    cancellation.stop();
    // The role session ends with the transfer: the next one assumes the role again (docs/trust.md).
    ctx.writer.close?.();
  }

  const all = await modelRows(pool, row.id);
  const status = transferStatus(all.map((m) => m.status));
  const failed = all.filter((m) => m.status === 'failed');
  const error: ErrorRecord | null =
    status === 'failed' && failed.length > 0
      ? { code: 'models_failed', actor: failed[0]!.error?.actor ?? 'sluice', message: `${failed.length} of ${all.length} models failed; see each model's error.` }
      : null;
  await finishTransferRow(pool, row.id, status, error);
  const warnings = tenantWarnings(ctx, results);
  if (warnings.length > 0) {
    await recordTransferWarnings(pool, row.id, warnings);
    for (const w of warnings) log.warn({ warning: w }, w.message);
  }
  log.info({ status }, 'transfer finished');
  return { id: row.id, destinationId: row.destination_id, kind, status, startedAt, models: results, warnings };
}


function selectModels(configured: ModelDefinition[], dest: TransferDestination, requested: string[] | null): ModelDefinition[] {
  const byName = new Map(configured.map((m) => [m.name, m]));
  const enabled = dest.models ?? configured.map((m) => m.name);
  const names = requested ?? enabled;
  const problems = names.flatMap((name) => {
    if (!byName.has(name)) return [{ field: 'models', message: `${name} is not a configured model (configured: ${[...byName.keys()].join(', ') || 'none'})` }];
    if (!enabled.includes(name)) return [{ field: 'models', message: `${name} is not exported to this destination (exported: ${enabled.join(', ')})` }];
    return [];
  });
  if (problems.length > 0) throw validationError(problems, 'transfer');
  return names.map((n) => byName.get(n)!);
}


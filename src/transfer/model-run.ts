/**
 * One model's run inside a transfer: its result row in `transfer_models` from start to end, its live
 * progress (written every few seconds, logged now and then, handed to the caller's onProgress), and
 * its failure recorded without stopping the other models.
 */
import { describeError, errorRecord } from '../core/errors.js';
import type { ModelDefinition } from '../core/types.js';
import type { Meter, RunContext } from './context.js';
import { deliverModel } from './deliver.js';
import type { ModelResult, TransferProgress } from './result.js';
import { upsertModelRow } from './store/transfer-models.js';

export async function runModel(ctx: RunContext, model: ModelDefinition): Promise<ModelResult> {
  const { pool } = ctx.deps;
  const began = Date.now();
  const result: ModelResult = {
    model: model.name,
    status: 'running',
    rows: 0,
    bytes: 0,
    files: 0,
    manifestKey: null,
    window: { from: null, to: null },
    watermark: null,
    durationMs: 0,
    error: null,
  };
  const meter: Meter = { live: { rows: 0 }, estimated: null };
  const snapshot = (): TransferProgress => {
    const elapsedMs = Date.now() - began;
    const secs = Math.max(elapsedMs / 1000, 0.001);
    // Rows read so far (the current file's included); the files' own counts are the record at the end.
    const rows = Math.max(result.rows, meter.live.rows);
    return {
      transferId: ctx.row.id,
      model: model.name,
      status: result.status,
      rows,
      bytes: result.bytes,
      files: result.files,
      estimatedRows: meter.estimated,
      elapsedMs,
      rowsPerSecond: rows / secs,
      bytesPerSecond: result.bytes / secs,
    };
  };
  const progress = (): void => {
    ctx.onProgress?.(snapshot());
  };
  // Live progress, off the data path: a timer writes the counters every few seconds and logs them
  // now and then; the pipeline itself only bumps counters.
  let flushing: Promise<void> = Promise.resolve();
  let lastLog = Date.now();
  const tick = (): void => {
    const p = snapshot();
    ctx.onProgress?.(p);
    flushing = flushing
      .then(() => upsertModelRow(pool, ctx.row.id, model.name, { rows: p.rows, bytes: p.bytes, files: p.files, progress_at: new Date() }))
      .catch((err: unknown) => ctx.log.warn({ model: model.name, err: describeError(err) }, 'could not record progress'));
    if (Date.now() - lastLog >= (ctx.deps.progressLogIntervalMs ?? 15_000)) {
      lastLog = Date.now();
      ctx.log.info(
        { model: model.name, rows: p.rows, bytes: p.bytes, files: p.files, estimatedRows: p.estimatedRows, rowsPerSecond: Math.round(p.rowsPerSecond) },
        'transfer progress',
      );
    }
  };
  const timer = setInterval(tick, ctx.deps.progressIntervalMs ?? 2_000);
  timer.unref();
  await upsertModelRow(pool, ctx.row.id, model.name, {
    status: 'running',
    started_at: new Date(),
    finished_at: null,
    error: null,
    rows: 0,
    bytes: 0,
    files: 0,
    manifest_key: null,
  });
  progress();
  try {
    await deliverModel(ctx, model, result, progress, meter);
    result.status = 'succeeded';
  } catch (err) {
    const cancelled = ctx.signal.aborted;
    result.status = cancelled ? 'cancelled' : 'failed';
    result.error = cancelled ? null : errorRecord(err);
    if (!cancelled) ctx.log.error({ model: model.name, err: result.error }, 'model failed');
  } finally {
    clearInterval(timer);
    // A progress write still in flight must not land after the result below.
    await flushing;
  }
  result.durationMs = Date.now() - began;
  await upsertModelRow(pool, ctx.row.id, model.name, {
    status: result.status,
    rows: result.rows,
    bytes: result.bytes,
    files: result.files,
    manifest_key: result.manifestKey,
    finished_at: new Date(),
    duration_ms: result.durationMs,
    error: result.error,
  });
  progress();
  return result;
}


/**
 * One model of a transfer, delivered: a manifest left pending by a stopped run is committed first;
 * then the window is planned from the watermark, the source read in one snapshot and encoded, each
 * file written under a new key, and the manifest committed (commit.ts).
 */
import type { ColumnInfo, ModelDefinition } from '../core/types.js';
import { commitManifest, rollForward } from './commit.js';
import { step, type Meter, type RunContext } from './context.js';
import { DEFAULT_FILE_LIMITS } from './deps.js';
import { writeFile } from './files.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { noteWatermark } from './notes.js';
import { pruneDeletes } from './prune-deletes.js';
import type { ModelResult } from './result.js';
import { upsertModelRow } from './store/transfer-models.js';
import { getWatermark } from './store/watermarks.js';
import { planWindow } from './window.js';

export async function deliverModel(ctx: RunContext, model: ModelDefinition, result: ModelResult, progress: () => void, meter: Meter): Promise<void> {
  const { deps, row, destination } = ctx;
  const { pool } = deps;
  let wm = await getWatermark(pool, row.destination_id, model.name);
  if (wm?.pending_manifest) {
    await rollForward(ctx, model.name, wm);
    if (wm.pending_transfer_id === row.id) {
      // A retry of this very transfer: its manifest for this model is now committed, and a second
      // one would need the same key. The model is done; newer rows go with the next transfer.
      const m = JSON.parse(wm.pending_manifest.toString('utf8')) as Manifest;
      Object.assign(result, {
        rows: m.total_rows,
        bytes: m.total_bytes,
        files: m.files.length,
        manifestKey: wm.pending_manifest_key,
        window: { from: m.window.from, to: m.window.to },
      });
      return;
    }
    wm = await getWatermark(pool, row.destination_id, model.name);
  }
  ctx.signal.throwIfAborted();

  const window = await planWindow(pool, {
    kind: ctx.kind,
    watermark: wm?.position ?? null,
    watermarkMethod: wm?.method ?? null,
    watermarkReadAt: wm?.read_at ?? null,
    lookback: model.lookback,
    cursorType: await deps.source.cursorType(model),
    range: { from: row.range_from, to: row.range_to },
  });
  // Taken before the snapshot: the next window's lookback is measured from here (window.ts).
  const readAt = new Date();
  const session = await deps.source.open({
    model,
    tenantId: destination.tenantId,
    window,
    transferId: row.id,
    syncedAt: ctx.startedAt,
    encode: { format: destination.format, compression: destination.compression, ...(deps.fileLimits ?? DEFAULT_FILE_LIMITS), progress: meter.live },
    signal: ctx.signal,
    commitSafe: ctx.kind !== 'BACKFILL' && model.watermark !== 'lookback',
    fallback: ctx.kind === 'BACKFILL' ? 'backfill' : 'configured',
  });
  noteWatermark(ctx, model, session.watermark);
  result.watermark = session.watermark;
  const files: ManifestFile[] = [];
  let columns: ColumnInfo[];
  try {
    columns = session.columns;
    result.window = { from: window.from, to: session.high };
    meter.estimated = (await session.estimateRows?.()) ?? null;
    await upsertModelRow(pool, row.id, model.name, {
      window_from: window.from,
      window_to: session.high,
      watermark_method: session.watermark.method,
      watermark_fallback: session.watermark.fallback,
      watermark_lag_seconds: session.watermark.lagSeconds,
      watermark_held_by: session.watermark.heldBy,
      estimated_rows: meter.estimated,
    });
    progress();
    if (session.high !== null) {
      for await (const file of session.files()) {
        if (ctx.signal.aborted) {
          file.body.destroy();
          ctx.signal.throwIfAborted();
        }
        files.push(await writeFile(ctx, model.name, file, result, progress));
      }
    }
  } finally {
    await session.close();
  }
  await step(ctx, 'files_written', model.name);
  // Read from the beginning and not a single row of the tenant: see tenantWarnings.
  if (window.from === null && ctx.kind !== 'BACKFILL' && files.length === 0) ctx.tenantEmpty.add(model.name);

  // An increment with no rows writes nothing (the transfer still records the model). A full refresh
  // always commits a manifest: "the recipient has no rows now" is news to its consumers.
  if (files.length === 0 && ctx.kind !== 'FULL_REFRESH') return;

  await commitManifest(ctx, model, { files, columns, window, high: session.high, watermark: session.watermark, readAt, previous: wm }, result);
  if (model.deletes === 'track' && ctx.kind !== 'BACKFILL') await pruneDeletes(ctx, model);
}

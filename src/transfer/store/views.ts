/** Transfers and their models as the API and the CLI show them. */
import type { TransferModelRow } from './transfer-models.js';
import type { TransferRow } from './transfers.js';

/** A transfer as the API and CLI show it. */
export function transferView(t: TransferRow) {
  return {
    id: t.id,
    destinationId: t.destination_id,
    kind: t.kind,
    status: t.status,
    models: t.models,
    range: t.kind === 'BACKFILL' ? { from: t.range_from, to: t.range_to } : null,
    requestedAt: t.requested_at.toISOString(),
    startedAt: t.started_at?.toISOString() ?? null,
    finishedAt: t.finished_at?.toISOString() ?? null,
    attempt: t.attempt,
    cancelRequested: t.cancel_requested,
    error: t.error,
    warnings: t.warnings ?? [],
  };
}

export function modelView(m: TransferModelRow) {
  return {
    model: m.model,
    status: m.status,
    rows: Number(m.rows),
    bytes: Number(m.bytes),
    files: m.files,
    manifestKey: m.manifest_key,
    window: { from: m.window_from, to: m.window_to },
    watermark: {
      method: m.watermark_method,
      fallback: m.watermark_fallback,
      lagSeconds: m.watermark_lag_seconds,
      heldBy: m.watermark_held_by,
    },
    startedAt: m.started_at?.toISOString() ?? null,
    finishedAt: m.finished_at?.toISOString() ?? null,
    durationMs: m.duration_ms,
    error: m.error,
    // While the model runs: the planner's estimate of its rows, and when the counters above were written.
    estimatedRows: m.estimated_rows === null || m.estimated_rows === undefined ? null : Number(m.estimated_rows),
    progressAt: m.progress_at?.toISOString() ?? null,
  };
}

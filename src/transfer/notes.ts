/**
 * What a run tells the operator beyond its result: a tenant without rows (a warning on the
 * transfer), and how a read's upper end was fixed (logs).
 */
import type { ModelDefinition, WatermarkInfo } from '../core/types.js';
import type { RunContext } from './context.js';
import type { ModelResult, TransferWarning } from './result.js';

/**
 * A recipient whose tenant id matches no row of any model gets an empty delivery every time, which
 * looks like success: say so. Known only when every model was read from the beginning (no watermark)
 * and found no row of the tenant at all.
 */
export function tenantWarnings(ctx: RunContext, results: ModelResult[]): TransferWarning[] {
  const read = results.filter((r) => r.status === 'succeeded');
  if (read.length === 0 || read.length !== ctx.tenantEmpty.size) return [];
  return [
    {
      code: 'tenant_has_no_rows',
      actor: 'provider',
      message: `No model has a single row whose tenant column equals this recipient's tenant id (${read.map((r) => r.model).join(', ')}): the delivery is empty.`,
      hint: "Check the recipient's tenant id against the source's tenant column (exact value, case included), or that the models' tenant column is the right one.",
    },
  ];
}


/** Says in the logs how the read's upper end was fixed when it is worth an operator's attention. */
export function noteWatermark(ctx: RunContext, model: ModelDefinition, w: WatermarkInfo): void {
  if (w.method === 'lookback') {
    // Chosen in sluice.yaml, or implied by the cursor's type or a backfill: information. The source
    // refusing what the model asked for (a replica, a role without pg_read_all_stats): a warning.
    const expected = w.fallback === 'configured' || w.fallback === 'backfill' || w.fallback === 'cursor_type';
    const fields = { model: model.name, watermark: 'lookback', fallback: w.fallback, lookback: model.lookback };
    if (expected) ctx.log.info(fields, 'read with the lookback method');
    else ctx.log.warn(fields, 'commit-safe watermark unavailable on this source: fell back to the lookback (rows committed later than the lookback after their cursor would be missed)');
    return;
  }
  if (w.lagSeconds !== null && w.lagWarningSeconds !== undefined && w.lagSeconds > w.lagWarningSeconds) {
    ctx.log.warn(
      { model: model.name, lagSeconds: Math.round(w.lagSeconds), thresholdSeconds: w.lagWarningSeconds, heldBy: w.heldBy },
      'an open transaction on the source holds the watermark back: rows newer than its start wait until it ends',
    );
  }
}


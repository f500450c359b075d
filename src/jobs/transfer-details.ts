/**
 * A transfer as the API and the CLI show it: its record, its per-model results and, after a failed
 * attempt that will be retried, when the next attempt runs. One builder for both, so that they
 * cannot drift apart.
 */
import type { Queryable } from '../core/pg.js';
import { modelRowsOf } from '../transfer/store/transfer-models.js';
import type { TransferRow } from '../transfer/store/transfers.js';
import { modelView, transferView } from '../transfer/store/views.js';
import { scheduledRetriesOf } from './queue-jobs.js';

export type TransferDetails = ReturnType<typeof transferView> & {
  results: Array<ReturnType<typeof modelView>>;
  /** Set while a failed attempt waits for the next one: `failed` is then not final. */
  nextAttempt: { at: string; attempt: number; maxAttempts: number } | null;
};

export async function transferDetails(db: Queryable, rows: readonly TransferRow[]): Promise<TransferDetails[]> {
  const ids = rows.map((r) => r.id);
  const [results, retries] = await Promise.all([modelRowsOf(db, ids), scheduledRetriesOf(db, ids)]);
  return rows.map((r) => {
    const retry = retries.get(r.id);
    return {
      ...transferView(r),
      results: (results.get(r.id) ?? []).map(modelView),
      nextAttempt: retry ? { at: retry.at.toISOString(), attempt: retry.attempt, maxAttempts: retry.maxAttempts } : null,
    };
  });
}

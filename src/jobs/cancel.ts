/** Cancelling a transfer: a queued one leaves the queue, a running one is asked to stop. */
import type { Pool, PoolClient } from '../control/db.js';
import { withTransaction } from '../control/db.js';
import { finishTransferRow, lockTransferRow, requestCancel } from '../transfer/store/transfers.js';
import { deleteWaitingJob, transferJobOf } from './queue-jobs.js';

export type CancelOutcome =
  | { status: 'cancelled' | 'cancelling'; transferId: string; destinationId: string }
  | { status: 'finished'; transferId: string; destinationId: string; transferStatus: string };

/**
 * Cancels a transfer: a queued one leaves the queue and is recorded as cancelled; a running one gets
 * `cancel_requested`, which the run sees within about a second (transfer/cancellation.ts) and aborts safely
 * (nothing of an aborted transfer is listed by a manifest). Undefined when no transfer has this id.
 */
export async function cancelTransfer(pool: Pool, transferId: string): Promise<CancelOutcome | undefined> {
  return withTransaction(pool, async (client: PoolClient) => {
    const row = await lockTransferRow(client, transferId);
    if (!row) return undefined;
    const base = { transferId, destinationId: row.destination_id };
    if (!['queued', 'running'].includes(row.status)) return { status: 'finished', ...base, transferStatus: row.status };
    const job = await transferJobOf(client, transferId);
    if (job && !job.running) await deleteWaitingJob(client, job.id);
    // Running without a running job: `sluice transfer` runs it in its own process, which sees the
    // request as a worker does (transfer/cancellation.ts).
    if ((!job && row.status === 'queued') || (job && !job.running)) {
      await finishTransferRow(client, transferId, 'cancelled', null);
      return { status: 'cancelled', ...base };
    }
    await requestCancel(client, transferId);
    return { status: 'cancelling', ...base };
  });
}

/**
 * Transfers whose process stopped before they finished (killed, machine gone): closed as failed,
 * `transfer_interrupted`, with their unfinished models. A manifest such a transfer had prepared is
 * committed by the destination's next run (commit.ts, rollForward).
 */
import type { ErrorRecord } from '../core/errors.js';
import { withTransaction, type Pool } from '../core/pg.js';
import { failUnfinishedModels } from './store/transfer-models.js';
import { failOrphanedTransfers, failRunningTransfersOf } from './store/transfers.js';

/**
 * Transfers marked running whose destination lock nobody holds (destination-lock.ts): closed at once
 * — by a worker at its start and on each heartbeat — rather than by the destination's next transfer.
 */
export async function closeOrphanedTransfers(pool: Pool): Promise<string[]> {
  const error: ErrorRecord = {
    code: 'transfer_interrupted',
    actor: 'sluice',
    message: 'The process running this transfer stopped before it finished (killed, or its machine went down). Files it wrote are not listed by any manifest; the next transfer reads the same rows again.',
  };
  return withTransaction(pool, async (tx) => {
    const ids = await failOrphanedTransfers(tx, error);
    await failUnfinishedModels(tx, ids, error);
    return ids;
  });
}

/** Other transfers of a destination still marked running although the caller holds its lock. */
export async function closeInterruptedTransfers(pool: Pool, destinationId: string, exceptId: string): Promise<string[]> {
  const error: ErrorRecord = {
    code: 'transfer_interrupted',
    actor: 'sluice',
    message: 'The process running this transfer stopped before it finished; the next transfer resumed the destination.',
  };
  return withTransaction(pool, async (tx) => {
    const ids = await failRunningTransfersOf(tx, destinationId, exceptId, error);
    await failUnfinishedModels(tx, ids, error);
    return ids;
  });
}

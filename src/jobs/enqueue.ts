/**
 * A request for a transfer becomes a queued job: one waiting per destination (the job key), checked
 * by the delivery gate, a different request replacing the waiting one; and a job that found its
 * destination busy goes back to the queue.
 */
import { SluiceError, validationError } from '../core/errors.js';
import type { Pool } from '../control/db.js';
import { withTransaction } from '../control/db.js';
import { checkDelivery, refusalError } from '../control/delivery-gate.js';
import { newId } from '../core/ids.js';
import type { TransferKind } from '../core/types.js';
import { finishTransferRow, insertTransfer } from '../transfer/store/transfers.js';
import { addTransferJob, transferJobsOf } from './queue-jobs.js';
import type { TransferJob, TransferTrigger } from './queue.js';

export interface TransferRequest {
  destinationId: string;
  kind?: TransferKind;
  models?: string[];
  from?: string;
  to?: string;
  trigger?: TransferTrigger;
}

export interface EnqueuedTransfer {
  transferId: string;
  destinationId: string;
  kind: TransferKind;
  /** `queued`: added now; `already_queued`: an identical request was waiting and is the one reported. */
  status: 'queued' | 'already_queued';
  /** True when a transfer of this destination is running: the queued one starts after it. */
  behindRunning: boolean;
}

/**
 * Queues a transfer for a destination. Serialised per destination by locking its row, so two
 * triggers at once give one queued transfer.
 */
export async function enqueueTransfer(pool: Pool, req: TransferRequest): Promise<EnqueuedTransfer> {
  const kind = req.kind ?? 'INCREMENTAL';
  if (kind === 'BACKFILL' && (req.from === undefined || req.to === undefined)) {
    throw validationError([{ field: 'from', message: 'a backfill needs both `from` and `to`' }], 'transfer request');
  }
  return withTransaction(pool, async (client) => {
    const dst = await client.query<{ id: string }>(
      'SELECT id FROM destinations WHERE id = $1 FOR UPDATE',
      [req.destinationId],
    );
    if (!dst.rows[0]) {
      throw new SluiceError({ code: 'not_found', message: `No destination with id ${req.destinationId}.`, status: 404 });
    }
    // The delivery gate (control/delivery-gate.ts), under the row lock: nothing is queued for a
    // destination whose latest connection test did not pass for its current settings.
    const verdict = await checkDelivery(client, req.destinationId);
    if (!verdict.allowed) throw refusalError(verdict);
    const jobs = await transferJobsOf(client, req.destinationId);
    const behindRunning = jobs.some((j) => j.running);
    const waiting = jobs.find((j) => !j.running && j.key !== null);
    if (waiting && sameRequest(waiting.payload, req, kind)) {
      return {
        transferId: waiting.payload.transferId,
        destinationId: req.destinationId,
        kind,
        status: 'already_queued',
        behindRunning,
      };
    }
    const payload: TransferJob = {
      transferId: newId('trf'),
      destinationId: req.destinationId,
      kind,
      ...(req.models ? { models: req.models } : {}),
      ...(req.from !== undefined ? { from: req.from } : {}),
      ...(req.to !== undefined ? { to: req.to } : {}),
      trigger: req.trigger ?? 'api',
    };
    // A different request replaces the waiting one (the newest intent wins; the job key keeps one).
    if (waiting) {
      await finishTransferRow(client, waiting.payload.transferId, 'cancelled', {
        code: 'replaced',
        actor: 'provider',
        message: `Replaced by transfer ${payload.transferId}, requested while this one was waiting.`,
      });
    }
    await insertTransfer(client, {
      id: payload.transferId,
      destinationId: payload.destinationId,
      kind,
      models: payload.models ?? null,
      rangeFrom: payload.from ?? null,
      rangeTo: payload.to ?? null,
    });
    await addTransferJob(client, payload);
    return { transferId: payload.transferId, destinationId: req.destinationId, kind, status: 'queued', behindRunning };
  });
}

/**
 * A transfer job that found its destination busy goes back to the queue, to run `delayMs` later —
 * unless another transfer of the destination is already waiting, which then stands for both (it
 * reads everything up to its own start); ours is recorded as cancelled, superseded by it.
 */
export async function requeueBusyTransfer(pool: Pool, job: TransferJob, delayMs: number): Promise<'requeued' | 'superseded'> {
  return withTransaction(pool, async (client) => {
    await client.query('SELECT 1 FROM destinations WHERE id = $1 FOR UPDATE', [job.destinationId]);
    const waiting = (await transferJobsOf(client, job.destinationId)).find((j) => !j.running && j.key !== null);
    if (waiting && waiting.payload.transferId !== job.transferId) {
      await finishTransferRow(client, job.transferId, 'cancelled', {
        code: 'superseded',
        actor: 'sluice',
        message: `Transfer ${waiting.payload.transferId}, already waiting for this destination, delivers the same rows.`,
      });
      return 'superseded';
    }
    await addTransferJob(client, job, new Date(Date.now() + delayMs));
    return 'requeued';
  });
}

function sameRequest(p: TransferJob, req: TransferRequest, kind: TransferKind): boolean {
  const models = (m?: string[]): string => (m ? [...m].sort().join(',') : '*');
  return p.kind === kind && models(p.models) === models(req.models) && p.from === req.from && p.to === req.to;
}

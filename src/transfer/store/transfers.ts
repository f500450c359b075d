/**
 * The `transfers` table: one row per transfer of a destination. Every write to it is here.
 */
import type { ErrorRecord } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Queryable } from '../../core/pg.js';
import type { TransferKind } from '../../core/types.js';
import { DESTINATION_LOCK_NAMESPACE } from '../destination-lock.js';

export type TransferStatus = 'queued' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled';

export interface TransferRow {
  id: string;
  destination_id: string;
  kind: TransferKind;
  status: TransferStatus;
  models: string[] | null;
  range_from: string | null;
  range_to: string | null;
  requested_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  error: ErrorRecord | null;
  attempt: number;
  cancel_requested: boolean;
  warnings: Array<{ code: string; actor: string; message: string; hint?: string }> | null;
}

export interface NewTransfer {
  id?: string;
  destinationId: string;
  kind: TransferKind;
  models?: string[] | null;
  rangeFrom?: string | null;
  rangeTo?: string | null;
}

export async function insertTransfer(db: Queryable, t: NewTransfer): Promise<TransferRow> {
  const r = await db.query<TransferRow>(
    `INSERT INTO transfers (id, destination_id, kind, models, range_from, range_to)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [t.id ?? newId('trf'), t.destinationId, t.kind, t.models ?? null, t.rangeFrom ?? null, t.rangeTo ?? null],
  );
  return r.rows[0]!;
}

/**
 * The scheduler's insert, as a clause of its one statement (jobs/scheduler.ts): records as queued an
 * incremental transfer per row of `minted` (columns transfer_id, destination_id), returning id and
 * destination_id. One statement keeps a scheduling pass over thousands of destinations cheap.
 */
export const insertScheduledTransfersSql = (minted: string): string =>
  `INSERT INTO transfers (id, destination_id, kind)
  SELECT transfer_id, destination_id, 'INCREMENTAL' FROM ${minted}
  RETURNING id, destination_id`;

export async function getTransferRow(db: Queryable, id: string): Promise<TransferRow | null> {
  const r = await db.query<TransferRow>('SELECT * FROM transfers WHERE id = $1', [id]);
  return r.rows[0] ?? null;
}

/** The transfer's row locked for the rest of the caller's transaction (cancelling it). */
export async function lockTransferRow(db: Queryable, id: string): Promise<Pick<TransferRow, 'destination_id' | 'status'> | null> {
  const r = await db.query<{ destination_id: string; status: TransferStatus }>('SELECT destination_id, status FROM transfers WHERE id = $1 FOR UPDATE', [id]);
  return r.rows[0] ?? null;
}

export async function markTransferRunning(db: Queryable, id: string, startedAt: Date): Promise<void> {
  await db.query(
    `UPDATE transfers SET status = 'running', started_at = $2, finished_at = NULL, error = NULL, attempt = attempt + 1
     WHERE id = $1`,
    [id, startedAt],
  );
}

export async function finishTransferRow(db: Queryable, id: string, status: TransferStatus, error: ErrorRecord | null): Promise<void> {
  await db.query('UPDATE transfers SET status = $2, error = $3, finished_at = now() WHERE id = $1', [id, status, error]);
}

/** A queued transfer that will not run (the delivery gate refused it at the worker): failed, with why. */
export async function failQueuedTransfer(db: Queryable, id: string, error: ErrorRecord): Promise<void> {
  await db.query(`UPDATE transfers SET status = 'failed', error = $2, finished_at = now() WHERE id = $1 AND status = 'queued'`, [id, error]);
}

/**
 * A transfer abandoned by its worker (shutdown, lost session) waits again for its job's retry, unless
 * cancelled meanwhile — and only while `stillHeld` holds: an SQL condition over $2 and $3 with those
 * values (jobs/queue-jobs.ts, jobHeldBy), so that a worker whose job was taken over does not touch a
 * transfer another worker may be running. One statement: a shutdown leaves little time.
 */
export async function markTransferQueuedAgain(db: Queryable, id: string, stillHeld: { sql: string; params: [unknown, unknown] }): Promise<void> {
  await db.query(`UPDATE transfers SET status = 'queued' WHERE id = $1 AND NOT cancel_requested AND ${stillHeld.sql}`, [id, ...stillHeld.params]);
}

export async function recordTransferWarnings(db: Queryable, id: string, warnings: unknown[]): Promise<void> {
  await db.query('UPDATE transfers SET warnings = $2 WHERE id = $1', [id, JSON.stringify(warnings)]);
}

/** Asks the process running a transfer to stop; it notices within about a second (transfer/cancellation.ts). */
export async function requestCancel(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE transfers SET cancel_requested = true WHERE id = $1', [id]);
}

/**
 * Asks every queued or running transfer of a destination to stop: it was deleted or disabled, or
 * where or how it is written changed (the delivery gate holds it until a new test passes).
 */
export async function requestCancelOfDestination(db: Queryable, destinationId: string): Promise<void> {
  await db.query(`UPDATE transfers SET cancel_requested = true WHERE destination_id = $1 AND status IN ('queued', 'running')`, [destinationId]);
}

/** The same for every destination of a recipient (the recipient was disabled). */
export async function requestCancelOfRecipient(db: Queryable, recipientId: string): Promise<void> {
  await db.query(
    `UPDATE transfers SET cancel_requested = true
      WHERE destination_id IN (SELECT id FROM destinations WHERE recipient_id = $1) AND status IN ('queued', 'running')`,
    [recipientId],
  );
}

/** Which of `ids` have been asked to stop. */
export async function cancelRequestedAmong(db: Queryable, ids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM transfers WHERE id = ANY($1::text[]) AND cancel_requested', [ids]);
  return rows.map((r) => r.id);
}

/**
 * A transfer whose pending manifest a later run committed: its status follows from its models now
 * (all succeeded: succeeded, without error; else partial). Only a failed or partial one changes.
 */
export async function settleFromModels(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE transfers t SET status = s.status, error = CASE WHEN s.status = 'succeeded' THEN NULL ELSE t.error END
       FROM (SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM transfer_models m WHERE m.transfer_id = $1 AND m.status <> 'succeeded')
                         THEN 'succeeded' ELSE 'partial' END AS status) s
     WHERE t.id = $1 AND t.status IN ('failed', 'partial')`,
    [id],
  );
}

/**
 * Transfers marked running whose destination lock nobody holds: the process running them is gone
 * (the session lock vanished with its connection). Marked failed with `error`; their ids returned.
 * The lock and the status are read in one statement; a live run holds its lock from before it is
 * marked running until after it is finished.
 */
export async function failOrphanedTransfers(db: Queryable, error: ErrorRecord): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `WITH orphaned AS (
       SELECT t.id FROM transfers t
        WHERE t.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM pg_locks l
                           WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                             AND l.classid::bigint = $1 AND l.objid::bigint = (hashtext(t.destination_id)::bigint & 4294967295) AND l.objsubid = 2)
        FOR UPDATE OF t SKIP LOCKED
     )
     UPDATE transfers t SET status = 'failed', error = $2, finished_at = now()
      WHERE t.id IN (SELECT id FROM orphaned) RETURNING t.id`,
    [DESTINATION_LOCK_NAMESPACE, error],
  );
  return r.rows.map((x) => x.id);
}

/** Other transfers of a destination still marked running while we hold its lock: their process died. */
export async function failRunningTransfersOf(db: Queryable, destinationId: string, exceptId: string, error: ErrorRecord): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `UPDATE transfers SET status = 'failed', error = $3, finished_at = now()
     WHERE destination_id = $1 AND status = 'running' AND id <> $2 RETURNING id`,
    [destinationId, exceptId, error],
  );
  return r.rows.map((x) => x.id);
}

export interface TransferFilters {
  destinationId?: string;
  recipientId?: string;
  status?: TransferStatus;
  since?: Date;
  until?: Date;
  limit?: number;
}

export async function listTransferRows(db: Queryable, f: TransferFilters): Promise<TransferRow[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, v: unknown): void => {
    args.push(v);
    where.push(sql.replace('?', `$${args.length}`));
  };
  if (f.destinationId) add('t.destination_id = ?', f.destinationId);
  if (f.recipientId) add('d.recipient_id = ?', f.recipientId);
  if (f.status) add('t.status = ?', f.status);
  if (f.since) add('t.requested_at >= ?', f.since);
  if (f.until) add('t.requested_at < ?', f.until);
  args.push(Math.min(Math.max(f.limit ?? 100, 1), 1000));
  const r = await db.query<TransferRow>(
    `SELECT t.* FROM transfers t JOIN destinations d ON d.id = t.destination_id
     ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY t.requested_at DESC, t.id DESC LIMIT $${args.length}`,
    args,
  );
  return r.rows;
}

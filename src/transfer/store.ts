/**
 * Control-store queries of the transfer pipeline: transfers, per-model results and watermarks.
 * Kept here, in plain SQL, so the runner reads as the commit protocol and nothing else.
 */
import type { ErrorRecord } from '../core/errors.js';
import type { PoolClient, Queryable } from '../core/pg.js';
import { newId } from '../core/ids.js';
import type { CursorPosition, TransferKind, WatermarkMethod } from '../core/types.js';

export type TransferStatus = 'queued' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled';
export type ModelStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

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

export interface TransferModelRow {
  transfer_id: string;
  model: string;
  status: ModelStatus;
  rows: string;
  bytes: string;
  files: number;
  manifest_key: string | null;
  window_from: CursorPosition | null;
  window_to: CursorPosition | null;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: number | null;
  error: ErrorRecord | null;
  watermark_method: WatermarkMethod | null;
  watermark_fallback: string | null;
  watermark_lag_seconds: number | null;
  watermark_held_by: { pid: number; applicationName: string; xactStart: string } | null;
  estimated_rows: string | null;
  progress_at: Date | null;
}

export interface WatermarkRow {
  destination_id: string;
  model: string;
  position: CursorPosition | null;
  read_at: Date | null;
  last_transfer_id: string | null;
  last_manifest_key: string | null;
  last_manifest_sha256: string | null;
  pending_transfer_id: string | null;
  pending_manifest_key: string | null;
  pending_manifest: Buffer | null;
  pending_position: CursorPosition | null;
  pending_read_at: Date | null;
  pending_moves_watermark: boolean | null;
  /** How `position` was fixed; NULL for watermarks older than the commit-safe method (lookback). */
  method: WatermarkMethod | null;
  pending_method: WatermarkMethod | null;
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

export async function getTransferRow(db: Queryable, id: string): Promise<TransferRow | null> {
  const r = await db.query<TransferRow>('SELECT * FROM transfers WHERE id = $1', [id]);
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

export async function isCancelRequested(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query<{ cancel_requested: boolean }>('SELECT cancel_requested FROM transfers WHERE id = $1', [id]);
  return r.rows[0]?.cancel_requested ?? false;
}

/**
 * Transfers of a destination still marked running although we hold its lock: their process died.
 * Their unfinished models are marked failed (interrupted); a committed pending manifest is rolled
 * forward separately, per model.
 */
/** Namespace of the per-destination advisory lock a running transfer holds (second key: hashtext(destination id)). */
export const DESTINATION_LOCK_NAMESPACE = 0x511cf;

/**
 * Transfers marked running whose destination lock nobody holds: the process running them is gone
 * (the session lock vanished with its connection). Closed as failed (`transfer_interrupted`) at once
 * — by a worker at its start and on each heartbeat — rather than by the destination's next transfer.
 * The lock and the status are read in one statement; a live run holds its lock from before it is
 * marked running until after it is finished.
 */
export async function closeOrphanedTransfers(db: Queryable): Promise<string[]> {
  const error: ErrorRecord = {
    code: 'transfer_interrupted',
    actor: 'sluice',
    message: 'The process running this transfer stopped before it finished (killed, or its machine went down). Files it wrote are not listed by any manifest; the next transfer reads the same rows again.',
  };
  const r = await db.query<{ id: string }>(
    `WITH orphaned AS (
       SELECT t.id FROM transfers t
        WHERE t.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM pg_locks l
                           WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                             AND l.classid::bigint = $1 AND l.objid::bigint = (hashtext(t.destination_id)::bigint & 4294967295) AND l.objsubid = 2)
        FOR UPDATE OF t SKIP LOCKED
     ), models AS (
       UPDATE transfer_models m SET status = 'failed', error = $2, finished_at = now()
        WHERE m.transfer_id IN (SELECT id FROM orphaned) AND m.status IN ('pending', 'running')
     )
     UPDATE transfers t SET status = 'failed', error = $2, finished_at = now()
      WHERE t.id IN (SELECT id FROM orphaned) RETURNING t.id`,
    [DESTINATION_LOCK_NAMESPACE, error],
  );
  return r.rows.map((x) => x.id);
}

export async function closeInterruptedTransfers(db: Queryable, destinationId: string, exceptId: string): Promise<string[]> {
  const error: ErrorRecord = {
    code: 'transfer_interrupted',
    actor: 'sluice',
    message: 'The process running this transfer stopped before it finished; the next transfer resumed the destination.',
  };
  const r = await db.query<{ id: string }>(
    `UPDATE transfers SET status = 'failed', error = $3, finished_at = now()
     WHERE destination_id = $1 AND status = 'running' AND id <> $2 RETURNING id`,
    [destinationId, exceptId, error],
  );
  const ids = r.rows.map((x) => x.id);
  if (ids.length > 0) {
    await db.query(
      `UPDATE transfer_models SET status = 'failed', error = $2, finished_at = now()
       WHERE transfer_id = ANY($1) AND status IN ('pending', 'running')`,
      [ids, error],
    );
  }
  return ids;
}

export async function upsertModelRow(
  db: Queryable,
  transferId: string,
  model: string,
  fields: Partial<Omit<TransferModelRow, 'transfer_id' | 'model' | 'rows' | 'bytes' | 'estimated_rows'>> & { rows?: number; bytes?: number; estimated_rows?: number | null },
): Promise<void> {
  const cols = Object.keys(fields);
  const values = Object.values(fields).map((v) => (v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v));
  const sets = cols.map((c, i) => `${c} = $${i + 3}`);
  await db.query(
    `INSERT INTO transfer_models (transfer_id, model${cols.map((c) => `, ${c}`).join('')})
     VALUES ($1, $2${cols.map((_, i) => `, $${i + 3}`).join('')})
     ON CONFLICT (transfer_id, model) DO UPDATE SET ${sets.length > 0 ? sets.join(', ') : 'model = EXCLUDED.model'}`,
    [transferId, model, ...values],
  );
}

export async function modelRows(db: Queryable, transferId: string): Promise<TransferModelRow[]> {
  const r = await db.query<TransferModelRow>('SELECT * FROM transfer_models WHERE transfer_id = $1 ORDER BY model', [transferId]);
  return r.rows;
}

/** Per-model rows of several transfers at once (a listing), by transfer id. */
export async function modelRowsOf(db: Queryable, transferIds: string[]): Promise<Map<string, TransferModelRow[]>> {
  const out = new Map<string, TransferModelRow[]>();
  if (transferIds.length === 0) return out;
  const r = await db.query<TransferModelRow>('SELECT * FROM transfer_models WHERE transfer_id = ANY($1::text[]) ORDER BY transfer_id, model', [transferIds]);
  for (const m of r.rows) {
    const list = out.get(m.transfer_id) ?? [];
    list.push(m);
    out.set(m.transfer_id, list);
  }
  return out;
}

export async function getWatermark(db: Queryable, destinationId: string, model: string): Promise<WatermarkRow | null> {
  const r = await db.query<WatermarkRow>('SELECT * FROM watermarks WHERE destination_id = $1 AND model = $2', [destinationId, model]);
  return r.rows[0] ?? null;
}

/**
 * Stores a signed manifest as pending, before it is written to the bucket. Fails (returns false) when
 * the chain moved since `previousSha256` was read: someone else committed in between.
 */
export async function savePendingManifest(
  db: Queryable,
  p: {
    destinationId: string;
    model: string;
    transferId: string;
    key: string;
    body: Buffer;
    position: CursorPosition | null;
    readAt: Date;
    movesWatermark: boolean;
    method: WatermarkMethod;
    previousSha256: string | null;
  },
): Promise<boolean> {
  await db.query(
    'INSERT INTO watermarks (destination_id, model) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [p.destinationId, p.model],
  );
  const r = await db.query(
    `UPDATE watermarks
     SET pending_transfer_id = $3, pending_manifest_key = $4, pending_manifest = $5, pending_position = $6,
         pending_moves_watermark = $7, pending_read_at = $9, pending_method = $10, updated_at = now()
     WHERE destination_id = $1 AND model = $2 AND pending_manifest IS NULL
       AND last_manifest_sha256 IS NOT DISTINCT FROM $8`,
    [
      p.destinationId,
      p.model,
      p.transferId,
      p.key,
      p.body,
      p.position === null ? null : JSON.stringify(p.position),
      p.movesWatermark,
      p.previousSha256,
      p.readAt,
      p.method,
    ],
  );
  return r.rowCount === 1;
}

/**
 * Commits the pending manifest of (destination, model): the chain advances to it and, unless it was
 * a backfill, the watermark moves to its high end. Same transaction as the model's result row.
 */
export async function commitPendingManifest(
  client: PoolClient,
  p: { destinationId: string; model: string; sha256: string },
): Promise<WatermarkRow | null> {
  const r = await client.query<WatermarkRow>(
    `UPDATE watermarks
     SET position = CASE WHEN pending_moves_watermark AND pending_position IS NOT NULL THEN pending_position ELSE position END,
         read_at = CASE WHEN pending_moves_watermark AND pending_position IS NOT NULL THEN pending_read_at ELSE read_at END,
         method = CASE WHEN pending_moves_watermark AND pending_position IS NOT NULL THEN pending_method ELSE method END,
         last_transfer_id = pending_transfer_id,
         last_manifest_key = pending_manifest_key,
         last_manifest_sha256 = $3,
         pending_transfer_id = NULL, pending_manifest_key = NULL, pending_manifest = NULL,
         pending_position = NULL, pending_read_at = NULL, pending_moves_watermark = NULL, pending_method = NULL, updated_at = now()
     WHERE destination_id = $1 AND model = $2 AND pending_manifest IS NOT NULL
     RETURNING *`,
    [p.destinationId, p.model, p.sha256],
  );
  return r.rows[0] ?? null;
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

/**
 * The instant below which every destination of `tenantId` has committed every model in `models`
 * (delete tracking: records older than it can go). A commit-safe watermark counts as it is, a
 * lookback one `lookback` earlier (its next window starts there). Destinations without a watermark
 * start from the beginning and need no record. Null when no destination has one.
 */
export async function deleteRecordsCommittedBefore(
  db: Queryable,
  tenantId: string,
  models: Array<{ name: string; lookback: number }>,
): Promise<string | null> {
  const r = await db.query<{ before: string | null }>(
    `SELECT to_char(min(CASE WHEN w.method = 'commit_safe' THEN (w.position->>'cursor')::timestamptz
                             ELSE (w.position->>'cursor')::timestamptz - make_interval(secs => m.lookback) END) AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS before
     FROM destinations d
     JOIN recipients r ON r.id = d.recipient_id
     JOIN unnest($2::text[], $3::float8[]) AS m(name, lookback) ON d.models IS NULL OR m.name = ANY(d.models)
     JOIN watermarks w ON w.destination_id = d.id AND w.model = m.name
     WHERE r.tenant_id = $1 AND w.position IS NOT NULL`,
    [tenantId, models.map((m) => m.name), models.map((m) => m.lookback)],
  );
  return r.rows[0]?.before ?? null;
}

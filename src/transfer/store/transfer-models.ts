/**
 * The `transfer_models` table: one row per model of a transfer (its result, its progress while it
 * runs). Every write to it is here.
 */
import type { ErrorRecord } from '../../core/errors.js';
import type { Queryable } from '../../core/pg.js';
import type { CursorPosition, WatermarkMethod } from '../../core/types.js';

export type ModelStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

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

export type ModelRowFields = Partial<Omit<TransferModelRow, 'transfer_id' | 'model' | 'rows' | 'bytes' | 'estimated_rows'>> & {
  rows?: number;
  bytes?: number;
  estimated_rows?: number | null;
};

export async function upsertModelRow(db: Queryable, transferId: string, model: string, fields: ModelRowFields): Promise<void> {
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

/** A model of an interrupted transfer whose manifest a later run committed: the manifest's counts are its record. */
export async function markModelDelivered(
  db: Queryable,
  transferId: string,
  model: string,
  m: { manifestKey: string; rows: number; bytes: number; files: number },
): Promise<void> {
  await db.query(
    `UPDATE transfer_models SET status = 'succeeded', error = NULL, manifest_key = $3, rows = $4, bytes = $5, files = $6,
            finished_at = coalesce(finished_at, now())
     WHERE transfer_id = $1 AND model = $2`,
    [transferId, model, m.manifestKey, m.rows, m.bytes, m.files],
  );
}

/** The unfinished models of transfers whose process stopped: failed with `error`. */
export async function failUnfinishedModels(db: Queryable, transferIds: string[], error: ErrorRecord): Promise<void> {
  if (transferIds.length === 0) return;
  await db.query(
    `UPDATE transfer_models SET status = 'failed', error = $2, finished_at = now()
     WHERE transfer_id = ANY($1) AND status IN ('pending', 'running')`,
    [transferIds, error],
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

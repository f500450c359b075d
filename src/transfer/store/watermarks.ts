/**
 * The `watermarks` table: per destination and model, how far delivery has got (the position and the
 * manifest chain) and the manifest prepared but not yet committed. Every write to it is here.
 */
import type { PoolClient, Queryable } from '../../core/pg.js';
import type { CursorPosition, WatermarkMethod } from '../../core/types.js';

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

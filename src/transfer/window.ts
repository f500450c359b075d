/**
 * Window planning: which rows of a model a transfer reads (docs/change-detection.md).
 *
 *   INCREMENTAL   after a commit-safe watermark   [watermark, bound)         on the cursor alone
 *                 after a lookback watermark      (watermark − lookback, high]   on (cursor, primary key)
 *   FULL_REFRESH  (−∞, bound) or (−∞, high]       every row of the tenant
 *   BACKFILL      (from, to]                      a cursor range chosen by the operator
 *
 * The upper end is not planned here: the source fixes it when it opens the read, just before the
 * snapshot. Where it can (a timestamptz cursor, a primary that lets Sluice see every session), it
 * uses the commit-safe bound (sources/postgres/watermark.ts): no transaction that can still commit
 * has a cursor below it, so the next window starts exactly there and nothing is read twice. Elsewhere
 * it falls back to `high`, the largest (cursor, pk) in the snapshot, and the next window starts
 * `lookback` before it: a row whose writer committed within `lookback` of the cursor it wrote arrives
 * with the next transfer, at the price of re-reading the last `lookback` of rows.
 *
 * The lower end depends on how the previous watermark was fixed (stored with it), not on how this
 * read's upper end will be: a commit-safe watermark is exact whatever comes next, a lookback one
 * never is.
 *
 * Narrowing for timestamptz lookback watermarks: a row missed by the read that started at `readAt`
 * was committed after `readAt`, hence (premise above) has a cursor > readAt − lookback. So the next
 * window only has to start at min(watermark, readAt − lookback). Lookback arithmetic runs in
 * PostgreSQL so that each cursor type keeps its own meaning (timestamps, dates, integers, numerics).
 */
import type { Queryable } from '../core/pg.js';
import { SluiceError } from '../core/errors.js';
import type { CursorPosition, ReadWindow, TransferKind, WatermarkMethod } from '../core/types.js';

export interface PlanInput {
  kind: TransferKind;
  /** Committed watermark of (destination, model); null before the first commit. */
  watermark: CursorPosition | null;
  /** How the watermark was fixed; null (older watermarks) counts as a lookback one. */
  watermarkMethod?: WatermarkMethod | null;
  /** When the read that produced the watermark started; null if unknown. */
  watermarkReadAt?: Date | null;
  /** The model's lookback (seconds for time cursors, units for numeric ones). */
  lookback: number;
  /** `format_type()` of the cursor column. */
  cursorType: string;
  /** BACKFILL only: cursor values as text; from is exclusive, to inclusive. */
  range?: { from: string | null; to: string | null };
}

type CursorKind = 'timestamptz' | 'timestamp' | 'date' | 'number';

export function cursorKind(pgType: string): CursorKind | null {
  const t = pgType.toLowerCase().trim();
  if (/^timestamp(\(\d\))? with time zone$/.test(t) || t === 'timestamptz') return 'timestamptz';
  if (/^timestamp(\(\d\))?( without time zone)?$/.test(t)) return 'timestamp';
  if (t === 'date') return 'date';
  if (/^(smallint|integer|bigint|int[248]?|numeric(\(\d+(,\s*\d+)?\))?|decimal(\(\d+(,\s*\d+)?\))?|real|double precision)$/.test(t)) {
    return 'number';
  }
  return null;
}

/**
 * A timestamp in the text form the reader's session prints (TimeZone UTC, DateStyle ISO) — the form
 * of every window bound in manifests (`2026-01-01 00:08:30.5+00`): whatever this connection's own
 * TimeZone, and with the fraction's trailing zeros dropped as PostgreSQL does.
 */
function timestampText(expr: string, utc: boolean): string {
  const t = utc ? `(${expr}) AT TIME ZONE 'UTC'` : `(${expr})`;
  return `to_char(${t}, 'YYYY-MM-DD HH24:MI:SS') || rtrim(rtrim(to_char(${t}, '.US'), '0'), '.')${utc ? ` || '+00'` : ''}`;
}

/** The cursor value `lookback` before `cursor`, computed by PostgreSQL in the cursor's own type. */
export async function subtractLookback(db: Queryable, cursorType: string, cursor: string, lookback: number): Promise<string> {
  if (lookback === 0) return cursor;
  const kind = cursorKind(cursorType);
  let sql: string;
  switch (kind) {
    case 'timestamptz':
      sql = `SELECT ${timestampText('$1::timestamptz - make_interval(secs => $2)', true)} AS v`;
      break;
    case 'timestamp':
      sql = `SELECT ${timestampText('$1::timestamp - make_interval(secs => $2)', false)} AS v`;
      break;
    case 'date':
      sql = `SELECT to_char($1::date - ceil($2 / 86400.0)::integer, 'YYYY-MM-DD') AS v`;
      break;
    case 'number':
      sql = 'SELECT ($1::numeric - $2::numeric)::text AS v';
      break;
    default:
      throw new SluiceError({
        code: 'lookback_unsupported',
        message: `A lookback of ${lookback} cannot be applied to a cursor of type ${cursorType}.`,
        hint: 'Use a timestamp, date or numeric cursor column, or set the model\'s lookback to 0.',
        actor: 'provider',
      });
  }
  const r = await db.query<{ v: string }>(sql, [cursor, lookback]);
  return r.rows[0]!.v;
}

export async function planWindow(db: Queryable, input: PlanInput): Promise<ReadWindow> {
  switch (input.kind) {
    case 'FULL_REFRESH':
      return { from: null, to: null };
    case 'BACKFILL': {
      const from = input.range?.from ?? null;
      const to = input.range?.to ?? null;
      return {
        from: from === null ? null : { cursor: from, primaryKey: [] },
        to: to === null ? null : { cursor: to, primaryKey: [] },
      };
    }
    case 'INCREMENTAL': {
      const wm = input.watermark;
      if (!wm) return { from: null, to: null };
      // Exact: every row below it was read, every row at or above it was not.
      if (input.watermarkMethod === 'commit_safe') return { from: { cursor: wm.cursor, primaryKey: [] }, to: null, fromInclusive: true };
      if (input.lookback < 0 || !Number.isFinite(input.lookback)) {
        throw new SluiceError({ code: 'invalid_lookback', message: `lookback must be ≥ 0, got ${input.lookback}.` });
      }
      if (input.lookback === 0) return { from: wm, to: null };
      const readAt = input.watermarkReadAt;
      if (readAt && cursorKind(input.cursorType) === 'timestamptz') {
        const since = new Date(readAt.getTime() - input.lookback * 1000).toISOString();
        const r = await db.query<{ watermark_first: boolean; since: string }>(
          `SELECT $1::timestamptz <= $2::timestamptz AS watermark_first, ${timestampText('$2::timestamptz', true)} AS since`,
          [wm.cursor, since],
        );
        if (r.rows[0]!.watermark_first) return { from: wm, to: null };
        return { from: { cursor: r.rows[0]!.since, primaryKey: [] }, to: null };
      }
      const cursor = await subtractLookback(db, input.cursorType, wm.cursor, input.lookback);
      return { from: { cursor, primaryKey: wm.primaryKey }, to: null };
    }
  }
}

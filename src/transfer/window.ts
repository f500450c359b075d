/**
 * Window planning: which rows of a model a transfer reads.
 *
 *   INCREMENTAL   (watermark − lookback, high]   on (cursor, primary key)
 *   FULL_REFRESH  (−∞, high]                     every row of the tenant
 *   BACKFILL      (from, to]                     a cursor range chosen by the operator
 *
 * `high` is not planned here: the reader fixes it inside the model's REPEATABLE READ READ ONLY
 * transaction (the largest (cursor, pk) of the tenant visible in that snapshot, capped by `to`), so
 * the rows read and the high end come from the same snapshot, and it is reported back to be
 * committed as the next watermark.
 *
 * Why a lookback, and not the snapshot's xmin. A row can be committed *after* our snapshot with a
 * cursor ≤ high: a writer sets `updated_at = now()` (its transaction's start), works, and commits
 * while we read. Our snapshot cannot see it, and a window starting exactly at `high` would skip it
 * forever. Two tools exist:
 *  - the snapshot's xmin/xip (`pg_current_snapshot()`) names exactly the transactions in flight, and
 *    the next read could add "rows whose xmin was in flight then". But that needs the rows' system
 *    column `xmin`, which a SQL-query model does not expose, an OR that defeats the (cursor, pk)
 *    index, and 32→64-bit xid arithmetic across wraparound; and it does not help with cursors set by
 *    an application clock that runs behind.
 *  - a lookback: the next window starts `lookback` before the committed high, so every row whose
 *    writer took less than `lookback` between setting its cursor and committing (plus any clock skew
 *    between writers) is read by the next transfer. It works for tables and SQL models alike, keeps
 *    the read a plain index range scan, and its cost is only re-delivering the rows of the last
 *    `lookback` (at-least-once, documented with the SQL that keeps the latest row per key).
 * Sluice uses the lookback. The guarantee is therefore: a row committed with a cursor ≤ high arrives
 * in this transfer or the next one provided its writer committed within `lookback` of the cursor value
 * it wrote. test/integration/transfer-incremental.test.ts proves it with concurrent writers.
 *
 * Narrowing for timestamptz cursors: a row missed by the read that started at `readAt` was committed
 * after `readAt`, hence (premise above) has a cursor > readAt − lookback. So the next window only has
 * to start at min(watermark, readAt − lookback): when the last row is older than the lookback, the
 * next increment starts exactly at the watermark and a quiet table costs no objects at all, instead of
 * re-sending its last `lookback` of rows forever. Other cursor types (timestamps without time zone,
 * dates, numbers) have no instant to compare with and always start at watermark − lookback.
 *
 * The lower end keeps the watermark's primary key: (watermark − lookback, pk) is a full position any
 * reader compares on (cursor, pk). Lookback arithmetic runs in PostgreSQL so that each cursor type
 * keeps its own meaning (timestamps, dates, integers, numerics).
 */
import type { Queryable } from '../core/pg.js';
import { SluiceError } from '../core/errors.js';
import type { CursorPosition, ReadWindow, TransferKind } from '../core/types.js';

export interface PlanInput {
  kind: TransferKind;
  /** Committed watermark of (destination, model); null before the first commit. */
  watermark: CursorPosition | null;
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

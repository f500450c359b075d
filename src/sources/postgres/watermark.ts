/**
 * The commit-safe upper bound of a read (docs/change-detection.md).
 *
 * A row the next snapshot will see but this one cannot was written by a transaction still running
 * now, or one that starts later. If cursors are set from the writing transaction's clock (`now()`,
 * a column default, a trigger), every such row has a cursor ≥ that transaction's start. So
 *
 *     bound = least(probe time − margin, xact_start of the oldest transaction that may still write)
 *
 * and a read of the rows with cursor < bound in a snapshot taken *after* the probe sees every row that
 * will ever have a cursor below the bound: a transaction running at the probe started at or after the
 * bound; one that started after the probe has a later clock; one that committed before the snapshot
 * is in it. The next read starts at the bound (inclusive), so windows [prev, bound) neither overlap
 * nor leave gaps, and ties at the bound belong to the next read whatever their key.
 *
 * The probe must run before the snapshot (its own statement, outside the read's transaction): a
 * transaction that commits between a snapshot and a later look at pg_stat_activity would be in
 * neither. The margin covers the microseconds between a backend taking its start time and
 * publishing it in pg_stat_activity.
 *
 * Sessions that cannot hold back rows of this source are left out: other databases, background
 * processes (only `client backend`s write rows), and Sluice's own readers — the configured
 * application name *without* a transaction id (a read-only transaction never gets one; a session
 * that borrowed the name and wrote something has one and counts).
 */
import type pg from 'pg';
import type { WatermarkFallback } from '../../core/types.js';

/** Time between a backend's start timestamp and its appearance in pg_stat_activity, with room to spare. */
export const COMMIT_BOUND_MARGIN_MS = 1000;

export type CommitBound =
  | {
      usable: true;
      /** The bound, in the reader's text form (`2026-01-01 00:08:30.5+00`): rows with cursor < bound are safe to read. */
      bound: string;
      /** statement_timestamp() of the probe. */
      at: string;
      lagSeconds: number;
      heldBy: { pid: number; applicationName: string; xactStart: string } | null;
    }
  | { usable: false; reason: Extract<WatermarkFallback, 'replica' | 'cannot_see_sessions'> };

/** `expr` (a timestamptz) as the reader prints it, the one text form of window bounds: `2026-01-01 00:08:30.5+00`. */
const text = (expr: string): string => {
  const utc = `(${expr}) AT TIME ZONE 'UTC'`;
  return `to_char(${utc}, 'YYYY-MM-DD HH24:MI:SS') || rtrim(rtrim(to_char(${utc}, '.US'), '0'), '.') || '+00'`;
};

/** Runs the probe on `client`, which must not be inside a transaction (see the header). */
export async function probeCommitBound(client: pg.ClientBase, readerApplicationName: string): Promise<CommitBound> {
  const r = await client.query<{
    in_recovery: boolean;
    hidden: string;
    at: string;
    bound: string;
    lag: number;
    pid: number | null;
    application_name: string | null;
    xact_start: string | null;
  }>(
    `WITH a AS MATERIALIZED (SELECT * FROM pg_stat_activity),
     oldest AS (
       SELECT pid, application_name, xact_start FROM a
       WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
         AND xact_start IS NOT NULL
         AND NOT (application_name = $1 AND backend_xid IS NULL)
       ORDER BY xact_start LIMIT 1
     ),
     b AS (
       SELECT least(statement_timestamp() - make_interval(secs => $2 / 1000.0), (SELECT xact_start FROM oldest)) AS bound
     )
     SELECT pg_is_in_recovery() AS in_recovery,
            -- Rows the role may not see in full (no backend type): sessions whose transactions are hidden.
            (SELECT count(*) FROM a WHERE backend_type IS NULL) AS hidden,
            ${text('statement_timestamp()')} AS at,
            ${text('b.bound')} AS bound,
            extract(epoch FROM statement_timestamp() - b.bound)::float8 AS lag,
            o.pid, o.application_name, CASE WHEN o.xact_start IS NOT NULL THEN ${text('o.xact_start')} END AS xact_start
     FROM b LEFT JOIN oldest o ON o.xact_start = b.bound`,
    [readerApplicationName, COMMIT_BOUND_MARGIN_MS],
  );
  const row = r.rows[0]!;
  if (row.in_recovery) return { usable: false, reason: 'replica' };
  if (Number(row.hidden) > 0) return { usable: false, reason: 'cannot_see_sessions' };
  return {
    usable: true,
    bound: row.bound,
    at: row.at,
    lagSeconds: Math.max(0, Number(row.lag)),
    heldBy: row.pid === null ? null : { pid: row.pid, applicationName: row.application_name ?? '', xactStart: row.xact_start! },
  };
}

/**
 * Hard deletes, for models with `deletes: track` (docs/change-detection.md).
 *
 * A row deleted from a table leaves nothing a cursor can find. So Sluice installs, once per table and
 * only when asked (`sluice models track-deletes`, `POST /v1/models/:name/delete-tracking`, both
 * showing this SQL first), an AFTER DELETE trigger that records the deleted row's tenant, primary key
 * and the time of the delete in a table of its own schema in the source. Each read of the model adds
 * those records, inside the same window, as rows whose other columns are NULL and whose
 * `_sluice_deleted` is true (tombstones); records every destination has committed are pruned.
 *
 * The tombstone's cursor is the deleting transaction's `now()` — the clock the commit-safe watermark
 * relies on — moved just past the row's own last cursor when that is later (a transaction that started
 * before the row's last update and deleted it after): "latest per key by cursor" then picks the
 * tombstone. The function is SECURITY DEFINER so that writers need no right on Sluice's table.
 */
import pg from 'pg';
import { SluiceError } from '../../core/errors.js';

export const DELETES_SCHEMA = 'sluice_source';
export const DELETES_TABLE = `${DELETES_SCHEMA}.deleted_rows`;
export const DELETES_TRIGGER = 'sluice_track_deletes';

export interface DeleteTrackingTarget {
  /** Quoted, schema-qualified table, as `format('%I.%I')` prints it. */
  relation: string;
  tenant: string;
  cursor: string;
  primaryKey: string[];
  /** The role Sluice reads the source as: it reads and prunes the records. */
  readerRole: string;
}

const lit = (s: string): string => pg.escapeLiteral(s);

/** The SQL that installs delete tracking for one table (idempotent: it can run again). */
export function deleteTrackingSql(t: DeleteTrackingTarget): string {
  const args = [t.tenant, t.cursor, ...t.primaryKey].map(lit).join(', ');
  const role = pg.escapeIdentifier(t.readerRole);
  return `CREATE SCHEMA IF NOT EXISTS ${DELETES_SCHEMA};

CREATE TABLE IF NOT EXISTS ${DELETES_TABLE} (
  relation    text        NOT NULL,  -- the table, as format('%I.%I', schema, name)
  tenant      text        NOT NULL,  -- the deleted row's tenant column, as text
  primary_key text[]      NOT NULL,  -- its primary-key values, as text, in key order
  deleted_at  timestamptz NOT NULL   -- the tombstone's cursor (see the function)
);
CREATE INDEX IF NOT EXISTS deleted_rows_read ON ${DELETES_TABLE} (relation, tenant, deleted_at);

CREATE OR REPLACE FUNCTION ${DELETES_SCHEMA}.record_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old_row jsonb := to_jsonb(OLD);
  pk text[] := ARRAY[]::text[];
  at timestamptz := now();
  last timestamptz := (old_row ->> TG_ARGV[1])::timestamptz;
BEGIN
  -- Arguments: tenant column, cursor column, primary-key columns.
  IF old_row ->> TG_ARGV[0] IS NULL THEN
    RETURN OLD;  -- a row without a tenant was never delivered
  END IF;
  FOR i IN 2 .. TG_NARGS - 1 LOOP
    pk := pk || (old_row ->> TG_ARGV[i]);
  END LOOP;
  IF last IS NOT NULL AND last >= at THEN
    at := last + interval '1 microsecond';
  END IF;
  INSERT INTO ${DELETES_TABLE} (relation, tenant, primary_key, deleted_at)
  VALUES (format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), old_row ->> TG_ARGV[0], pk, at);
  RETURN OLD;
END
$$;

GRANT USAGE ON SCHEMA ${DELETES_SCHEMA} TO ${role};
GRANT SELECT, DELETE ON ${DELETES_TABLE} TO ${role};

DROP TRIGGER IF EXISTS ${DELETES_TRIGGER} ON ${t.relation};
CREATE TRIGGER ${DELETES_TRIGGER} AFTER DELETE ON ${t.relation}
  FOR EACH ROW EXECUTE FUNCTION ${DELETES_SCHEMA}.record_delete(${args});
`;
}

/** Whether the trigger is on `relation` and Sluice's table exists. */
export async function deleteTrackingInstalled(db: pg.ClientBase | pg.Pool, relation: string): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL
        AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($2) AND tgname = $3 AND tgenabled <> 'D') AS ok`,
    [DELETES_TABLE, relation, DELETES_TRIGGER],
  );
  return r.rows[0]?.ok === true;
}

export function trackingNotInstalled(model: string, relation: string): SluiceError {
  return new SluiceError({
    code: 'delete_tracking_not_installed',
    message: `Model ${model} tracks hard deletes, but the delete trigger is not installed on ${relation} (or is disabled).`,
    hint: `Run \`sluice models track-deletes ${model}\` to see the SQL, then again with --apply (or POST /v1/models/${model}/delete-tracking).`,
    actor: 'provider',
    status: 409,
  });
}

/**
 * Removes the records of `relation` and `tenant` below `before` (an instant every destination of the
 * tenant has committed past). Returns how many went.
 */
export async function pruneDeleteRecords(db: pg.Pool, relation: string, tenant: string, before: string): Promise<number> {
  const r = await db.query(`DELETE FROM ${DELETES_TABLE} WHERE relation = $1 AND tenant = $2 AND deleted_at < $3::timestamptz`, [
    relation,
    tenant,
    before,
  ]);
  return r.rowCount ?? 0;
}

/** `table` as the trigger names it (`format('%I.%I')`), or null when it does not exist. */
export async function relationName(db: pg.ClientBase | pg.Pool, table: string): Promise<string | null> {
  const r = await db.query<{ relation: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS relation
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
    [table],
  );
  return r.rows[0]?.relation ?? null;
}

/**
 * Installing delete tracking for a model (`deletes: track`), shared by `sluice models track-deletes`
 * and `POST /v1/models/:name/delete-tracking`: both show the SQL before (or as) it runs. The SQL
 * itself and what it does: sources/postgres/deletes.ts.
 */
import pg from 'pg';
import { SluiceError, notFound } from '../core/errors.js';
import { deleteTrackingInstalled, deleteTrackingSql, relationName } from '../sources/postgres/deletes.js';
import type { ModelsConfig } from './load.js';

export interface DeleteTrackingPlan {
  model: string;
  relation: string;
  /** The role Sluice reads as (it is granted reading and pruning the records). */
  readerRole: string;
  installed: boolean;
  sql: string;
}

/** What installing delete tracking for `name` would run, and whether it is installed already. */
export async function planDeleteTracking(config: ModelsConfig, sourcePool: pg.Pool, name: string): Promise<DeleteTrackingPlan> {
  const loaded = config.models.find((m) => m.definition.name === name);
  if (!loaded) throw notFound('model', name);
  const d = loaded.definition;
  if (d.deletes !== 'track' || !('table' in d.source)) {
    throw new SluiceError({
      code: 'delete_tracking_not_configured',
      message: `Model ${name} does not ask for delete tracking.`,
      hint: `Add \`deletes: track\` to the model in ${config.file} (a table model with a timestamptz cursor), then run this again.`,
      actor: 'provider',
      status: 409,
    });
  }
  const relation = await relationName(sourcePool, d.source.table);
  if (relation === null) throw notFound('table', d.source.table);
  const role = (await sourcePool.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r;
  return {
    model: name,
    relation,
    readerRole: role,
    installed: await deleteTrackingInstalled(sourcePool, relation),
    sql: deleteTrackingSql({ relation, tenant: d.tenant, cursor: d.cursor, primaryKey: d.primaryKey, readerRole: role }),
  };
}

/**
 * Runs the plan's SQL in one transaction on `url` (default: the pool Sluice reads with). Creating a
 * trigger needs the table's owner: pass the owner's URL when Sluice's role is not.
 */
export async function applyDeleteTracking(plan: DeleteTrackingPlan, target: pg.Pool | string): Promise<void> {
  const own = typeof target === 'string' ? new pg.Client({ connectionString: target, application_name: 'sluice-admin' }) : null;
  if (own) await own.connect();
  const client: pg.ClientBase = own ?? (await (target as pg.Pool).connect());
  try {
    await client.query('BEGIN');
    await client.query(plan.sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    const code = (err as { code?: string }).code;
    throw new SluiceError({
      code: 'delete_tracking_install_failed',
      message: `Installing delete tracking on ${plan.relation} failed: ${(err as Error).message}`,
      hint:
        code === '42501'
          ? 'Creating a trigger needs the owner of the table: run the SQL as that role, or pass its connection URL (--url).'
          : 'Check the SQL shown and the source database, then run it again (it is safe to repeat).',
      actor: 'provider',
      status: 502,
    });
  } finally {
    if (own) await own.end().catch(() => undefined);
    else (client as pg.PoolClient).release();
  }
}

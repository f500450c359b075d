/**
 * Loads sluice.yaml and checks every model against the source's catalog. All problems are reported
 * at once, one line each, naming the model and field (`models[2].cursor: column "updated" does not
 * exist in public.orders`), so the provider fixes the file in one pass.
 */
import fs from 'node:fs/promises';
import type pg from 'pg';
import YAML from 'yaml';
import { SluiceError, describeError, validationError, type FieldProblem } from '../core/errors.js';
import type { ColumnInfo, ModelDefinition } from '../core/types.js';
import { columnCollation, describeQuery, describeTable, type CatalogColumn, type RelationInfo } from '../sources/postgres/catalog.js';
import type { PostgresSourceOptions } from '../sources/postgres/source.js';
import { isOrderableCursor, isTimeCursor, isTimestamptzType } from '../sources/postgres/types.js';

/** Lookback of a time cursor when the model sets none. */
export const DEFAULT_TIME_LOOKBACK_SECONDS = 300;
import { ModelsFileSchema, type ModelEntry } from './schema.js';
import { COLLATABLE_TENANT_TYPENAMES, tenantCollationProblem, tenantTypeProblem, type TenantColumn } from './tenant.js';

export interface LoadedModel {
  definition: ModelDefinition;
  /** Every column of the source relation (table or query), as the catalog describes it. */
  sourceColumns: ColumnInfo[];
  /** The exported columns, in file order (without Sluice's `_sluice_*` columns). */
  columns: ColumnInfo[];
  /** The tenant column's type: the recipient's tenant value is parsed in it (models/tenant.ts). */
  tenantColumn: Omit<TenantColumn, 'model'>;
}

export interface ModelsConfig {
  file: string;
  source: PostgresSourceOptions;
  models: LoadedModel[];
}

/** Parses and shape-checks the file; no database needed. */
export async function readModelsFile(file: string): Promise<{ raw: ReturnType<typeof ModelsFileSchema.parse>; file: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new SluiceError({
      code: 'models_file_unreadable',
      message: `Cannot read the models file ${file}: ${describeError(err)}`,
      hint: 'Set SLUICE_CONFIG to the path of your sluice.yaml (default ./sluice.yaml).',
    });
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new SluiceError({ code: 'models_file_invalid', message: `${file} is not valid YAML: ${describeError(err)}` });
  }
  const parsed = ModelsFileSchema.safeParse(doc);
  if (!parsed.success) {
    throw validationError(
      parsed.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message })),
      `models file ${file}`,
    );
  }
  return { raw: parsed.data, file };
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('') || '(file)';
}

/** `database "x" on host:port` of a pool, for messages: never the user or password. */
function databaseOf(pool: pg.Pool): string {
  const cs = (pool as unknown as { options?: { connectionString?: string } }).options?.connectionString;
  if (!cs) return 'the source database';
  try {
    const u = new URL(cs);
    return `database "${decodeURIComponent(u.pathname.slice(1)) || 'postgres'}" on ${u.hostname}:${u.port || '5432'}`;
  } catch {
    return 'the source database';
  }
}

async function describe(pool: pg.Pool, m: ModelEntry): Promise<RelationInfo | string> {
  if (m.table !== undefined) {
    return (await describeTable(pool, m.table)) ?? `table ${m.table} does not exist in ${databaseOf(pool)} (or the source user cannot see it; SLUICE_SOURCE_URL chooses the database)`;
  }
  const client = await pool.connect();
  try {
    return await describeQuery(client, m.sql!);
  } catch (err) {
    return `the SQL query does not run: ${describeError(err)}`;
  } finally {
    client.release();
  }
}

/** Checks one model against its relation; pushes problems, returns the model when it is usable. */
function checkModel(m: ModelEntry, at: string, rel: RelationInfo, problems: FieldProblem[]): LoadedModel | null {
  const where = m.table ?? 'the SQL query';
  const before = problems.length;
  const byName = new Map<string, CatalogColumn>(rel.columns.map((c) => [c.name, c]));
  const need = (field: string, name: string): CatalogColumn | undefined => {
    const c = byName.get(name);
    if (!c) problems.push({ field: `${at}.${field}`, message: `column "${name}" does not exist in ${where}` });
    return c;
  };
  (m.columns ?? []).forEach((name, i) => need(`columns[${i}]`, name));
  const dup = (m.columns ?? []).find((c, i, all) => all.indexOf(c) !== i);
  if (dup) problems.push({ field: `${at}.columns`, message: `column "${dup}" is listed twice` });
  const clash = (m.columns ?? rel.columns.map((c) => c.name)).find((c) => c.startsWith('_sluice_'));
  if (clash) problems.push({ field: `${at}.columns`, message: `column "${clash}" clashes with Sluice's own _sluice_* columns; rename it in a SQL model` });

  const cursor = need('cursor', m.cursor);
  const cursorTypeOk = cursor !== undefined && isOrderableCursor(cursor.typname, cursor.isArray);
  if (cursor && !cursorTypeOk) {
    problems.push({
      field: `${at}.cursor`,
      message: `column "${m.cursor}" has type ${cursor.pgType}, which cannot be a cursor; use an integer, numeric, date or timestamp column that grows when a row changes`,
    });
  }
  // A NULL cursor has no place in the (cursor, pk) order: such a row would never be delivered. A
  // table states whether its column can hold one, so that is settled here, once; a view's or a SQL
  // query's cursor cannot be known NOT NULL, and a row whose cursor is NULL is refused when read
  // (null_cursor, naming the row's key).
  if (cursor && cursorTypeOk && rel.enforcesNotNull && cursor.nullable) {
    problems.push({
      field: `${at}.cursor`,
      message:
        `column "${m.cursor}" of ${where} may be NULL, and a row with a NULL cursor can never be delivered incrementally; ` +
        `make it NOT NULL (ALTER TABLE … ALTER COLUMN "${m.cursor}" SET NOT NULL), or use a SQL model with COALESCE("${m.cursor}", <a fixed value>)`,
    });
  }
  const tenant = need('tenant', m.tenant);
  const tenantProblem = tenant ? tenantTypeProblem({ column: m.tenant, pgType: tenant.pgType, typname: tenant.isArray ? `${tenant.typname}[]` : tenant.typname }) : null;
  if (tenantProblem) problems.push({ field: `${at}.tenant`, message: tenantProblem });
  if (m.soft_delete !== undefined) need('soft_delete', m.soft_delete);
  if (m.deletes === 'track') {
    // The trigger goes on a table; the tombstone's cursor is the deleting transaction's clock.
    if (m.table === undefined) problems.push({ field: `${at}.deletes`, message: 'delete tracking needs a table model (the trigger is installed on the table); a SQL model can model deletes with soft_delete' });
    if (cursor && !isTimestamptzType(cursor.pgType)) {
      problems.push({ field: `${at}.deletes`, message: `delete tracking needs a timestamptz cursor (the time of the delete); "${m.cursor}" is ${cursor.pgType}` });
    }
  }

  const primaryKey = m.primary_key ?? rel.primaryKey;
  if (primaryKey.length === 0) {
    problems.push({
      field: `${at}.primary_key`,
      message: `${where} has no primary key constraint; declare primary_key (the columns that identify a row)`,
    });
  }
  (m.primary_key ?? []).forEach((name, i) => need(`primary_key[${i}]`, name));
  if (m.columns) {
    for (const k of [m.cursor, ...primaryKey]) {
      if (byName.has(k) && !m.columns.includes(k)) {
        problems.push({ field: `${at}.columns`, message: `must include "${k}" (cursor and primary key columns let recipients find the latest row)` });
      }
    }
  }

  // The lookback is used where the commit-safe watermark cannot be (docs/change-detection.md). There,
  // a row whose writer commits after a read with a cursor below that read's high end is never
  // delivered without one; five minutes covers ordinary write transactions. Number cursors have no
  // time scale to default on, so they default to 0.
  let lookback = cursor && isTimeCursor(cursor.typname) ? DEFAULT_TIME_LOOKBACK_SECONDS : 0;
  if (m.lookback !== undefined && cursor) {
    const timeCursor = isTimeCursor(cursor.typname);
    if (typeof m.lookback === 'number') {
      if (timeCursor) problems.push({ field: `${at}.lookback`, message: `cursor "${m.cursor}" is a time: give a duration like 5m` });
      lookback = m.lookback;
    } else {
      if (!timeCursor) problems.push({ field: `${at}.lookback`, message: `cursor "${m.cursor}" is a number: give the lookback as a number of units, not a duration` });
      lookback = m.lookback.seconds;
    }
  }
  if (problems.length > before) return null;

  const definition: ModelDefinition = {
    name: m.name,
    source: m.table !== undefined ? { table: m.table } : { sql: m.sql! },
    ...(m.columns ? { columns: m.columns } : {}),
    primaryKey,
    cursor: m.cursor,
    tenant: m.tenant,
    ...(m.soft_delete !== undefined ? { softDelete: m.soft_delete } : {}),
    lookback,
    ...(m.watermark === 'lookback' ? { watermark: 'lookback' as const } : {}),
    ...(m.deletes === 'track' ? { deletes: 'track' as const } : {}),
  };
  const strip = ({ typname: _t, ...c }: CatalogColumn): ColumnInfo => c;
  const sourceColumns = rel.columns.map(strip);
  const columns = m.columns ? m.columns.map((n) => strip(byName.get(n)!)) : sourceColumns;
  const t = byName.get(m.tenant)!;
  return { definition, sourceColumns, columns, tenantColumn: { column: m.tenant, pgType: t.pgType, typname: t.typname, typeOid: t.typeOid } };
}

/** The tenant column's collation must compare bytes (tenant.ts, tenantCollationProblem); pushes the problem if not. */
async function tenantCollationOk(pool: pg.Pool, m: ModelEntry, at: string, rel: RelationInfo, loaded: LoadedModel, problems: FieldProblem[]): Promise<boolean> {
  if (!COLLATABLE_TENANT_TYPENAMES.has(loaded.tenantColumn.typname)) return true;
  const client = await pool.connect();
  try {
    const problem = tenantCollationProblem(m.tenant, await columnCollation(client, rel.relation ?? `(${m.sql!})`, m.tenant));
    if (problem) problems.push({ field: `${at}.tenant`, message: problem });
    return problem === null;
  } finally {
    client.release();
  }
}

/**
 * Reads `file` and validates each model against the source behind `sourcePool`. Throws one
 * SluiceError (code `invalid_input`) listing every problem.
 */
export async function loadModels(file: string, sourcePool: pg.Pool): Promise<ModelsConfig> {
  const { raw } = await readModelsFile(file);
  const problems: FieldProblem[] = [];
  const models: LoadedModel[] = [];
  const seen = new Set<string>();
  for (const [i, m] of raw.models.entries()) {
    const at = `models[${i}] (${m.name})`;
    if (seen.has(m.name)) problems.push({ field: `${at}.name`, message: `model name "${m.name}" is used twice` });
    seen.add(m.name);
    const rel = await describe(sourcePool, m);
    if (typeof rel === 'string') {
      problems.push({ field: `${at}.${m.table !== undefined ? 'table' : 'sql'}`, message: rel });
      continue;
    }
    const loaded = checkModel(m, at, rel, problems);
    if (loaded && !(await tenantCollationOk(sourcePool, m, at, rel, loaded, problems))) continue;
    if (loaded) models.push(loaded);
  }
  if (problems.length > 0) throw validationError(problems, `models file ${file}`);
  return {
    file,
    source: {
      ...(raw.source?.max_concurrent_queries !== undefined ? { maxConcurrentQueries: raw.source.max_concurrent_queries } : {}),
      ...(raw.source?.statement_timeout !== undefined ? { statementTimeoutMs: raw.source.statement_timeout } : {}),
      ...(raw.source?.watermark_lag_warning !== undefined ? { lagWarningSeconds: raw.source.watermark_lag_warning / 1000 } : {}),
    },
    models,
  };
}

/**
 * A recipient's tenant value, decided in one place. Rows are selected with
 * `tenant_column = current_setting('sluice.tenant')::<column type>`, so two spellings that the column's
 * type reads as one value (`7`, `007`, `+7` for an integer; any case of a uuid or a citext; `7.0` and
 * `7` for a numeric) would select the same tenant's rows for two recipients. `canonicalTenantValue`
 * therefore parses the value in every model's tenant column type — PostgreSQL itself casts it and
 * prints it back — and returns the one canonical text all of them agree on; recipients store that and
 * are unique by it. A value some type cannot hold exactly (too long for a varchar(n), more decimals
 * than a numeric(p,s)) or that the models read differently is refused.
 *
 * At load, `checkStoredTenantValues` runs the same function over every stored value: a model whose
 * tenant column type cannot carry them (a type change since, or values stored before this rule) is
 * refused, naming the model and the recipient.
 */
import type { Queryable } from '../core/pg.js';
import { SluiceError, validationError, type FieldProblem } from '../core/errors.js';

/** One model's tenant column, as the source's catalog describes it. */
export interface TenantColumn {
  model: string;
  column: string;
  /** `format_type()` of the column, e.g. `integer`, `numeric(12,2)`, `character varying(20)`. */
  pgType: string;
  /** `pg_type.typname` with domains resolved, e.g. `int4`, `numeric`, `citext`. */
  typname: string;
  /** OID of that (base) type. */
  typeOid: number;
}

/** Base types whose equality a canonical text form captures; anything else is refused as a tenant column. */
export const TENANT_TYPENAMES: ReadonlySet<string> = new Set(['int2', 'int4', 'int8', 'numeric', 'uuid', 'text', 'varchar', 'bpchar', 'citext']);

export function tenantTypeProblem(c: { column: string; pgType: string; typname: string }): string | null {
  if (TENANT_TYPENAMES.has(c.typname)) return null;
  return `column "${c.column}" has type ${c.pgType}, which cannot be a tenant column (its values have no exact text form to match); use smallint, integer, bigint, numeric, uuid, text, varchar, char or citext, or cast it in a SQL model`;
}

/** Tenant column types whose equality depends on a collation. */
export const COLLATABLE_TENANT_TYPENAMES: ReadonlySet<string> = new Set(['text', 'varchar', 'bpchar', 'citext']);

/**
 * A nondeterministic collation (`CREATE COLLATION … deterministic = false`, e.g. ICU's case- or
 * accent-insensitive ones) makes `=` hold for different strings: `ACME` would select `acme`'s rows,
 * and no text form can say which spellings it merges, so such a tenant column is refused. A SQL model
 * can compare bytes again with `tenant_id COLLATE "C"`.
 */
export function tenantCollationProblem(column: string, collation: { name: string; deterministic: boolean } | null): string | null {
  if (!collation || collation.deterministic) return null;
  return `column "${column}" has the nondeterministic collation ${collation.name}, whose equality treats different spellings (case, accents) as one value, so two recipients could select the same tenant's rows; use a column with a deterministic collation, or a SQL model that selects "${column}" COLLATE "C"`;
}

/** SQL that prints a value of the column's type in the form its equality compares. */
function normalised(expr: string, typname: string): string {
  // numeric: 7, 7.0 and 7.00 are equal; trim_scale drops the trailing zeros (PostgreSQL 13+).
  if (typname === 'numeric') return `trim_scale(${expr})::text`;
  // citext compares case-insensitively, as lower() does.
  if (typname === 'citext') return `lower(${expr}::text)`;
  return `${expr}::text`;
}

function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}

export type Canonical = { ok: true; value: string } | { ok: false; message: string };

/**
 * The canonical tenant value for `value` under every column of `columns` (on the source database
 * `db`), or why there is none. The only function that decides a tenant value.
 */
export async function canonicalTenantValue(db: Queryable, value: string, columns: readonly TenantColumn[]): Promise<Canonical> {
  if (columns.length === 0) return { ok: false, message: 'no model is configured, so no tenant column type can check it' };
  const byType = new Map<string, TenantColumn[]>();
  for (const c of columns) {
    const problem = tenantTypeProblem(c);
    if (problem) return { ok: false, message: `model ${c.model}: ${problem}` };
    const key = `${c.pgType}\u0000${c.typeOid}`;
    byType.set(key, [...(byType.get(key) ?? []), c]);
  }
  const readings: Array<{ value: string; columns: TenantColumn[] }> = [];
  for (const group of byType.values()) {
    const c = group[0] as TenantColumn;
    const names = group.map((g) => `${g.model}.${g.column}`).join(', ');
    // Cast to the column's full type (what the reader does) and to its unconstrained base type: they
    // differ when the modifier silently truncates or rounds (varchar(3), numeric(5,2), char(2)).
    const { rows: base } = await db.query<{ name: string }>('SELECT format_type($1::oid, NULL) AS name', [c.typeOid]);
    const baseType = base[0]?.name ?? c.pgType;
    let row: { canonical: string; exact: string } | undefined;
    try {
      const res = await db.query<{ canonical: string; exact: string }>(
        `SELECT ${normalised(`$1::${c.pgType}`, c.typname)} AS canonical, ${normalised(`$1::${baseType}`, c.typname)} AS exact`,
        [value],
      );
      row = res.rows[0];
    } catch (err) {
      if (!isDataException(err)) throw err;
      return { ok: false, message: `is not a valid ${c.pgType} value, which the tenant column of ${names} needs` };
    }
    if (!row || row.canonical !== row.exact) {
      return { ok: false, message: `does not fit the tenant column type ${c.pgType} of ${names} exactly (it would be truncated or rounded)` };
    }
    readings.push({ value: row.canonical, columns: group });
  }
  const distinct = [...new Set(readings.map((r) => r.value))];
  if (distinct.length > 1) {
    const how = readings.map((r) => `"${r.value}" by ${r.columns.map((c) => `${c.model} (${c.pgType})`).join(', ')}`).join(' but as ');
    return {
      ok: false,
      message: `is read as ${how}; the models' tenant columns must agree on one value — give it in a form every one of them reads the same way`,
    };
  }
  return { ok: true, value: distinct[0] as string };
}

async function allCanonical(db: Queryable, values: string[], c: TenantColumn): Promise<boolean> {
  if (values.length === 0 || tenantTypeProblem(c)) return values.length === 0;
  const { rows: base } = await db.query<{ name: string }>('SELECT format_type($1::oid, NULL) AS name', [c.typeOid]);
  const baseType = base[0]?.name ?? c.pgType;
  try {
    const { rows } = await db.query<{ ok: boolean }>(
      `SELECT bool_and(${normalised(`v::${c.pgType}`, c.typname)} = v AND ${normalised(`v::${baseType}`, c.typname)} = v) AS ok
         FROM unnest($1::text[]) AS v`,
      [values],
    );
    return rows[0]?.ok === true;
  } catch (err) {
    if (isDataException(err)) return false;
    throw err;
  }
}

/**
 * Checks every enabled recipient's stored tenant value against the models' tenant columns: each must
 * be its own canonical form. Throws `invalid_input` naming model and recipient (never the value).
 */
export async function checkStoredTenantValues(control: Queryable, source: Queryable, columns: readonly TenantColumn[], what = 'models'): Promise<void> {
  const { rows } = await control.query<{ id: string; tenant_id: string }>(
    'SELECT id, tenant_id FROM recipients WHERE disabled_at IS NULL ORDER BY id',
  );
  const problems: FieldProblem[] = [];
  for (const c of columns) {
    // One query per column for the common case (every value already canonical); value by value only
    // to find the ones that are not.
    if (await allCanonical(source, rows.map((r) => r.tenant_id), c)) continue;
    for (const r of rows) {
      const canon = await canonicalTenantValue(source, r.tenant_id, [c]);
      if (canon.ok && canon.value === r.tenant_id) continue;
      problems.push({
        field: `models (${c.model}).tenant`,
        message: canon.ok
          ? `column "${c.column}" (${c.pgType}) reads recipient ${r.id}'s tenant value as a different spelling, so it could select another recipient's rows; change the column type back, or disable the recipient and create it again`
          : `column "${c.column}" (${c.pgType}) cannot carry recipient ${r.id}'s tenant value: it ${canon.message}`,
      });
    }
  }
  if (problems.length > 0) {
    const err = validationError(problems, what);
    throw new SluiceError({
      code: 'tenant_type_mismatch',
      message: err.message,
      hint: 'Every model\'s tenant column must hold every recipient\'s tenant value exactly. Fix sluice.yaml or the recipients before starting again.',
      actor: 'provider',
      status: 400,
      details: problems,
    });
  }
}

/** The tenant columns of loaded models. */
export function tenantColumns(models: ReadonlyArray<{ definition: { name: string }; tenantColumn: Omit<TenantColumn, 'model'> }>): TenantColumn[] {
  return models.map((m) => ({ model: m.definition.name, ...m.tenantColumn }));
}

/**
 * What the source database says about a model's relation: its columns with their PostgreSQL and
 * logical types, and its primary key. Works for a table (or view) by name and for a SQL query (its
 * result columns, found by planning the query with LIMIT 0 inside a read-only transaction).
 */
import type { ColumnInfo } from '../../core/types.js';
import type { PoolClient, Queryable } from '../../core/pg.js';
import { logicalColumnType } from './types.js';

/** A column plus the catalog name of its (element) type, which model validation needs. */
export interface CatalogColumn extends ColumnInfo {
  /** `pg_type.typname` of the type, or of the element type for arrays (domains resolved to their base). */
  typname: string;
}

export interface RelationInfo {
  /** Schema-qualified, quoted name, safe to place in SQL (`"public"."orders"`); null for a SQL model. */
  relation: string | null;
  columns: CatalogColumn[];
  /** Columns of the table's primary-key constraint, in key order; empty for views and queries. */
  primaryKey: string[];
  /**
   * True when `nullable: false` is a guarantee (a table's NOT NULL constraints). A view's or a SQL
   * query's columns may be NULL whatever their origin (an outer join), so they are all nullable.
   */
  enforcesNotNull: boolean;
}

// Facts about a type OID with domains resolved to their base type and arrays to their element —
// itself resolved through domains too: an array of a domain over numeric(8,3) is a list of
// decimal(8,3), and an array of a domain over date a list of dates (BC and infinity handled as dates).
// The modifier is the innermost domain's: the element's when it has one, else the column type's.
const TYPE_FACTS = `
  WITH RECURSIVE base(oid, start_oid, typmod) AS (
    SELECT t.oid, t.oid, NULL::int FROM pg_type t WHERE t.oid = ANY($1::oid[])
    UNION ALL
    SELECT t.typbasetype, b.start_oid, t.typtypmod FROM base b JOIN pg_type t ON t.oid = b.oid
    WHERE t.typtype = 'd'
  ),
  top AS (
    SELECT b.start_oid, t.oid, b.typmod, t.typcategory = 'A' AND t.typelem <> 0 AS is_array, t.typelem, t.typname, t.typtype
    FROM base b JOIN pg_type t ON t.oid = b.oid
    WHERE t.typtype <> 'd'
  ),
  elem(oid, start_oid, typmod) AS (
    SELECT typelem, start_oid, NULL::int FROM top WHERE is_array
    UNION ALL
    SELECT t.typbasetype, e.start_oid, t.typtypmod FROM elem e JOIN pg_type t ON t.oid = e.oid
    WHERE t.typtype = 'd'
  )
  SELECT top.start_oid::int AS start_oid, top.oid::int AS oid,
         COALESCE(el.typmod, top.typmod) AS typmod, top.is_array,
         COALESCE(el.oid, top.oid)::int AS elem_oid,
         COALESCE(el.typname, top.typname) AS typname,
         COALESCE(el.typtype, top.typtype) AS typtype
  FROM top
  LEFT JOIN (SELECT e.start_oid, t.oid, e.typmod, t.typname, t.typtype
             FROM elem e JOIN pg_type t ON t.oid = e.oid WHERE t.typtype <> 'd') el ON el.start_oid = top.start_oid`;

interface TypeFactsRow {
  start_oid: number;
  oid: number;
  typmod: number | null;
  is_array: boolean;
  elem_oid: number;
  typname: string;
  typtype: string;
}

async function typeFacts(db: Queryable, oids: number[]): Promise<Map<number, TypeFactsRow>> {
  const res = await db.query<TypeFactsRow>(TYPE_FACTS, [oids]);
  return new Map(res.rows.map((r) => [r.start_oid, r]));
}

function toColumn(name: string, typmod: number, pgType: string, nullable: boolean, facts: TypeFactsRow, declaredDims: number): CatalogColumn {
  // A domain over numeric(12,2) carries the modifier on the domain, not on the column.
  const mod = typmod >= 0 ? typmod : (facts.typmod ?? -1);
  // PostgreSQL records but does not enforce an array column's dimensions (attndims; 0 when unknown):
  // the declared count decides the list type, and the reader refuses rows of another shape.
  const arrayDims = facts.is_array ? Math.max(1, declaredDims) : 0;
  return {
    name,
    pgType,
    typeOid: facts.elem_oid,
    isArray: facts.is_array,
    arrayDims,
    ...(facts.typtype === 'c' ? { composite: true } : {}),
    nullable,
    logicalType: logicalColumnType({ typname: facts.typname, typtype: facts.typtype, typmod: mod }, facts.is_array, arrayDims),
    typname: facts.typname,
  };
}

/** Columns and primary key of a table or view; null when `table` does not name one. */
export async function describeTable(db: Queryable, table: string): Promise<RelationInfo | null> {
  const rel = await db.query<{ oid: number; relation: string; relkind: string }>(
    `SELECT c.oid::int AS oid, format('%I.%I', n.nspname, c.relname) AS relation, c.relkind::text AS relkind
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
    [table],
  );
  const found = rel.rows[0];
  if (!found) return null;
  const cols = await db.query<{ name: string; atttypid: number; atttypmod: number; pg_type: string; nullable: boolean; ndims: number }>(
    `SELECT a.attname AS name, a.atttypid::int AS atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod) AS pg_type,
            NOT a.attnotnull AS nullable, a.attndims::int AS ndims
     FROM pg_attribute a
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`,
    [found.oid],
  );
  const facts = await typeFacts(db, cols.rows.map((c) => c.atttypid));
  const pk = await db.query<{ name: string }>(
    `SELECT a.attname AS name
     FROM pg_index i
     JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) ON true
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = $1 AND i.indisprimary
     ORDER BY k.ord`,
    [found.oid],
  );
  const enforcesNotNull = found.relkind === 'r' || found.relkind === 'p' || found.relkind === 'f';
  return {
    relation: found.relation,
    columns: cols.rows.map((c) => toColumn(c.name, c.atttypmod, c.pg_type, !enforcesNotNull || c.nullable, facts.get(c.atttypid)!, c.ndims)),
    primaryKey: pk.rows.map((r) => r.name),
    enforcesNotNull,
  };
}

/**
 * Result columns of a SQL query, without running it: the query is planned with LIMIT 0 in a
 * read-only transaction that is rolled back. Throws PostgreSQL's error when the query is invalid.
 */
export async function describeQuery(db: Pick<PoolClient, 'query'>, sql: string): Promise<RelationInfo> {
  await db.query('BEGIN READ ONLY');
  try {
    const res = await db.query(`SELECT * FROM (${sql}) AS sluice_model LIMIT 0`);
    const fields = res.fields;
    const formatted = await db.query<{ pg_type: string }>(
      'SELECT format_type(t.oid, t.typmod) AS pg_type FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS t(oid, typmod, ord) ORDER BY t.ord',
      [fields.map((f) => f.dataTypeID), fields.map((f) => f.dataTypeModifier)],
    );
    const facts = await typeFacts(db, fields.map((f) => f.dataTypeID));
    // A result column taken straight from a table column keeps its declared array dimensions.
    const dims = await db.query<{ ndims: number }>(
      `SELECT COALESCE(a.attndims, 0)::int AS ndims
       FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS f(tbl, col, ord)
       LEFT JOIN pg_attribute a ON a.attrelid = f.tbl AND a.attnum = f.col AND f.col > 0
       ORDER BY f.ord`,
      [fields.map((f) => f.tableID), fields.map((f) => f.columnID)],
    );
    return {
      relation: null,
      columns: fields.map((f, i) => toColumn(f.name, f.dataTypeModifier, formatted.rows[i]!.pg_type, true, facts.get(f.dataTypeID)!, dims.rows[i]!.ndims)),
      primaryKey: [],
      enforcesNotNull: false,
    };
  } finally {
    await db.query('ROLLBACK');
  }
}

/** A collation as the catalog names it, and whether its equality compares bytes. */
export interface ColumnCollation {
  name: string;
  /** False for a nondeterministic collation: `=` then holds for different strings (case, accents). */
  deterministic: boolean;
}

/**
 * The collation `=` uses on `column` of `from` (a quoted relation, or `(<query>)`), read without
 * running anything: the relation is joined with LIMIT 0 to one row, and pg_collation_for reports the
 * collation the expression carries (a view's or a query's `COLLATE` included). Only for columns of a
 * collatable type; null when the column has none.
 */
export async function columnCollation(db: Pick<PoolClient, 'query'>, from: string, column: string): Promise<ColumnCollation | null> {
  await db.query('BEGIN READ ONLY');
  try {
    const col = `"${column.replace(/"/g, '""')}"`;
    const { rows } = await db.query<{ name: string | null; deterministic: boolean | null }>(
      `SELECT pg_collation_for(s.${col}) AS name, c.collisdeterministic AS deterministic
         FROM (VALUES (1)) AS one
         LEFT JOIN (SELECT * FROM ${from} AS sluice_model LIMIT 0) AS s ON true
         LEFT JOIN pg_collation c ON c.oid = to_regcollation(pg_collation_for(s.${col}))`,
    );
    const row = rows[0];
    if (!row?.name) return null;
    return { name: row.name, deterministic: row.deterministic !== false };
  } finally {
    await db.query('ROLLBACK');
  }
}

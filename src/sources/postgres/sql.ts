/**
 * The SQL the reader sends. Values never appear in it: the tenant, window bounds, transfer id and sync
 * time are set with `set_config(name, $1, true)` (bound parameters, transaction-local) and read back
 * with `current_setting(name)::<column type>` — COPY takes no bind parameters, so this is how they stay
 * parameters. Identifiers come from the catalog and are quoted; type names come from `format_type()`.
 */
import pg from 'pg';
import { listElement, type ColumnInfo, type Format, type ModelDefinition } from '../../core/types.js';


export const SETTING = {
  tenant: 'sluice.tenant',
  fromCursor: 'sluice.from_cursor',
  toCursor: 'sluice.to_cursor',
  fromPk: (i: number) => `sluice.from_pk_${i}`,
  toPk: (i: number) => `sluice.to_pk_${i}`,
} as const;

export const ident = (name: string): string => pg.escapeIdentifier(name);
const param = (setting: string, pgType: string): string => `current_setting('${setting}')::${pgType}`;

/** What the reader reads from: the table, or the model's SQL as a subquery. */
export function fromClause(relation: string | null, model: ModelDefinition): string {
  if ('table' in model.source) {
    if (!relation) throw new Error(`model ${model.name}: table relation was not resolved`);
    return `${relation} AS src`;
  }
  return `(${model.source.sql}) AS src`;
}

function typeOf(columns: ColumnInfo[], name: string): string {
  const c = columns.find((x) => x.name === name);
  if (!c) throw new Error(`column ${name} is not in the model's catalog`);
  return c.pgType;
}

export interface WindowBounds {
  hasFrom: boolean;
  /** Primary-key values given with `from` (0 = compare on the cursor alone). */
  fromPkCount: number;
  hasTo: boolean;
  toPkCount: number;
}

/** WHERE clause: the tenant's rows with (cursor, pk) in (from, to]. */
export function whereClause(model: ModelDefinition, columns: ColumnInfo[], w: WindowBounds): string {
  const parts = [`src.${ident(model.tenant)} = ${param(SETTING.tenant, typeOf(columns, model.tenant))}`];
  const key = [model.cursor, ...model.primaryKey];
  const bound = (op: string, cursorSetting: string, pkSetting: (i: number) => string, pkCount: number): string => {
    const cols = key.slice(0, 1 + pkCount);
    const vals = cols.map((c, i) => param(i === 0 ? cursorSetting : pkSetting(i - 1), typeOf(columns, c)));
    // A row comparison on (cursor, pk…) is what a btree index on those columns can serve.
    return cols.length === 1
      ? `src.${ident(model.cursor)} ${op} ${vals[0]}`
      : `(${cols.map((c) => `src.${ident(c)}`).join(', ')}) ${op} (${vals.join(', ')})`;
  };
  if (w.hasFrom) parts.push(bound('>', SETTING.fromCursor, SETTING.fromPk, w.fromPkCount));
  if (w.hasTo) parts.push(bound('<=', SETTING.toCursor, SETTING.toPk, w.toPkCount));
  return parts.join('\n  AND ');
}

export function orderClause(model: ModelDefinition): string {
  return [model.cursor, ...model.primaryKey].map((c) => `src.${ident(c)}`).join(', ');
}

function deletedExpression(model: ModelDefinition, columns: ColumnInfo[]): string {
  if (!model.softDelete) return 'false';
  const col = columns.find((c) => c.name === model.softDelete);
  const ref = `src.${ident(model.softDelete)}`;
  // A boolean flag counts when true; any other type (deleted_at, …) counts when set.
  return col?.logicalType === 'boolean' ? `COALESCE(${ref}, false)` : `(${ref} IS NOT NULL)`;
}

/**
 * One column as text for a format. PostgreSQL prints most types exactly as the logical type wants
 * (the session runs with TimeZone=UTC, DateStyle=ISO, IntervalStyle=iso_8601); the exceptions:
 * - bytea: base64 in CSV and JSON Lines (one line, no `\x` escapes); hex for the Parquet feed, which
 *   DuckDB turns back into bytes with `unhex`;
 * - arrays: JSON arrays (`[1,null]`, `["a,b"]`), unambiguous to parse, unlike `{…}` literals;
 * - json / jsonb: their JSON text (a string value in JSON Lines, not a nested object);
 * - decimals in JSON Lines: strings, so no reader turns 12345678901234567890.12 into a double.
 */
function columnExpression(c: ColumnInfo, format: Format): string {
  const ref = `src.${ident(c.name)}`;
  const elem = listElement(c.logicalType);
  // JSON Lines keeps arrays as JSON arrays (row_to_json does that); the CSV feeds carry them as JSON text.
  if (elem) return format === 'jsonl' ? ref : `to_json(${ref})::text`;
  switch (c.logicalType) {
    case 'binary':
      return format === 'parquet' ? `encode(${ref}, 'hex')` : `translate(encode(${ref}, 'base64'), E'\\n', '')`;
    case 'json':
      return `${ref}::text`;
    default:
      if (format === 'jsonl' && (c.logicalType.startsWith('decimal(') || c.pgType.startsWith('numeric'))) return `${ref}::text`;
      return ref;
  }
}

/**
 * The query whose COPY output a format's encoder consumes:
 * - csv / parquet: one column per model column, for `FORMAT csv`;
 * - jsonl: a single text column holding the row as a JSON object, built by PostgreSQL.
 * With a soft-delete column, `_sluice_deleted` ends each row; the encoder adds the constant metadata
 * columns (formats/metadata.ts).
 */
export function readQuery(
  format: Format,
  model: ModelDefinition,
  relation: string | null,
  sourceColumns: ColumnInfo[],
  exported: ColumnInfo[],
  w: WindowBounds,
): string {
  const select = [
    ...exported.map((c) => {
      const expr = columnExpression(c, format);
      return expr === `src.${ident(c.name)}` ? expr : `${expr} AS ${ident(c.name)}`;
    }),
    ...(model.softDelete ? [`${deletedExpression(model, sourceColumns)} AS _sluice_deleted`] : []),
  ];
  const base = `SELECT ${select.join(',\n       ')}\nFROM ${fromClause(relation, model)}\nWHERE ${whereClause(model, sourceColumns, w)}\nORDER BY ${orderClause(model)}`;
  // row_to_json over a subquery has no 100-argument limit (json_build_object has) and keeps column order.
  return format === 'jsonl' ? `SELECT row_to_json(r)::text FROM (${base}) AS r` : base;
}

/** COPY statement for a format's query. JSON Lines uses CSV with quote/delimiter bytes JSON never contains raw, so lines pass through unescaped. */
export function copyStatement(format: Format, query: string): string {
  if (format === 'jsonl') return `COPY (${query}) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
  return `COPY (${query}) TO STDOUT WITH (FORMAT csv)`;
}

/** The highest (cursor, pk) of the tenant's rows, as text. */
export function highQuery(model: ModelDefinition, relation: string | null, columns: ColumnInfo[]): string {
  const key = [model.cursor, ...model.primaryKey];
  return `SELECT ${key.map((c, i) => `src.${ident(c)}::text AS k${i}`).join(', ')}
FROM ${fromClause(relation, model)}
WHERE ${whereClause(model, columns, { hasFrom: false, fromPkCount: 0, hasTo: false, toPkCount: 0 })}
ORDER BY ${key.map((c) => `src.${ident(c)} DESC`).join(', ')}
LIMIT 1`;
}

/**
 * The SQL the reader sends. Values never appear in it: the tenant, window bounds, transfer id and sync
 * time are set with `set_config(name, $1, true)` (bound parameters, transaction-local) and read back
 * with `current_setting(name)::<column type>` — COPY takes no bind parameters, so this is how they stay
 * parameters. Identifiers come from the catalog and are quoted; type names come from `format_type()`.
 */
import pg from 'pg';
import { listElement, type ColumnInfo, type Format, type ModelDefinition } from '../../core/types.js';
import { DELETES_TABLE } from './deletes.js';


export const SETTING = {
  tenant: 'sluice.tenant',
  fromCursor: 'sluice.from_cursor',
  toCursor: 'sluice.to_cursor',
  fromPk: (i: number) => `sluice.from_pk_${i}`,
  toPk: (i: number) => `sluice.to_pk_${i}`,
} as const;

export const ident = (name: string): string => pg.escapeIdentifier(name);
const param = (setting: string, pgType: string): string => `current_setting('${setting}')::${pgType}`;

/** Marks a tombstone (a tracked hard delete) in the reader's subquery; never a model column (`_sluice_*` are refused). */
const TOMBSTONE = '_sluice_tombstone';

/**
 * What the reader reads from: the table, or the model's SQL as a subquery. With `deletes: track`, the
 * table's rows plus one tombstone per recorded delete (deletes.ts): the key, tenant and cursor, NULL
 * elsewhere. The reader's WHERE on (tenant, cursor) reaches both arms of the UNION ALL.
 */
export function fromClause(relation: string | null, model: ModelDefinition, columns: ColumnInfo[]): string {
  if ('table' in model.source) {
    if (!relation) throw new Error(`model ${model.name}: table relation was not resolved`);
    if (model.deletes !== 'track') return `${relation} AS src`;
    const live = columns.map((c) => ident(c.name));
    const tomb = columns.map((c) => {
      const k = model.primaryKey.indexOf(c.name);
      // Other columns are NULL of the column's own type, taken from a join that matches no row:
      // `NULL::<domain>` fails for a domain declared NOT NULL, an outer join's NULL does not.
      if (c.name !== model.tenant && c.name !== model.cursor && k < 0) return `absent.${ident(c.name)}`;
      const value = c.name === model.tenant ? 'd.tenant' : c.name === model.cursor ? 'd.deleted_at' : `d.primary_key[${k + 1}]`;
      return `${value}::${c.pgType} AS ${ident(c.name)}`;
    });
    return `(SELECT ${live.join(', ')}, false AS ${TOMBSTONE} FROM ${relation}
      UNION ALL
      SELECT ${tomb.join(', ')}, true FROM ${DELETES_TABLE} d LEFT JOIN ${relation} AS absent ON false
      WHERE d.relation = ${pg.escapeLiteral(relation)}) AS src`;
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
  /** Commit-safe windows are [from, to): `>=` from, `<` to. Default (from, to]. */
  fromInclusive?: boolean;
  toExclusive?: boolean;
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
  if (w.hasFrom) parts.push(bound(w.fromInclusive ? '>=' : '>', SETTING.fromCursor, SETTING.fromPk, w.fromPkCount));
  if (w.hasTo) parts.push(bound(w.toExclusive ? '<' : '<=', SETTING.toCursor, SETTING.toPk, w.toPkCount));
  return parts.join('\n  AND ');
}

export function orderClause(model: ModelDefinition): string {
  return [model.cursor, ...model.primaryKey].map((c) => `src.${ident(c)}`).join(', ');
}

/** Whether rows carry their own `_sluice_deleted` (a soft-delete column, or tracked hard deletes). */
export function deletedVaries(model: ModelDefinition): boolean {
  return Boolean(model.softDelete) || model.deletes === 'track';
}

function deletedExpression(model: ModelDefinition, columns: ColumnInfo[]): string {
  const parts: string[] = [];
  if (model.deletes === 'track') parts.push(`src.${TOMBSTONE}`);
  if (model.softDelete) {
    const col = columns.find((c) => c.name === model.softDelete);
    const ref = `src.${ident(model.softDelete)}`;
    // A boolean flag counts when true; any other type (deleted_at, …) counts when set.
    parts.push(col?.logicalType === 'boolean' ? `COALESCE(${ref}, false)` : `(${ref} IS NOT NULL)`);
  }
  return parts.length === 0 ? 'false' : parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
}

/** Why a value is refused (the `reason` of a `value_not_representable` error). */
export type RefusalReason = 'infinite' | 'out_of_range' | 'nan' | 'array_shape';

/**
 * A refusal is raised by PostgreSQL itself, mid-COPY, with only the column's position and the row's
 * primary key in it: casting a marker text to integer fails with that text in the message. COPY takes
 * no functions of ours (the read is READ ONLY), and this keeps the check on the rows actually read.
 * `parseRefusal` turns PostgreSQL's error back into (column, reason, key).
 */
const REFUSAL_MARKER = 'sluice_refused:';

function raiseExpression(model: ModelDefinition, columnIndex: number, reason: RefusalReason): string {
  const key = model.primaryKey.map((k) => `src.${ident(k)}::text`).join(', ');
  return `('${REFUSAL_MARKER}${columnIndex}:${reason}:' || to_json(ARRAY[${key}]::text[])::text)::int`;
}

export interface Refusal {
  columnIndex: number;
  reason: RefusalReason;
  primaryKey: string[];
}

/** The refusal a PostgreSQL error carries, or null when it is another error. */
export function parseRefusal(err: unknown): Refusal | null {
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return null;
  const at = message.indexOf(REFUSAL_MARKER);
  if (at < 0) return null;
  const m = /^(\d+):([a-z_]+):(\[.*\])"?$/s.exec(message.slice(at + REFUSAL_MARKER.length));
  if (!m) return null;
  try {
    return { columnIndex: Number(m[1]), reason: m[2] as RefusalReason, primaryKey: JSON.parse(m[3]!) as string[] };
  } catch {
    return null;
  }
}

const NUMERIC_OID = 1700;
/**
 * OIDs from here on are types created in the database (extensions, enums, user types): to_json and
 * row_to_json print those through their cast to json when one exists (hstore becomes an object),
 * not through their output function as COPY does — so they travel as their text.
 */
const FIRST_USER_OID = 16384;
const TEMPORAL = new Set(['date', 'timestamp_us', 'timestamp_us_utc']);
/** Types whose to_json form an engine reads back exactly; other list elements travel as PostgreSQL's text. */
const JSON_NATIVE_ELEMENT = new Set(['int16', 'int32', 'int64', 'boolean', 'date', 'time_us', 'timestamp_us', 'timestamp_us_utc', 'binary']);
/** First value Parquet (through DuckDB, whose timestamps are µs since 1970 in an int64) cannot hold. */
const PARQUET_TIMESTAMP_END = '294247-01-10 04:00:54.775807';

/** The earliest AD value of a temporal type: below it (and finite) is BC. */
function adStart(logicalType: string): string {
  if (logicalType === 'date') return `DATE '0001-01-01'`;
  if (logicalType === 'timestamp_us') return `TIMESTAMP '0001-01-01 00:00:00'`;
  return `TIMESTAMPTZ '0001-01-01 00:00:00+00'`;
}

/**
 * ISO 8601 text of a BC value, with the astronomical year (1 BC = `0000`, 44 BC = `-0043`), as DuckDB,
 * Java and JavaScript read it — PostgreSQL's own ` BC` suffix is read as an AD year by some engines.
 */
function isoBcText(ref: string, logicalType: string, format: Format): string {
  const year = `CASE WHEN extract(year FROM ${ref}) = -1 THEN '0000' ELSE '-' || lpad((-1 - extract(year FROM ${ref})::int)::text, 4, '0') END`;
  const sep = format === 'jsonl' ? 'T' : ' ';
  const rest =
    logicalType === 'date'
      ? `to_char(${ref}, '-MM-DD')`
      : `to_char(${ref}, '-MM-DD"${sep}"HH24:MI:SS.US')${logicalType === 'timestamp_us_utc' ? ` || '${format === 'jsonl' ? '+00:00' : '+00'}'` : ''}`;
  return `(${year} || ${rest})`;
}

/**
 * The JSON text of a `dims`-dimensional array (lower bounds 1, checked before) from the JSON text of
 * each element (`leaf`, over `e`): every element opens a bracket for each level it starts and closes
 * one for each level it ends — [[a,b],[c,d]] from a, b, c, d in storage order.
 */
function nestedJson(ref: string, dims: number, leaf: string): string {
  const stride = (k: number): string =>
    Array.from({ length: dims - k + 1 }, (_, j) => `array_length(${ref}, ${k + j})`).join(' * ');
  const count = (pos: string): string =>
    Array.from({ length: dims }, (_, i) => `(CASE WHEN ${pos} % (${stride(i + 1)}) = 0 THEN 1 ELSE 0 END)`).join(' + ');
  return `(SELECT string_agg(repeat('[', ${count('(o - 1)')}) || COALESCE(${leaf}, 'null') || repeat(']', ${count('o')}), ',' ORDER BY o)
    FROM unnest(${ref}) WITH ORDINALITY AS u(e, o))`;
}

/** `[1:n]` once per dimension: a PostgreSQL array that maps onto a nested list without loss. */
function arrayShapeRegex(dims: number): string {
  return `^(\\[1:[0-9]+\\]){${dims}}$`;
}

/**
 * One column for a format: the expression the source sends, with the checks that refuse values the
 * format cannot carry exactly (docs/types.md). PostgreSQL prints most types exactly as the logical type
 * wants (the session runs with TimeZone=UTC, DateStyle=ISO, IntervalStyle=iso_8601); the exceptions:
 * - bytea: base64 in CSV and JSON Lines (one line, no `\x` escapes); hex for the Parquet feed, which
 *   DuckDB turns back into bytes with `unhex`;
 * - arrays: JSON arrays (`[1,null]`, `[[1,2],[3,4]]`), unambiguous to parse, unlike `{…}` literals;
 *   elements other than numbers, booleans and times as PostgreSQL's text (`["1.50","NaN"]`); an array
 *   whose shape is not the declared one (dimensions, lower bounds other than 1) is refused;
 * - json / jsonb: their JSON text (a string value in JSON Lines, not a nested object);
 * - decimals in JSON Lines: strings, so no reader turns 12345678901234567890.12 into a double;
 * - composites in JSON Lines: their text `(1,"a")` (row_to_json would turn them into objects);
 * - BC dates and timestamps: ISO 8601 with astronomical years (`-0043-03-15`);
 * - Parquet only: ±infinity, timestamps past DuckDB's range and NaN in decimal(p,s) are refused.
 */
export function columnExpression(model: ModelDefinition, c: ColumnInfo, index: number, format: Format): string {
  const ref = `src.${ident(c.name)}`;
  const checks: Array<[string, RefusalReason]> = [];
  let expr: string;
  // Output type of `expr` once checks wrap it: text for the CSV feeds, json for JSON Lines.
  let wrapped: 'text' | 'json' = format === 'jsonl' ? 'json' : 'text';
  const elem = listElement(c.logicalType);
  if (elem) {
    let leaf = elem;
    for (let e = listElement(leaf); e; e = listElement(leaf)) leaf = e;
    const dims = Math.max(1, c.arrayDims ?? 1);
    checks.push([`array_dims(${ref}) !~ '${arrayShapeRegex(dims)}'`, 'array_shape']);
    if (format === 'parquet' && leaf.startsWith('decimal(')) checks.push([`'NaN'::numeric = ANY(${ref})`, 'nan']);
    if (format === 'parquet' && TEMPORAL.has(leaf)) {
      checks.push([`EXISTS (SELECT FROM unnest(${ref}) AS u(e) WHERE NOT isfinite(e))`, 'infinite']);
      if (leaf !== 'date') {
        checks.push([`EXISTS (SELECT FROM unnest(${ref}) AS u(e) WHERE e >= '${PARQUET_TIMESTAMP_END}${leaf === 'timestamp_us_utc' ? '+00' : ''}')`, 'out_of_range']);
      }
    }
    // Floats stay JSON numbers in JSON Lines; the CSV feeds carry them as text, since DuckDB reads
    // the JSON number -0 as 0 (and "NaN" is a string either way).
    // to_json prints other built-in string types with their output function, as COPY does, except
    // composites (objects) and numeric (JSON numbers, which readers turn into doubles) — whose text
    // form is the cast to text (a cast would also strip char(n)'s padding and add inet's /128, so it
    // is not used for the rest). Types created in the database may have a cast to json: text too.
    const builtinString = leaf === 'string' && !c.composite && c.typeOid !== NUMERIC_OID && c.typeOid < FIRST_USER_OID;
    const native = JSON_NATIVE_ELEMENT.has(leaf) || builtinString || (format === 'jsonl' && leaf.startsWith('float'));
    const base = native ? ref : `${ref}::text[]`;
    if (TEMPORAL.has(leaf)) {
      // to_json prints BC elements with PostgreSQL's suffix (`"0044-03-15 BC"`): an array holding one
      // is rebuilt element by element in ISO 8601 (the check costs one pass over the array).
      const bc = `EXISTS (SELECT FROM unnest(${ref}) AS u(e) WHERE e < ${adStart(leaf)} AND isfinite(e))`;
      const rebuilt = nestedJson(ref, dims, `CASE WHEN e < ${adStart(leaf)} AND isfinite(e) THEN to_json(${isoBcText('e', leaf, 'jsonl')}) ELSE to_json(e) END::text`);
      expr = `CASE WHEN ${bc} THEN ${rebuilt} ELSE to_json(${ref})::text END`;
      if (format === 'jsonl') expr = `(${expr})::json`;
    } else {
      expr = format === 'jsonl' ? `to_json(${base})` : `to_json(${base})::text`;
    }
  } else if (c.logicalType === 'binary') {
    expr = format === 'parquet' ? `encode(${ref}, 'hex')` : `translate(encode(${ref}, 'base64'), E'\\n', '')`;
  } else if (c.logicalType === 'json') {
    expr = `${ref}::text`;
    wrapped = 'text';
  } else if (TEMPORAL.has(c.logicalType)) {
    const bc = `${ref} < ${adStart(c.logicalType)} AND isfinite(${ref})`;
    // JSON Lines rewrites the rare rows holding a BC value as a whole (readQuery): a per-value
    // to_json here made the common row ~20 % slower to build.
    expr = format === 'jsonl' ? ref : `CASE WHEN ${bc} THEN ${isoBcText(ref, c.logicalType, format)} ELSE ${ref}::text END`;
    if (format === 'parquet') {
      checks.push([`NOT isfinite(${ref})`, 'infinite']);
      if (c.logicalType !== 'date') checks.push([`${ref} >= '${PARQUET_TIMESTAMP_END}${c.logicalType === 'timestamp_us_utc' ? '+00' : ''}'`, 'out_of_range']);
    }
  } else if (c.logicalType.startsWith('decimal(') || c.typeOid === NUMERIC_OID || c.pgType.startsWith('numeric')) {
    // typeOid, not the type's name: a domain over unconstrained numeric is named after the domain,
    // and row_to_json would print it as a JSON number (a double to most readers).
    expr = format === 'jsonl' ? `${ref}::text` : ref;
    if (format === 'jsonl') wrapped = 'text';
    if (format === 'parquet' && c.logicalType.startsWith('decimal(')) checks.push([`${ref} = 'NaN'::numeric`, 'nan']);
  } else if (c.logicalType === 'string' && format === 'jsonl' && c.composite) {
    // row_to_json would nest a composite as an object; its text is what CSV and Parquet carry.
    expr = `${ref}::text`;
    wrapped = 'text';
  } else if (c.logicalType === 'string' && format === 'jsonl' && c.typeOid >= FIRST_USER_OID) {
    // A type created in the database (hstore, an enum…) may have a cast to json, which row_to_json
    // would use (an object). format('%s') calls the output function, as COPY does for CSV; a cast to
    // text might not (PostGIS casts geometry to WKT, its output is hex EWKB).
    expr = `CASE WHEN ${ref} IS NOT NULL THEN format('%s', ${ref}) END`;
    wrapped = 'text';
  } else {
    expr = ref;
  }
  if (checks.length === 0) return expr;
  // Checks come first: CASE evaluates its branches lazily, so a refused value is never formatted.
  const value = expr === ref ? `${ref}::text` : expr;
  const whens = checks.map(([cond, reason]) => `WHEN ${cond} THEN ${raiseExpression(model, index, reason)}::text${wrapped === 'json' ? '::json' : ''}`);
  return `CASE ${whens.join(' ')} ELSE ${value} END`;
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
    ...exported.map((c, i) => {
      const expr = columnExpression(model, c, i, format);
      return expr === `src.${ident(c.name)}` ? expr : `${expr} AS ${ident(c.name)}`;
    }),
    ...(deletedVaries(model) ? [`${deletedExpression(model, sourceColumns)} AS _sluice_deleted`] : []),
  ];
  const base = `SELECT ${select.join(',\n       ')}\nFROM ${fromClause(relation, model, sourceColumns)}\nWHERE ${whereClause(model, sourceColumns, w)}\nORDER BY ${orderClause(model)}`;
  if (format !== 'jsonl') return base;
  // row_to_json over a subquery has no 100-argument limit (json_build_object has) and keeps column order.
  // `r.*`, not `r`: a bare `r` would name the model's column `r`, when it has one, instead of the row.
  // row_to_json prints BC dates with PostgreSQL's suffix (`"0044-03-15 BC"`): a row holding one is
  // built again from its columns, those values in ISO 8601; the check costs two comparisons a value.
  const temporal = exported.filter((c) => TEMPORAL.has(c.logicalType));
  if (temporal.length === 0) return `SELECT row_to_json(r.*)::text FROM (${base}) AS r`;
  const rref = (c: ColumnInfo): string => `r.${ident(c.name)}`;
  const isBc = (c: ColumnInfo): string => `(${rref(c)} < ${adStart(c.logicalType)} AND isfinite(${rref(c)}))`;
  const fixed = [
    ...exported.map((c) =>
      TEMPORAL.has(c.logicalType)
        ? `CASE WHEN ${isBc(c)} THEN to_json(${isoBcText(rref(c), c.logicalType, 'jsonl')}) ELSE to_json(${rref(c)}) END AS ${ident(c.name)}`
        : `${rref(c)} AS ${ident(c.name)}`,
    ),
    ...(model.softDelete ? ['r._sluice_deleted'] : []),
  ];
  return `SELECT CASE WHEN ${temporal.map(isBc).join(' OR ')}
  THEN (SELECT row_to_json(f.*)::text FROM (SELECT ${fixed.join(', ')}) AS f)
  ELSE row_to_json(r.*)::text END
FROM (${base}) AS r`;
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
FROM ${fromClause(relation, model, columns)}
WHERE ${whereClause(model, columns, { hasFrom: false, fromPkCount: 0, hasTo: false, toPkCount: 0 })}
ORDER BY ${key.map((c) => `src.${ident(c)} DESC`).join(', ')}
LIMIT 1`;
}

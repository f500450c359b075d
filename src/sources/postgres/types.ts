/**
 * PostgreSQL type → Sluice logical type. The logical type is what files and manifests promise the
 * recipient; it must keep the value's meaning (docs/bucket-contract.md).
 *
 * Decisions worth knowing:
 * - `numeric(p,s)` with p ≤ 38 is `decimal(p,s)`. Unconstrained `numeric`, and precisions above 38
 *   (Parquet and most engines stop at 38 digits), are `string`: the exact decimal text, never a
 *   rounded number. Declare `numeric(p,s)` (or cast in a SQL model) to get a decimal.
 * - `timestamptz` is `timestamp_us_utc` (an instant, µs); `timestamp` is `timestamp_us` (local, µs).
 * - uuid, enums, text types, interval, timetz and anything unknown are `string` (PostgreSQL's text).
 * - json / jsonb are `json` (JSON text); bytea is `binary`; arrays are `list<element>`, nested once
 *   per declared dimension (`int[][]` → `list<list<int32>>`).
 * What each format carries for each type, and which values are refused: docs/types.md.
 */

/** Catalog facts needed to map one type. */
export interface PgTypeFacts {
  /** `pg_type.typname` of the (element, for arrays) base type, e.g. `int4`, `numeric`. */
  typname: string;
  /** `pg_type.typtype` of that type: `b` base, `e` enum, `d` domain (already resolved to its base), … */
  typtype: string;
  /** Type modifier (`atttypmod`), -1 when none. */
  typmod: number;
}

const SIMPLE: Record<string, string> = {
  int2: 'int16',
  int4: 'int32',
  int8: 'int64',
  float4: 'float32',
  float8: 'float64',
  bool: 'boolean',
  text: 'string',
  varchar: 'string',
  bpchar: 'string',
  name: 'string',
  char: 'string',
  citext: 'string',
  uuid: 'string',
  timestamptz: 'timestamp_us_utc',
  timestamp: 'timestamp_us',
  date: 'date',
  time: 'time_us',
  json: 'json',
  jsonb: 'json',
  bytea: 'binary',
};

/** Largest decimal precision Sluice writes as a decimal (Parquet/DuckDB/Athena limit). */
export const MAX_DECIMAL_PRECISION = 38;

export function numericPrecisionScale(typmod: number): { precision: number; scale: number } | null {
  if (typmod < 4) return null;
  const precision = ((typmod - 4) >> 16) & 0xffff;
  // The scale is an 11-bit signed field since PostgreSQL 15 (negative scales round left of the point).
  let scale = (typmod - 4) & 0x7ff;
  if (scale > 1023) scale -= 2048;
  return { precision, scale };
}

export function logicalTypeOf(t: PgTypeFacts): string {
  if (t.typtype === 'e') return 'string';
  if (t.typname === 'numeric') {
    const ps = numericPrecisionScale(t.typmod);
    if (!ps || ps.precision > MAX_DECIMAL_PRECISION || ps.scale < 0 || ps.scale > ps.precision) return 'string';
    return `decimal(${ps.precision},${ps.scale})`;
  }
  return SIMPLE[t.typname] ?? 'string';
}

/** `list<int32>` for an array column (`list<list<int32>>` for two dimensions…), the element's type otherwise. */
export function logicalColumnType(element: PgTypeFacts, isArray: boolean, dims = 1): string {
  let t = logicalTypeOf(element);
  if (isArray) for (let i = 0; i < Math.max(1, dims); i++) t = `list<${t}>`;
  return t;
}


/** Cursor columns must have a total order that moves forward with changes: integers, decimals, times. */
const ORDERABLE_CURSOR = new Set(['int2', 'int4', 'int8', 'numeric', 'timestamptz', 'timestamp', 'date']);
export function isOrderableCursor(typname: string, isArray: boolean): boolean {
  return !isArray && ORDERABLE_CURSOR.has(typname);
}

/** Cursor types whose lookback is a duration (seconds) rather than a number of units. */
export function isTimeCursor(typname: string): boolean {
  return typname === 'timestamptz' || typname === 'timestamp' || typname === 'date';
}

/** `timestamptz` of any precision, as `format_type()` prints it: the one cursor type that carries a transaction's clock as an instant. */
export function isTimestamptzType(pgType: string): boolean {
  return /^timestamp(\(\d\))? with time zone$/.test(pgType.toLowerCase().trim());
}

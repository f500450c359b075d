/**
 * Writes one tenant's rows to files as a transfer encodes them, reads the files back with an
 * independent reader (DuckDB), and turns every value — from the files and from the source — into a
 * canonical text form, so the two can be compared value by value.
 */
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { decompress } from 'zstd-napi';
import type { Pool, Queryable } from '../../src/control/db.js';
import { duckdbType } from '../../src/formats/parquet.js';
import { listElement } from '../../src/core/types.js';
import type { ColumnInfo, Compression, Format, ModelDefinition } from '../../src/core/types.js';
import { openModelRead } from '../../src/sources/postgres/reader.js';
import type { PostgresSource } from '../../src/sources/postgres/source.js';
import { encodedFiles } from '../../src/transfer/postgres-source.js';

/** Every format with every compression it offers. */
export const FORMAT_CASES: ReadonlyArray<readonly [Format, Compression]> = [
  ['parquet', 'snappy'],
  ['parquet', 'zstd'],
  ['parquet', 'gzip'],
  ['parquet', 'none'],
  ['csv', 'gzip'],
  ['csv', 'zstd'],
  ['csv', 'none'],
  ['jsonl', 'gzip'],
  ['jsonl', 'zstd'],
  ['jsonl', 'none'],
];

export interface DeliveredFiles {
  /** The files' paths, in order. */
  files: string[];
  /** Rows in each file. */
  rows: number[];
  /** The columns as the files carry them (the model's and the metadata columns). */
  fileColumns: ColumnInfo[];
}

/**
 * Reads tenant `a`'s rows of `model` (every row, no window) and writes each encoded file into `dir`
 * as `<name>-<format>-<compression>-<index>.<extension>`, `maxRowsPerFile` rows a file.
 */
export async function deliverToFiles(
  source: PostgresSource,
  o: { model: ModelDefinition; columns: ColumnInfo[]; format: Format; compression: Compression; maxRowsPerFile: number; dir: string; transferId: string; syncedAt: Date },
): Promise<DeliveredFiles> {
  const read = await openModelRead(source, { model: o.model, columns: o.columns, tenantId: 'a', window: { from: null, to: null }, transferId: o.transferId, syncedAt: o.syncedAt });
  const files: string[] = [];
  const rows: number[] = [];
  try {
    const encoding = { format: o.format, compression: o.compression, maxRowsPerFile: o.maxRowsPerFile, maxBytesPerFile: 1 << 30 };
    for await (const f of encodedFiles(read, undefined, encoding)) {
      const file = path.join(o.dir, `${o.model.name}-${o.format}-${o.compression}-${f.index}.${f.extension}`);
      await pipeline(f.body, createWriteStream(file));
      rows.push((await f.done).rows);
      files.push(file);
    }
  } finally {
    await read.close();
  }
  return { files, rows, fileColumns: read.columns };
}

const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;
const id = (s: string): string => `"${s.replace(/"/g, '""')}"`;

let conn: Promise<DuckDBConnection> | undefined;
export function readerConnection(): Promise<DuckDBConnection> {
  conn ??= DuckDBInstance.create(':memory:', { threads: '1' }).then((i) => i.connect());
  return conn;
}

/** SQL that yields typed columns from delivered files of one format. */
function typedRelation(format: Format, compression: Compression, files: string[], columns: ColumnInfo[]): string {
  const list = `[${files.map(q).join(', ')}]`;
  if (format === 'parquet') return `SELECT * FROM read_parquet(${list})`;
  const comp = compression === 'none' ? 'uncompressed' : compression;
  const rawType = (c: ColumnInfo): string => {
    if (c.logicalType === 'binary') return 'VARCHAR';
    if (listElement(c.logicalType)) return format === 'csv' ? 'VARCHAR' : duckdbType(c.logicalType);
    if (c.logicalType === 'float64' && format === 'jsonl') return 'VARCHAR';
    return duckdbType(c.logicalType);
  };
  const types = `{${columns.map((c) => `${q(c.name)}: ${q(rawType(c))}`).join(', ')}}`;
  const fix = columns
    .map((c) => {
      if (c.logicalType === 'binary') return `from_base64(${id(c.name)}) AS ${id(c.name)}`;
      if (listElement(c.logicalType) && format === 'csv') return `from_json(${id(c.name)}, ${q(JSON.stringify([duckdbType(listElement(c.logicalType)!)]))}) AS ${id(c.name)}`;
      if (c.logicalType === 'float64' && format === 'jsonl') return `${id(c.name)}::DOUBLE AS ${id(c.name)}`;
      return id(c.name);
    })
    .join(', ');
  const reader =
    format === 'csv'
      ? `read_csv(${list}, header = true, auto_detect = false, columns = ${types}, delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, compression = ${q(comp)})`
      : `read_json(${list}, format = 'newline_delimited', columns = ${types}, compression = ${q(comp)})`;
  return `SELECT ${fix} FROM ${reader}`;
}

/** DuckDB expression giving the canonical text of a typed value. */
function duckCanonical(c: ColumnInfo): string {
  const ref = id(c.name);
  if (listElement(c.logicalType)) return `to_json(${ref})::VARCHAR`;
  switch (c.logicalType) {
    case 'binary':
      return `lower(hex(${ref}))`;
    case 'timestamp_us_utc':
    case 'timestamp_us':
      return `epoch_us(${ref})::VARCHAR`;
    default:
      return `${ref}::VARCHAR`;
  }
}

/** PostgreSQL expression giving the same canonical text. */
function pgCanonical(c: ColumnInfo): string {
  const ref = id(c.name);
  if (listElement(c.logicalType)) return `to_json(${ref})::text`;
  switch (c.logicalType) {
    case 'binary':
      return `encode(${ref}, 'hex')`;
    case 'timestamp_us_utc':
    case 'timestamp_us':
      return `(extract(epoch FROM ${ref}) * 1000000)::bigint::text`;
    default:
      return `${ref}::text`;
  }
}

export type Row = Array<string | null>;

export async function readBack(format: Format, compression: Compression, files: string[], columns: ColumnInfo[]): Promise<Row[]> {
  const c = await readerConnection();
  const sql = `SELECT ${columns.map(duckCanonical).join(', ')} FROM (${typedRelation(format, compression, files, columns)})`;
  const r = await c.runAndReadAll(sql);
  return r.getRows().map((row) => row.map((v) => (v === null ? null : String(v))));
}

export async function sourceRows(db: Queryable, from: string, where: string, order: string, columns: ColumnInfo[]): Promise<Row[]> {
  const r = await db.query({ text: `SELECT ${columns.map(pgCanonical).join(', ')} FROM ${from} WHERE ${where} ORDER BY ${order}`, rowMode: 'array' });
  return (r.rows as Row[]).map((row) => row.map((v) => (v === null ? null : String(v))));
}

/** Compares canonical rows, with JSON and float columns compared by meaning, not spelling. */
export function sameValue(c: ColumnInfo, a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  if (listElement(c.logicalType)) return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  if (c.logicalType.startsWith('float')) return Object.is(Number(a.toLowerCase() === 'nan' ? NaN : a), Number(b.toLowerCase() === 'nan' ? NaN : b));
  return a === b;
}

/** zstd decompression for hyparquet (Node 20's zlib has none): the zstd addon Sluice writes with on Node 20. */
export function zstdDecompress(input: Uint8Array): Uint8Array {
  return decompress(input);
}

// ---- Every column, every type: canonical values compared leaf by leaf ----------------------------

/** The innermost type of a (nested) list type, and its depth. */
function leafOf(logicalType: string): { leaf: string; depth: number } {
  let leaf = logicalType;
  let depth = 0;
  for (let e = listElement(leaf); e; e = listElement(leaf)) {
    leaf = e;
    depth++;
  }
  return { leaf, depth };
}

/**
 * How a recipient's DuckDB reads each column of a text format: the type given to the reader. Decimals
 * are read as text in CSV / JSON Lines (they may hold NaN, which a DuckDB DECIMAL cannot), bytes as
 * text (base64, or PostgreSQL's `\x…` hex inside lists), floats in JSON Lines as text ("NaN").
 */
function textReaderType(c: ColumnInfo, format: 'csv' | 'jsonl'): string {
  const { leaf, depth } = leafOf(c.logicalType);
  // JSON numbers in lists are read as text too: DuckDB reads the number -0 as 0.
  let t = leaf.startsWith('decimal(') || leaf === 'binary' || (format === 'jsonl' && leaf.startsWith('float')) ? 'VARCHAR' : duckdbType(leaf);
  if (format === 'csv' && depth > 0) return 'VARCHAR';
  for (let i = 0; i < depth; i++) t += '[]';
  return t;
}

function jsonShapeOf(logicalType: string): unknown {
  const e = listElement(logicalType);
  if (e) return [jsonShapeOf(e)];
  return logicalType.startsWith('decimal(') || logicalType === 'binary' ? 'VARCHAR' : duckdbType(logicalType);
}

/** DuckDB text of one leaf value, in the same canonical form as `pgLeaf`. */
function duckLeaf(x: string, leaf: string, format: Format, inList: boolean): string {
  switch (leaf) {
    case 'binary':
      if (format === 'parquet') return `lower(hex(${x}))`;
      return inList ? `lower(substr(${x}, 3))` : `lower(hex(from_base64(${x})))`;
    case 'date':
      return `CASE WHEN isinf(${x}) THEN ${x}::VARCHAR ELSE (${x} - DATE '1970-01-01')::VARCHAR END`;
    case 'timestamp_us':
    case 'timestamp_us_utc':
      return `CASE WHEN isinf(${x}) THEN ${x}::VARCHAR ELSE epoch_us(${x})::VARCHAR END`;
    default:
      if (format === 'jsonl' && !inList && leaf.startsWith('float')) return `${x}::DOUBLE::VARCHAR`;
      return `${x}::VARCHAR`;
  }
}

function pgLeaf(x: string, leaf: string): string {
  switch (leaf) {
    case 'binary':
      return `encode(${x}, 'hex')`;
    case 'boolean':
      return `${x}::text`;
    case 'date':
      return `CASE WHEN NOT isfinite(${x}) THEN ${x}::text ELSE (${x} - DATE '1970-01-01')::text END`;
    case 'timestamp_us':
    case 'timestamp_us_utc':
      return `CASE WHEN NOT isfinite(${x}) THEN ${x}::text ELSE (extract(epoch FROM ${x}) * 1000000)::bigint::text END`;
    default:
      // The type's output function, as COPY prints it (a cast to text would strip char(n)'s padding
      // and add inet's /128).
      // num_nulls: a composite whose fields are all NULL "IS NULL", yet is a value.
      return `CASE WHEN num_nulls(${x}) = 0 THEN format('%s', ${x}) END`;
  }
}

/** A canonical value: text, null, or a (nested) list of them. */
export type Canonical = string | null | Canonical[];

/** Every column of every row of delivered files, each value in canonical form. */
export async function readBackAll(format: Format, compression: Compression, files: string[], columns: ColumnInfo[]): Promise<Canonical[][]> {
  const c = await readerConnection();
  const list = `[${files.map(q).join(', ')}]`;
  const comp = compression === 'none' ? 'uncompressed' : compression;
  let relation: string;
  if (format === 'parquet') {
    relation = `read_parquet(${list})`;
  } else {
    const types = `{${columns.map((col) => `${q(col.name)}: ${q(textReaderType(col, format))}`).join(', ')}}`;
    relation =
      format === 'csv'
        ? `read_csv(${list}, header = true, auto_detect = false, columns = ${types}, delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, compression = ${q(comp)})`
        : `read_json(${list}, format = 'newline_delimited', columns = ${types}, compression = ${q(comp)})`;
  }
  const select = columns.map((col) => {
    const { leaf, depth } = leafOf(col.logicalType);
    if (depth === 0) return duckLeaf(id(col.name), leaf, format, false);
    let value = format === 'csv' ? `from_json(${id(col.name)}, ${q(JSON.stringify(jsonShapeOf(col.logicalType)))})` : id(col.name);
    const map = (x: string, d: number): string => (d === 0 ? duckLeaf(x, leaf, format, true) : `list_transform(${x}, l${d} -> ${map(`l${d}`, d - 1)})`);
    value = map(value, depth);
    return `to_json(${value})::VARCHAR`;
  });
  const r = await c.runAndReadAll(`SELECT ${select.join(', ')} FROM ${relation}`);
  return r.getRows().map((row) =>
    row.map((v, i) => {
      if (v === null) return null;
      return leafOf(columns[i]!.logicalType).depth > 0 ? (JSON.parse(String(v)) as Canonical) : String(v);
    }),
  );
}

/** Builds a nested list from PostgreSQL's array_dims (`[1:2][1:3]`) and its elements in storage order. */
function nest(dims: string | null, flat: Canonical[]): Canonical[] {
  if (dims === null) return [];
  const lengths = [...dims.matchAll(/\[(-?\d+):(-?\d+)\]/g)].map((m) => Number(m[2]) - Number(m[1]) + 1);
  let at = 0;
  const build = (level: number): Canonical[] =>
    Array.from({ length: lengths[level]! }, () => (level === lengths.length - 1 ? flat[at++]! : build(level + 1)));
  return build(0);
}

/** The source's rows in the same canonical form. */
export async function sourceAll(pool: Pool, table: string, order: string, columns: ColumnInfo[]): Promise<Canonical[][]> {
  const select = columns.map((col) => {
    const { leaf, depth } = leafOf(col.logicalType);
    const ref = id(col.name);
    if (depth === 0) return pgLeaf(ref, leaf);
    // unnest would spread a composite element over several columns: such elements are compared as text.
    const elements = col.composite ? `${ref}::text[]` : ref;
    return `CASE WHEN ${ref} IS NOT NULL THEN json_build_array(array_dims(${ref}), (SELECT json_agg(${pgLeaf('e', leaf)} ORDER BY o) FROM unnest(${elements}) WITH ORDINALITY AS u(e, o)))::text END`;
  });
  // The reader's session settings, so that text forms (intervals, floats) are the ones delivered.
  const db = await pool.connect();
  let r;
  try {
    await db.query('BEGIN');
    await db.query(`SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'iso_8601'; SET LOCAL extra_float_digits = 1`);
    r = await db.query({ text: `SELECT ${select.map((s, i) => `${s} AS c${i}`).join(', ')} FROM ${table} ORDER BY ${order}`, rowMode: 'array' });
    await db.query('COMMIT');
  } finally {
    db.release();
  }
  return (r.rows as Array<Array<string | null>>).map((row) =>
    row.map((v, i) => {
      if (v === null) return null;
      if (leafOf(columns[i]!.logicalType).depth === 0) return v;
      const [dims, flat] = JSON.parse(v) as [string | null, Canonical[] | null];
      return nest(dims, flat ?? []);
    }),
  );
}

/** Same value? Floats by number (NaN = NaN, -0 ≠ 0), everything else by canonical text, leaf by leaf. */
export function sameCanonical(logicalType: string, a: Canonical, b: Canonical, format?: Format): boolean {
  if (a === null || b === null) return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameCanonical(logicalType, x, b[i]!, format));
  }
  const { leaf } = leafOf(logicalType);
  if (leaf.startsWith('float')) {
    // JSON Lines holds the number -0 exactly, but DuckDB's JSON reader reads it as 0 (docs/types.md).
    if (format === 'jsonl' && b === '-0' && Number(a) === 0) return true;
    const num = (s: string): number => {
      const t = s.toLowerCase();
      if (t === 'nan') return NaN;
      if (t === 'infinity' || t === 'inf') return Infinity;
      if (t === '-infinity' || t === '-inf') return -Infinity;
      return Number(s);
    };
    const [x, y] = [num(a), num(b)];
    return leaf === 'float32' ? Object.is(Math.fround(x), Math.fround(y)) : Object.is(x, y);
  }
  return a === b;
}

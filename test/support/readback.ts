/**
 * Reads delivered files back with an independent reader (DuckDB) and turns every value — from the
 * files and from the source — into a canonical text form, so the two can be compared value by value.
 */
import { spawnSync } from 'node:child_process';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Queryable } from '../../src/control/db.js';
import { duckdbType } from '../../src/formats/parquet.js';
import { listElement } from '../../src/core/types.js';
import type { ColumnInfo, Compression, Format } from '../../src/core/types.js';

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

/** zstd decompression for hyparquet (Node 20 has none): the `zstd` program, synchronously. */
export function zstdDecompress(input: Uint8Array): Uint8Array {
  const r = spawnSync('zstd', ['-d', '-c', '-q'], { input });
  if (r.status !== 0) throw new Error(`zstd -d failed: ${r.stderr.toString()}`);
  return r.stdout;
}

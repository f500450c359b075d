/**
 * DuckDB instances for Parquet encoding, with a memory cap and thread count that keep a pipeline
 * inside Sluice's memory budget (peak RSS ≤ 300 MB, measured in the bench). DuckDB runs on its own
 * native threads, so encoding overlaps with JavaScript work.
 */
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export const DUCKDB_MEMORY_LIMIT = process.env.SLUICE_DUCKDB_MEMORY_LIMIT ?? '128MB';
// One thread: the conversion already overlaps with PostgreSQL and Node; a second DuckDB thread was slower
// on this 2-core machine (0.45× vs 0.53× COPY text in the same bench run).
export const DUCKDB_THREADS = process.env.SLUICE_DUCKDB_THREADS ?? '1';

/** A new in-memory DuckDB with Sluice's limits; close it with `closeSync()` when done. */
export function openDuckDB(): Promise<DuckDBInstance> {
  return DuckDBInstance.create(':memory:', {
    memory_limit: DUCKDB_MEMORY_LIMIT,
    threads: DUCKDB_THREADS,
    temp_directory: path.join(os.tmpdir(), 'sluice-duckdb-spill'),
    // Sluice never asks DuckDB to download anything; parquet and json are built in.
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
}

/** A SQL string literal for DuckDB. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A quoted identifier for DuckDB. */
export function sqlIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

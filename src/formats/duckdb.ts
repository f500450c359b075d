/**
 * One DuckDB instance per process, created on first use, with a memory cap and thread count that
 * keep a Parquet encode inside Sluice's memory budget (peak RSS ≤ 300 MB per pipeline, measured in
 * the bench). DuckDB runs on its own native threads, so encoding overlaps with JavaScript work.
 */
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export const DUCKDB_MEMORY_LIMIT = process.env.SLUICE_DUCKDB_MEMORY_LIMIT ?? '128MB';
export const DUCKDB_THREADS = process.env.SLUICE_DUCKDB_THREADS ?? '2';

let instance: Promise<DuckDBInstance> | undefined;

export function duckdb(): Promise<DuckDBInstance> {
  instance ??= DuckDBInstance.create(':memory:', {
    memory_limit: DUCKDB_MEMORY_LIMIT,
    threads: DUCKDB_THREADS,
    temp_directory: path.join(os.tmpdir(), 'sluice-duckdb-spill'),
    // Sluice never asks DuckDB to download anything; parquet and json are built in.
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  return instance;
}

/** A SQL string literal for DuckDB. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A quoted identifier for DuckDB. */
export function sqlIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

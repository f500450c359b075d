/**
 * `sluice query "<SQL>"`: runs SQL in the DuckDB that Sluice already bundles, so delivered files can be
 * inspected (`read_parquet(...)`, `read_csv(...)`, `read_json(...)`) without installing the DuckDB CLI.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import type { Command } from 'commander';
import { SluiceError, describeError } from '../../core/errors.js';
import { printJson } from '../output.js';

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
  /** More rows existed than were kept. */
  truncated: boolean;
}

export async function runQuery(sql: string, maxRows: number): Promise<QueryResult> {
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(sql);
    const rows = reader.getRowsJson();
    return { columns: reader.columnNames(), rows: rows.slice(0, maxRows), truncated: rows.length > maxRows };
  } catch (err) {
    throw new SluiceError({
      code: 'query_failed',
      message: `DuckDB could not run the query: ${describeError(err)}`,
      hint: "Check the SQL and the file paths; delivered files are read with read_parquet('…'), read_csv('…') or read_json('…'), and globs like '…/**/*.parquet' work.",
      cause: err,
    });
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** An aligned text table, cells cut at 60 characters. */
export function formatTable(result: QueryResult): string {
  const cut = (s: string): string => (s.length > 60 ? `${s.slice(0, 59)}…` : s);
  const body = result.rows.map((r) => r.map((v) => cut(cell(v))));
  const widths = result.columns.map((c, i) => Math.max(c.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(result.columns), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  out.push(result.truncated ? `(first ${result.rows.length} rows)` : `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`);
  return out.join('\n');
}

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description("Run SQL with Sluice's bundled DuckDB, e.g. to inspect delivered files: sluice query \"SELECT count(*) FROM read_parquet('…/*.parquet')\"")
    .argument('<sql>', 'the SQL to run')
    .option('--max-rows <n>', 'print at most this many rows', '50')
    .option('--json', 'print JSON')
    .action(async (sql: string, opts: { maxRows: string; json?: boolean }) => {
      const maxRows = Number(opts.maxRows);
      if (!Number.isInteger(maxRows) || maxRows < 1) {
        throw new SluiceError({ code: 'invalid_option', message: `--max-rows must be a positive whole number, not "${opts.maxRows}".` });
      }
      const result = await runQuery(sql, maxRows);
      if (opts.json) printJson(result);
      else console.log(formatTable(result));
    });
}

/**
 * Output helpers shared by CLI commands: JSON for scripts (`--json`), aligned text for people, and a
 * runtime whose logs go to stderr so stdout stays parseable.
 */
import { loadConfig } from '../config.js';
import { createLogger } from '../core/log.js';
import { catalogFromConfig, type ModelCatalog } from '../models/catalog.js';
import { openRuntime, type Runtime } from '../runtime.js';

/** Opens the runtime (logs on stderr), runs `fn`, always closes. */
export async function withRuntime<T>(fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig();
  // On stderr, so stdout stays parseable; pretty when stderr is a terminal (SLUICE_LOG_FORMAT=auto).
  const log = createLogger({ level: config.SLUICE_LOG_LEVEL === 'info' ? 'warn' : config.SLUICE_LOG_LEVEL, format: config.SLUICE_LOG_FORMAT, destination: process.stderr });
  const rt = await openRuntime({ config, log });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/** Like withRuntime, with the models catalog (sluice.yaml on the source) for checks that need it. */
export async function withCatalog<T>(fn: (rt: Runtime, models: ModelCatalog) => Promise<T>): Promise<T> {
  return withRuntime(async (rt) => {
    const models = catalogFromConfig(rt.config, rt.databaseUrl);
    try {
      return await fn(rt, models);
    } finally {
      await models.close();
    }
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** `key: value` lines, nested objects flattened with dots. */
export function printRecord(record: Record<string, unknown>, prefix = ''): void {
  for (const [k, v] of Object.entries(record)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) printRecord(v as Record<string, unknown>, `${prefix}${k}.`);
    else process.stdout.write(`${prefix}${k}: ${cell(v)}\n`);
  }
}

/** An aligned table of `columns` (header = column name). */
export function printTable<T extends object>(rows: T[], columns: Array<keyof T & string>): void {
  const table = [columns as string[], ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  for (const row of table) {
    process.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ') + '\n');
  }
  if (rows.length === 0) process.stdout.write('(none)\n');
}

/** Keeps only the options the user gave, so absent flags are absent fields (not undefined values). */
export function given<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

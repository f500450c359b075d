/**
 * Models and the source they read from, opened together: the source's limits live in the same
 * sluice.yaml, so the file is read first, then the source is opened with them and every model is
 * validated against its catalog.
 */
import { SluiceError } from '../core/errors.js';
import type { Config } from '../config.js';
import { createPostgresSource, type PostgresSource } from '../sources/postgres/source.js';
import { loadModels, readModelsFile, type ModelsConfig } from './load.js';

export { loadModels, readModelsFile, type LoadedModel, type ModelsConfig } from './load.js';

export interface OpenedModels {
  source: PostgresSource;
  config: ModelsConfig;
}

/** The source URL: SLUICE_SOURCE_URL, else the control store's DATABASE_URL (one-database setups and the demo). */
export function sourceUrlOf(config: Pick<Config, 'SLUICE_SOURCE_URL' | 'DATABASE_URL'>, fallback?: string): string {
  const url = config.SLUICE_SOURCE_URL ?? config.DATABASE_URL ?? fallback;
  if (!url) {
    throw new SluiceError({
      code: 'source_not_configured',
      message: 'No source database is configured.',
      hint: 'Set SLUICE_SOURCE_URL to the connection URL of the PostgreSQL that holds the data to export.',
    });
  }
  return url;
}

export async function openModels(file: string, sourceUrl: string): Promise<OpenedModels> {
  const { raw } = await readModelsFile(file);
  const source = createPostgresSource(sourceUrl, {
    ...(raw.source?.max_concurrent_queries !== undefined ? { maxConcurrentQueries: raw.source.max_concurrent_queries } : {}),
    ...(raw.source?.statement_timeout !== undefined ? { statementTimeoutMs: raw.source.statement_timeout } : {}),
    ...(raw.source?.watermark_lag_warning !== undefined ? { lagWarningSeconds: raw.source.watermark_lag_warning / 1000 } : {}),
  });
  try {
    return { source, config: await loadModels(file, source.pool) };
  } catch (err) {
    await source.close();
    throw err;
  }
}

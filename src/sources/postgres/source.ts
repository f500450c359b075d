/**
 * The provider's PostgreSQL, used read-only. One pool per source; a semaphore caps how many reads run
 * at once (each read session holds one slot — one connection, one transaction — for its lifetime),
 * and every statement runs under a statement timeout. Both protect the provider's database.
 */
import pg from 'pg';
import { Semaphore } from './semaphore.js';

export interface PostgresSourceOptions {
  /** At most this many read sessions (queries) at once against this source. Default 4. */
  maxConcurrentQueries?: number;
  /** `statement_timeout` for every statement of a read, in ms; 0 = none. Default 1 h. */
  statementTimeoutMs?: number;
  applicationName?: string;
}

export interface PostgresSource {
  pool: pg.Pool;
  slots: Semaphore;
  statementTimeoutMs: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_CONCURRENT_QUERIES = 4;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 60 * 60 * 1000;

export function createPostgresSource(url: string, opts: PostgresSourceOptions = {}): PostgresSource {
  const limit = opts.maxConcurrentQueries ?? DEFAULT_MAX_CONCURRENT_QUERIES;
  const pool = new pg.Pool({
    connectionString: url,
    // One connection per slot, plus one for catalog lookups at model load.
    max: limit + 1,
    application_name: opts.applicationName ?? 'sluice-reader',
  });
  pool.on('error', () => undefined);
  return {
    pool,
    slots: new Semaphore(limit),
    statementTimeoutMs: opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    close: () => pool.end(),
  };
}

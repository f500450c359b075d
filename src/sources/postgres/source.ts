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
  /** Seconds; default 15 min. */
  lagWarningSeconds?: number;
}

export interface PostgresSource {
  pool: pg.Pool;
  slots: Semaphore;
  statementTimeoutMs: number;
  /** `application_name` of the readers: the commit-safe watermark does not wait for these sessions. */
  applicationName: string;
  /** Warn when an open transaction holds the commit-safe watermark back more than this (seconds). */
  lagWarningSeconds: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_CONCURRENT_QUERIES = 4;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 60 * 60 * 1000;
export const DEFAULT_LAG_WARNING_SECONDS = 15 * 60;
export const DEFAULT_READER_APPLICATION_NAME = 'sluice-reader';

export function createPostgresSource(url: string, opts: PostgresSourceOptions = {}): PostgresSource {
  const limit = opts.maxConcurrentQueries ?? DEFAULT_MAX_CONCURRENT_QUERIES;
  const applicationName = opts.applicationName ?? DEFAULT_READER_APPLICATION_NAME;
  const pool = new pg.Pool({
    connectionString: url,
    // One connection per slot, plus one for catalog lookups at model load.
    max: limit + 1,
    application_name: applicationName,
  });
  // A lost connection (the provider restarting PostgreSQL, a terminated backend) fails the read that
  // used it — the transfer is retried — never the process: pg emits 'error' on the pool for an idle
  // client and on the client itself for a checked-out one, and an unheard 'error' event exits Node.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return {
    pool,
    slots: new Semaphore(limit),
    statementTimeoutMs: opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    applicationName,
    lagWarningSeconds: opts.lagWarningSeconds ?? DEFAULT_LAG_WARNING_SECONDS,
    close: () => pool.end(),
  };
}

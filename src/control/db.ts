/**
 * The control store: a PostgreSQL database holding recipients, destinations, transfers, watermarks,
 * encrypted secrets and keys. Sluice's tables live in the `sluice` schema (the job queue keeps its
 * own), so Sluice can share a database with other applications.
 */
import pg from 'pg';
import type { Logger } from '../core/log.js';

export type { Pool, PoolClient, Queryable } from '../core/pg.js';
// The transaction helpers, kept in core/ so the transfer stores can use them too.
export { withSnapshot, withTransaction } from '../core/pg.js';

export const SCHEMA = 'sluice';

export function createPool(connectionString: string, opts: { max?: number; applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'sluice',
    options: `-c search_path=${SCHEMA},public`,
  });
  guardPoolErrors(pool);
  return pool;
}

/**
 * A connection lost under a pool (a PostgreSQL restart, a terminated backend) must fail the query
 * that used it, never the process: pg emits 'error' on the pool for an idle client and on the client
 * itself for a checked-out one, and an 'error' event nobody listens to exits Node. The query in
 * flight still gets the error; the pool replaces the client at its next checkout. Idempotent.
 */
export function guardPoolErrors(pool: pg.Pool, onError?: (err: Error) => void): void {
  if (guarded.has(pool)) return;
  guarded.add(pool);
  const report = onError ?? (() => undefined);
  pool.on('error', report);
  pool.on('connect', (client) => {
    client.on('error', report);
  });
}
const guarded = new WeakSet<pg.Pool>();

/** Creates a database if it does not exist (used for the embedded default and by tests). */
export async function ensureDatabase(serverUrl: string, name: string, log?: Logger): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  // A connection lost between statements must not exit the process; the next statement fails instead.
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      log?.info({ database: name }, 'created database');
    }
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The control store: a PostgreSQL database holding recipients, destinations, transfers, watermarks,
 * encrypted secrets and keys. Sluice's tables live in the `sluice` schema (the job queue keeps its
 * own), so Sluice can share a database with other applications.
 */
import pg from 'pg';
import type { Logger } from '../core/log.js';

export type { Pool, PoolClient, Queryable } from '../core/pg.js';

export const SCHEMA = 'sluice';

export function createPool(connectionString: string, opts: { max?: number; applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'sluice',
    options: `-c search_path=${SCHEMA},public`,
  });
  // An idle client losing its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` in a transaction on one client; rolls back on any error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Creates a database if it does not exist (used for the embedded default and by tests). */
export async function ensureDatabase(serverUrl: string, name: string, log?: Logger): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
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

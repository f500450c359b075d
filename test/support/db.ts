/**
 * A fresh, uniquely named database per test file on the suite's PostgreSQL server, dropped at the end.
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { createPool, type Pool } from '../../src/control/db.js';
import { migrate } from '../../src/control/migrate.js';
import { silentLogger } from '../../src/core/log.js';

export interface TestDatabase {
  url: string;
  name: string;
  /** Pool with Sluice's search_path, migrations applied. */
  pool: Pool;
  drop(): Promise<void>;
}

export function serverUrl(): string {
  const url = process.env.SLUICE_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('run tests through `npm test` (it provides SLUICE_TEST_DATABASE_URL), or set DATABASE_URL');
  return url;
}

export async function freshDatabase(opts: { migrate?: boolean; prefix?: string } = {}): Promise<TestDatabase> {
  const name = `${opts.prefix ?? 'sluice_test'}_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  await admin.end();
  const u = new URL(serverUrl());
  u.pathname = `/${name}`;
  const url = u.toString();
  const pool = createPool(url, { max: 5 });
  if (opts.migrate !== false) await migrate(pool, silentLogger);
  return {
    url,
    name,
    pool,
    async drop() {
      await pool.end();
      const a = new pg.Client({ connectionString: serverUrl() });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await a.end();
    },
  };
}

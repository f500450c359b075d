/**
 * Versioned migrations: `migrations/NNN_name.sql`, applied in order, each in its own transaction,
 * under an advisory lock so that several processes starting at once apply each migration once.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { SCHEMA, withTransaction } from './db.js';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
// Any constant works; it only has to be the same in every Sluice process.
const LOCK_KEY = 0x511ce;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const m = /^(\d+)_([\w-]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file name ${file} is not NNN_name.sql`);
    const version = Number(m[1]);
    if (migrations.some((x) => x.version === version)) throw new Error(`two migrations have version ${version}`);
    migrations.push({ version, name: m[2] ?? file, sql: await fs.readFile(path.join(dir, file), 'utf8') });
  }
  return migrations;
}

/** Applies pending migrations; returns the versions applied now. */
export async function migrate(pool: pg.Pool, log: Logger): Promise<number[]> {
  const migrations = await loadMigrations();
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${SCHEMA}.migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = new Set(
      (await client.query<{ version: number }>(`SELECT version FROM ${SCHEMA}.migrations`)).rows.map((r) => r.version),
    );
    const newest = Math.max(0, ...done);
    const known = Math.max(0, ...migrations.map((m) => m.version));
    if (newest > known) {
      throw new SluiceError({
        code: 'control_store_too_new',
        message: `The control store is at migration ${newest}, newer than this Sluice knows (${known}).`,
        hint: 'Run a Sluice version at least as new as the one that last migrated this database.',
      });
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query(`SET LOCAL search_path = ${SCHEMA}, public`);
      await client.query(m.sql);
      await client.query(`INSERT INTO ${SCHEMA}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      log.info({ version: m.version, name: m.name }, 'applied migration');
      applied.push(m.version);
    }
    return applied;
  });
}

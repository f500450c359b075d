import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SluiceError } from '../../src/core/errors.js';
import { loadModels, openModels } from '../../src/models/index.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

describe('models (sluice.yaml)', () => {
  let db: TestDatabase;
  let dir: string;

  before(async () => {
    db = await freshDatabase({ migrate: false, prefix: 'sluice_models' });
    await db.pool.query(`
      CREATE TABLE public.orders (id bigint PRIMARY KEY, account_id text NOT NULL, total numeric(12,2), doc jsonb,
                                  updated_at timestamptz NOT NULL, version bigint NOT NULL DEFAULT 0, deleted_at timestamptz);
      CREATE TABLE public.events (event_id uuid, account_id text, seen_at timestamptz NOT NULL);
      CREATE TABLE public.pairs (a int, b int, account_id text, updated_at timestamptz NOT NULL, PRIMARY KEY (b, a));
      CREATE TABLE public.loose (id bigint PRIMARY KEY, account_id text, changed_at timestamptz);
      CREATE VIEW public.loose_view AS SELECT * FROM public.loose;`);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-models-'));
  });
  after(async () => {
    await db.drop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function write(yaml: string): Promise<string> {
    const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.yaml`);
    await fs.writeFile(file, yaml);
    return file;
  }

  async function problems(yaml: string): Promise<string[]> {
    try {
      await loadModels(await write(yaml), db.pool);
    } catch (err) {
      assert.ok(err instanceof SluiceError, String(err));
      assert.equal(err.code, 'invalid_input');
      return (err.details ?? []).map((d) => `${d.field}: ${d.message}`);
    }
    assert.fail('expected the models file to be rejected');
  }

  it('loads tables and SQL models, with defaults and the table’s own primary key', async () => {
    const file = await write(`
source:
  max_concurrent_queries: 2
  statement_timeout: 15m
models:
  - name: orders
    table: orders
    cursor: updated_at
    tenant: account_id
    soft_delete: deleted_at
    lookback: 5m
  - name: pairs
    table: public.pairs
    columns: [a, b, updated_at]
    cursor: updated_at
    tenant: account_id
  - name: big_orders
    sql: SELECT id, account_id, total, updated_at FROM orders WHERE total > 100
    primary_key: id
    cursor: updated_at
    tenant: account_id
`);
    const { source, config } = await openModels(file, db.url);
    await source.close();
    assert.equal(source.slots.limit, 2);
    assert.equal(source.statementTimeoutMs, 15 * 60 * 1000);
    const [orders, pairs, big] = config.models;
    assert.deepEqual(orders!.definition, {
      name: 'orders', source: { table: 'orders' }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'account_id', softDelete: 'deleted_at', lookback: 300,
    });
    assert.deepEqual(orders!.columns.map((c) => [c.name, c.logicalType]), [
      ['id', 'int64'], ['account_id', 'string'], ['total', 'decimal(12,2)'], ['doc', 'json'], ['updated_at', 'timestamp_us_utc'], ['version', 'int64'], ['deleted_at', 'timestamp_us_utc'],
    ]);
    assert.deepEqual(pairs!.definition.primaryKey, ['b', 'a']);
    assert.deepEqual(pairs!.columns.map((c) => c.name), ['a', 'b', 'updated_at']);
    assert.deepEqual(big!.definition.source, { sql: 'SELECT id, account_id, total, updated_at FROM orders WHERE total > 100' });
    assert.deepEqual(big!.columns.map((c) => c.logicalType), ['int64', 'string', 'decimal(12,2)', 'timestamp_us_utc']);
  });

  it('reports every problem at once, one clear line each', async () => {
    const lines = await problems(`
models:
  - name: missing
    table: nope
    cursor: updated_at
    tenant: account_id
  - name: orders
    table: orders
    columns: [id, totl]
    cursor: doc
    tenant: account
    soft_delete: gone
  - name: events
    table: events
    cursor: seen_at
    tenant: account_id
  - name: bad_sql
    sql: SELECT * FROM nowhere
    primary_key: id
    cursor: updated_at
    tenant: account_id
  - name: versioned
    table: orders
    cursor: version
    tenant: account_id
    lookback: 5m
    deletes: track
  - name: sql_deletes
    sql: SELECT id, account_id, updated_at FROM orders
    primary_key: id
    cursor: updated_at
    tenant: account_id
    deletes: track
`);
    assert.deepEqual(lines, [
      // The message names the database it looked in (host and name, never credentials).
      `models[0] (missing).table: table nope does not exist in database "${db.name}" on ${new URL(db.url).hostname}:${new URL(db.url).port || '5432'} (or the source user cannot see it; SLUICE_SOURCE_URL chooses the database)`,
      'models[1] (orders).columns[1]: column "totl" does not exist in orders',
      'models[1] (orders).cursor: column "doc" has type jsonb, which cannot be a cursor; use an integer, numeric, date or timestamp column that grows when a row changes',
      'models[1] (orders).tenant: column "account" does not exist in orders',
      'models[1] (orders).soft_delete: column "gone" does not exist in orders',
      'models[1] (orders).columns: must include "doc" (cursor and primary key columns let recipients find the latest row)',
      'models[2] (events).primary_key: events has no primary key constraint; declare primary_key (the columns that identify a row)',
      'models[3] (bad_sql).sql: the SQL query does not run: relation "nowhere" does not exist',
      'models[4] (versioned).deletes: delete tracking needs a timestamptz cursor (the time of the delete); "version" is bigint',
      'models[4] (versioned).lookback: cursor "version" is a number: give the lookback as a number of units, not a duration',
      'models[5] (sql_deletes).deletes: delete tracking needs a table model (the trigger is installed on the table); a SQL model can model deletes with soft_delete',
    ]);
  });

  it('refuses a nullable cursor column of a table at load, naming model and column; views and SQL models are checked per row when read', async () => {
    const got = await problems(`
models:
  - name: loose
    table: loose
    cursor: changed_at
    tenant: account_id
  - name: loose_view
    table: loose_view
    primary_key: [id]
    cursor: changed_at
    tenant: account_id
  - name: loose_sql
    sql: SELECT id, account_id, COALESCE(changed_at, '-infinity') AS changed_at FROM loose
    primary_key: [id]
    cursor: changed_at
    tenant: account_id
`);
    assert.equal(got.length, 1, got.join('\n'));
    assert.match(got[0]!, /^models\[0\] \(loose\)\.cursor: column "changed_at" of loose may be NULL, and a row with a NULL cursor can never be delivered incrementally; make it NOT NULL/);
  });

  it('rejects a malformed file before touching the database', async () => {
    const lines = await problems(`
models:
  - name: Orders
    table: orders
    sql: SELECT 1
    cursor: updated_at
    tenant: account_id
    lookback: soon
    colour: blue
`);
    assert.deepEqual(lines, [
      'models[0].name: must be lowercase letters, digits and underscores, starting with a letter (it is used in object keys)',
      'models[0].lookback: must be a duration like 30s, 5m, 2h or 1d, or a number',
      'models[0]: Unrecognized key: "colour"',
    ]);
    assert.deepEqual(await problems('models:\n  - {name: x, table: t, sql: SELECT 1, cursor: c, tenant: t}\n'), [
      'models[0].table: give exactly one of `table` or `sql`',
    ]);
    await assert.rejects(loadModels(path.join(dir, 'absent.yaml'), db.pool), (e: unknown) => e instanceof SluiceError && e.code === 'models_file_unreadable');
    assert.deepEqual(await problems('models: []\n'), ['models: declare at least one model']);
  });

  it('`sluice models --json` lists models with columns and logical types', async () => {
    const file = await write('models:\n  - name: orders\n    table: orders\n    cursor: updated_at\n    tenant: account_id\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'models', '--json'], {
      env: { ...process.env, SLUICE_CONFIG: file, SLUICE_SOURCE_URL: db.url },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.models[0].name, 'orders');
    assert.deepEqual(out.models[0].columns[2], { name: 'total', pgType: 'numeric(12,2)', logicalType: 'decimal(12,2)' });
  });
});

/**
 * Hard deletes with `deletes: track` (docs/change-detection.md): installed only when asked (CLI and
 * API show the SQL first), delivered as tombstones in the same files and manifests under the same
 * watermark, pruned once every destination of the tenant has committed them; refused with a clear
 * provider error while not installed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { buildServer } from '../../src/api/server.js';
import type { ApiApp } from '../../src/api/types.js';
import { registerModels } from '../../src/cli/commands/models.js';
import { loadConfig } from '../../src/config.js';
import { createApiKey } from '../../src/control/apikeys.js';
import { silentLogger } from '../../src/core/log.js';
import { runTransfer } from '../../src/transfer/run.js';
import { testIdentity } from '../support/api.js';
import { deliveredRows, manifestsOf, settle, tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';
import { catalogFromConfig, type ModelCatalog } from '../../src/models/catalog.js';

let fx: TransferFixture;
let dir: string;
let app: ApiApp;
let models: ModelCatalog;
let auth: { authorization: string };
const saved = { ...process.env };

const orders = tableModel('orders', 'orders', { deletes: 'track' });
const notes = tableModel('notes', 'notes', { deletes: 'track', primaryKey: ['tenant_id', 'id'] });

before(async () => {
  fx = await transferFixture(['del', 'del2', 'prune']);
  await fx.sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), amount numeric(12,2), note text);
    CREATE DOMAIN note_tag AS text NOT NULL DEFAULT 'plain';
    CREATE TABLE notes (tenant_id text NOT NULL, id integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), body text NOT NULL,
                        tag note_tag, PRIMARY KEY (tenant_id, id));
    INSERT INTO orders (id, tenant_id, amount, note) SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, g * 1.5, 'n' || g FROM generate_series(1, 20) g;
    INSERT INTO notes (tenant_id, id, body) SELECT 'a', g, 'b' || g FROM generate_series(1, 5) g;
  `);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-deletes-'));
  const yaml = [
    'models:',
    '  - name: orders', '    table: orders', '    cursor: updated_at', '    tenant: tenant_id', '    deletes: track',
    '  - name: notes', '    table: notes', '    cursor: updated_at', '    tenant: tenant_id', '    deletes: track',
    '  - name: plain', '    table: orders', '    cursor: updated_at', '    tenant: tenant_id',
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'sluice.yaml'), yaml);
  Object.assign(process.env, {
    DATABASE_URL: fx.control.url,
    SLUICE_SOURCE_URL: fx.sourceDb.url,
    SLUICE_CONFIG: path.join(dir, 'sluice.yaml'),
    SLUICE_SECRET_KEY: fx.secretKey,
    SLUICE_DATA_DIR: dir,
    SLUICE_LOG_LEVEL: 'error',
    // The fixture's S3 server is local plain http, which this operator allows.
    SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
    SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
  });
  const config = loadConfig({ ...process.env });
  models = catalogFromConfig(config);
  app = await buildServer({
    pool: fx.control.pool,
    secrets: fx.secrets,
    log: silentLogger,
    config,
    identity: testIdentity(),
    models,
  });
  const { key } = await createApiKey(fx.control.pool, { name: 'test' });
  auth = { authorization: `Bearer ${key}` };
});
after(async () => {
  process.env = saved;
  await app.close();
  await models.close();
  await fs.rm(dir, { recursive: true, force: true });
  await fx.close();
});

async function sluice(args: string[]): Promise<string> {
  const program = new Command('sluice').exitOverride();
  registerModels(program);
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  try {
    await program.parseAsync(['node', 'sluice', ...args]);
    return out.join('\n');
  } finally {
    console.log = log;
  }
}

const installed = async (table: string): Promise<boolean> =>
  (await fx.sql.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = 'sluice_track_deletes'`, [table])).rowCount === 1;

test('not installed: the model fails with a provider error that says how to install; the others still deliver', async () => {
  const dst = await fx.addDestination({ tenantId: 'a', bucket: 'del2', models: ['orders', 'plain'] });
  const r = await runTransfer(fx.deps([orders, tableModel('plain', 'orders')]), { destinationId: dst });
  assert.equal(r.status, 'partial');
  const failed = r.models.find((m) => m.model === 'orders')!;
  assert.equal(failed.error!.code, 'delete_tracking_not_installed');
  assert.equal(failed.error!.actor, 'provider');
  assert.match(failed.error!.hint!, /sluice models track-deletes orders/);
});

test('the CLI shows the SQL and changes nothing; with --apply it installs it', async () => {
  const shown = await sluice(['models', 'track-deletes', 'orders']);
  assert.match(shown, /CREATE TRIGGER sluice_track_deletes AFTER DELETE ON public\.orders/);
  assert.match(shown, /record_delete\('tenant_id', 'updated_at', 'id'\)/);
  assert.match(shown, /Not applied/);
  assert.equal(await installed('orders'), false);
  const applied = await sluice(['models', 'track-deletes', 'orders', '--apply']);
  assert.match(applied, /Applied/);
  assert.equal(await installed('orders'), true);
  // A model that does not ask for it is refused.
  await assert.rejects(sluice(['models', 'track-deletes', 'plain']), /delete_tracking_not_configured|does not ask for delete tracking/);
});

test('the API shows the SQL (GET) and installs it (POST)', async () => {
  const get = await app.inject({ method: 'GET', url: '/v1/models/notes/delete-tracking', headers: auth });
  assert.equal(get.statusCode, 200, get.body);
  const plan = get.json() as { installed: boolean; sql: string; relation: string };
  assert.equal(plan.installed, false);
  assert.equal(plan.relation, 'public.notes');
  assert.match(plan.sql, /record_delete\('tenant_id', 'updated_at', 'tenant_id', 'id'\)/);
  assert.equal(await installed('notes'), false);
  const post = await app.inject({ method: 'POST', url: '/v1/models/notes/delete-tracking', headers: auth });
  assert.equal(post.statusCode, 200, post.body);
  assert.equal((post.json() as { installed: boolean }).installed, true);
  assert.equal(await installed('notes'), true);
  const missing = await app.inject({ method: 'GET', url: '/v1/models/nope/delete-tracking', headers: auth });
  assert.equal(missing.statusCode, 404);
  const anonymous = await app.inject({ method: 'GET', url: '/v1/models/notes/delete-tracking' });
  assert.equal(anonymous.statusCode, 401);
});

test('deleted rows arrive as tombstones (key, tenant, time; _sluice_deleted) in the same manifests; other tenants\' deletes do not', async () => {
  const dst = await fx.addDestination({ tenantId: 'a', bucket: 'del', models: ['orders', 'notes'] });
  const deps = fx.deps([orders, notes]);
  await settle();
  assert.equal((await runTransfer(deps, { destinationId: dst })).status, 'succeeded');

  await fx.sql.query(`DELETE FROM orders WHERE id IN (2, 4, 3)`); // 3 is tenant b's
  await fx.sql.query(`UPDATE orders SET amount = 0, updated_at = now() WHERE id = 6`);
  await fx.sql.query(`DELETE FROM notes WHERE id = 5`);
  await settle();
  const second = await runTransfer(deps, { destinationId: dst });
  assert.equal(second.status, 'succeeded', JSON.stringify(second.models.map((m) => m.error)));

  const rows = await deliveredRows(fx.s3, 'del', '', 'orders');
  const tombstones = rows.filter((r) => r._sluice_deleted === true);
  assert.deepEqual(tombstones.map((r) => Number(r.id)).sort(), [2, 4]);
  for (const t of tombstones) {
    assert.equal(t.tenant_id, 'a');
    assert.equal(t.amount, null);
    assert.equal(t.note, null);
    const live = rows.find((r) => r.id === t.id && r._sluice_deleted === false)!;
    assert.ok(Date.parse(String(t.updated_at)) > Date.parse(String(live.updated_at)), 'the tombstone sorts after the last version');
  }
  // Tombstones and the update share the second transfer's manifest and files.
  const [, m2] = await manifestsOf(fx.s3, 'del', '', 'orders');
  assert.equal(m2!.manifest.total_rows, 3);
  const noteRows = await deliveredRows(fx.s3, 'del', '', 'notes');
  // body is NOT NULL and tag a NOT NULL domain: the tombstone holds NULL there all the same, and the
  // manifest says so (nullable), while the key, tenant and cursor keep their guarantee.
  assert.deepEqual(noteRows.filter((r) => r._sluice_deleted === true).map((r) => [r.tenant_id, r.id, r.body, r.tag]), [['a', 5, null, null]]);
  const [, n2] = await manifestsOf(fx.s3, 'del', '', 'notes');
  assert.deepEqual(
    n2!.manifest.schema.columns.filter((c) => !c.name.startsWith('_sluice_')).map((c) => `${c.name}:${c.nullable}`),
    ['tenant_id:false', 'id:false', 'updated_at:false', 'body:true', 'tag:true'],
  );

  // Nothing new: no object, and the tombstones are not sent again.
  const keys = await fx.s3.list('del');
  await runTransfer(deps, { destinationId: dst });
  assert.deepEqual(await fx.s3.list('del'), keys);
  assert.equal((await fx.verify('del')).ok, true);
});

test('delete records are pruned once every destination of the tenant has committed them', async () => {
  const d1 = await fx.addDestination({ tenantId: 'p', bucket: 'prune', prefix: 'one', models: ['orders'] });
  const d2 = await fx.addDestination({ tenantId: 'p', bucket: 'prune', prefix: 'two', models: ['orders'] });
  await fx.sql.query(`INSERT INTO orders (id, tenant_id) VALUES (101, 'p'), (102, 'p')`);
  await settle();
  const deps = fx.deps([orders]);
  await runTransfer(deps, { destinationId: d1 });
  await runTransfer(deps, { destinationId: d2 });
  await fx.sql.query(`DELETE FROM orders WHERE id = 101`);
  const records = async (): Promise<number> =>
    (await fx.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM sluice_source.deleted_rows WHERE tenant = 'p'`)).rows[0]!.n;
  assert.equal(await records(), 1);
  await settle();
  await runTransfer(deps, { destinationId: d1 });
  assert.equal(await records(), 1, 'the second destination has not committed it yet');
  await runTransfer(deps, { destinationId: d2 });
  assert.equal(await records(), 0, 'every destination committed it: pruned');
  for (const prefix of ['one', 'two']) {
    const rows = await deliveredRows(fx.s3, 'prune', prefix, 'orders');
    assert.deepEqual(rows.filter((r) => r._sluice_deleted === true).map((r) => Number(r.id)), [101]);
  }
});

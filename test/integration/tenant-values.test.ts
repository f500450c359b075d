/**
 * One tenant value per recipient: the value is parsed in every model's tenant column type (by the
 * source PostgreSQL), stored canonical and unique in that form, so no two recipients select the same
 * tenant's rows however the value is spelled; a model whose tenant column cannot carry the stored
 * values is refused at load; one bucket + prefix belongs to one recipient.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRecipient, updateRecipient } from '../../src/control/recipients.js';
import { createDestination } from '../../src/control/destinations.js';
import { SluiceError } from '../../src/core/errors.js';
import { modelCatalog, type ModelCatalog } from '../../src/models/catalog.js';
import { loadModels } from '../../src/models/index.js';
import { checkStoredTenantValues, tenantColumns } from '../../src/models/tenant.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { startTestApi, type TestApi } from '../support/api.js';

let control: TestDatabase;
let source: TestDatabase;
let dir: string;
const catalogs: ModelCatalog[] = [];

before(async () => {
  control = await freshDatabase();
  source = await freshDatabase({ migrate: false, prefix: 'sluice_source' });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-tenant-'));
  await source.pool.query(`CREATE EXTENSION IF NOT EXISTS citext`);
  const types: Record<string, string> = {
    t_int: 'integer',
    t_bigint: 'bigint',
    t_numeric: 'numeric',
    t_numeric2: 'numeric(10,2)',
    t_uuid: 'uuid',
    t_citext: 'citext',
    t_text: 'text',
    t_varchar3: 'varchar(3)',
    t_float: 'double precision',
  };
  for (const [table, type] of Object.entries(types)) {
    await source.pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, tenant_id ${type} NOT NULL, updated_at timestamptz NOT NULL)`);
  }
  // 500 rows of tenant 7: the rows any spelling of 7 would select.
  await source.pool.query(`INSERT INTO t_int SELECT g, 7, now() FROM generate_series(1, 500) g`);
});
after(async () => {
  for (const c of catalogs) await c.close();
  await source.drop();
  await control.drop();
});

/** A catalog over models reading `tables` (one model each, named like its table). */
async function catalogOf(...tables: string[]): Promise<ModelCatalog> {
  const file = path.join(dir, `${tables.join('-')}.yaml`);
  await fs.writeFile(file, ['models:', ...tables.flatMap((t) => [`  - name: ${t}`, `    table: ${t}`, '    cursor: updated_at', '    tenant: tenant_id'])].join('\n') + '\n');
  const c = modelCatalog(file, source.url);
  catalogs.push(c);
  return c;
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    const r = (await p) as { tenantId: string };
    return `ok ${r.tenantId}`;
  } catch (err) {
    assert.ok(err instanceof SluiceError, String(err));
    return `${err.status} ${err.code}${err.details?.[0] ? ` ${err.details[0].field}` : ''}`;
  }
}

let n = 0;
const create = (c: ModelCatalog, tenantId: string) => outcome(createRecipient(control.pool, { name: `r${++n}`, tenantId }, c));

describe('a tenant value is parsed in the tenant column type and unique in its canonical form', () => {
  const cases: Array<{ table: string; first: string; stored: string; same: string[]; invalid?: string[] }> = [
    { table: 't_int', first: '007', stored: '7', same: ['7', '+7', '07', '0007'], invalid: ['7.5', 'seven', '99999999999'] },
    { table: 't_bigint', first: '+9000000000', stored: '9000000000', same: ['09000000000', '9000000000'], invalid: ['1e3'] },
    { table: 't_numeric', first: '7.50', stored: '7.5', same: ['7.5', '07.5', '+7.500', '75e-1'], invalid: ['abc'] },
    { table: 't_numeric2', first: '3.10', stored: '3.1', same: ['3.1', '03.100'], invalid: ['3.111'] },
    {
      table: 't_uuid',
      first: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
      stored: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      same: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'a0eebc999c0b4ef8bb6d6bb9bd380a11'],
      invalid: ['not-a-uuid'],
    },
    { table: 't_citext', first: 'Acme', stored: 'acme', same: ['ACME', 'acme', 'aCmE'] },
    { table: 't_varchar3', first: 'abc', stored: 'abc', same: ['abc'], invalid: ['abcdef'] },
  ];
  for (const c of cases) {
    it(`${c.table}: "${c.first}" is stored as "${c.stored}"; other spellings are the same tenant (409)`, async () => {
      await control.pool.query('DELETE FROM recipients');
      const catalog = await catalogOf(c.table);
      assert.equal(await create(catalog, c.first), `ok ${c.stored}`);
      for (const s of c.same) assert.equal(await create(catalog, s), '409 tenant_id_taken tenantId', s);
      for (const s of c.invalid ?? []) assert.equal(await create(catalog, s), '400 invalid_input tenantId', s);
    });
  }

  it('text keeps every spelling apart: 7, 007 and +7 are three tenants of a text column', async () => {
    await control.pool.query('DELETE FROM recipients');
    const catalog = await catalogOf('t_text');
    for (const s of ['7', '007', '+7']) assert.equal(await create(catalog, s), `ok ${s}`);
    assert.equal(await create(catalog, '007'), '409 tenant_id_taken tenantId');
  });

  it('refuses surrounding spaces and control characters before any type sees them', async () => {
    const catalog = await catalogOf('t_int');
    for (const s of [' 7', '7 ', '7\u0000', '\t7']) assert.equal(await create(catalog, s), '400 invalid_input tenantId', JSON.stringify(s));
  });

  it('models that read a value differently must agree: 007 is refused for integer + text, 7 is accepted', async () => {
    await control.pool.query('DELETE FROM recipients');
    const catalog = await catalogOf('t_int', 't_text');
    const refused = await createRecipient(control.pool, { name: 'x', tenantId: '007' }, catalog).catch((e: unknown) => e as SluiceError);
    assert.ok(refused instanceof SluiceError);
    assert.match(refused.details?.[0]?.message ?? '', /read as "7" by t_int \(integer\) but as "007" by t_text \(text\)/);
    assert.equal(await create(catalog, '7'), 'ok 7');
  });

  it('an update of the tenant id goes through the same function', async () => {
    await control.pool.query('DELETE FROM recipients');
    const catalog = await catalogOf('t_int');
    assert.equal(await create(catalog, '7'), 'ok 7');
    const other = await createRecipient(control.pool, { name: 'other', tenantId: '8' }, catalog);
    assert.equal(await outcome(updateRecipient(control.pool, other.id, { tenantId: '+7' }, catalog)), '409 tenant_id_taken tenantId');
    assert.equal(await outcome(updateRecipient(control.pool, other.id, { tenantId: '009' }, catalog)), 'ok 9');
  });

  it('answers 503 models_unavailable when the models cannot be read, never guessing', async () => {
    const missing = modelCatalog(path.join(dir, 'absent.yaml'), source.url);
    catalogs.push(missing);
    assert.equal(await create(missing, '7'), '503 models_unavailable');
  });
});

describe('at load, a model must be able to carry every stored tenant value', () => {
  it('refuses a tenant column type without an exact text form (double precision)', async () => {
    const file = path.join(dir, 'float.yaml');
    await fs.writeFile(file, 'models:\n  - name: t_float\n    table: t_float\n    cursor: updated_at\n    tenant: tenant_id\n');
    await assert.rejects(loadModels(file, source.pool), (e: unknown) => {
      assert.ok(e instanceof SluiceError);
      assert.equal(e.details?.[0]?.field, 'models[0] (t_float).tenant');
      assert.match(e.details?.[0]?.message ?? '', /double precision, which cannot be a tenant column/);
      return true;
    });
  });

  it('refuses a tenant column whose collation is nondeterministic: ACME would select acme\'s rows', async () => {
    await source.pool.query(`CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`);
    await source.pool.query(`CREATE DOMAIN ci_text AS text COLLATE ci`);
    await source.pool.query(`CREATE TABLE t_ci (id bigint PRIMARY KEY, tenant_id text COLLATE ci NOT NULL, updated_at timestamptz NOT NULL)`);
    await source.pool.query(`CREATE TABLE t_ci_domain (id bigint PRIMARY KEY, tenant_id ci_text NOT NULL, updated_at timestamptz NOT NULL)`);
    await source.pool.query(`INSERT INTO t_ci VALUES (1, 'acme', now())`);
    // What the reader's WHERE would do with such a column: another spelling selects acme's row.
    const { rows } = await source.pool.query(`SELECT count(*)::int AS n FROM t_ci WHERE tenant_id = $1::text`, ['ACME']);
    assert.equal(rows[0].n, 1);

    const sqlModel = (name: string, sql: string) => [`  - name: ${name}`, `    sql: ${JSON.stringify(sql)}`, '    primary_key: [id]', '    cursor: updated_at', '    tenant: tenant_id'];
    const file = path.join(dir, 'collation.yaml');
    await fs.writeFile(
      file,
      [
        'models:',
        ...['t_ci', 't_ci_domain'].flatMap((t) => [`  - name: ${t}`, `    table: ${t}`, '    cursor: updated_at', '    tenant: tenant_id']),
        ...sqlModel('q_collate_ci', 'SELECT id, tenant_id COLLATE ci AS tenant_id, updated_at FROM t_text'),
        ...sqlModel('q_bytes', 'SELECT id, tenant_id COLLATE "C" AS tenant_id, updated_at FROM t_ci'),
      ].join('\n') + '\n',
    );
    await assert.rejects(loadModels(file, source.pool), (e: unknown) => {
      assert.ok(e instanceof SluiceError);
      const fields = (e.details ?? []).map((d) => d.field);
      assert.deepEqual(fields, ['models[0] (t_ci).tenant', 'models[1] (t_ci_domain).tenant', 'models[2] (q_collate_ci).tenant'], JSON.stringify(e.details));
      assert.match(e.details?.[0]?.message ?? '', /nondeterministic collation ci.*COLLATE "C"/);
      return true;
    });
    // The SQL model that compares bytes again loads, and its text is kept as given: two tenants.
    const bytes = path.join(dir, 'collation-bytes.yaml');
    await fs.writeFile(bytes, ['models:', ...sqlModel('q_bytes', 'SELECT id, tenant_id COLLATE "C" AS tenant_id, updated_at FROM t_ci')].join('\n') + '\n');
    assert.equal((await loadModels(bytes, source.pool)).models.length, 1);
    // Recipients cannot be created against the refused models: the catalog does not guess.
    await control.pool.query('DELETE FROM recipients');
    const refused = modelCatalog(file, source.url);
    catalogs.push(refused);
    assert.equal(await create(refused, 'ACME'), '503 models_unavailable');
  });

  it('refuses a model when a stored value is not canonical in its tenant column (a value stored before, or a type changed since)', async () => {
    await control.pool.query('DELETE FROM recipients');
    await control.pool.query(`INSERT INTO recipients (id, name, tenant_id) VALUES ('rcp_legacy7', 'seven', '7'), ('rcp_legacy007', 'also seven', '007'), ('rcp_word', 'word', 'acme')`);
    const file = path.join(dir, 't_int.yaml');
    const { models } = await loadModels(file, source.pool);
    const err = await checkStoredTenantValues(control.pool, source.pool, tenantColumns(models)).catch((e: unknown) => e as SluiceError);
    assert.ok(err instanceof SluiceError);
    assert.equal(err.code, 'tenant_type_mismatch');
    const messages = (err.details ?? []).map((d) => `${d.field}: ${d.message}`);
    assert.equal(messages.length, 2, messages.join('\n'));
    assert.match(messages[0] ?? '', /^models \(t_int\)\.tenant: .*rcp_legacy007.*different spelling/);
    assert.match(messages[1] ?? '', /^models \(t_int\)\.tenant: .*cannot carry recipient rcp_word/);
    // Disabling the offending recipients lets the models load.
    await control.pool.query(`UPDATE recipients SET disabled_at = now() WHERE id IN ('rcp_legacy007', 'rcp_word')`);
    await checkStoredTenantValues(control.pool, source.pool, tenantColumns(models));
    await control.pool.query('DELETE FROM recipients');
  });
});

describe('one bucket + prefix belongs to one recipient', () => {
  let api: TestApi;
  const ROLE = (n: number) => `arn:aws:iam::12345678901${n}:role/r`;
  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api.close();
  });

  it('refuses an overlapping prefix of the same bucket for a second recipient with 409 bucket_prefix_in_use', async () => {
    const post = (url: string, payload: Record<string, unknown>) => api.app.inject({ method: 'POST', url, headers: api.auth, payload });
    const a = (await post('/v1/recipients', { name: 'A', tenantId: 'tenant-a' })).json();
    const b = (await post('/v1/recipients', { name: 'B', tenantId: 'tenant-b' })).json();
    const dest = (recipientId: string, prefix: string, n: number) =>
      post('/v1/destinations', { recipientId, bucket: 'shared-bucket', region: 'us-east-1', prefix, auth: { roleArn: ROLE(n) } });
    assert.equal((await dest(a.id, 'a', 1)).statusCode, 201);
    for (const prefix of ['a', 'a/b', '']) {
      const r = await dest(b.id, prefix, 2);
      assert.equal(r.statusCode, 409, prefix);
      const body = r.json();
      assert.equal(body.error.code, 'bucket_prefix_in_use');
      assert.deepEqual(body.error.details, [{ field: 'prefix', message: "overlaps another recipient's destination in the same bucket" }]);
      assert.match(body.error.message, /overlaps prefix "a" of destination dst_/);
    }
    // Not overlapping: a sibling folder whose name merely starts the same.
    assert.equal((await dest(b.id, 'ab', 2)).statusCode, 201);
    // The same recipient may have two destinations in one folder of its own bucket.
    assert.equal((await dest(a.id, 'a/b', 1)).statusCode, 201);
    // An update that moves B's destination into A's prefix is refused the same way.
    const mine = (await api.app.inject({ method: 'GET', url: `/v1/destinations?recipientId=${b.id}`, headers: api.auth })).json().destinations[0];
    const moved = await api.app.inject({ method: 'PATCH', url: `/v1/destinations/${mine.id}`, headers: api.auth, payload: { prefix: 'a/c' } });
    assert.equal(moved.statusCode, 409);
    assert.equal(moved.json().error.code, 'bucket_prefix_in_use');
    // The empty prefix (the whole bucket) of a third bucket, then any prefix of it for another recipient.
    assert.equal((await post('/v1/destinations', { recipientId: a.id, bucket: 'whole-bucket', region: 'us-east-1', auth: { roleArn: ROLE(1) } })).statusCode, 201);
    const inside = await post('/v1/destinations', { recipientId: b.id, bucket: 'whole-bucket', region: 'us-east-1', prefix: 'deep/inside', auth: { roleArn: ROLE(2) } });
    assert.equal(inside.statusCode, 409);
    assert.match(inside.json().error.message, /overlaps the whole bucket/);
  });

  it('knows one store under another spelling of its endpoint: AWS\'s own endpoints, loopback names, a trailing dot, a default port', async () => {
    const a = (await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: api.auth, payload: { name: 'SA', tenantId: 'spelled-a' } })).json();
    const b = (await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: api.auth, payload: { name: 'SB', tenantId: 'spelled-b' } })).json();
    // Saved through createDestination, what the API, the CLI and the setup page call, with a resolver
    // that answers a public address for any name (this machine has no DNS).
    const deps = {
      config: { SLUICE_ALLOW_HTTP_ENDPOINTS: true, SLUICE_ENDPOINT_ALLOWLIST: ['127.0.0.0/8', '::1'] },
      resolver: async () => [{ address: '52.216.1.1', family: 4 as const }],
      models: { load: () => Promise.reject(new Error('not consulted')) },
    };
    let n = 0;
    const save = (recipientId: string, bucket: string, endpoint: string | undefined) =>
      outcome(
        createDestination(api.db.pool, api.secrets, deps, {
          recipientId,
          bucket,
          region: 'us-east-1',
          prefix: 'exports',
          ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
          auth: { accessKeyId: `AKIASPELLEDSTORE${String(++n).padStart(4, '0')}`, secretAccessKey: 's'.repeat(40) },
        }).then((d) => ({ tenantId: d.bucket })),
      );
    assert.equal(await save(a.id, 'spelled-aws', undefined), 'ok spelled-aws');
    for (const endpoint of ['https://s3.us-east-1.amazonaws.com', 'https://s3-fips.us-east-1.amazonaws.com.', 'https://S3.AMAZONAWS.COM']) {
      assert.equal(await save(b.id, 'spelled-aws', endpoint), '409 bucket_prefix_in_use prefix', endpoint);
    }
    assert.equal(await save(a.id, 'spelled-local', 'http://127.0.0.1:9000'), 'ok spelled-local');
    for (const endpoint of ['http://localhost:9000', 'http://127.1:9000', 'http://[::ffff:127.0.0.1]:9000', 'http://[::1]:9000', 'https://127.0.0.1:9000']) {
      assert.equal(await save(b.id, 'spelled-local', endpoint), '409 bucket_prefix_in_use prefix', endpoint);
    }
    assert.equal(await save(a.id, 'spelled-named', 'https://minio.example.com'), 'ok spelled-named');
    for (const endpoint of ['https://minio.example.com.', 'https://MINIO.example.com:443', 'http://minio.example.com']) {
      assert.equal(await save(b.id, 'spelled-named', endpoint), '409 bucket_prefix_in_use prefix', endpoint);
    }
    // Another store really: another port, another host.
    assert.equal(await save(b.id, 'spelled-local', 'http://127.0.0.1:9001'), 'ok spelled-local');
    assert.equal(await save(b.id, 'spelled-named', 'https://other.example.com'), 'ok spelled-named');
  });
});

/**
 * The OpenAPI document lists every route the plugins register (except hidden ones), and errors leave
 * the API in one shape without leaking internals. No database is touched: the pool never connects.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { buildServer, type ApiApp } from '../../src/api/server.js';
import { errorResponse } from '../../src/api/errors.js';
import { routes } from '../../src/api/routes/index.js';
import type { ApiApp as PluginApp } from '../../src/api/types.js';
import { loadConfig } from '../../src/config.js';
import { createPool } from '../../src/control/db.js';
import { SecretBox } from '../../src/control/secrets.js';
import { SluiceError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { modelCatalog } from '../../src/models/catalog.js';
import { testIdentity } from '../support/api.js';

const pool = createPool('postgres://nobody@127.0.0.1:1/none');
const deps = {
  pool,
  secrets: new SecretBox(crypto.randomBytes(32)),
  log: silentLogger,
  config: loadConfig({ SLUICE_DATA_DIR: '.tmp/api-unit' }),
  identity: testIdentity(),
  // Never opened: these tests touch no database.
  models: modelCatalog('.tmp/api-unit/absent.yaml', 'postgres://nobody@127.0.0.1:1/none'),
};
let app: ApiApp;

before(async () => {
  app = await buildServer(deps);
});
after(async () => {
  await app.close();
  await pool.end();
});

/** Every method + path the route plugins register, collected on a bare Fastify. */
async function registeredRoutes(): Promise<string[]> {
  const bare = Fastify();
  const seen: string[] = [];
  bare.addHook('onRoute', (r) => {
    // Hidden routes (the setup page's HTML and assets) are pages, not API calls.
    if ((r.schema as { hide?: boolean } | undefined)?.hide) return;
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) if (m !== 'HEAD') seen.push(`${m} ${r.url}`);
  });
  bare.setValidatorCompiler(() => () => ({ value: undefined }));
  bare.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const plugin of routes) await bare.register(async (scope) => plugin.register(scope as unknown as PluginApp, deps));
  await bare.ready();
  await bare.close();
  return seen.sort();
}

describe('OpenAPI document', () => {
  it('is served publicly and lists every route with its method', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\./);
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`))
      .sort();
    const expected = await registeredRoutes();
    assert.ok(expected.includes('POST /v1/destinations'));
    assert.ok(expected.includes('POST /v1/destinations/:id/test'));
    assert.deepEqual(documented, expected);
  });

  it('documents request bodies, errors and the bearer scheme', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const create = doc.paths['/v1/destinations'].post;
    assert.ok(create.requestBody.content['application/json'].schema.properties.bucket);
    assert.ok(create.responses['201']);
    assert.ok(create.responses['4XX'] ?? create.responses['4xx']);
    assert.deepEqual(create.security, [{ apiKey: [] }]);
    assert.equal(doc.components.securitySchemes.apiKey.scheme, 'bearer');
    assert.equal(create.requestBody.content['application/json'].schema.properties.audience, undefined);
  });
});

describe('error responses', () => {
  it('map a SluiceError directly', () => {
    const { status, body } = errorResponse(
      new SluiceError({ code: 'conflict', message: 'taken', hint: 'pick another', status: 409, actor: 'recipient' }),
      'req-1',
    );
    assert.equal(status, 409);
    assert.deepEqual(body, { error: { code: 'conflict', message: 'taken', actor: 'recipient', hint: 'pick another', requestId: 'req-1' } });
  });

  it('turn an unknown error into internal without its message', () => {
    const { status, body } = errorResponse(new Error('password=hunter2 at db.internal:5432'));
    assert.equal(status, 500);
    assert.equal(body.error.code, 'internal');
    assert.ok(!JSON.stringify(body).includes('hunter2'));
  });

  it('give Fastify client errors a stable code by status', () => {
    const err = Object.assign(new Error('Unsupported Media Type: text/csv'), { statusCode: 415 });
    assert.equal(errorResponse(err).body.error.code, 'unsupported_media_type');
  });

  it('leave a failing request with a 500 that hides the cause', async () => {
    // The pool points at a closed port: the key lookup throws a connection error.
    const res = await app.inject({ method: 'GET', url: '/v1/recipients', headers: { authorization: `Bearer sk_${'a'.repeat(43)}` } });
    assert.equal(res.statusCode, 500);
    const body = res.json();
    assert.equal(body.error.code, 'internal');
    assert.equal(body.error.actor, 'sluice');
    assert.ok(body.error.requestId);
    assert.ok(!/ECONNREFUSED|127\.0\.0\.1|nobody/.test(res.body));
  });

  it('readiness says unavailable when the control store does not answer', async () => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), { status: 'unavailable', checks: { controlStore: false, queue: false } });
  });
});

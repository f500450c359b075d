import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { revokeApiKey, createApiKey } from '../../src/control/apikeys.js';
import { startTestApi, type TestApi } from '../support/api.js';

let api: TestApi;
before(async () => {
  api = await startTestApi();
});
after(async () => {
  await api.close();
});

describe('authentication', () => {
  it('requires a key on /v1 routes', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/v1/recipients' });
    assert.equal(res.statusCode, 401);
    const body = res.json();
    assert.equal(body.error.code, 'unauthorized');
    assert.equal(body.error.actor, 'provider');
    assert.match(body.error.hint, /apikeys create/);
  });

  it('refuses a malformed header and an unknown key', async () => {
    const basic = await api.app.inject({ method: 'GET', url: '/v1/recipients', headers: { authorization: 'Basic abc' } });
    assert.equal(basic.statusCode, 401);
    const unknown = await api.app.inject({
      method: 'GET',
      url: '/v1/recipients',
      headers: { authorization: `Bearer sk_${'A'.repeat(43)}` },
    });
    assert.equal(unknown.statusCode, 401);
    assert.match(unknown.json().error.message, /unknown or revoked/);
  });

  it('refuses a revoked key and records last use of a live one', async () => {
    const made = await createApiKey(api.db.pool, { name: 'short-lived' });
    const headers = { authorization: `Bearer ${made.key}` };
    assert.equal((await api.app.inject({ method: 'GET', url: '/v1/recipients', headers })).statusCode, 200);
    const { rows } = await api.db.pool.query('SELECT last_used_at FROM api_keys WHERE id = $1', [made.id]);
    assert.ok(rows[0].last_used_at instanceof Date);
    await revokeApiKey(api.db.pool, made.id);
    assert.equal((await api.app.inject({ method: 'GET', url: '/v1/recipients', headers })).statusCode, 401);
  });

  it('stores only the hash of a key', async () => {
    const { rows } = await api.db.pool.query('SELECT key_hash FROM api_keys');
    for (const r of rows) assert.ok(!r.key_hash.toString('utf8').includes(api.key));
    assert.match(api.key, /^sk_[A-Za-z0-9_-]{43}$/);
  });

  it('leaves health, readiness and the OpenAPI document public', async () => {
    assert.equal((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal((await api.app.inject({ method: 'GET', url: '/readyz' })).json().status, 'ready');
    assert.equal((await api.app.inject({ method: 'GET', url: '/openapi.json' })).statusCode, 200);
  });

  it('answers unknown routes with a JSON not_found (after auth on /v1)', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/nope' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'not_found');
    assert.equal((await api.app.inject({ method: 'GET', url: '/v1/nope' })).statusCode, 401);
  });
});

describe('recipients', () => {
  it('creates, lists, shows, updates and disables', async () => {
    const created = await api.app.inject({
      method: 'POST',
      url: '/v1/recipients',
      headers: api.auth,
      payload: { name: 'Acme', tenantId: 'acme' },
    });
    assert.equal(created.statusCode, 201);
    const r = created.json();
    assert.match(r.id, /^rcp_/);
    assert.equal(r.name, 'Acme');
    assert.equal(r.tenantId, 'acme');
    assert.equal(r.disabled, false);

    const list = await api.app.inject({ method: 'GET', url: '/v1/recipients', headers: api.auth });
    assert.ok(list.json().recipients.some((x: { id: string }) => x.id === r.id));

    const shown = await api.app.inject({ method: 'GET', url: `/v1/recipients/${r.id}`, headers: api.auth });
    assert.equal(shown.json().tenantId, 'acme');

    const updated = await api.app.inject({
      method: 'PATCH',
      url: `/v1/recipients/${r.id}`,
      headers: api.auth,
      payload: { name: 'Acme Corp', tenantId: 'acme-corp' },
    });
    assert.equal(updated.statusCode, 200);
    assert.equal(updated.json().name, 'Acme Corp');
    assert.equal(updated.json().tenantId, 'acme-corp');

    const disabled = await api.app.inject({ method: 'POST', url: `/v1/recipients/${r.id}/disable`, headers: api.auth });
    assert.equal(disabled.json().disabled, true);
  });

  it('gives one message per bad field', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/recipients',
      headers: api.auth,
      payload: { name: '', tenantId: ' padded ', extra: 1 },
    });
    assert.equal(res.statusCode, 400);
    const err = res.json().error;
    assert.equal(err.code, 'invalid_input');
    assert.deepEqual(err.details, [
      { field: 'name', message: 'must not be empty' },
      { field: 'tenantId', message: 'must not start or end with spaces' },
      { field: 'extra', message: 'is not a known field; check the spelling' },
    ]);
  });

  it('says which field is missing and rejects a body that is not JSON', async () => {
    const missing = await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: api.auth, payload: { name: 'x' } });
    assert.deepEqual(missing.json().error.details, [{ field: 'tenantId', message: 'is required' }]);
    const bad = await api.app.inject({
      method: 'POST',
      url: '/v1/recipients',
      headers: { ...api.auth, 'content-type': 'application/json' },
      payload: '{not json',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'invalid_input');
  });

  it('refuses a tenant id another recipient has', async () => {
    const payload = { name: 'One', tenantId: 'dup-tenant' };
    assert.equal((await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: api.auth, payload })).statusCode, 201);
    const again = await api.app.inject({ method: 'POST', url: '/v1/recipients', headers: api.auth, payload: { ...payload, name: 'Two' } });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error.code, 'tenant_id_taken');
  });

  it('answers not_found for an unknown id', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/v1/recipients/rcp_missing', headers: api.auth });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'not_found');
  });
});

/**
 * API key scopes, route by route: an operator key may do everything, a read-only key only what
 * changes nothing, a recipient key only what concerns its own recipient. The table below must name
 * every /v1 route of the OpenAPI document, so a new route without a test here fails this file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApiKey } from '../../src/control/apikeys.js';
import { newId } from '../../src/core/ids.js';
import { startTestApi, type TestApi } from '../support/api.js';

let api: TestApi;
const ids = { A: { rcp: '', dst: '', spare: '', trf: '' }, B: { rcp: '', dst: '', spare: '', trf: '' } };
const keys: Record<'operator' | 'read_only' | 'recipient', string> = { operator: '', read_only: '', recipient: '' };
type Target = 'A' | 'B';
let serial = 0;

/** One row per route: how to call it against recipient A's or B's resources, and who owns what it touches. */
interface RouteCase {
  route: string;
  writes: boolean;
  /** operator: operator keys only (and read-only keys for reads); none: no recipient; list; owned: the target's. */
  owner: 'operator' | 'none' | 'list' | 'owned';
  request(t: Target): { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: Record<string, unknown> };
}

const role = (n: number) => `arn:aws:iam::1234567890${String(n).padStart(2, '0')}:role/r`;

const CASES: RouteCase[] = [
  { route: 'POST /v1/recipients', writes: true, owner: 'operator', request: () => ({ method: 'POST', url: '/v1/recipients', payload: { name: 'n', tenantId: `t-${++serial}` } }) },
  { route: 'GET /v1/recipients', writes: false, owner: 'operator', request: () => ({ method: 'GET', url: '/v1/recipients' }) },
  { route: 'GET /v1/recipients/{id}', writes: false, owner: 'owned', request: (t) => ({ method: 'GET', url: `/v1/recipients/${ids[t].rcp}` }) },
  { route: 'PATCH /v1/recipients/{id}', writes: true, owner: 'operator', request: (t) => ({ method: 'PATCH', url: `/v1/recipients/${ids[t].rcp}`, payload: { name: `renamed ${t}` } }) },
  { route: 'POST /v1/recipients/{id}/disable', writes: true, owner: 'operator', request: () => ({ method: 'POST', url: `/v1/recipients/${newId('rcp')}/disable` }) },
  {
    route: 'POST /v1/destinations',
    writes: true,
    owner: 'owned',
    request: (t) => ({ method: 'POST', url: '/v1/destinations', payload: { recipientId: ids[t].rcp, bucket: `b-${t.toLowerCase()}-${++serial}`, region: 'us-east-1', auth: { roleArn: role(t === 'A' ? 1 : 2) } } }),
  },
  { route: 'GET /v1/destinations', writes: false, owner: 'list', request: () => ({ method: 'GET', url: '/v1/destinations' }) },
  { route: 'GET /v1/destinations/{id}', writes: false, owner: 'owned', request: (t) => ({ method: 'GET', url: `/v1/destinations/${ids[t].dst}` }) },
  { route: 'PATCH /v1/destinations/{id}', writes: true, owner: 'owned', request: (t) => ({ method: 'PATCH', url: `/v1/destinations/${ids[t].dst}`, payload: { name: `dest ${++serial}` } }) },
  // Disabling is idempotent: a spare destination of each recipient takes every call.
  { route: 'POST /v1/destinations/{id}/disable', writes: true, owner: 'owned', request: (t) => ({ method: 'POST', url: `/v1/destinations/${ids[t].spare}/disable` }) },
  // Allowed calls only have to pass the gate: a second delete of the same destination answers 404.
  { route: 'DELETE /v1/destinations/{id}', writes: true, owner: 'owned', request: (t) => ({ method: 'DELETE', url: `/v1/destinations/${ids[t].spare}` }) },
  { route: 'POST /v1/destinations/{id}/test', writes: true, owner: 'owned', request: (t) => ({ method: 'POST', url: `/v1/destinations/${ids[t].dst}/test?wait=false` }) },
  { route: 'GET /v1/destinations/{id}/tests/{testId}', writes: false, owner: 'owned', request: (t) => ({ method: 'GET', url: `/v1/destinations/${ids[t].dst}/tests/ctt_none` }) },
  { route: 'GET /v1/destinations/{id}/tests', writes: false, owner: 'owned', request: (t) => ({ method: 'GET', url: `/v1/destinations/${ids[t].dst}/tests` }) },
  // An invalid bucket: allowed requests stop at validation (400), nothing reaches the network.
  { route: 'POST /v1/destinations/test', writes: true, owner: 'owned', request: (t) => ({ method: 'POST', url: '/v1/destinations/test', payload: { recipientId: ids[t].rcp, bucket: 'NO', region: 'us-east-1', auth: { roleArn: role(1) } } }) },
  { route: 'GET /v1/destinations/{id}/policies', writes: false, owner: 'owned', request: (t) => ({ method: 'GET', url: `/v1/destinations/${ids[t].dst}/policies` }) },
  { route: 'POST /v1/policies', writes: false, owner: 'none', request: () => ({ method: 'POST', url: '/v1/policies', payload: { bucket: 'some-bucket' } }) },
  { route: 'POST /v1/destinations/{id}/transfers', writes: true, owner: 'owned', request: (t) => ({ method: 'POST', url: `/v1/destinations/${ids[t].dst}/transfers`, payload: {} }) },
  { route: 'POST /v1/transfers/{id}/cancel', writes: true, owner: 'owned', request: (t) => ({ method: 'POST', url: `/v1/transfers/${ids[t].trf}/cancel` }) },
  { route: 'GET /v1/transfers', writes: false, owner: 'list', request: () => ({ method: 'GET', url: '/v1/transfers' }) },
  { route: 'GET /v1/transfers/{id}', writes: false, owner: 'owned', request: (t) => ({ method: 'GET', url: `/v1/transfers/${ids[t].trf}` }) },
  { route: 'POST /v1/recipients/{id}/setup-links', writes: true, owner: 'owned', request: (t) => ({ method: 'POST', url: `/v1/recipients/${ids[t].rcp}/setup-links`, payload: { expiresInDays: 1 } }) },
  { route: 'GET /v1/recipients/{id}/setup-links', writes: false, owner: 'owned', request: (t) => ({ method: 'GET', url: `/v1/recipients/${ids[t].rcp}/setup-links` }) },
  { route: 'DELETE /v1/recipients/{id}/setup-links/{linkId}', writes: true, owner: 'owned', request: (t) => ({ method: 'DELETE', url: `/v1/recipients/${ids[t].rcp}/setup-links/sl_none` }) },
  // Models live in the provider's source: operator keys (read-only for the GET). An unknown model: nothing runs.
  { route: 'GET /v1/models/{name}/delete-tracking', writes: false, owner: 'operator', request: () => ({ method: 'GET', url: '/v1/models/nope/delete-tracking' }) },
  { route: 'POST /v1/models/{name}/delete-tracking', writes: true, owner: 'operator', request: () => ({ method: 'POST', url: '/v1/models/nope/delete-tracking' }) },
  { route: 'GET /v1/manifest-keys', writes: false, owner: 'none', request: () => ({ method: 'GET', url: '/v1/manifest-keys' }) },
];

function expectedAllowed(scope: keyof typeof keys, c: RouteCase, target: Target): boolean {
  if (scope === 'operator') return true;
  if (scope === 'read_only') return !c.writes;
  if (c.owner === 'operator') return false;
  if (c.owner === 'owned') return target === 'A';
  return true;
}

before(async () => {
  api = await startTestApi();
  const post = (url: string, payload: Record<string, unknown>) => api.app.inject({ method: 'POST', url, headers: api.auth, payload });
  for (const t of ['A', 'B'] as const) {
    ids[t].rcp = (await post('/v1/recipients', { name: `Recipient ${t}`, tenantId: `tenant-${t}` })).json().id;
    ids[t].dst = (await post('/v1/destinations', { recipientId: ids[t].rcp, bucket: `home-${t.toLowerCase()}`, region: 'us-east-1', auth: { roleArn: role(t === 'A' ? 1 : 2) } })).json().id;
    ids[t].spare = (await post('/v1/destinations', { recipientId: ids[t].rcp, bucket: `spare-${t.toLowerCase()}`, region: 'us-east-1', auth: { roleArn: role(t === 'A' ? 1 : 2) } })).json().id;
    ids[t].trf = newId('trf');
    await api.db.pool.query(`INSERT INTO transfers (id, destination_id, kind, status, finished_at) VALUES ($1, $2, 'INCREMENTAL', 'succeeded', now())`, [ids[t].trf, ids[t].dst]);
  }
  keys.operator = api.key;
  keys.read_only = (await createApiKey(api.db.pool, { name: 'dashboards', scope: 'read_only' })).key;
  keys.recipient = (await createApiKey(api.db.pool, { name: 'A integration', scope: 'recipient', recipientId: ids.A.rcp })).key;
});
after(async () => {
  await api.close();
});

describe('every /v1 route, every scope', () => {
  it('the table covers every /v1 route of the API', async () => {
    const doc = (await api.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/v1/'))
      .flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    assert.deepEqual(CASES.map((c) => c.route).sort(), documented);
  });

  for (const scope of ['operator', 'read_only', 'recipient'] as const) {
    for (const c of CASES) {
      const targets: Target[] = c.owner === 'owned' ? ['A', 'B'] : ['A'];
      for (const target of targets) {
        const allowed = expectedAllowed(scope, c, target);
        it(`${scope} key, ${c.route}${c.owner === 'owned' ? ` (recipient ${target}'s)` : ''}: ${allowed ? 'allowed' : '403'}`, async () => {
          const r = c.request(target);
          const res = await api.app.inject({ ...r, headers: { authorization: `Bearer ${keys[scope]}` } });
          if (allowed) {
            assert.ok(![401, 403].includes(res.statusCode) && res.statusCode < 500, `${res.statusCode} ${res.body}`);
          } else {
            assert.equal(res.statusCode, 403, res.body);
            const err = res.json().error;
            assert.equal(err.code, 'forbidden');
            assert.equal(err.actor, 'provider');
            assert.ok(err.hint);
          }
        });
      }
    }
  }
});

describe('lists for a recipient key', () => {
  const get = (url: string, key: string) => api.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  it('show only its own recipient, and refuse to name another', async () => {
    const dests = (await get('/v1/destinations', keys.recipient)).json().destinations as Array<{ recipientId: string }>;
    assert.ok(dests.length > 0);
    assert.ok(dests.every((d) => d.recipientId === ids.A.rcp));
    assert.equal((await get(`/v1/destinations?recipientId=${ids.B.rcp}`, keys.recipient)).statusCode, 403);
    assert.equal((await get(`/v1/destinations?recipientId=${ids.A.rcp}`, keys.recipient)).statusCode, 200);
    const transfers = (await get('/v1/transfers', keys.recipient)).json().transfers as Array<{ id: string; destinationId: string }>;
    assert.ok(transfers.some((t) => t.id === ids.A.trf));
    assert.ok(!transfers.some((t) => t.id === ids.B.trf));
    assert.deepEqual((await get(`/v1/transfers?destination=${ids.B.dst}`, keys.recipient)).json().transfers, []);
    assert.equal((await get(`/v1/transfers?recipient=${ids.B.rcp}`, keys.recipient)).statusCode, 403);
    // The operator and read-only keys see both.
    for (const key of [keys.operator, keys.read_only]) {
      const all = (await get('/v1/destinations', key)).json().destinations as Array<{ recipientId: string }>;
      assert.ok(all.some((d) => d.recipientId === ids.B.rcp));
    }
  });

  it('cannot move a destination to another recipient, nor create one for it', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: '/v1/destinations',
      headers: { authorization: `Bearer ${keys.recipient}` },
      payload: { recipientId: ids.B.rcp, bucket: 'sneaky-bucket', region: 'us-east-1', auth: { roleArn: role(2) } },
    });
    assert.equal(res.statusCode, 403);
    const { rows } = await api.db.pool.query(`SELECT 1 FROM destinations WHERE bucket = 'sneaky-bucket'`);
    assert.equal(rows.length, 0);
  });
});

describe('keys and their scopes', () => {
  it('keys made before scopes existed are operator keys', async () => {
    const { rows } = await api.db.pool.query<{ scope: string }>(`SELECT scope FROM api_keys WHERE key_hash = sha256($1::bytea)`, [Buffer.from(api.key)]);
    assert.equal(rows[0]?.scope, 'operator');
  });
  it('a recipient key needs a recipient that exists; other scopes take none', async () => {
    await assert.rejects(createApiKey(api.db.pool, { name: 'x', scope: 'recipient' }), /recipientId: is required for a recipient key/);
    await assert.rejects(createApiKey(api.db.pool, { name: 'x', scope: 'recipient', recipientId: 'rcp_nobody' }), /No recipient with id rcp_nobody/);
    await assert.rejects(createApiKey(api.db.pool, { name: 'x', scope: 'read_only', recipientId: ids.A.rcp }), /recipientId: is only for a recipient key/);
    await assert.rejects(createApiKey(api.db.pool, { name: 'x', scope: 'root' }), /scope: must be one of operator, read_only, recipient/);
  });
});

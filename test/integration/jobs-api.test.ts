import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../support/api.js';
import { insertDestinations } from '../support/jobs-fixtures.js';

describe('API: trigger and cancel transfers, health and metrics', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(async () => api.close());

  it('queues a transfer, reports a repeated trigger as already queued, and cancels it', async () => {
    const [d] = await insertDestinations(api.db.pool, 1, { frequencyMinutes: null });
    const url = `/v1/destinations/${d!.id}/transfers`;
    const first = await api.app.inject({ method: 'POST', url, headers: api.auth, payload: {} });
    assert.equal(first.statusCode, 202, first.body);
    const queued = first.json();
    assert.equal(queued.status, 'queued');
    assert.match(queued.transferId, /^trf_/);
    const again = await api.app.inject({ method: 'POST', url, headers: api.auth });
    assert.equal(again.json().status, 'already_queued');
    assert.equal(again.json().transferId, queued.transferId);

    const cancel = await api.app.inject({ method: 'POST', url: `/v1/transfers/${queued.transferId}/cancel`, headers: api.auth });
    assert.equal(cancel.statusCode, 202, cancel.body);
    assert.equal(cancel.json().status, 'cancelled');
    const twice = await api.app.inject({ method: 'POST', url: `/v1/transfers/${queued.transferId}/cancel`, headers: api.auth });
    assert.equal(twice.statusCode, 409);
    assert.match(twice.json().error.message, /already finished \(cancelled\)/);
    const unknown = await api.app.inject({ method: 'POST', url: '/v1/transfers/trf_nope/cancel', headers: api.auth });
    assert.equal(unknown.statusCode, 404);
  });

  it('says what is wrong with a bad request', async () => {
    const [d] = await insertDestinations(api.db.pool, 1, { frequencyMinutes: null });
    const url = `/v1/destinations/${d!.id}/transfers`;
    const backfill = await api.app.inject({ method: 'POST', url, headers: api.auth, payload: { kind: 'BACKFILL', from: '2024-01-01' } });
    assert.equal(backfill.statusCode, 400);
    assert.equal(backfill.json().error.details[0].field, 'to');
    const models = await api.app.inject({ method: 'POST', url, headers: api.auth, payload: { models: ['Orders!'] } });
    assert.equal(models.statusCode, 400);
    assert.match(models.json().error.message, /model name/);
    const missing = await api.app.inject({ method: 'POST', url: '/v1/destinations/dst_nope/transfers', headers: api.auth });
    assert.equal(missing.statusCode, 404);
    const anonymous = await api.app.inject({ method: 'POST', url });
    assert.equal(anonymous.statusCode, 401);
  });

  it('serves /healthz, /readyz and Prometheus metrics without a key', async () => {
    assert.equal((await api.app.inject({ url: '/healthz' })).statusCode, 200);
    const ready = await api.app.inject({ url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { status: 'ready', checks: { controlStore: true, queue: true } });
    const metrics = await api.app.inject({ url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.headers['content-type'] as string, /text\/plain/);
    assert.match(metrics.body, /# TYPE sluice_queue_jobs gauge/);
    assert.match(metrics.body, /# TYPE sluice_transfers_total counter/);
  });
});

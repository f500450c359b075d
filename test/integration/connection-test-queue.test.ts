/**
 * Connection tests of saved destinations through the queue: the API requests a `connection_test` job,
 * a real graphile-worker worker runs the real test against s3rver and records it. Coalescing,
 * wait=false, and the clear errors when no worker takes the test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QUEUE_SCHEMA } from '../../src/jobs/queue.js';
import { startTestApi } from '../support/api.js';
import { allowS3rverAccessKey } from '../support/fault-proxy.js';
import { s3rverDestination, startS3, type TestS3 } from '../support/s3.js';

const BUCKET = 'queue-ct-bucket';
const KEY = { accessKeyId: 'AKIAQUEUECONNTEST001', secretAccessKey: 'queue-connection-test-secret-0000000000' };

let s3: TestS3;

const s3rverConfig = (bucket = BUCKET) => s3rverDestination(s3, bucket, KEY);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function client(env: Record<string, string> = {}) {
  const api = await startTestApi({ SLUICE_ALLOW_HTTP_ENDPOINTS: 'true', SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1', ...env });
  const call = async (method: 'GET' | 'POST', url: string, payload?: object) =>
    api.app.inject({ method, url, headers: api.auth, ...(payload ? { payload } : {}) });
  const recipientId = (await call('POST', '/v1/recipients', { name: 'Acme', tenantId: 'acme' })).json().id as string;
  const destination = async (bucket = BUCKET): Promise<string> => {
    const res = await call('POST', '/v1/destinations', { recipientId, ...s3rverConfig(bucket) });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id;
  };
  const queuedJobs = async (destinationId: string): Promise<number> =>
    (
      await api.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${QUEUE_SCHEMA}._private_jobs WHERE key = $1`,
        [`connection_test:${destinationId}`],
      )
    ).rows[0]!.n;
  const metric = async (line: RegExp): Promise<number> => {
    const body = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    const m = body.split('\n').find((l) => line.test(l));
    return m ? Number(m.split(' ').pop()) : 0;
  };
  return { api, call, destination, queuedJobs, metric };
}

before(async () => {
  s3 = await startS3([BUCKET]);
  allowS3rverAccessKey(KEY.accessKeyId, KEY.secretAccessKey);
});
after(async () => {
  await s3.close();
});

describe('connection tests on the queue, with a worker', () => {
  let c: Awaited<ReturnType<typeof client>>;
  before(async () => {
    c = await client();
    await c.api.startWorker();
  });
  after(async () => c.api.close());

  it('a queued test passes, marks the destination active and is kept with its steps', async () => {
    const id = await c.destination();
    const before = await c.metric(/^sluice_connection_tests_total\{outcome="passed",code="ok"\}/);
    const res = await c.call('POST', `/v1/destinations/${id}/test`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.passed, true);
    assert.match(body.testId, /^ctt_/);
    assert.equal(body.destination.status, 'active');
    assert.equal(body.destination.lastTestPassed, true);
    // The job has left the queue; the test is recorded with its steps.
    assert.equal(await c.queuedJobs(id), 0);
    const run = (await c.call('GET', `/v1/destinations/${id}/tests/${body.testId}`)).json();
    assert.equal(run.status, 'passed');
    assert.deepEqual(run.result.steps.map((s: { step: string }) => s.step), body.steps.map((s: { step: string }) => s.step));
    assert.ok(run.startedAt && run.finishedAt);
    assert.equal(await c.metric(/^sluice_connection_tests_total\{outcome="passed",code="ok"\}/), before + 1);
    // Neither the job payload nor the stored result nor the logs carry the secret.
    const stored = await c.api.db.pool.query(`SELECT payload::text AS p FROM ${QUEUE_SCHEMA}._private_jobs UNION ALL SELECT result::text FROM connection_tests`);
    assert.ok(stored.rows.every((r) => !String(r.p).includes(KEY.secretAccessKey)));
    assert.ok(!c.api.logs().includes(KEY.secretAccessKey));
  });

  it('a failing test records its code on the destination and in the metrics', async () => {
    const id = await c.destination('queue-no-such-bucket');
    const before = await c.metric(/^sluice_connection_tests_total\{outcome="failed",code="bucket_not_found"\}/);
    const res = await c.call('POST', `/v1/destinations/${id}/test`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.passed, false);
    assert.equal(body.steps.find((s: { status: string }) => s.status === 'failed').code, 'bucket_not_found');
    assert.equal(body.destination.lastTestPassed, false);
    assert.equal(body.destination.lastError.code, 'bucket_not_found');
    // Recorded exactly as a direct test did: with the step and its docs/errors.md entry.
    assert.equal(body.destination.lastError.step, 'put_object');
    assert.equal(body.destination.lastError.docs, 'docs/errors.md#ct-bucket_not_found');
    assert.equal((await c.call('GET', `/v1/destinations/${id}/tests/${body.testId}`)).json().status, 'failed');
    assert.equal(await c.metric(/^sluice_connection_tests_total\{outcome="failed",code="bucket_not_found"\}/), before + 1);
  });

  it('a pass clears needs_attention', async () => {
    const id = await c.destination();
    await c.api.db.pool.query(
      `UPDATE destinations SET status = 'needs_attention', enabled = false, last_error = '{"code":"access_denied_put"}' WHERE id = $1`,
      [id],
    );
    const body = (await c.call('POST', `/v1/destinations/${id}/test`)).json();
    assert.equal(body.passed, true);
    assert.equal(body.destination.status, 'active');
    assert.equal(body.destination.enabled, true);
    assert.equal(body.destination.lastError, null);
  });

  it('wait=false answers 202 with the queued test; its result is fetched later', async () => {
    const id = await c.destination();
    const res = await c.call('POST', `/v1/destinations/${id}/test?wait=false`);
    assert.equal(res.statusCode, 202, res.body);
    const run = res.json();
    assert.match(run.id, /^ctt_/);
    assert.ok(['queued', 'running', 'passed'].includes(run.status));
    assert.equal(res.headers.location, `/v1/destinations/${id}/tests/${run.id}`);
    let got = run;
    for (let i = 0; i < 200 && !['passed', 'failed', 'error'].includes(got.status); i++) {
      await sleep(50);
      got = (await c.call('GET', res.headers.location as string)).json();
    }
    assert.equal(got.status, 'passed');
    assert.equal(got.result.passed, true);
    const list = (await c.call('GET', `/v1/destinations/${id}/tests`)).json();
    assert.deepEqual(list.tests.map((t: { id: string }) => t.id), [run.id]);
    assert.equal((await c.call('GET', `/v1/destinations/${id}`)).json().status, 'active');
    assert.equal((await c.call('GET', `/v1/destinations/${id}/tests/ctt_nope`)).statusCode, 404);
    assert.equal((await c.call('POST', `/v1/destinations/${id}/test?wait=maybe`)).statusCode, 400);
    assert.equal((await c.call('POST', `/v1/destinations/${id}/test?waitSeconds=0`)).statusCode, 400);
  });

  it('answers not_found for an unknown destination, without queueing anything', async () => {
    assert.equal((await c.call('POST', '/v1/destinations/dst_nope/test')).statusCode, 404);
    assert.equal((await c.call('GET', '/v1/destinations/dst_nope/tests')).statusCode, 404);
    assert.equal(await c.queuedJobs('dst_nope'), 0);
  });
});

describe('connection tests on the queue, without a worker', () => {
  let c: Awaited<ReturnType<typeof client>>;
  let leftover = '';
  before(async () => {
    c = await client({ SLUICE_CONNECTION_TEST_WAIT_SECONDS: '1' });
  });
  after(async () => c.api.close());

  it('answers no_worker within the wait bound, saying to start a worker', async () => {
    const id = await c.destination();
    leftover = id;
    const started = Date.now();
    const res = await c.call('POST', `/v1/destinations/${id}/test`);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(res.statusCode, 503, res.body);
    const err = res.json().error;
    assert.equal(err.code, 'no_worker');
    assert.match(err.hint, /sluice worker/);
    assert.match(err.hint, new RegExp(`/v1/destinations/${id}/tests/ctt_`));
    assert.ok(seconds >= 1 && seconds < 15, `answered after ${seconds} s`);
    // The destination is untouched until a worker runs the test.
    assert.equal((await c.call('GET', `/v1/destinations/${id}`)).json().lastTestAt, null);
  });

  it('coalesces requests while a test waits, and a worker that starts later runs it once', async () => {
    const id = await c.destination();
    const a = (await c.call('POST', `/v1/destinations/${id}/test?wait=false`)).json();
    const b = (await c.call('POST', `/v1/destinations/${id}/test?wait=false`)).json();
    const [d, e] = await Promise.all([
      c.call('POST', `/v1/destinations/${id}/test?wait=false`),
      c.call('POST', `/v1/destinations/${id}/test?wait=false`),
    ]);
    assert.equal(a.status, 'queued');
    assert.deepEqual([b.id, d.json().id, e.json().id], [a.id, a.id, a.id]);
    assert.equal(await c.queuedJobs(id), 1);
    assert.equal((await c.call('GET', `/v1/destinations/${id}/tests`)).json().tests.length, 1);

    // A waiting request joins it too, then gets its result once a worker takes it.
    // A roomy bound for this one (the suite's default is 1 s): a loaded machine may take a while.
    const waiting = c.call('POST', `/v1/destinations/${id}/test?waitSeconds=60`);
    await sleep(200);
    const before = await c.metric(/^sluice_connection_tests_total\{outcome="passed",code="ok"\}/);
    const w = await c.api.startWorker();
    try {
      const res = await waiting;
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().testId, a.id);
      assert.equal(res.json().destination.status, 'active', `${res.body}\n${c.api.logs().slice(-6000)}`);
      // The test left queued by the no_worker answer runs too, once.
      for (let i = 0; i < 200 && (await c.call('GET', `/v1/destinations/${leftover}`)).json().status !== 'active'; i++) await sleep(50);
      assert.equal((await c.call('GET', `/v1/destinations/${leftover}`)).json().status, 'active');
      assert.equal(await c.metric(/^sluice_connection_tests_total\{outcome="passed",code="ok"\}/), before + 2);
      const tests = (await c.call('GET', `/v1/destinations/${id}/tests`)).json().tests;
      assert.deepEqual(tests.map((t: { id: string; status: string }) => `${t.id}:${t.status}`), [`${a.id}:passed`]);
    } finally {
      await w.stop();
    }
  });

  it('answers workers_busy when workers are alive but none took the test', async () => {
    // A live heartbeat of a worker pool that never fetches: as if every slot were taken.
    await c.api.db.pool.query(`INSERT INTO workers (id, hostname, pid, concurrency) VALUES ('pool-busy', 'test', 1, 1)`);
    try {
      const id = await c.destination();
      const res = await c.call('POST', `/v1/destinations/${id}/test`);
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().error.code, 'workers_busy');
      assert.match(res.json().error.message, /1 worker is running/);
    } finally {
      await c.api.db.pool.query(`DELETE FROM workers WHERE id = 'pool-busy'`);
    }
  });
});

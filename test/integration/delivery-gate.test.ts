/**
 * The delivery gate on every path, with real parts (API server, PostgreSQL queue and worker, the
 * runner, the `sluice` CLI as a child process, s3rver): a destination delivers only while its latest
 * connection test passed and nothing that test covered has changed since. Every refusal writes nothing
 * and names the test to run.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import pg from 'pg';
import { testSavedDestination } from '../../src/control/destination-tests.js';
import { recordConnectionTest } from '../../src/control/destination-store.js';
import { prepareQueue } from '../../src/jobs/queue.js';
import { scheduleDue } from '../../src/jobs/scheduler.js';
import { loadJobSettings } from '../../src/jobs/settings.js';
import { startWorker, type Worker } from '../../src/jobs/worker.js';
import { silentLogger } from '../../src/core/log.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import { checkDelivery } from '../../src/control/delivery-gate.js';
import { type TransferDeps } from '../../src/transfer/deps.js';
import { runTransfer } from '../../src/transfer/run.js';
import type { ModelDefinition } from '../../src/core/types.js';
import { runSluice, type CliRun } from '../support/cli.js';
import { startTestApi, testIdentity, type TestApi } from '../support/api.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { allowS3rverAccessKey } from '../support/fault-proxy.js';
import { s3rverDestination, startS3, type TestS3 } from '../support/s3.js';
import { transferDeps } from '../support/transfer-fixture.js';
import { destinationLoader } from '../../src/control/transfer-destination.js';
import { until } from '../support/wait.js';

const BUCKET = 'gate-bucket';
const MOVED = 'gate-moved';
const OTHER = 'gate-other';
const otherKey = (i: number) => ({ accessKeyId: `AKIAGATETEST0000001${i}`, secretAccessKey: `gate-test-secret-0000000000000000001${i}` });
const KEY = { accessKeyId: 'AKIAGATETEST00000001', secretAccessKey: 'gate-test-secret-00000000000000000000000' };
const orders: ModelDefinition = { name: 'orders', source: { table: 'orders' }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'tenant_id', lookback: 0 };

let s3: TestS3;
let api: TestApi;
let sourceDb: TestDatabase;
let sql: pg.Pool;
let source: PostgresSource;
let deps: TransferDeps;
let dir: string;
let recipientId: string;
let worker: Worker | undefined;

before(async () => {
  s3 = await startS3([BUCKET, MOVED, OTHER]);
  for (const i of [0, 1, 2]) allowS3rverAccessKey(otherKey(i).accessKeyId, otherKey(i).secretAccessKey);
  allowS3rverAccessKey(KEY.accessKeyId, KEY.secretAccessKey);
  [api, sourceDb] = await Promise.all([
    startTestApi({ SLUICE_ALLOW_HTTP_ENDPOINTS: 'true', SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1' }),
    freshDatabase({ migrate: false, prefix: 'sluice_source' }),
  ]);
  await prepareQueue(api.db.pool);
  sql = new pg.Pool({ connectionString: sourceDb.url, max: 2 });
  await sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO orders SELECT g, 'acme', timestamptz '2026-01-01' + g * interval '1 s' FROM generate_series(1, 30) g;
  `);
  source = createPostgresSource(sourceDb.url, { maxConcurrentQueries: 1 });
  deps = transferDeps({ pool: api.db.pool, secrets: api.secrets, source, models: [orders], identity: testIdentity() });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-gate-'));
  await fs.writeFile(
    path.join(dir, 'sluice.yaml'),
    ['models:', '  - name: orders', '    table: orders', '    cursor: updated_at', '    tenant: tenant_id', ''].join('\n'),
  );
  recipientId = (await post('/v1/recipients', { name: 'Acme', tenantId: 'acme' })).json().id;
});
after(async () => {
  await worker?.stop();
  await sql?.end();
  await source?.close();
  await api?.close();
  await s3?.close();
  await sourceDb?.drop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

function post(url: string, payload?: object) {
  return api.app.inject({ method: 'POST', url, headers: api.auth, ...(payload ? { payload } : {}) });
}
function patch(url: string, payload: object) {
  return api.app.inject({ method: 'PATCH', url, headers: api.auth, payload });
}

/** The connection test exactly as the worker runs it (testSavedDestination), recorded on the destination. */
async function connectionTest(id: string): Promise<boolean> {
  const { result } = await testSavedDestination(api.db.pool, api.secrets, { config: api.config, identity: testIdentity(), log: silentLogger }, id);
  return result.passed;
}

async function dataObjects(): Promise<string[]> {
  return (await s3.list(BUCKET)).filter((k) => !k.includes('_sluice/connection-test/'));
}

/** `sluice transfer <id>` as an operator runs it: a child process, configuration from the environment. */
function cliTransfer(id: string): Promise<CliRun> {
  return runSluice(['transfer', id], {
    DATABASE_URL: api.db.url,
    SLUICE_SOURCE_URL: sourceDb.url,
    SLUICE_CONFIG: path.join(dir, 'sluice.yaml'),
    SLUICE_SECRET_KEY: api.secretKey,
    SLUICE_DATA_DIR: dir,
    SLUICE_PUBLIC_URL: 'https://sluice.test.example',
    SLUICE_LOG_LEVEL: 'error',
  });
}

/** Whether the scheduler finds the destination due (it is made due first). */
async function scheduled(id: string): Promise<boolean> {
  await api.db.pool.query('UPDATE destinations SET next_run_at = NULL WHERE id = $1', [id]);
  const r = await scheduleDue(api.db.pool);
  const { rows } = await api.db.pool.query<{ due: boolean }>('SELECT next_run_at IS NOT NULL AS due FROM destinations WHERE id = $1', [id]);
  return r.due > 0 && rows[0]!.due;
}

/** Every path at once: the API trigger's code, the scheduler, the runner's code, the CLI's exit and message. */
async function everyPath(id: string, expected: string): Promise<void> {
  const before = await dataObjects();
  const apiRes = await post(`/v1/destinations/${id}/transfers`);
  assert.equal(apiRes.statusCode, 409, apiRes.body);
  assert.equal(apiRes.json().error.code, expected);
  assert.match(apiRes.json().error.hint, new RegExp(`sluice destinations test ${id}`), 'the hint names the test to run');
  assert.equal(await scheduled(id), false, 'the scheduler does not pick it');
  await assert.rejects(runTransfer(deps, { destinationId: id }), (e: { code?: string }) => e.code === expected);
  const cli = await cliTransfer(id);
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, new RegExp(`error \\[${expected}\\]`));
  assert.match(cli.stderr, new RegExp(`sluice destinations test ${id}`));
  assert.deepEqual(await dataObjects(), before, 'nothing was written');
}

async function startTransferWorker(): Promise<Worker> {
  return startWorker({
    pool: api.db.pool,
    databaseUrl: api.db.url,
    log: silentLogger,
    metrics: api.metrics,
    settings: loadJobSettings({}),
    sourceKey: 'gate',
    schedule: false,
    runTransfer: async (job, ctx) =>
      runTransfer(deps, { destinationId: job.destinationId, transferId: job.transferId, kind: job.kind, signal: ctx.signal, ...(ctx.lock ? { lock: ctx.lock } : {}) }),
    runConnectionTest: () => Promise.reject(new Error('connection tests run in the test itself here')),
  });
}

test('a destination delivers only while a connection test of its current settings passed — on every path', async () => {
  const created = await post('/v1/destinations', { recipientId, ...s3rverDestination(s3, BUCKET, KEY), frequencyMinutes: 15 });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().id as string;

  // Never tested.
  await everyPath(id, 'connection_test_required');

  // Tested against a bucket that does not exist: the latest test failed.
  assert.equal((await patch(`/v1/destinations/${id}`, { bucket: 'gate-missing' })).statusCode, 200);
  assert.equal(await connectionTest(id), false);
  await everyPath(id, 'connection_test_failed');
  assert.equal((await post(`/v1/destinations/${id}/transfers`)).json().error.actor, 'recipient', "the failed step's actor");

  // Passed, then queued, then its prefix changed before the worker ran the job: the worker refuses it.
  assert.equal((await patch(`/v1/destinations/${id}`, { bucket: BUCKET })).statusCode, 200);
  assert.equal(await connectionTest(id), true);
  assert.equal((await checkDelivery(api.db.pool, id)).allowed, true);
  const queued = await post(`/v1/destinations/${id}/transfers`);
  assert.equal(queued.statusCode, 202, queued.body);
  assert.equal((await patch(`/v1/destinations/${id}`, { prefix: 'elsewhere' })).statusCode, 200);
  worker = await startTransferWorker();
  const refused = await until('the worker to refuse the queued transfer', async () => {
    const { rows } = await api.db.pool.query('SELECT status, error FROM transfers WHERE id = $1', [queued.json().transferId]);
    return rows[0].status === 'failed' && rows[0];
  });
  assert.equal(refused.error.code, 'connection_test_required');
  await everyPath(id, 'connection_test_required');

  // Passed for the new prefix, then its settings changed behind the update path's back (a change
  // during the test, or any other writer): the fingerprint no longer matches.
  assert.equal(await connectionTest(id), true);
  await api.db.pool.query(`UPDATE destinations SET region = 'eu-west-1' WHERE id = $1`, [id]);
  await everyPath(id, 'connection_test_outdated');
  await api.db.pool.query(`UPDATE destinations SET region = 'us-east-1' WHERE id = $1`, [id]);

  // The tested settings again: every path delivers.
  const ok = await post(`/v1/destinations/${id}/transfers`);
  assert.equal(ok.statusCode, 202, ok.body);
  await until('the worker to deliver', async () => {
    const { rows } = await api.db.pool.query('SELECT status FROM transfers WHERE id = $1', [ok.json().transferId]);
    return rows[0].status === 'succeeded';
  });
  assert.ok((await dataObjects()).some((k) => k.startsWith('elsewhere/orders/')), 'the worker wrote the rows');
  const cli = await cliTransfer(id);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(await scheduled(id), true);

  // Deleted: gone for every path.
  const del = await api.app.inject({ method: 'DELETE', url: `/v1/destinations/${id}`, headers: api.auth });
  assert.equal(del.statusCode, 204, del.body);
  assert.equal((await post(`/v1/destinations/${id}/transfers`)).statusCode, 404);
  assert.equal(await scheduled(id), false);
  await assert.rejects(runTransfer(deps, { destinationId: id }), (e: { code?: string }) => e.code === 'not_found');
});

test('a failed transfer the recipient must fix holds deliveries until a test passes; a test failed by Sluice\'s side does not park it', async () => {
  const created = await post('/v1/destinations', { recipientId, ...s3rverDestination(s3, BUCKET, KEY), prefix: 'attention' });
  const id = created.json().id as string;
  assert.equal(await connectionTest(id), true);
  await api.db.pool.query(
    `UPDATE destinations SET status = 'needs_attention', last_error = '{"code":"access_denied_put","actor":"recipient","message":"denied"}' WHERE id = $1`,
    [id],
  );
  const res = await post(`/v1/destinations/${id}/transfers`);
  assert.equal(res.json().error.code, 'destination_needs_attention');
  assert.match(res.json().error.message, /access_denied_put/, 'says which failure, not a generic one');
  assert.equal(await connectionTest(id), true);
  assert.equal((await post(`/v1/destinations/${id}/transfers`)).statusCode, 202);

  // A test that failed on Sluice's side (its issuer was down): deliveries wait for a passing test, but
  // the destination is not parked on the recipient and the refusal names the provider.
  await recordConnectionTest(api.db.pool, id, { passed: false, fingerprint: null, error: { code: 'issuer_unreachable', actor: 'provider', message: 'down' } });
  const view = (await api.app.inject({ method: 'GET', url: `/v1/destinations/${id}`, headers: api.auth })).json();
  assert.equal(view.status, 'active');
  const held = await post(`/v1/destinations/${id}/transfers`);
  assert.equal(held.json().error.code, 'connection_test_failed');
  assert.equal(held.json().error.actor, 'provider');
});

/**
 * The real pool, with each hook run once, in order, right after the next statement matching its
 * pattern returns (on the pool or on a client it hands out): changes committed at those exact points
 * of another path.
 */
function poolWithPauses(pool: pg.Pool, pauses: Array<[after: RegExp, hook: () => Promise<void>]>): pg.Pool {
  const pending = [...pauses];
  const query = (target: { query: (...a: never[]) => Promise<unknown> }) => async (...args: never[]) => {
    const result = await target.query(...args);
    const text: unknown = args[0];
    const next = pending[0];
    if (next && typeof text === 'string' && next[0].test(text)) {
      pending.shift();
      await next[1]();
    }
    return result;
  };
  const bound = <T extends object>(t: T, p: string | symbol) => {
    const v: unknown = Reflect.get(t, p);
    return typeof v === 'function' ? v.bind(t) : v;
  };
  return new Proxy(pool, {
    get(t, p) {
      if (p === 'query') return query(t);
      if (p === 'connect') {
        return async () => {
          const client = await t.connect();
          return new Proxy(client, { get: (c, cp) => (cp === 'query' ? query(c) : bound(c, cp)) });
        };
      }
      return bound(t, p);
    },
  });
}

test('a change committed between the gate\'s verdict and the load of the settings is not what the transfer writes to', async () => {
  const created = await post('/v1/destinations', { recipientId, ...s3rverDestination(s3, BUCKET, KEY), prefix: 'race' });
  const id = created.json().id as string;
  assert.equal(await connectionTest(id), true);
  // Right after the runner's gate approved the tested settings, the bucket moves (untested).
  const racing = poolWithPauses(api.db.pool, [
    [/trust_fingerprint\(d\) AS fingerprint, d\.last_error/, async () => assert.equal((await patch(`/v1/destinations/${id}`, { bucket: MOVED })).statusCode, 200)],
  ]);
  const result = await runTransfer({ ...deps, loadDestination: destinationLoader(racing, api.secrets) }, { destinationId: id });
  // The change also asked the transfer to stop, which it notices at its next poll: it may have
  // delivered to the tested settings by then, never to the new ones.
  assert.ok(['succeeded', 'cancelled'].includes(result.status), result.status);
  assert.deepEqual(await s3.list(MOVED), [], 'nothing reached the untested bucket');
  // And from now on the gate asks for a test of the new bucket.
  assert.equal((await checkDelivery(api.db.pool, id)).allowed, false);
});

test('the ways of writing the connection test exercised (conditional writes, request checksums) are part of what it covered', async () => {
  const created = await post('/v1/destinations', { recipientId, ...s3rverDestination(s3, BUCKET, KEY), prefix: 'writes' });
  const id = created.json().id as string;
  const tested = created.json() as { conditionalWrites: boolean; requestChecksums: boolean };
  assert.equal(await connectionTest(id), true);
  assert.equal((await checkDelivery(api.db.pool, id)).allowed, true);
  // Through the update path: back to untested.
  const changed = await patch(`/v1/destinations/${id}`, { conditionalWrites: !tested.conditionalWrites });
  assert.equal(changed.json().status, 'new');
  await everyPath(id, 'connection_test_required');
  assert.equal(await connectionTest(id), true);
  // Behind the update path's back: the fingerprint no longer matches.
  await api.db.pool.query('UPDATE destinations SET request_checksums = NOT request_checksums WHERE id = $1', [id]);
  await everyPath(id, 'connection_test_outdated');
  await api.db.pool.query('UPDATE destinations SET request_checksums = NOT request_checksums WHERE id = $1', [id]);
  assert.equal((await checkDelivery(api.db.pool, id)).allowed, true);
  // The format is not: the test's object is the same whatever it is.
  await patch(`/v1/destinations/${id}`, { format: 'csv' });
  assert.equal((await checkDelivery(api.db.pool, id)).allowed, true);
});

test('a connection test records the fingerprint of exactly the settings it tested, even when they change and change back meanwhile', async () => {
  const created = await post('/v1/destinations', { recipientId, ...s3rverDestination(s3, BUCKET, KEY), prefix: 'aba-a' });
  const id = created.json().id as string;
  const move = (prefix: string) => async () => assert.equal((await patch(`/v1/destinations/${id}`, { prefix })).statusCode, 200);
  // After the test reads what it will test, the prefix moves to aba-b, and back to aba-a after the next read.
  const racing = poolWithPauses(api.db.pool, [
    [/trust_fingerprint\(d\) AS fingerprint FROM destinations/, move('aba-b')],
    [/./, move('aba-a')],
  ]);
  const { result } = await testSavedDestination(racing, api.secrets, { config: api.config, identity: testIdentity(), log: silentLogger }, id);
  assert.equal(result.passed, true);
  const put = result.steps.find((s) => s.step === 'put_object');
  assert.match(put?.message ?? '', /aba-a\/_sluice\/connection-test\//, 'the settings whose fingerprint was recorded are the ones tested');
  assert.equal((await checkDelivery(api.db.pool, id)).allowed, true);
});

describe('a running transfer stops when the gate closes under it', () => {
  const cases: Array<{ what: string; close: (ids: { destination: string; recipient: string }) => Promise<{ statusCode: number }> }> = [
    { what: 'its settings change', close: ({ destination }) => patch(`/v1/destinations/${destination}`, { prefix: 'moved-away' }) },
    { what: 'it is disabled', close: ({ destination }) => post(`/v1/destinations/${destination}/disable`) },
    { what: 'its recipient is disabled', close: ({ recipient }) => post(`/v1/recipients/${recipient}/disable`) },
  ];
  for (const [i, c] of cases.entries()) {
    it(`when ${c.what}`, async () => {
      // A recipient of its own: the last case disables it.
      const recipient = (await post('/v1/recipients', { name: `Stop ${i}`, tenantId: `stop-${i}` })).json().id as string;
      const created = await post('/v1/destinations', { recipientId: recipient, ...s3rverDestination(s3, OTHER, otherKey(i)), prefix: `stop-${i}` });
      assert.equal(created.statusCode, 201, created.body);
      const destination = created.json().id as string;
      assert.equal(await connectionTest(destination), true);
      // Once the transfer runs (its first model recorded), the gate closes; the hook returns after two
      // cancel polls of the runner, so the second one started after the change was committed.
      let polled!: () => void;
      const twoPolls = new Promise<void>((resolve) => (polled = resolve));
      const poll = /AND cancel_requested/;
      const pool = poolWithPauses(api.db.pool, [
        [/INSERT INTO transfer_models/, async () => {
          assert.equal((await c.close({ destination, recipient })).statusCode, 200);
          await twoPolls;
          await new Promise((r) => setTimeout(r, 100));
        }],
        [poll, async () => undefined],
        [poll, async () => polled()],
      ]);
      const result = await runTransfer({ ...deps, pool }, { destinationId: destination });
      assert.equal(result.status, 'cancelled');
      assert.deepEqual((await s3.list(OTHER)).filter((k) => k.includes('/_manifests/') && k.startsWith(`stop-${i}/`)), [], 'no manifest: nothing committed');
    });
  }
});

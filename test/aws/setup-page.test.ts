/**
 * The setup page's role path against Ceph RGW: a setup link for a bucket on the RGW store, the policies
 * the page shows provisioned exactly as they are (the OIDC provider with the page's client ids, the role
 * with the page's trust and permissions policies), then the page's Test connection — the real test, on
 * a worker, through the page's own JSON calls — passes every step and enables the destination.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { buildServer, type ApiApp } from '../../src/api/server.js';
import { loadConfig } from '../../src/config.js';
import { createApiKey } from '../../src/control/apikeys.js';
import { getDestination } from '../../src/control/destination-store.js';
import type { DestinationPolicies } from '../../src/destinations/s3/policies.js';
import { s3ConnectionTester } from '../../src/jobs/pipeline-jobs.js';
import { loadJobSettings } from '../../src/jobs/settings.js';
import { startWorker, type Worker } from '../../src/jobs/worker.js';
import { silentLogger } from '../../src/core/log.js';
import { createMetrics } from '../../src/metrics.js';
import { useRgw, type TestRgw } from '../support/rgw.js';
import { serveIssuer, type ServedIssuer } from './issuer.js';
import { catalogFromConfig } from '../../src/models/catalog.js';
import { defaultTestModels } from '../support/api.js';

let rgw: TestRgw;
let issuer: ServedIssuer;
let app: ApiApp;
let worker: Worker;
let auth: { authorization: string };

before(async () => {
  [rgw, issuer] = await Promise.all([useRgw(), serveIssuer()]);
  const config = loadConfig({
    DATABASE_URL: issuer.db.url,
    SLUICE_DATA_DIR: '.tmp/aws-setup-page',
    SLUICE_IDENTITY: 'oidc',
    SLUICE_PUBLIC_URL: issuer.issuer,
    SLUICE_OIDC_SUBJECT: issuer.subject,
    // The tests' operator allows its loopback RGW explicitly.
    SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
    SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
    // Tenant ids are checked against these models' tenant columns.
    SLUICE_CONFIG: await defaultTestModels(issuer.db),
    SLUICE_SOURCE_URL: issuer.db.url,
  });
  const deps = { pool: issuer.db.pool, secrets: issuer.secrets, log: silentLogger, config, identity: issuer.identity };
  app = await buildServer({ ...deps, metrics: createMetrics({ defaultMetrics: false }), models: catalogFromConfig(config, issuer.db.url) });
  worker = await startWorker({
    pool: issuer.db.pool,
    databaseUrl: issuer.db.url,
    log: silentLogger,
    metrics: createMetrics({ defaultMetrics: false }),
    settings: loadJobSettings({}),
    sourceKey: 'test',
    schedule: false,
    // Only the connection test is under test here (the first transfer the pass queues fails at once).
    runTransfer: () => Promise.reject(new Error('no transfers in this test')),
    runConnectionTest: s3ConnectionTester(deps),
  });
  auth = { authorization: `Bearer ${(await createApiKey(issuer.db.pool, { name: 'aws' })).key}` };
});
after(async () => {
  await worker?.stop();
  await app?.close();
  await Promise.all([rgw?.close(), issuer?.close()]);
});

test("the role made from the page's policies, as printed, passes the page's connection test", async () => {
  const bucket = await rgw.createBucket('setup-page');
  const recipient = (await app.inject({ method: 'POST', url: '/v1/recipients', headers: auth, payload: { name: 'Initech', tenantId: 'initech' } })).json() as { id: string };
  const link = (
    await app.inject({
      method: 'POST',
      url: `/v1/recipients/${recipient.id}/setup-links`,
      headers: auth,
      payload: { allowed: { authMethods: ['role'] }, store: { endpoint: rgw.endpoint, forcePathStyle: true, requestChecksums: false } },
    })
  ).json() as { token: string };

  // The recipient's browser: the link becomes a session, the page carries its CSRF token.
  const opened = await app.inject({ method: 'GET', url: `/setup/${link.token}` });
  const cookie = String(opened.headers['set-cookie']).split(';')[0]!;
  const page = await app.inject({ method: 'GET', url: '/setup', headers: { cookie } });
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page.body)![1]!;
  const h = { cookie, 'x-csrf-token': csrf };

  const shown = await app.inject({ method: 'POST', url: '/setup/api/policies', headers: h, payload: { bucket } });
  assert.equal(shown.statusCode, 200, shown.body);
  const policies = shown.json() as DestinationPolicies & { awsCli: string };
  assert.ok(policies.oidcProvider, 'Sluice as its own issuer: the page names the identity provider to register');
  // Provisioned as shown: nothing is edited between the page and IAM.
  await rgw.createOidcProvider(policies.oidcProvider.url, policies.oidcProvider.clientIds);
  const roleArn = await rgw.createRole(policies.trustPolicy, policies.permissionsPolicy, 'setup-page');

  const connect = await app.inject({
    method: 'POST',
    url: '/setup/api/connect',
    headers: h,
    payload: { bucket, region: rgw.region, authMethod: 'role', roleArn, format: 'csv', frequencyMinutes: 60 },
  });
  assert.equal(connect.statusCode, 202, connect.body);
  const { test: queued, destinationId } = connect.json() as { test: { id: string }; destinationId: string };
  let run: { status: string; result: { steps: Array<{ step: string; status: string; message: string }> } | null } = { status: 'queued', result: null };
  let firstTransferId: string | null = null;
  for (let i = 0; i < 240 && ['queued', 'running'].includes(run.status); i++) {
    await sleep(250);
    const r = (await app.inject({ method: 'GET', url: `/setup/api/tests/${queued.id}`, headers: { cookie } })).json() as { test: typeof run; firstTransferId: string | null };
    run = r.test;
    firstTransferId = r.firstTransferId;
  }
  assert.equal(run.status, 'passed', JSON.stringify(run.result?.steps));
  assert.deepEqual(
    run.result!.steps.map((s) => `${s.step}:${s.status}`),
    ['validate_config:passed', 'assume_role:passed', 'audience_probe:passed', 'put_object:passed', 'delete_object:passed'],
  );
  const saved = await getDestination(issuer.db.pool, destinationId);
  assert.deepEqual([saved.status, saved.enabled, saved.format, saved.frequencyMinutes], ['active', true, 'csv', 60]);
  assert.match(firstTransferId ?? '', /^trf_/, 'the pass queued the first transfer');
  assert.deepEqual(await rgw.list(bucket), [], 'the test object was deleted');
});

/**
 * Network rules at every connection, with the real AWS SDK against s3rver: an endpoint whose name
 * resolved to a public address when the destination was saved and to 127.0.0.1 when the transfer
 * connects (DNS rebinding) gets no byte; a worker whose operator has since disallowed http writes
 * nothing over http; the connection test and STS (role auth) go through the same rules.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDestination } from '../../src/control/destinations.js';
import { runConnectionTest } from '../../src/destinations/s3/connection-test.js';
import { createObjectWriter } from '../../src/destinations/s3/object-writer.js';
import type { EndpointPolicy, ResolvedAddress, Resolver } from '../../src/destinations/s3/network.js';
import type { S3DestinationConfig } from '../../src/destinations/s3/types.js';
import { newId } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/log.js';
import { runTransfer } from '../../src/transfer/run.js';
import { noIdentity, tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';
import { markTested } from '../support/trust.js';
import { testIdentity } from '../support/api.js';
import { allowS3rverAccessKey } from '../support/fault-proxy.js';

let fx: TransferFixture;
let rcp: string;
const orders = tableModel('orders', 'orders');
const PUBLIC: ResolvedAddress = { address: '52.216.1.1', family: 4 };
const LOOPBACK: ResolvedAddress = { address: '127.0.0.1', family: 4 };

/** Answers `answers[i]` on the i-th lookup (the last one from then on), and counts the lookups. */
function scriptedResolver(...answers: ResolvedAddress[]): Resolver & { lookups: string[] } {
  const lookups: string[] = [];
  const r = async (host: string) => {
    lookups.push(host);
    return [answers[Math.min(lookups.length - 1, answers.length - 1)] as ResolvedAddress];
  };
  return Object.assign(r, { lookups });
}

before(async () => {
  fx = await transferFixture(['rebind']);
  await fx.sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO orders SELECT g, 't1', timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 20) g;
  `);
  allowS3rverAccessKey('S3RVERACCESSKEY1', 'S3RVERSECRETKEY00000');
  rcp = newId('rcp');
  await fx.control.pool.query(`INSERT INTO recipients (id, name, tenant_id) VALUES ($1, 'Tenant 1', 't1')`, [rcp]);
});
after(async () => {
  await fx.close();
});

/** A destination on `http://<host>:<s3rver port>`, saved through the same validation as the API under `policy`. */
async function saveDestination(host: string, policy: EndpointPolicy, resolver: Resolver, prefix: string): Promise<string> {
  const d = await createDestination(
    fx.control.pool,
    fx.secrets,
    {
      config: { SLUICE_ALLOW_HTTP_ENDPOINTS: policy.allowHttp, SLUICE_ENDPOINT_ALLOWLIST: [...policy.allowlist] },
      resolver,
      // The destination names no models, so the models file is never consulted.
      models: { load: () => Promise.reject(new Error('not consulted')) },
    },
    {
      recipientId: rcp,
      bucket: 'rebind',
      region: 'us-east-1',
      prefix,
      endpoint: `http://${host}:${fx.s3.port}`,
      forcePathStyle: true,
      conditionalWrites: true,
      requestChecksums: false,
      format: 'jsonl',
      auth: { accessKeyId: 'S3RVERACCESSKEY1', secretAccessKey: 'S3RVERSECRETKEY00000' },
    },
  );
  // As if its connection test had passed then: the trust gate lets it deliver, and the network rules
  // at connect time are what these tests are about.
  await markTested(fx.control.pool, [d.id]);
  return d.id;
}

test('a name that resolved to a public address when saved and to 127.0.0.1 at connect time gets no byte', async () => {
  const policy: EndpointPolicy = { allowHttp: true, allowlist: [] };
  const resolver = scriptedResolver(PUBLIC, LOOPBACK);
  const dst = await saveDestination('s3.rebind.example', policy, resolver, 'rebound');
  assert.equal(resolver.lookups.length, 1, 'the save-time check resolved the name once (public: accepted)');
  const result = await runTransfer(
    fx.deps([orders], { objectWriter: (c) => createObjectWriter(c, { identity: noIdentity, log: silentLogger, network: { policy, resolver } }) }),
    { destinationId: dst },
  );
  assert.equal(result.status, 'failed');
  const error = result.models[0]?.error;
  assert.equal(error?.code, 'endpoint_refused');
  assert.equal(error?.actor, 'provider');
  assert.match(error?.message ?? '', /host s3\.rebind\.example resolves to a loopback address 127\.0\.0\.1/);
  assert.ok(resolver.lookups.length >= 2, 'the connection resolved the name again');
  assert.deepEqual(await fx.s3.list('rebind', 'rebound'), [], 'no data file and no manifest');
});

test('the same destination delivers when the operator allows the address: the resolver is what is dialled', async () => {
  const resolver = scriptedResolver(PUBLIC, LOOPBACK);
  // A name s3rver serves path-style (any other name it takes for a CNAME bucket); it only reaches our resolver.
  const dst = await saveDestination('s3.allowed.amazonaws.com', { allowHttp: true, allowlist: [] }, resolver, 'allowed');
  const policy: EndpointPolicy = { allowHttp: true, allowlist: ['127.0.0.1'] };
  const result = await runTransfer(
    fx.deps([orders], { objectWriter: (c) => createObjectWriter(c, { identity: noIdentity, log: silentLogger, network: { policy, resolver } }) }),
    { destinationId: dst },
  );
  assert.equal(result.status, 'succeeded', JSON.stringify(result.models));
  assert.equal((await fx.s3.list('rebind', 'allowed')).length, 2);
});

test("a worker applies its operator's settings of now: http disallowed since the save means nothing is written", async () => {
  const dst = await saveDestination('127.0.0.1', { allowHttp: true, allowlist: ['127.0.0.1'] }, scriptedResolver(LOOPBACK), 'nowhttps');
  for (const policy of [
    { allowHttp: false, allowlist: ['127.0.0.1'] },
    { allowHttp: true, allowlist: [] },
  ] satisfies EndpointPolicy[]) {
    const result = await runTransfer(
      fx.deps([orders], { objectWriter: (c) => createObjectWriter(c, { identity: noIdentity, log: silentLogger, network: { policy } }) }),
      { destinationId: dst },
    );
    assert.equal(result.status, 'failed');
    assert.equal(result.models[0]?.error?.code, 'endpoint_refused', JSON.stringify(policy));
  }
  assert.deepEqual(await fx.s3.list('rebind', 'nowhttps'), []);
});

test('the connection test and STS connect under the same rules', async () => {
  const config: S3DestinationConfig = {
    id: 'dst_rebind_ct',
    recipientId: 'rcp_x',
    audience: 'sluice-test-audience',
    bucket: 'rebind',
    region: 'us-east-1',
    prefix: 'ct',
    auth: { kind: 'access_key', accessKeyId: 'S3RVERACCESSKEY1', secretAccessKey: 'S3RVERSECRETKEY00000' },
    endpoint: `http://s3.ct.example:${fx.s3.port}`,
    forcePathStyle: true,
    conditionalWrites: true,
    requestChecksums: false,
  };
  const policy: EndpointPolicy = { allowHttp: true, allowlist: [] };
  const access = await runConnectionTest(config, { identity: noIdentity, log: silentLogger, endpointPolicy: policy, resolver: scriptedResolver(PUBLIC, LOOPBACK) });
  assert.equal(access.passed, false);
  const put = access.steps.find((s) => s.step === 'put_object');
  assert.equal(put?.code, 'endpoint_refused', JSON.stringify(access.steps));

  const role = await runConnectionTest(
    { ...config, auth: { kind: 'role', roleArn: 'arn:aws:iam:::role/rebind' } },
    { identity: testIdentity(), log: silentLogger, endpointPolicy: policy, resolver: scriptedResolver(PUBLIC, LOOPBACK) },
  );
  const assume = role.steps.find((s) => s.step === 'assume_role');
  assert.equal(assume?.code, 'endpoint_refused', JSON.stringify(role.steps));
  assert.deepEqual(await fx.s3.list('rebind', 'ct'), []);
});

/**
 * The trust path against a real IAM/STS (Ceph RGW), played as recipients would play it: no delivery
 * without a passing connection test, a probe no loose trust policy can fool, one role per recipient by
 * identity, no session outliving a trust decision, DeleteObject for the test only, and blame landing
 * on whoever must act. Each test here failed on the code before the delivery gate (docs/trust.md).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { testSavedDestination } from '../../src/control/destination-tests.js';
import { createDestination } from '../../src/control/destinations.js';
import { destinationPolicies } from '../../src/destinations/s3/policies.js';
import type { ConnectionTestResult } from '../../src/destinations/s3/types.js';
import { probeAudience, newAudience } from '../../src/core/audience.js';
import type { IdentitySource } from '../../src/core/identity.js';
import { newId } from '../../src/core/ids.js';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { prepareQueue } from '../../src/jobs/queue.js';
import { classifyFailure } from '../../src/jobs/failures.js';
import { scheduleDue } from '../../src/jobs/scheduler.js';
import { silentLogger } from '../../src/core/log.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import { checkDelivery } from '../../src/control/delivery-gate.js';
import { type TransferDeps } from '../../src/transfer/deps.js';
import { runTransfer } from '../../src/transfer/run.js';
import type { ModelDefinition } from '../../src/core/types.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { seedPermissionsPolicy, useRgw, type PolicyDocument, type TestRgw } from '../support/rgw.js';
import { transferDeps } from '../support/transfer-fixture.js';
import { serveIssuer, type ServedIssuer } from './issuer.js';

const config = loadConfig({ SLUICE_ALLOW_HTTP_ENDPOINTS: 'true', SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1' });
const orders: ModelDefinition = { name: 'orders', source: { table: 'orders' }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'tenant_id', lookback: 0 };

let rgw: TestRgw;
let issuer: ServedIssuer;
let sourceDb: TestDatabase;
let sql: pg.Pool;
let source: PostgresSource;
/** Every token Sluice minted, by audience: one AssumeRoleWithWebIdentity each. */
const minted: string[] = [];
let identity: IdentitySource;
let deps: TransferDeps;
/** Audiences registered up front with the OIDC provider (RGW cannot add client ids later), each with its probe. */
const audiences = Array.from({ length: 16 }, () => newAudience());

before(async () => {
  [rgw, issuer, sourceDb] = await Promise.all([useRgw(), serveIssuer(), freshDatabase({ migrate: false, prefix: 'sluice_source' })]);
  identity = {
    kind: 'oidc',
    describe: () => issuer.identity.describe(),
    token: (audience) => {
      minted.push(audience);
      return issuer.identity.token(audience);
    },
    selfCheck: () => issuer.identity.selfCheck(),
  };
  await rgw.createOidcProvider(issuer.issuer, audiences.flatMap((a) => [a, probeAudience(a)]));
  await prepareQueue(issuer.db.pool);
  sql = new pg.Pool({ connectionString: sourceDb.url, max: 2 });
  // pool.end() resolves before its sockets close; the database's forced drop may then terminate one, and an
  // unhandled pool 'error' would fail the file after its tests passed.
  sql.on('error', () => undefined);
  await sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, note text);
    INSERT INTO orders SELECT g, (ARRAY['acme', 'globex', 'session', 'putonly', 'issuer'])[g % 5 + 1], timestamptz '2026-01-01' + g * interval '1 s', 'order ' || g
      FROM generate_series(1, 1000) g;
  `);
  source = createPostgresSource(sourceDb.url, { maxConcurrentQueries: 1 });
  deps = transferDeps({ pool: issuer.db.pool, secrets: issuer.secrets, source, models: [orders], identity });
});
after(async () => {
  await sql?.end();
  await source?.close();
  await Promise.all([rgw?.close(), issuer?.close(), sourceDb?.drop()]);
});

type TrustShape = 'exact' | 'none' | 'sub-only' | 'sluice-*' | 'sluice-?*' | '*' | 'ForAnyValue sluice-*';

/** A trust policy as a recipient might write it, from Sluice's generated one. */
async function trustPolicy(audience: string, shape: TrustShape, bucket = 'unused'): Promise<PolicyDocument> {
  const generated = destinationPolicies({ bucket, prefix: '', audience, accountId: '', identity: await issuer.identity.describe() }).trustPolicy;
  const statement = structuredClone(generated.Statement[0]!) as { Condition?: Record<string, Record<string, unknown>> };
  const eq = statement.Condition!.StringEquals!;
  const audKey = Object.keys(eq).find((k) => k.endsWith(':aud'))!;
  const subKey = Object.keys(eq).find((k) => k.endsWith(':sub'))!;
  const sub = { [subKey]: eq[subKey] };
  if (shape === 'none') delete statement.Condition;
  else if (shape === 'sub-only') statement.Condition = { StringEquals: sub };
  else if (shape === 'ForAnyValue sluice-*') statement.Condition = { StringEquals: sub, 'ForAnyValue:StringLike': { [audKey]: ['sluice-*'] } };
  else if (shape !== 'exact') statement.Condition = { StringEquals: sub, StringLike: { [audKey]: shape } };
  return { Version: '2012-10-17', Statement: [statement] };
}

const tenants = new Map<string, string>();
async function recipientOf(tenant: string): Promise<string> {
  let id = tenants.get(tenant);
  if (!id) {
    id = newId('rcp');
    await issuer.db.pool.query('INSERT INTO recipients (id, name, tenant_id) VALUES ($1, $2, $3)', [id, tenant, tenant]);
    tenants.set(tenant, id);
  }
  return id;
}

/**
 * A destination saved as the API saves it (createDestination: every rule, the role claim), then given
 * one of the registered audiences (Sluice generates audiences; RGW needs them registered up front).
 */
async function saveDestination(tenant: string, bucket: string, roleArn: string): Promise<string> {
  // The destination names no models, so the models file is never consulted.
  const view = await createDestination(issuer.db.pool, issuer.secrets, { config, models: { load: () => Promise.reject(new Error('not consulted')) } }, {
    recipientId: await recipientOf(tenant),
    bucket,
    // One bucket + prefix belongs to one recipient: each recipient writes under its own prefix.
    prefix: tenant,
    region: rgw.region,
    auth: { roleArn },
    endpoint: rgw.endpoint,
    forcePathStyle: true,
    requestChecksums: false,
    frequencyMinutes: 15,
  });
  await issuer.db.pool.query('UPDATE destinations SET audience = $2 WHERE id = $1', [view.id, audiences.pop()]);
  return view.id;
}

async function audienceOf(id: string): Promise<string> {
  return (await issuer.db.pool.query<{ audience: string }>('SELECT audience FROM destinations WHERE id = $1', [id])).rows[0]!.audience;
}

function connectionTest(id: string): Promise<ConnectionTestResult> {
  return testSavedDestination(issuer.db.pool, issuer.secrets, { config, identity, log: silentLogger }, id).then((r) => r.result);
}

function outline(r: ConnectionTestResult): string[] {
  return r.steps.map((s) => [s.step, s.status, s.code].filter(Boolean).join(':'));
}

const roleName = (arn: string) => arn.split('/').pop()!;
const suffix = () => randomBytes(4).toString('hex');

test('the probe: an exact pin passes; no condition, sub only, sluice-*, sluice-?*, * and ForAnyValue each fail audience_not_pinned', async () => {
  const bucket = await rgw.createBucket('probe');
  const shapes: TrustShape[] = ['exact', 'none', 'sub-only', 'sluice-*', 'sluice-?*', '*', 'ForAnyValue sluice-*'];
  const outcomes: string[] = [];
  for (const shape of shapes) {
    const tenant = `probe-${shapes.indexOf(shape)}`;
    // The role name is known before the role exists; the destination first, then its trust policy.
    const name = `probe-${shapes.indexOf(shape)}-${suffix()}`;
    const id = await saveDestination(tenant, bucket, `arn:aws:iam:::role/${name}`);
    await rgw.createRole(await trustPolicy(await audienceOf(id), shape, bucket), seedPermissionsPolicy(bucket), name, name);
    const r = await connectionTest(id);
    outcomes.push(`${shape} → ${r.steps[2]!.status}${r.steps[2]!.code ? `:${r.steps[2]!.code}` : ''}`);
    assert.equal(r.steps[1]!.status, 'passed', `${shape}: the role itself is assumable: ${JSON.stringify(r.steps[1])}`);
    assert.equal((await checkDelivery(issuer.db.pool, id)).allowed, shape === 'exact', shape);
  }
  assert.deepEqual(outcomes, [
    'exact → passed',
    'none → failed:audience_not_pinned',
    'sub-only → failed:audience_not_pinned',
    'sluice-* → failed:audience_not_pinned',
    'sluice-?* → failed:audience_not_pinned',
    '* → failed:audience_not_pinned',
    'ForAnyValue sluice-* → failed:audience_not_pinned',
  ]);
});

for (const shape of ['sub-only', 'sluice-*'] as const) {
  test(`two recipients, Acme's role trusting ${shape}: Globex's destination naming it delivers nothing, on any path`, async () => {
    const acmeBucket = await rgw.createBucket(`acme-${shape === 'sub-only' ? 'unscoped' : 'wildcard'}`);
    const name = `acme-${shape === 'sub-only' ? 'unscoped' : 'wildcard'}-${suffix()}`;
    const acmeRole = `arn:aws:iam:::role/${name}`;
    const acme = await saveDestination(`acme-${shape}`, acmeBucket, acmeRole);
    await rgw.createRole(await trustPolicy(await audienceOf(acme), shape, acmeBucket), seedPermissionsPolicy(acmeBucket), name, name);

    // Globex names Acme's role through another partition (or a path, or another case): RGW resolves
    // the partition variant to Acme's role; Sluice refuses every variant by identity.
    const variant = `arn:aws-cn:iam:::role/${name}`;
    for (const arn of [variant, `arn:aws:iam:::role/x/${name}`, `arn:aws:iam:::role/${name.toUpperCase()}`]) {
      await assert.rejects(saveDestination('globex', acmeBucket, arn), (e: { code?: string }) => e.code === 'role_arn_in_use', arn);
    }
    // A row saved before that rule existed (or by any other writer) is still held by the gate.
    const globex = newId('dst');
    await issuer.db.pool.query(
      `INSERT INTO destinations (id, recipient_id, name, audience, bucket, region, auth_kind, role_arn, account_id, endpoint,
         force_path_style, request_checksums, frequency_minutes, enabled, status)
       VALUES ($1, $2, 'globex', $3, $4, $5, 'role', $6, '', $7, true, false, 15, true, 'new')`,
      [globex, await recipientOf('globex'), audiences.pop(), acmeBucket, rgw.region, variant, rgw.endpoint],
    );
    const r = await connectionTest(globex);
    assert.deepEqual(outline(r).slice(1, 3), ['assume_role:passed', 'audience_probe:failed:audience_not_pinned'], 'RGW resolves the variant to Acme\'s role; the probe catches the loose trust');
    // Acme's own test fails the same way: its trust admits other destinations.
    assert.equal(outline(await connectionTest(acme))[2], 'audience_probe:failed:audience_not_pinned');

    for (const id of [globex, acme]) {
      await assert.rejects(enqueueTransfer(issuer.db.pool, { destinationId: id }), (e: { code?: string }) => e.code === 'connection_test_failed');
      await assert.rejects(runTransfer(deps, { destinationId: id }), (e: { code?: string }) => e.code === 'connection_test_failed');
    }
    await issuer.db.pool.query('UPDATE destinations SET next_run_at = NULL WHERE id = ANY($1)', [[acme, globex]]);
    await scheduleDue(issuer.db.pool);
    const { rows } = await issuer.db.pool.query('SELECT count(*)::int AS n FROM transfers WHERE destination_id = ANY($1) AND status = $2', [[acme, globex], 'queued']);
    assert.equal(rows[0].n, 0, 'the scheduler queued nothing');
    assert.deepEqual((await rgw.list(acmeBucket)).filter((k) => !k.includes('_sluice/connection-test/')), [], "no rows in Acme's bucket, Globex's or anyone's");
  });
}

test('no session outlives a trust decision: a revoked and then restored trust policy is seen by the very next transfer, one STS call each', async () => {
  const bucket = await rgw.createBucket('session');
  const name = `session-${suffix()}`;
  const id = await saveDestination('session', bucket, `arn:aws:iam:::role/${name}`);
  const audience = await audienceOf(id);
  await rgw.createRole(await trustPolicy(audience, 'exact', bucket), seedPermissionsPolicy(bucket), name, name);
  assert.equal((await connectionTest(id)).passed, true);

  const stsCalls = () => minted.filter((a) => a === audience).length;
  let before = stsCalls();
  const first = await runTransfer(deps, { destinationId: id, kind: 'FULL_REFRESH' });
  assert.equal(first.status, 'succeeded', JSON.stringify(first.models));
  assert.equal(first.models[0]!.rows, 200);
  assert.equal(stsCalls() - before, 1, 'one AssumeRoleWithWebIdentity per transfer');

  // The recipient revokes Sluice's access: the next transfer cannot write, although the last one just did.
  const other = await trustPolicy(newAudience(), 'exact', bucket);
  await rgw.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: roleName(`arn:aws:iam:::role/${name}`), PolicyDocument: JSON.stringify(other) }));
  const refused = await runTransfer(deps, { destinationId: id, kind: 'FULL_REFRESH' });
  assert.equal(refused.status, 'failed');
  assert.equal(refused.models[0]!.error?.code, 'role_not_assumable');

  // The fix (the pinned trust policy back) holds from the very next transfer too.
  await rgw.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: name, PolicyDocument: JSON.stringify(await trustPolicy(audience, 'exact', bucket)) }));
  before = stsCalls();
  const again = await runTransfer(deps, { destinationId: id, kind: 'FULL_REFRESH' });
  assert.equal(again.status, 'succeeded', JSON.stringify(again.models));
  assert.equal(stsCalls() - before, 1);
});

test('DeleteObject is for the test only: Put only after a pass → passed with a warning naming the object left behind; still delivering', async () => {
  const bucket = await rgw.createBucket('putonly');
  const name = `putonly-${suffix()}`;
  const id = await saveDestination('putonly', bucket, `arn:aws:iam:::role/${name}`);
  await rgw.createRole(await trustPolicy(await audienceOf(id), 'exact', bucket), seedPermissionsPolicy(bucket), name, name);
  assert.equal((await connectionTest(id)).passed, true);

  // The recipient drops DeleteObject, as the setup guide allows.
  const putOnly: PolicyDocument = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:PutObject'], Resource: `arn:aws:s3:::${bucket}/*` }] };
  await rgw.iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: 'sluice-seed', PolicyDocument: JSON.stringify(putOnly) }));
  const r = await connectionTest(id);
  assert.equal(r.passed, true, JSON.stringify(r.steps));
  const del = r.steps[4]!;
  assert.equal(`${del.status}:${del.code}`, 'warning:test_object_left_behind');
  const left = (await rgw.list(bucket)).filter((k) => k.includes('_sluice/connection-test/'));
  assert.equal(left.length, 1);
  assert.ok(del.message.includes(left[0]!), `the warning names ${left[0]}: ${del.message}`);

  const view = await issuer.db.pool.query('SELECT status, last_test_passed FROM destinations WHERE id = $1', [id]);
  assert.deepEqual(view.rows[0], { status: 'active', last_test_passed: true }, 'not parked');
  assert.equal((await enqueueTransfer(issuer.db.pool, { destinationId: id })).status, 'queued');
  const t = await runTransfer(deps, { destinationId: id });
  assert.equal(t.status, 'succeeded', JSON.stringify(t.models));
  assert.equal(t.models[0]!.rows, 200, 'delivered with PutObject only');
});

test("issuer down: STS's refusal is Sluice's own fault (provider, retried), the destination is not parked, and it recovers", async () => {
  const bucket = await rgw.createBucket('issuer');
  const name = `issuer-${suffix()}`;
  const id = await saveDestination('issuer', bucket, `arn:aws:iam:::role/${name}`);
  await rgw.createRole(await trustPolicy(await audienceOf(id), 'exact', bucket), seedPermissionsPolicy(bucket), name, name);
  assert.equal((await connectionTest(id)).passed, true);

  await issuer.stopServing();
  try {
    const t = await runTransfer(deps, { destinationId: id, kind: 'FULL_REFRESH' });
    const error = t.models[0]!.error!;
    assert.equal(error?.code, 'issuer_unreachable', JSON.stringify(t));
    assert.equal(error.actor, 'provider');
    assert.equal(classifyFailure(error), 'retry');

    const r = await connectionTest(id);
    assert.deepEqual(outline(r).slice(1, 2), ['assume_role:failed:issuer_unreachable']);
    assert.equal(r.steps[1]!.actor, 'provider');
    const { rows } = await issuer.db.pool.query('SELECT status FROM destinations WHERE id = $1', [id]);
    assert.equal(rows[0].status, 'active', 'not parked on the recipient');
  } finally {
    await issuer.startServing();
  }
  assert.equal((await connectionTest(id)).passed, true);
  const recovered = await runTransfer(deps, { destinationId: id, kind: 'FULL_REFRESH' });
  assert.equal(recovered.status, 'succeeded');
  assert.equal(recovered.models[0]!.rows, 200);
});

test("a refusal after Sluice's own checks pass is the recipient's, naming the identity provider and the trust policy", async () => {
  const bucket = await rgw.createBucket('refused');
  const name = `refused-${suffix()}`;
  const id = await saveDestination('refused', bucket, `arn:aws:iam:::role/${name}`);
  // The role trusts another destination's audience only.
  await rgw.createRole(await trustPolicy(newAudience(), 'exact', bucket), seedPermissionsPolicy(bucket), name, name);
  const r = await connectionTest(id);
  const step = r.steps[1]!;
  assert.equal(`${step.code}:${step.actor}`, 'role_not_assumable:recipient');
  assert.match(step.message, /identity provider/);
  assert.match(step.message, /trust policy/);
});

import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { freePort } from '../../src/control/embedded.js';
import { runConnectionTest, type ConnectionTestResult } from '../../src/destinations/s3/connection-test.js';
import { createCredentialProvider } from '../../src/destinations/s3/credentials.js';
import { createObjectWriter } from '../../src/destinations/s3/object-writer.js';
import type { S3DestinationConfig } from '../../src/destinations/s3/types.js';
import type { IdentitySource, TrustedIdentity } from '../../src/core/identity.js';
import { SluiceError } from '../../src/core/errors.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { probeAudience } from '../../src/core/audience.js';
import { classifyFailure } from '../../src/jobs/failures.js';
import { allowS3rverAccessKey, s3Error, startFaultProxy, stsAssumeRoleSuccess, stsError, type FaultProxy } from '../support/fault-proxy.js';
import { localNetwork, startS3, type TestS3 } from '../support/s3.js';

const BUCKET = 'ct-bucket';
const AUDIENCE = 'sluice-destinationaudience234567';
const ROLE = 'arn:aws:iam::123456789012:role/transfer-role';
const KEY = { accessKeyId: 'AKIACONNECTIONTEST01', secretAccessKey: 'connection-test-secret-0000000000000000' };
const loopback = { allowHttp: true, allowlist: ['127.0.0.1'] };

/** A stand-in for Sluice's identity: tokens are opaque strings naming their audience; calls are counted. */
function testIdentity(): IdentitySource & { minted: string[] } {
  const minted: string[] = [];
  return {
    kind: 'oidc',
    minted,
    describe: async (): Promise<TrustedIdentity> => {
      throw new Error('not used');
    },
    token: async (audience: string) => {
      minted.push(audience);
      return `test-token.${audience}`;
    },
  };
}

function accessKeyConfig(endpoint: string, over: Partial<S3DestinationConfig> = {}): S3DestinationConfig {
  return {
    id: 'dst_connectiontest',
    recipientId: 'rcp_test',
    audience: AUDIENCE,
    bucket: BUCKET,
    region: 'us-east-1',
    prefix: 'acme/exports',
    auth: { kind: 'access_key', ...KEY },
    accountId: '123456789012',
    endpoint,
    forcePathStyle: true,
    conditionalWrites: true,
    requestChecksums: false,
    ...over,
  };
}

function roleConfig(endpoint: string, over: Partial<S3DestinationConfig> = {}): S3DestinationConfig {
  return accessKeyConfig(endpoint, { auth: { kind: 'role', roleArn: ROLE }, ...over });
}

function summary(r: ConnectionTestResult): string[] {
  return r.steps.map((s) => `${s.step}:${s.status}${s.code ? `:${s.code}` : ''}`);
}

/** STS on the proxy: the destination's audience is accepted; others too when `scoped` is false. */
function stsRules(proxy: FaultProxy, scoped = true): void {
  proxy.rule({ method: 'POST', body: new RegExp(`WebIdentityToken=test-token\\.${AUDIENCE}`), action: stsAssumeRoleSuccess({ roleArn: ROLE, subject: 'sluice', audience: AUDIENCE }) });
  proxy.rule({
    method: 'POST',
    body: /Action=AssumeRoleWithWebIdentity/,
    action: scoped ? stsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity') : stsAssumeRoleSuccess({ roleArn: ROLE, subject: 'sluice', audience: 'other' }),
  });
}

describe('connection test', () => {
  let s3: TestS3;
  let proxy: FaultProxy;

  before(async () => {
    s3 = await startS3([BUCKET]);
    allowS3rverAccessKey(KEY.accessKeyId, KEY.secretAccessKey);
    proxy = await startFaultProxy(s3.endpoint);
  });
  after(async () => {
    await proxy.close();
    await s3.close();
  });
  beforeEach(() => {
    proxy.clearRules();
    proxy.requests.length = 0;
  });

  const run = (config: S3DestinationConfig, identity: IdentitySource = testIdentity(), timeoutMs?: number) =>
    runConnectionTest(config, { identity, log: silentLogger, endpointPolicy: loopback, ...(timeoutMs ? { timeoutMs } : {}) });

  it('passes with an access key: puts a conditional test object under the prefix and deletes it', async () => {
    const r = await run(accessKeyConfig(proxy.url));
    assert.deepEqual(summary(r), ['validate_config:passed', 'assume_role:skipped', 'audience_probe:skipped', 'put_object:passed', 'delete_object:passed']);
    assert.equal(r.passed, true);
    assert.match(r.steps[1]!.message, /access key/);
    const [put, del] = proxy.requests;
    assert.equal(proxy.requests.length, 2);
    assert.equal(put!.method, 'PUT');
    assert.match(put!.path, /^\/ct-bucket\/acme\/exports\/_sluice\/connection-test\/[0-9a-f-]{36}\.txt/);
    assert.equal(put!.headers['if-none-match'], '*');
    assert.equal(put!.headers['x-amz-expected-bucket-owner'], '123456789012');
    assert.equal(del!.method, 'DELETE');
    assert.equal(del!.path.split('?')[0], put!.path.split('?')[0]);
    assert.deepEqual(await s3.list(BUCKET), []);
  });

  it('tells a watcher the steps so far after each step (the setup page shows them as they run)', async () => {
    const seen: string[][] = [];
    const r = await runConnectionTest(accessKeyConfig(proxy.url), {
      identity: testIdentity(),
      log: silentLogger,
      endpointPolicy: loopback,
      onStep: async (steps) => {
        seen.push(steps.map((s) => `${s.step}:${s.status}`));
      },
    });
    assert.deepEqual(seen, [
      ['validate_config:passed'],
      ['validate_config:passed', 'assume_role:skipped', 'audience_probe:skipped', 'put_object:passed'],
      summary(r),
    ]);
    // A watcher that fails does not fail the test.
    const failing = await runConnectionTest(accessKeyConfig(proxy.url), {
      identity: testIdentity(),
      log: silentLogger,
      endpointPolicy: loopback,
      onStep: () => Promise.reject(new Error('control store away')),
    });
    assert.equal(failing.passed, true);
  });

  it('passes with a role scoped to the audience: assume, refused probe, put, delete', async () => {
    stsRules(proxy, true);
    const identity = testIdentity();
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => lines.push(d.toString()));
    const log = createLogger({ level: 'debug', format: 'json', destination: sink });
    const r = await runConnectionTest(roleConfig(proxy.url, { accountId: undefined }), { identity, log, endpointPolicy: loopback });
    // The assumed role and subject are logged; tokens and session keys never are.
    const logged = lines.join('');
    assert.match(logged, /assumed-role\/transfer-role/);
    for (const secret of ['test-token', 'fault-proxy-secret-key', 'fault-proxy-session-token']) assert.ok(!logged.includes(secret), secret);
    assert.deepEqual(summary(r), ['validate_config:passed', 'assume_role:passed', 'audience_probe:passed', 'put_object:passed', 'delete_object:passed']);
    assert.equal(r.passed, true);
    assert.equal(r.accountId, '123456789012');
    assert.equal(r.assumedRoleArn, 'arn:aws:sts::123456789012:assumed-role/transfer-role/session');
    assert.equal(identity.minted.length, 2);
    assert.equal(identity.minted[0], AUDIENCE);
    assert.equal(identity.minted[1], probeAudience(AUDIENCE), "the probe is shaped like a sibling's audience");
    // STS is called unsigned, with a session name derived from the destination.
    const sts = proxy.requests.filter((q) => q.bodyText?.includes('AssumeRoleWithWebIdentity'));
    assert.equal(sts.length, 2);
    for (const q of sts) {
      assert.equal(q.headers.authorization, undefined);
      assert.match(q.bodyText ?? '', /RoleSessionName=sluice-dst_connectiontest/);
    }
    // S3 calls use the session credentials and the account from the role ARN.
    const put = proxy.requests.find((q) => q.method === 'PUT')!;
    assert.match(String(put.headers.authorization), /Credential=ASIAFAULTPROXY0001\//);
    assert.equal(put.headers['x-amz-security-token'], 'fault-proxy-session-token');
    assert.equal(put.headers['x-amz-expected-bucket-owner'], '123456789012');
  });

  it('fails with audience_not_pinned when the role accepts any audience', async () => {
    stsRules(proxy, false);
    const r = await run(roleConfig(proxy.url));
    assert.deepEqual(summary(r), ['validate_config:passed', 'assume_role:passed', 'audience_probe:failed:audience_not_pinned', 'put_object:skipped', 'delete_object:skipped']);
    assert.equal(r.passed, false);
    assert.equal(r.steps[2]!.actor, 'recipient');
    assert.equal(r.steps[2]!.docs, 'docs/errors.md#ct-audience_not_pinned');
    assert.ok(!proxy.requests.some((q) => q.method === 'PUT'));
  });

  for (const [name, action, code] of [
    ['trust policy mismatch', stsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity'), 'role_not_assumable'],
    ['expired token', stsError(400, 'ExpiredTokenException', 'Token expired: current date/time must be before the expiration date/time'), 'expired_token'],
    ['invalid token', stsError(400, 'InvalidIdentityToken', 'Incorrect token audience'), 'invalid_token'],
    ['issuer unreachable for STS', stsError(400, 'InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider"), 'idp_unreachable'],
    ['RGW-style 403', s3Error(403, 'AccessDenied', 'Forbidden'), 'role_not_assumable'],
  ] as const) {
    it(`fails assume_role with ${code} on ${name}`, async () => {
      proxy.rule({ method: 'POST', body: /AssumeRoleWithWebIdentity/, action });
      const r = await run(roleConfig(proxy.url));
      assert.deepEqual(summary(r), ['validate_config:passed', `assume_role:failed:${code}`, 'audience_probe:skipped', 'put_object:skipped', 'delete_object:skipped']);
      assert.ok(r.steps[1]!.message.length > 20);
      assert.ok(!r.steps[1]!.message.includes('test-token'), 'no token in messages');
    });
  }

  it('fails validation without calling anything, one message per field', async () => {
    const r = await run(accessKeyConfig(proxy.url, { bucket: 'Bad_Bucket', prefix: '/x/', region: 'us-east-1' }));
    assert.deepEqual(summary(r), ['validate_config:failed:invalid_config', 'assume_role:skipped', 'audience_probe:skipped', 'put_object:skipped', 'delete_object:skipped']);
    assert.match(r.steps[0]!.message, /bucket .*prefix/);
    assert.equal(r.steps[0]!.actor, 'recipient');
    assert.equal(proxy.requests.length, 0);
  });

  it('refuses a loopback endpoint unless the operator allow-lists it', async () => {
    const r = await runConnectionTest(accessKeyConfig(proxy.url), { identity: testIdentity(), log: silentLogger, endpointPolicy: { allowHttp: true, allowlist: [] } });
    assert.equal(r.steps[0]!.code, 'invalid_config');
    assert.equal(r.steps[0]!.actor, 'provider');
    assert.match(r.steps[0]!.message, /loopback/);
    assert.equal(proxy.requests.length, 0);
  });

  it('reports a missing bucket', async () => {
    const r = await run(accessKeyConfig(proxy.url, { bucket: 'no-such-bucket' }));
    assert.deepEqual(summary(r).slice(3), ['put_object:failed:bucket_not_found', 'delete_object:skipped']);
    assert.match(r.steps[3]!.message, /no-such-bucket/);
  });

  it('reports the expected region on 301 PermanentRedirect and on AuthorizationHeaderMalformed', async () => {
    proxy.rule({
      method: 'PUT',
      times: 1,
      action: s3Error(301, 'PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint.', { 'x-amz-bucket-region': 'eu-west-1' }, '<Bucket>ct-bucket</Bucket><Endpoint>ct-bucket.s3.eu-west-1.amazonaws.com</Endpoint>'),
    });
    const r = await run(accessKeyConfig(proxy.url));
    assert.equal(r.steps[3]!.code, 'wrong_region');
    assert.match(r.steps[3]!.message, /region eu-west-1/);

    proxy.rule({ method: 'PUT', times: 1, action: s3Error(400, 'AuthorizationHeaderMalformed', "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-south-1'", {}, '<Region>ap-south-1</Region>') });
    const r2 = await run(accessKeyConfig(proxy.url));
    assert.equal(r2.steps[3]!.code, 'wrong_region');
    assert.match(r2.steps[3]!.message, /ap-south-1/);
  });

  for (const [name, rule, step, code] of [
    ['access denied on put', { method: 'PUT', action: s3Error(403, 'AccessDenied', 'Access Denied') }, 3, 'access_denied_put'],
    ['KMS denied', { method: 'PUT', action: s3Error(403, 'AccessDenied', 'User: arn:aws:sts::123456789012:assumed-role/transfer-role/s is not authorized to perform: kms:GenerateDataKey on this resource') }, 3, 'kms_denied'],
    ['clock skew', { method: 'PUT', action: s3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.') }, 3, 'clock_skew'],
    ['throttling', { method: 'PUT', action: s3Error(503, 'SlowDown', 'Please reduce your request rate.') }, 3, 'throttled'],
    ['a reset connection', { method: 'PUT', action: { reset: true as const } }, 3, 'transient'],
  ] as const) {
    it(`reports ${name} as ${code}`, async () => {
      proxy.rule(rule);
      const r = await run(accessKeyConfig(proxy.url));
      assert.equal(r.passed, false);
      assert.equal(r.steps[step]!.status, 'failed');
      assert.equal(r.steps[step]!.code, code);
      assert.equal(r.steps[step]!.docs, `docs/errors.md#ct-${code}`);
      assert.ok(r.steps[step]!.actor);
      if (step === 3) assert.equal(r.steps[4]!.status, 'skipped');
    });
  }

  for (const config of [accessKeyConfig, roleConfig]) {
    it(`passes with a warning naming the test object left behind when DeleteObject is denied (${config === roleConfig ? 'role' : 'access key'})`, async () => {
      if (config === roleConfig) stsRules(proxy, true);
      proxy.rule({ method: 'DELETE', action: s3Error(403, 'AccessDenied', 'Access Denied') });
      const r = await run(config(proxy.url));
      assert.equal(r.passed, true, 'deliveries need only PutObject');
      const del = r.steps[4]!;
      assert.equal(del.status, 'warning');
      assert.equal(del.code, 'test_object_left_behind');
      assert.equal(del.docs, 'docs/errors.md#ct-test_object_left_behind');
      const put = proxy.requests.find((q) => q.method === 'PUT')!;
      const key = decodeURIComponent(put.path.split('?')[0]!.replace(`/${BUCKET}/`, ''));
      assert.match(key, /^acme\/exports\/_sluice\/connection-test\/[0-9a-f-]+\.txt$/);
      assert.ok(del.message.includes(key), `names ${key}: ${del.message}`);
      assert.match(del.message, /s3:DeleteObject/);
      assert.match(del.message, config === roleConfig ? /role's policy/ : /access key/);
      assert.doesNotMatch(del.message, config === roleConfig ? /access key/ : /role/);
    });
  }

  it('blames the provider, not the recipient, when STS refuses while Sluice\'s own issuer is broken (and retries it)', async () => {
    proxy.rule({ method: 'POST', body: /AssumeRoleWithWebIdentity/, action: s3Error(403, 'AccessDenied', 'Forbidden') });
    const identity: IdentitySource = {
      ...testIdentity(),
      selfCheck: async () => ({ code: 'issuer_unreachable', message: "Sluice's OIDC issuer is not answering.", hint: 'Make it reachable.' }),
    };
    const r = await runConnectionTest(roleConfig(proxy.url), { identity, log: silentLogger, endpointPolicy: loopback });
    assert.deepEqual(summary(r).slice(0, 2), ['validate_config:passed', 'assume_role:failed:issuer_unreachable']);
    assert.equal(r.steps[1]!.actor, 'provider');
    assert.equal(classifyFailure({ code: 'issuer_unreachable', actor: 'provider' }), 'retry');
  });

  it('blames a clock off by more than five minutes on the provider (the refusal\'s Date header)', async () => {
    const date = new Date(Date.now() - 20 * 60_000).toUTCString();
    proxy.rule({
      method: 'POST',
      body: /AssumeRoleWithWebIdentity/,
      action: { respond: { status: 403, headers: { 'content-type': 'text/xml', date }, body: '<Error><Code>AccessDenied</Code><Message>Forbidden</Message></Error>' } },
    });
    const r = await run(roleConfig(proxy.url));
    assert.deepEqual(summary(r).slice(0, 2), ['validate_config:passed', 'assume_role:failed:clock_skew']);
    assert.equal(r.steps[1]!.actor, 'provider');
    assert.equal(classifyFailure({ code: 'clock_skew', actor: 'provider' }), 'retry');
  });

  it('after its own checks pass, names the identity provider and the trust policy as the recipient\'s two places to look', async () => {
    proxy.rule({ method: 'POST', body: /AssumeRoleWithWebIdentity/, action: s3Error(403, 'AccessDenied', 'Forbidden') });
    const identity: IdentitySource = { ...testIdentity(), selfCheck: async () => null };
    const r = await runConnectionTest(roleConfig(proxy.url), { identity, log: silentLogger, endpointPolicy: loopback });
    const step = r.steps[1]!;
    assert.equal(step.code, 'role_not_assumable');
    assert.equal(step.actor, 'recipient');
    assert.match(step.message, /identity provider/);
    assert.match(step.message, /trust policy/);
    assert.ok(step.message.includes(ROLE));
  });

  it('fails the probe with probe_audience_unregistered when the identity provider refuses the probe audience itself', async () => {
    proxy.rule({ method: 'POST', body: new RegExp(`WebIdentityToken=test-token\\.${AUDIENCE}`), action: stsAssumeRoleSuccess({ roleArn: ROLE, subject: 'sluice', audience: AUDIENCE }) });
    proxy.rule({ method: 'POST', body: /AssumeRoleWithWebIdentity/, action: stsError(400, 'InvalidIdentityToken', 'Incorrect token audience') });
    const identity = testIdentity();
    const r = await runConnectionTest(roleConfig(proxy.url), { identity, log: silentLogger, endpointPolicy: loopback });
    assert.deepEqual(summary(r).slice(0, 3), ['validate_config:passed', 'assume_role:passed', 'audience_probe:failed:probe_audience_unregistered']);
    assert.ok(r.steps[2]!.message.includes(probeAudience(AUDIENCE)), 'names the client id to register');
    assert.deepEqual(identity.minted, [AUDIENCE, probeAudience(AUDIENCE)]);
  });

  it('passes when the store fails once with a 500 on put and on delete (retried after a pause)', async () => {
    proxy.rule({ method: 'PUT', times: 1, action: s3Error(500, 'InternalError', 'We encountered an internal error. Please try again.') });
    proxy.rule({ method: 'DELETE', times: 1, action: s3Error(503, 'SlowDown', 'Please reduce your request rate.') });
    const r = await run(accessKeyConfig(proxy.url));
    assert.equal(r.passed, true, JSON.stringify(r.steps));
  });

  it('reports an unreachable endpoint', async () => {
    const port = await freePort();
    const r = await run(accessKeyConfig(`http://127.0.0.1:${port}`));
    assert.equal(r.steps[3]!.code, 'endpoint_unreachable');
    assert.equal(r.steps[3]!.actor, 'recipient');
  });

  it('reports an endpoint that does not answer in time', async () => {
    proxy.rule({ method: 'PUT', action: { delayMs: 5_000 } });
    const r = await run(accessKeyConfig(proxy.url), testIdentity(), 300);
    assert.equal(r.steps[3]!.code, 'endpoint_timeout');
  });

  it('never calls anything but PUT, POST and DELETE on object keys (and STS), over a test and writes', async () => {
    stsRules(proxy, true);
    const config = roleConfig(proxy.url);
    assert.equal((await run(config)).passed, true);
    assert.equal((await run(accessKeyConfig(proxy.url))).passed, true);
    const writer = createObjectWriter(config, { identity: testIdentity(), log: silentLogger, network: localNetwork, options: { partSize: 64 * 1024, queueSize: 2 } });
    await writer.write('acme/exports/orders/dt=2026-11-28/part-00000.csv', Readable.from([Buffer.alloc(100, 1)]));
    await writer.write('acme/exports/orders/dt=2026-11-28/part-00001.csv', Readable.from([Buffer.alloc(200 * 1024, 2)]));
    proxy.rule({ method: 'PUT', path: /partNumber=2&/, action: s3Error(403, 'AccessDenied', 'Access Denied') });
    await assert.rejects(writer.write('acme/exports/orders/dt=2026-11-28/part-00002.csv', Readable.from([Buffer.alloc(200 * 1024, 3)])));
    writer.close();

    const methods = new Set<string>();
    for (const q of proxy.requests) {
      methods.add(q.method);
      if (q.path === '/' && q.method === 'POST') {
        assert.match(q.bodyText ?? '', /^Action=AssumeRoleWithWebIdentity&/);
        continue;
      }
      assert.ok(['PUT', 'POST', 'DELETE'].includes(q.method), `${q.method} ${q.path}`);
      assert.match(q.path, /^\/ct-bucket\/acme\/exports\/[^?]+/, `${q.method} ${q.path} is on an object key`);
      assert.doesNotMatch(q.path, /[?&](list-type|location|acl|policy|tagging|versioning)/, q.path);
    }
    assert.deepEqual([...methods].sort(), ['DELETE', 'POST', 'PUT']);
  });
});

describe('role credentials', () => {
  let s3: TestS3;
  let proxy: FaultProxy;
  before(async () => {
    s3 = await startS3([BUCKET]);
    proxy = await startFaultProxy(s3.endpoint);
  });
  after(async () => {
    await proxy.close();
    await s3.close();
  });

  it('are cached until five minutes before they expire, with a fresh token for each STS call', async () => {
    proxy.rule({ method: 'POST', body: /AssumeRoleWithWebIdentity/, action: stsAssumeRoleSuccess({ roleArn: ROLE, subject: 'sluice', audience: AUDIENCE, expiresInMs: 3_600_000 }) });
    const identity = testIdentity();
    let now = Date.now();
    const provider = createCredentialProvider(roleConfig(proxy.url), { identity, log: silentLogger, network: localNetwork, now: () => now });
    const [a, b] = await Promise.all([provider(), provider()]);
    assert.equal(a.accessKeyId, 'ASIAFAULTPROXY0001');
    assert.equal(b, a);
    await provider();
    assert.equal(identity.minted.length, 1, 'concurrent and later calls share the cached session');
    now += 56 * 60_000; // 4 minutes before expiry: refresh
    await provider();
    assert.equal(identity.minted.length, 2);
    assert.deepEqual(identity.minted, [AUDIENCE, AUDIENCE]);
    assert.equal(proxy.requests.length, 2);
  });

  it('are assumed afresh for every writer (one per transfer), never shared across transfers or destinations', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    proxy.rule({ method: 'POST', body: /AssumeRoleWithWebIdentity/, action: stsAssumeRoleSuccess({ roleArn: ROLE, subject: 'sluice', audience: AUDIENCE }) });
    allowS3rverAccessKey(KEY.accessKeyId, KEY.secretAccessKey);
    const identity = testIdentity();
    const config = roleConfig(proxy.url, { id: 'dst_shared' });
    for (const n of [1, 2, 3]) {
      const w = createObjectWriter(config, { identity, log: silentLogger, network: localNetwork });
      // Several objects of one transfer share its session.
      await w.write(`acme/exports/shared-${n}a.txt`, Readable.from([Buffer.from('x')]));
      await w.write(`acme/exports/shared-${n}b.txt`, Readable.from([Buffer.from('x')]));
      w.close();
    }
    assert.equal(identity.minted.length, 3, 'one role session per transfer: a trust-policy change is seen by the next one');
    const other = createObjectWriter(roleConfig(proxy.url, { id: 'dst_other' }), { identity, log: silentLogger, network: localNetwork });
    await other.write('acme/exports/shared-4.txt', Readable.from([Buffer.from('x')]));
    other.close();
    assert.equal(identity.minted.length, 4, 'another destination never reuses a session');
    assert.equal(proxy.requests.filter((q) => /AssumeRoleWithWebIdentity/.test(q.bodyText ?? '')).length, 4);
  });

  it('do not cache a failure', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    // Two answers: the STS client itself makes two attempts.
    proxy.rule({ method: 'POST', times: 2, action: stsError(400, 'IDPCommunicationError', 'timeout') });
    proxy.rule({ method: 'POST', action: stsAssumeRoleSuccess({ roleArn: ROLE, subject: 'sluice', audience: AUDIENCE }) });
    const provider = createCredentialProvider(roleConfig(proxy.url), { identity: testIdentity(), log: silentLogger, network: localNetwork });
    await assert.rejects(provider(), (e: unknown) => e instanceof SluiceError && e.code === 'idp_unreachable');
    const creds = await provider();
    assert.equal(creds.accessKeyId, 'ASIAFAULTPROXY0001');
  });
});

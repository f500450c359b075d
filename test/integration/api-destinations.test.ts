import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isAudience } from '../../src/core/audience.js';
import { buildServer } from '../../src/api/server.js';
import { catalogFromConfig } from '../../src/models/catalog.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import { startTestApi, testIdentity, type TestApi } from '../support/api.js';

let api: TestApi;
let recipientId: string;
let otherRecipientId: string;

const ROLE = 'arn:aws:iam::123456789012:role/transfer-role';

async function post(url: string, payload: unknown) {
  return api.app.inject({ method: 'POST', url, headers: api.auth, payload: payload as object });
}

async function newRecipient(tenantId: string): Promise<string> {
  const res = await post('/v1/recipients', { name: tenantId, tenantId });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id;
}

before(async () => {
  // The tests' S3-compatible endpoints are on loopback: allowed explicitly, as an operator would.
  api = await startTestApi({ SLUICE_ALLOW_HTTP_ENDPOINTS: 'true', SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1' });
  recipientId = await newRecipient('acme');
  otherRecipientId = await newRecipient('globex');
});
after(async () => {
  await api.close();
});

describe('destinations', () => {
  it('creates a role destination with a server-generated audience and the account from the ARN', async () => {
    const res = await post('/v1/destinations', {
      recipientId,
      bucket: 'acme-exports',
      region: 'eu-west-1',
      prefix: 'sluice/acme',
      auth: { roleArn: ROLE },
      frequencyMinutes: 60,
    });
    assert.equal(res.statusCode, 201, res.body);
    const d = res.json();
    assert.match(d.id, /^dst_/);
    assert.ok(isAudience(d.audience));
    assert.equal(d.accountId, '123456789012');
    assert.deepEqual(d.auth, { kind: 'role', roleArn: ROLE });
    assert.equal(d.status, 'new');
    assert.equal(d.enabled, false);
    assert.equal(d.format, 'parquet');
    assert.equal(d.compression, 'snappy');
    assert.equal(d.name, 'acme-exports');
    assert.equal(d.frequencyMinutes, 60);

    const shown = await api.app.inject({ method: 'GET', url: `/v1/destinations/${d.id}`, headers: api.auth });
    assert.equal(shown.json().audience, d.audience);
    const list = await api.app.inject({ method: 'GET', url: `/v1/destinations?recipientId=${recipientId}`, headers: api.auth });
    assert.deepEqual(
      list.json().destinations.map((x: { id: string }) => x.id),
      [d.id],
    );
  });

  it('gives one precise message per bad field', async () => {
    const res = await post('/v1/destinations', {
      recipientId,
      bucket: 'Bad_Bucket',
      region: 'mars-1',
      prefix: '/leading/',
      auth: { roleArn: 'arn:aws:iam::12:role/x' },
      kmsKeyArn: 'not-an-arn',
      format: 'csv',
      compression: 'snappy',
      frequencyMinutes: 30,
    });
    assert.equal(res.statusCode, 400);
    const err = res.json().error;
    assert.equal(err.code, 'invalid_input');
    assert.deepEqual(err.details, [{ field: 'frequencyMinutes', message: 'must be one of 15, 60, 360, 720, 1440' }]);

    const rules = await post('/v1/destinations', {
      recipientId,
      bucket: 'Bad_Bucket',
      region: 'mars-1',
      prefix: '/leading/',
      auth: { roleArn: 'arn:aws:iam::12:role/x' },
      kmsKeyArn: 'not-an-arn',
      format: 'csv',
      compression: 'snappy',
    });
    assert.equal(rules.statusCode, 400);
    const fields = Object.fromEntries(rules.json().error.details.map((p: { field: string; message: string }) => [p.field, p.message]));
    assert.deepEqual(Object.keys(fields).sort(), ['auth.roleArn', 'bucket', 'compression', 'kmsKeyArn', 'prefix', 'region']);
    assert.match(fields.bucket, /lowercase letters, digits/);
    assert.match(fields.region, /not an AWS region code/);
    assert.match(fields.prefix, /must not start or end with "\/"/);
    assert.match(fields['auth.roleArn'], /arn:aws:iam::123456789012:role/);
    assert.match(fields.kmsKeyArn, /KMS key ARN/);
    assert.equal(fields.compression, 'must be one of gzip, zstd, none for format csv');
  });

  it('requires exactly one kind of auth', async () => {
    const base = { recipientId, bucket: 'acme-b', region: 'us-east-1' };
    const none = await post('/v1/destinations', { ...base, auth: {} });
    assert.deepEqual(none.json().error.details, [
      { field: 'auth', message: 'give either roleArn (recommended), or accessKeyId and secretAccessKey' },
    ]);
    const both = await post('/v1/destinations', {
      ...base,
      auth: { roleArn: ROLE, accessKeyId: 'AKIAIOSFODNN7EXAMPLE' },
    });
    assert.match(both.json().error.details[0].message, /not both/);
    const half = await post('/v1/destinations', { ...base, auth: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE' } });
    assert.deepEqual(half.json().error.details, [{ field: 'auth.secretAccessKey', message: 'is required with accessKeyId' }]);
    const missing = await post('/v1/destinations', { recipientId, region: 'us-east-1' });
    assert.deepEqual(missing.json().error.details, [
      { field: 'bucket', message: 'is required' },
      { field: 'auth', message: 'is required' },
    ]);
  });

  it('refuses an audience (or account id) given as input', async () => {
    const res = await post('/v1/destinations', {
      recipientId,
      bucket: 'acme-aud',
      region: 'us-east-1',
      auth: { roleArn: ROLE },
      audience: 'sluice-chosenbytheattacker2345',
      accountId: '999999999999',
    });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json().error.details, [
      { field: 'audience', message: 'is generated by Sluice for each destination and cannot be given or changed' },
      { field: 'accountId', message: 'is taken from the role ARN and cannot be given' },
    ]);
  });

  it('keeps the audience when everything else changes, and resets the status on connection changes', async () => {
    const created = (
      await post('/v1/destinations', { recipientId, bucket: 'acme-upd', region: 'us-east-1', auth: { roleArn: ROLE } })
    ).json();
    await api.db.pool.query(`UPDATE destinations SET status = 'active', enabled = true, last_test_passed = true WHERE id = $1`, [created.id]);

    const renamed = await api.app.inject({
      method: 'PATCH',
      url: `/v1/destinations/${created.id}`,
      headers: api.auth,
      payload: { name: 'Acme lake', frequencyMinutes: 1440 },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().status, 'active', 'a rename needs no new test');

    const moved = await api.app.inject({
      method: 'PATCH',
      url: `/v1/destinations/${created.id}`,
      headers: api.auth,
      payload: { bucket: 'acme-upd-2', region: 'eu-central-1', auth: { roleArn: 'arn:aws:iam::210987654321:role/other' } },
    });
    assert.equal(moved.statusCode, 200, moved.body);
    const m = moved.json();
    assert.equal(m.status, 'new');
    assert.equal(m.enabled, false);
    assert.equal(m.lastTestPassed, null);
    assert.equal(m.audience, created.audience);
    assert.equal(m.accountId, '210987654321');
    assert.equal(m.name, 'Acme lake');

    const audience = await api.app.inject({
      method: 'PATCH',
      url: `/v1/destinations/${created.id}`,
      headers: api.auth,
      payload: { audience: 'sluice-aaaaaaaaaaaaaaaaaaaaaaaaaa' },
    });
    assert.equal(audience.statusCode, 400);
    assert.equal(audience.json().error.details[0].field, 'audience');

    const disabled = await post(`/v1/destinations/${created.id}/disable`, undefined);
    assert.equal(disabled.json().status, 'disabled');
    const afterDisable = await api.app.inject({
      method: 'PATCH',
      url: `/v1/destinations/${created.id}`,
      headers: api.auth,
      payload: { name: 'x' },
    });
    assert.equal(afterDisable.statusCode, 409);
    assert.equal(afterDisable.json().error.code, 'destination_disabled');
  });

  it('refuses a role ARN used by another recipient, also under concurrent creates', async () => {
    const role = 'arn:aws:iam::111122223333:role/shared';
    const first = await post('/v1/destinations', { recipientId, bucket: 'acme-r1', region: 'us-east-1', auth: { roleArn: role } });
    assert.equal(first.statusCode, 201);
    // The same recipient may use its role for a second bucket.
    const same = await post('/v1/destinations', { recipientId, bucket: 'acme-r2', region: 'us-east-1', auth: { roleArn: role } });
    assert.equal(same.statusCode, 201);
    const other = await post('/v1/destinations', {
      recipientId: otherRecipientId,
      bucket: 'globex-r1',
      region: 'us-east-1',
      auth: { roleArn: role.replace('shared', 'SHARED') },
    });
    assert.equal(other.statusCode, 409);
    assert.equal(other.json().error.code, 'role_arn_in_use');
    assert.equal(other.json().error.actor, 'recipient');

    // Two recipients race for a fresh role: exactly one wins.
    const racers = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const rid = await newRecipient(`racer-${i}`);
        return post('/v1/destinations', { recipientId: rid, bucket: `race-${i}`, region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::444455556666:role/race' } });
      }),
    );
    assert.deepEqual(racers.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409, 409]);
  });

  it('decides "role already in use" on the parsed role (account and name), not the ARN text; deleting frees it', async () => {
    const owner = await newRecipient('role-owner');
    const intruder = await newRecipient('role-intruder');
    const owned = await post('/v1/destinations', { recipientId: owner, bucket: 'owner-b', region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::111122223333:role/sluice-acme' } });
    assert.equal(owned.statusCode, 201, owned.body);
    // Another partition, a path, another case: the same role to IAM (and to Ceph RGW).
    for (const roleArn of ['arn:aws-cn:iam::111122223333:role/sluice-acme', 'arn:aws:iam::111122223333:role/x/sluice-acme', 'arn:aws-us-gov:iam::111122223333:role/team/a/Sluice-Acme']) {
      const res = await post('/v1/destinations', { recipientId: intruder, bucket: 'intruder-b', region: 'us-east-1', auth: { roleArn } });
      assert.equal(res.statusCode, 409, `${roleArn}: ${res.body}`);
      assert.equal(res.json().error.code, 'role_arn_in_use');
      assert.match(res.json().error.hint, /DELETE \/v1\/destinations\/<id>|sluice destinations delete/);
      assert.ok(!res.body.includes(owned.json().id), "the other recipient's destination id is not disclosed");
    }
    // The same name in another account is another role.
    const elsewhere = await post('/v1/destinations', { recipientId: intruder, bucket: 'intruder-b', region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::999988887777:role/sluice-acme' } });
    assert.equal(elsewhere.statusCode, 201, elsewhere.body);
    // Nor can an update move an existing destination onto the role.
    const moved = await api.app.inject({ method: 'PATCH', url: `/v1/destinations/${elsewhere.json().id}`, headers: api.auth, payload: { auth: { roleArn: 'arn:aws:iam::111122223333:role/y/SLUICE-ACME' } } });
    assert.equal(moved.statusCode, 409, moved.body);

    // The step the hint names exists: once the owner's destination is deleted, the role can move.
    const del = await api.app.inject({ method: 'DELETE', url: `/v1/destinations/${owned.json().id}`, headers: api.auth });
    assert.equal(del.statusCode, 204, del.body);
    assert.equal((await api.app.inject({ method: 'GET', url: `/v1/destinations/${owned.json().id}`, headers: api.auth })).statusCode, 404);
    const again = await api.app.inject({ method: 'DELETE', url: `/v1/destinations/${owned.json().id}`, headers: api.auth });
    assert.equal(again.statusCode, 404);
    const taken = await post('/v1/destinations', { recipientId: intruder, bucket: 'intruder-c', region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::111122223333:role/sluice-acme' } });
    assert.equal(taken.statusCode, 201, taken.body);
  });

  it('refuses malformed role ARNs with a clear message', async () => {
    for (const roleArn of [
      'arn:aws:iam::111122223333:user/sluice-acme',
      'arn:aws:iam::1111:role/sluice-acme',
      'arn:aws:sts::111122223333:assumed-role/sluice-acme/session',
      'arn:aws:iam::111122223333:role/',
      'arn:aws:iam::111122223333:role/a b',
      'arn:evil:iam::111122223333:role/sluice-acme',
    ]) {
      const res = await post('/v1/destinations', { recipientId, bucket: 'acme-bad-arn', region: 'us-east-1', auth: { roleArn } });
      assert.equal(res.statusCode, 400, `${roleArn}: ${res.body}`);
      assert.equal(res.json().error.details[0].field, 'auth.roleArn');
      assert.match(res.json().error.details[0].message, /arn:aws:iam::123456789012:role\//);
    }
  });

  it('refuses an access key id used by another recipient', async () => {
    const owner = await newRecipient('key-owner');
    const intruder = await newRecipient('key-intruder');
    const auth = { accessKeyId: 'AKIAOWNEDBYONEONLY01', secretAccessKey: 'k'.repeat(40) };
    assert.equal((await post('/v1/destinations', { recipientId: owner, bucket: 'key-owner-b', region: 'us-east-1', auth })).statusCode, 201);
    const res = await post('/v1/destinations', { recipientId: intruder, bucket: 'key-intruder-b', region: 'us-east-1', auth: { ...auth, secretAccessKey: 'z'.repeat(40) } });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().error.code, 'access_key_in_use');
    assert.equal(res.json().error.details[0].field, 'auth.accessKeyId');
    assert.doesNotMatch(res.json().error.hint, /role/, 'access-key wording');
  });

  it('checks endpoints: https unless allowed, and internal addresses unless allow-listed', async () => {
    const base = { recipientId, bucket: 'acme-ep', region: 'us-east-1', auth: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x'.repeat(40) } };
    const ok = await post('/v1/destinations', { ...base, endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, requestChecksums: false });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(ok.json().endpoint, 'http://127.0.0.1:9000');
    const internal = await post('/v1/destinations', { ...base, endpoint: 'http://10.0.0.8:9000' });
    assert.equal(internal.statusCode, 400);
    assert.match(internal.json().error.details[0].message, /private address 10\.0\.0\.8.*SLUICE_ENDPOINT_ALLOWLIST/);
    const metadata = await post('/v1/destinations', { ...base, endpoint: 'http://169.254.169.254' });
    assert.match(metadata.json().error.details[0].message, /cloud metadata/);
    const withPath = await post('/v1/destinations', { ...base, endpoint: 'https://s3.example.com/bucket' });
    assert.deepEqual(withPath.json().error.details, [
      { field: 'endpoint', message: 'must not contain a path; give the bucket and prefix separately' },
    ]);
  });

  it('refuses http endpoints and loopback by default', async () => {
    // Same database, a server with the default (strict) endpoint policy.
    const models = catalogFromConfig(api.config, api.db.url);
    const strict = { ...api, app: await buildServer({ pool: api.db.pool, secrets: api.secrets, log: silentLogger, config: loadConfig({ DATABASE_URL: api.db.url }), identity: testIdentity(), models }) };
    try {
      const r = (await strict.app.inject({ method: 'POST', url: '/v1/recipients', headers: strict.auth, payload: { name: 'a', tenantId: 'a' } })).json();
      const base = { recipientId: r.id, bucket: 'acme-ep', region: 'us-east-1', auth: { roleArn: ROLE } };
      const http = await strict.app.inject({ method: 'POST', url: '/v1/destinations', headers: strict.auth, payload: { ...base, endpoint: 'http://s3.example.com' } });
      assert.match(http.json().error.details[0].message, /SLUICE_ALLOW_HTTP_ENDPOINTS/);
      const loop = await strict.app.inject({ method: 'POST', url: '/v1/destinations', headers: strict.auth, payload: { ...base, endpoint: 'https://127.0.0.1:9000' } });
      assert.match(loop.json().error.details[0].message, /loopback address 127\.0\.0\.1/);
    } finally {
      await strict.app.close();
      await models.close();
    }
  });

  it('refuses unknown and disabled recipients', async () => {
    const unknown = await post('/v1/destinations', { recipientId: 'rcp_nope', bucket: 'acme-x', region: 'us-east-1', auth: { roleArn: ROLE } });
    assert.equal(unknown.statusCode, 404);
    const rid = await newRecipient('soon-disabled');
    await post(`/v1/recipients/${rid}/disable`, undefined);
    const disabled = await post('/v1/destinations', { recipientId: rid, bucket: 'acme-x', region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::777788889999:role/d' } });
    assert.equal(disabled.statusCode, 409);
    assert.equal(disabled.json().error.code, 'recipient_disabled');
  });

  it('locks the tenant id of a recipient that has destinations', async () => {
    const res = await api.app.inject({ method: 'PATCH', url: `/v1/recipients/${recipientId}`, headers: api.auth, payload: { tenantId: 'acme-2' } });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'tenant_id_locked');
  });
});

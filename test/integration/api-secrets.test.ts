/**
 * THE SECRET TEST: a secret access key given to the API is found nowhere in plaintext afterwards —
 * not in any column of any table of the control store, not in any API response, not in the logs.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadS3Config } from '../../src/control/destination-store.js';
import { startTestApi, type TestApi } from '../support/api.js';

let api: TestApi;
// Random per run, so a match can only come from this test's own writes.
const SECRET = `Sx${crypto.randomBytes(30).toString('base64url')}`;
const ROTATED = `Rx${crypto.randomBytes(30).toString('base64url')}`;
const responses: string[] = [];

before(async () => {
  api = await startTestApi({ SLUICE_ALLOW_HTTP_ENDPOINTS: 'true', SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1' });
});
after(async () => {
  await api.close();
});

async function call(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) {
  const res = await api.app.inject({ method, url, headers: api.auth, ...(payload ? { payload } : {}) });
  responses.push(JSON.stringify(res.headers) + res.body);
  return res;
}

/** Every text-like column of every table in the sluice schema that contains `needle`. */
async function findInDatabase(needle: string): Promise<string[]> {
  const { rows: columns } = await api.db.pool.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.data_type
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'sluice' AND t.table_type = 'BASE TABLE'
        AND c.data_type IN ('text', 'character varying', 'bytea', 'jsonb', 'json', 'ARRAY')`,
  );
  assert.ok(columns.some((c) => c.table_name === 'destinations' && c.column_name === 'secret_access_key'));
  const hits: string[] = [];
  for (const c of columns) {
    const col = `"${c.column_name}"`;
    // bytea is searched as bytes; everything else as its text form (arrays and JSON included).
    const predicate =
      c.data_type === 'bytea' ? `position(convert_to($1, 'UTF8') in ${col}) > 0` : `position($1 in ${col}::text) > 0`;
    const { rows } = await api.db.pool.query(`SELECT count(*)::int AS n FROM "${c.table_name}" WHERE ${predicate}`, [needle]);
    if (rows[0].n > 0) hits.push(`${c.table_name}.${c.column_name}`);
  }
  return hits;
}

describe('secret access keys', () => {
  let destinationId: string;

  it('are accepted, used and then invisible', async () => {
    const r = (await call('POST', '/v1/recipients', { name: 'Acme', tenantId: 'acme' })).json();
    // A failed create with the secret in it first: error responses and logs must not echo it either.
    const bad = await call('POST', '/v1/destinations', {
      recipientId: r.id,
      bucket: 'NOT valid',
      region: 'us-east-1',
      auth: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET },
    });
    assert.equal(bad.statusCode, 400);
    const misplaced = await call('POST', '/v1/destinations', {
      recipientId: r.id,
      bucket: 'acme-data',
      region: 'us-east-1',
      auth: { accessKeyId: SECRET, secretAccessKey: SECRET },
    });
    assert.equal(misplaced.statusCode, 400);

    const created = await call('POST', '/v1/destinations', {
      recipientId: r.id,
      bucket: 'acme-data',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      auth: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET },
    });
    assert.equal(created.statusCode, 201, created.body);
    destinationId = created.json().id;
    assert.deepEqual(created.json().auth, { kind: 'access_key', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'set' });

    await call('GET', '/v1/destinations');
    await call('GET', `/v1/destinations/${destinationId}`);
    await call('GET', `/v1/destinations?recipientId=${r.id}`);
    const renamed = await call('PATCH', `/v1/destinations/${destinationId}`, { name: 'renamed' });
    assert.equal(renamed.statusCode, 200);
    const rotated = await call('PATCH', `/v1/destinations/${destinationId}`, {
      auth: { accessKeyId: 'AKIAIOSFODNN7EXAMPL2', secretAccessKey: ROTATED },
    });
    assert.equal(rotated.statusCode, 200, rotated.body);
    assert.equal(rotated.json().auth.secretAccessKey, 'set');
    await call('GET', '/openapi.json');

    // The transfer code gets the rotated secret back, decrypted with its context.
    const s3 = await loadS3Config(api.db.pool, api.secrets, destinationId);
    assert.deepEqual(s3.auth, { kind: 'access_key', accessKeyId: 'AKIAIOSFODNN7EXAMPL2', secretAccessKey: ROTATED });
  });

  it('are not in the database in plaintext', async () => {
    assert.deepEqual(await findInDatabase(SECRET), []);
    assert.deepEqual(await findInDatabase(ROTATED), []);
    const { rows } = await api.db.pool.query('SELECT secret_access_key FROM destinations WHERE id = $1', [destinationId]);
    assert.ok(Buffer.isBuffer(rows[0].secret_access_key) && rows[0].secret_access_key.length > ROTATED.length);
  });

  it('are not in any API response', () => {
    assert.ok(responses.length >= 9);
    for (const body of responses) {
      assert.ok(!body.includes(SECRET), 'a response contains the secret');
      assert.ok(!body.includes(ROTATED), 'a response contains the rotated secret');
    }
  });

  it('are not in the logs, nor is the API key', () => {
    const logs = api.logs();
    assert.match(logs, /incoming request/, 'requests were logged at all');
    assert.ok(!logs.includes(SECRET));
    assert.ok(!logs.includes(ROTATED));
    assert.ok(!logs.includes(api.key));
    assert.ok(!/authorization/i.test(logs));
  });
});

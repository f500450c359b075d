/**
 * GET /v1/transfers (filters), GET /v1/transfers/:id (per-model results), the manifest public keys, and
 * `sluice verify` run as the recipient would (its own credentials, the keys from the public URL).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildServer } from '../../src/api/server.js';
import type { ApiApp } from '../../src/api/types.js';
import { reportLines, runVerify } from '../../src/cli/commands/verify.js';
import { loadConfig } from '../../src/config.js';
import type { SluiceError } from '../../src/core/errors.js';
import { createApiKey } from '../../src/control/apikeys.js';
import { silentLogger } from '../../src/core/log.js';
import { modelCatalog, type ModelCatalog } from '../../src/models/catalog.js';
import { type TransferResult } from '../../src/transfer/result.js';
import { runTransfer } from '../../src/transfer/run.js';
import { testIdentity } from '../support/api.js';
import { tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';

let fx: TransferFixture;
let app: ApiApp;
let models: ModelCatalog;
let auth: { authorization: string };
let ok: TransferResult;
let partial: TransferResult;
let dstA: string;
let dstB: string;

const good = tableModel('things', 'things');
const bad = { ...tableModel('bad', 'things'), source: { sql: 'SELECT id, tenant_id, updated_at, 1 / (id - id) AS z FROM things' } };

before(async () => {
  fx = await transferFixture(['api-a', 'api-b']);
  await fx.sql.query(`
    CREATE TABLE things (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO things SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, timestamptz '2026-01-01' + g * interval '1 s' FROM generate_series(1, 40) g;
  `);
  dstA = await fx.addDestination({ tenantId: 'a', bucket: 'api-a', models: ['things'] });
  dstB = await fx.addDestination({ tenantId: 'b', bucket: 'api-b', models: ['things', 'bad'] });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-transfer-api-'));
  const file = path.join(dir, 'sluice.yaml');
  await fs.writeFile(
    file,
    'models:\n  - name: things\n    table: things\n    cursor: updated_at\n    tenant: tenant_id\n' +
      `  - name: bad\n    sql: "${bad.source.sql}"\n    primary_key: id\n    cursor: updated_at\n    tenant: tenant_id\n`,
  );
  models = modelCatalog(file, fx.sourceDb.url);
  ok = await runTransfer(fx.deps([good, bad]), { destinationId: dstA });
  partial = await runTransfer(fx.deps([good, bad]), { destinationId: dstB });
  app = await buildServer({
    pool: fx.control.pool,
    secrets: fx.secrets,
    log: silentLogger,
    config: loadConfig({ DATABASE_URL: fx.control.url, SLUICE_DATA_DIR: '.tmp/transfer-api-test' }),
    identity: testIdentity(),
    models,
  });
  const { key } = await createApiKey(fx.control.pool, { name: 'test' });
  auth = { authorization: `Bearer ${key}` };
});
after(async () => {
  await app.close();
  await models.close();
  await fx.close();
});

async function list(query: string): Promise<Array<{ id: string; status: string }>> {
  const res = await app.inject({ method: 'GET', url: `/v1/transfers${query}`, headers: auth });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { transfers: Array<{ id: string; status: string }> }).transfers;
}

test('transfers list with filters: destination, recipient, status, time', async () => {
  assert.deepEqual((await list('')).map((t) => t.id), [partial.id, ok.id]);
  assert.deepEqual((await list(`?destination=${dstA}`)).map((t) => t.id), [ok.id]);
  const rcpB = (await fx.control.pool.query('SELECT recipient_id FROM destinations WHERE id = $1', [dstB])).rows[0].recipient_id as string;
  assert.deepEqual((await list(`?recipient=${rcpB}`)).map((t) => t.id), [partial.id]);
  assert.deepEqual((await list('?status=partial')).map((t) => t.id), [partial.id]);
  assert.deepEqual(await list('?since=2100-01-01T00:00:00Z'), []);
  assert.equal((await list('?until=2100-01-01T00:00:00Z')).length, 2);
  const bad = await app.inject({ method: 'GET', url: '/v1/transfers?since=yesterday', headers: auth });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /ISO 8601/);
  const unauth = await app.inject({ method: 'GET', url: '/v1/transfers' });
  assert.equal(unauth.statusCode, 401);
});

test('one transfer shows each model\'s rows, bytes, files, manifest, window, duration and error', async () => {
  const res = await app.inject({ method: 'GET', url: `/v1/transfers/${partial.id}`, headers: auth });
  assert.equal(res.statusCode, 200, res.body);
  const t = res.json() as {
    status: string;
    kind: string;
    nextAttempt: unknown;
    results: Array<{ model: string; status: string; rows: number; bytes: number; files: number; manifestKey: string | null; durationMs: number; window: { to: { cursor: string; primaryKey: string[] } }; watermark: { method: string; fallback: string | null; lagSeconds: number; heldBy: unknown }; error: { code: string; actor: string } | null }>;
  };
  assert.equal(t.status, 'partial');
  assert.equal(t.kind, 'INCREMENTAL');
  // No job waits to retry it (this control store has no queue yet, as before a first trigger): final.
  assert.equal(t.nextAttempt, null);
  const [badR, goodR] = t.results;
  assert.equal(badR!.model, 'bad');
  assert.equal(badR!.status, 'failed');
  assert.deepEqual({ code: badR!.error!.code, actor: badR!.error!.actor }, { code: 'source_read_failed', actor: 'provider' });
  assert.equal(goodR!.status, 'succeeded');
  assert.equal(goodR!.rows, 20);
  assert.equal(goodR!.files, 1);
  assert.ok(goodR!.bytes > 0);
  assert.match(goodR!.manifestKey!, /^_manifests\/things\/dt=\d{4}-\d{2}-\d{2}\/manifest_trf_\w+\.json$/);
  // Commit-safe: the window ends at the probe's bound (the read's time less a second), on the cursor alone.
  assert.deepEqual(goodR!.window.to.primaryKey, []);
  assert.ok(Math.abs(Date.parse(goodR!.window.to.cursor) - Date.now()) < 10 * 60_000);
  assert.equal(goodR!.watermark.method, 'commit_safe');
  assert.equal(goodR!.watermark.fallback, null);
  assert.ok(goodR!.watermark.lagSeconds >= 1 && goodR!.watermark.lagSeconds < 60, String(goodR!.watermark.lagSeconds));
  assert.ok(goodR!.durationMs >= 0);
  const missing = await app.inject({ method: 'GET', url: '/v1/transfers/trf_nope', headers: auth });
  assert.equal(missing.statusCode, 404);
});

test('manifest keys are published (with a key and publicly); sluice verify uses them with the recipient\'s own credentials', async () => {
  const withKey = await app.inject({ method: 'GET', url: '/v1/manifest-keys', headers: auth });
  const open = await app.inject({ method: 'GET', url: '/.well-known/sluice-manifest-keys.json' });
  assert.equal(open.statusCode, 200);
  assert.deepEqual(withKey.json(), open.json());
  const keys = (open.json() as { keys: Array<{ kid: string; kty: string; crv: string; x: string }> }).keys;
  assert.equal(keys.length, 1);
  assert.equal(keys[0]!.crv, 'Ed25519');
  assert.equal(JSON.stringify(keys).includes('"d"'), false, 'no private part');

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-keys-'));
  const file = path.join(dir, 'keys.json');
  await fs.writeFile(file, open.body);
  try {
    const base = { bucket: 'api-b', endpoint: fx.s3.endpoint, publicKey: file };
    const { report, exitCode } = await runVerify(base, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
    assert.equal(exitCode, 0, reportLines(report).join('\n'));
    assert.match(reportLines(report).at(-1)!, /^OK: 1 manifests, 1 files, 20 rows checked over 1 models/);

    // Damage one file: the exit code says so, the line names the file.
    const key = (await fx.s3.list('api-b')).find((k) => k.startsWith('things/'))!;
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await fx.s3.admin.send(new PutObjectCommand({ Bucket: 'api-b', Key: key, Body: Buffer.from('not the delivered file') }));
    const after = await runVerify(base, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
    assert.equal(after.exitCode, 1);
    assert.ok(reportLines(after.report).some((l) => l.startsWith('ERROR checksum_mismatch [things]') && l.includes(key)));

    await assert.rejects(runVerify({ endpoint: fx.s3.endpoint }, {}), (err: Error) => /--bucket/.test(err.message) && /--public-key/.test(err.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('sluice verify reads the keys from the public route without an API key; the operator route gets a hint to it', async () => {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
  const pub = `http://127.0.0.1:${port}/.well-known/sluice-manifest-keys.json`;
  const { report, exitCode } = await runVerify({ bucket: 'api-a', endpoint: fx.s3.endpoint, publicKey: pub }, env);
  assert.equal(exitCode, 0, reportLines(report).join('\n'));
  assert.equal(report.manifests, 1);
  await assert.rejects(runVerify({ bucket: 'api-a', endpoint: fx.s3.endpoint, publicKey: `http://127.0.0.1:${port}/v1/manifest-keys` }, env), (err: SluiceError) => {
    assert.equal(err.code, 'public_key_unreadable');
    assert.match(err.message, /HTTP 401; that route needs an operator key/);
    assert.equal(err.hint, `Use the public route instead: ${pub}`);
    return true;
  });
});

test('sluice verify: a wrong bucket, a wrong prefix or an unreachable endpoint is one clear line, never a stack trace', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-keys-'));
  const file = path.join(dir, 'keys.json');
  await fs.writeFile(file, (await app.inject({ method: 'GET', url: '/.well-known/sluice-manifest-keys.json' })).body);
  const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
  try {
    await assert.rejects(runVerify({ bucket: 'no-such-bucket', endpoint: fx.s3.endpoint, publicKey: file }, env), (err: SluiceError) => {
      assert.equal(err.code, 'verify_bucket_not_found');
      assert.equal(err.actor, 'recipient');
      assert.match(err.hint!, /--bucket/);
      return true;
    });
    // A port nothing listens on.
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    await assert.rejects(runVerify({ bucket: 'api-a', endpoint: `http://127.0.0.1:${closed}`, publicKey: file }, env), (err: SluiceError) => {
      assert.equal(err.code, 'verify_endpoint_unreachable');
      assert.match(err.hint!, /--endpoint/);
      return true;
    });
    // A prefix with no manifest: an error, exit code 1, unless --allow-empty.
    const wrong = await runVerify({ bucket: 'api-a', prefix: 'not-the-prefix', endpoint: fx.s3.endpoint, publicKey: file }, env);
    assert.equal(wrong.exitCode, 1);
    assert.match(reportLines(wrong.report).join('\n'), /ERROR no_manifests: No manifest under s3:\/\/api-a\/not-the-prefix\/_manifests\//);
    const allowed = await runVerify({ bucket: 'api-a', prefix: 'not-the-prefix', endpoint: fx.s3.endpoint, publicKey: file, allowEmpty: true }, env);
    assert.equal(allowed.exitCode, 0);

    // The real command: error and hint lines, a non-zero exit, no stack.
    // Asynchronously: the S3 server answering it runs in this process.
    const cli = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'verify', '--bucket', 'no-such-bucket', '--endpoint', fx.s3.endpoint, '--public-key', file],
        { env: { ...process.env, ...env, NODE_NO_WARNINGS: '1' }, encoding: 'utf8', timeout: 60_000 },
        (err, _stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    assert.notEqual(cli.status, 0);
    const lines = cli.stderr.trim().split('\n');
    assert.match(lines[0]!, /^error \[verify_bucket_not_found\]: Cannot list s3:\/\/no-such-bucket\/: bucket no-such-bucket does not exist/);
    assert.ok(!/^\s+at /m.test(cli.stderr), cli.stderr);
    assert.ok(lines.length <= 2, cli.stderr);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a trigger naming an unknown model, a model the destination does not deliver, or an unparsable bound is refused at once (400, field named)', async () => {
  const post = (dst: string, payload: Record<string, unknown>) => app.inject({ method: 'POST', url: `/v1/destinations/${dst}/transfers`, headers: auth, payload });
  const unknown = await post(dstA, { models: ['nope'] });
  assert.equal(unknown.statusCode, 400);
  assert.deepEqual(unknown.json().error.details, [{ field: 'models.0', message: 'names no model of sluice.yaml; the models are bad, things' }]);
  const notDelivered = await post(dstA, { models: ['bad'] });
  assert.deepEqual(notDelivered.json().error.details, [{ field: 'models.0', message: 'is not delivered by this destination; it delivers things' }]);
  const bound = await post(dstA, { kind: 'BACKFILL', from: '2026-01-01', to: 'the end of time' });
  assert.equal(bound.statusCode, 400);
  assert.equal(bound.json().error.details[0].field, 'to');
  assert.match(bound.json().error.details[0].message, /cursor column "updated_at" \(timestamp with time zone\)/);
  const { rows } = await fx.control.pool.query(`SELECT count(*)::int AS n FROM transfers WHERE destination_id = $1 AND kind = 'BACKFILL'`, [dstA]);
  assert.equal(rows[0].n, 0);
});

test('a destination naming an unknown model is refused at create and update (400, field named)', async () => {
  const rcp = (await fx.control.pool.query<{ recipient_id: string }>('SELECT recipient_id FROM destinations WHERE id = $1', [dstA])).rows[0]!.recipient_id;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/destinations',
    headers: auth,
    payload: { recipientId: rcp, bucket: 'models-check', region: 'us-east-1', auth: { roleArn: 'arn:aws:iam::123456789012:role/r' }, models: ['things', 'nope'] },
  });
  assert.equal(created.statusCode, 400);
  assert.deepEqual(created.json().error.details, [{ field: 'models.1', message: 'names no model of sluice.yaml; the models are bad, things' }]);
  const updated = await app.inject({ method: 'PATCH', url: `/v1/destinations/${dstA}`, headers: auth, payload: { models: ['gone'] } });
  assert.equal(updated.statusCode, 400);
  assert.equal(updated.json().error.details[0].field, 'models.0');
});

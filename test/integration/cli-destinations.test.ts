/**
 * The real CLI, as a child process (`node --import tsx src/cli/main.ts …`), against a fresh database
 * and a real S3 server: API keys, recipients, destinations, the connection test and policies.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/control/embedded.js';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { addTransferJob } from '../../src/jobs/queue-jobs.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { runSluice } from '../support/cli.js';
import { spawnProc, stopProc, type Proc } from '../support/jobs-processes.js';
import { allowS3rverAccessKey } from '../support/fault-proxy.js';
import { startS3, type TestS3 } from '../support/s3.js';

const BUCKET = 'cli-bucket';
const KEY = { accessKeyId: 'AKIACLICONNECTION001', secretAccessKey: `cli${crypto.randomBytes(24).toString('base64url')}` };

let db: TestDatabase;
let s3: TestS3;
let dataDir: string;
/** A real `sluice worker` with its metrics listener: `destinations test` runs on it. */
let worker: Proc;
let metricsUrl: string;

const SECRET_KEY = 'lEqJ0WQ6ys1n1Ur1nH0Jo5W3uGd2o3xGq1Zr6YlB5Ns=';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function sluice(args: string[], stdin?: string): Promise<Run> {
  const env = {
    DATABASE_URL: db.url,
    SLUICE_DATA_DIR: dataDir,
    // Recipients and destinations are checked against the same models as the worker's.
    SLUICE_CONFIG: path.join(dataDir, 'sluice.yaml'),
    SLUICE_SECRET_KEY: SECRET_KEY,
    SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
    SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
    SLUICE_LOG_LEVEL: 'warn',
    SLUICE_LOG_FORMAT: 'json',
  };
  const r = await runSluice(args, env, { stdin: stdin ?? '' });
  return { ...r, code: r.code ?? -1 };
}

before(async () => {
  db = await freshDatabase();
  s3 = await startS3([BUCKET]);
  allowS3rverAccessKey(KEY.accessKeyId, KEY.secretAccessKey);
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-cli-'));
  // The worker's source: a small table beside the control store (its search path ends in public).
  await db.pool.query(`CREATE TABLE public.cli_events (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
                       INSERT INTO public.cli_events SELECT g, 'acme', now() FROM generate_series(1, 25) g`);
  const models = path.join(dataDir, 'sluice.yaml');
  await fs.writeFile(models, 'models:\n  - name: events\n    table: public.cli_events\n    cursor: updated_at\n    tenant: tenant_id\n');
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}`;
  worker = spawnProc(['src/cli/main.ts', 'worker', '--metrics-port', String(port)], {
    DATABASE_URL: db.url,
    SLUICE_DATA_DIR: dataDir,
    SLUICE_CONFIG: models,
    SLUICE_SECRET_KEY: SECRET_KEY,
    SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
    SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
  });
  await worker.waitFor(/worker metrics and health listening/);
});
after(async () => {
  if (worker) await stopProc(worker);
  await s3.close();
  await db.drop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('sluice CLI', () => {
  let recipientId: string;
  let destinationId: string;

  it('apikeys: prints a key once, stores only its hash, revokes it', async () => {
    const made = await sluice(['apikeys', 'create', '--name', 'ci']);
    assert.equal(made.code, 0, made.stderr);
    const key = made.stdout.trim();
    assert.match(key, /^sk_[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.pool.query('SELECT id FROM api_keys');
    const revoked = await sluice(['apikeys', 'revoke', rows[0].id, '--json']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.ok(JSON.parse(revoked.stdout).revokedAt);
    assert.equal(JSON.parse(revoked.stdout).scope, 'operator');
  });

  it('apikeys: --scope read-only, and a recipient key needs --recipient', async () => {
    const ro = await sluice(['apikeys', 'create', '--name', 'dashboards', '--scope', 'read-only', '--json']);
    assert.equal(ro.code, 0, ro.stderr);
    assert.equal(JSON.parse(ro.stdout).scope, 'read_only');
    const missing = await sluice(['apikeys', 'create', '--name', 'acme', '--scope', 'recipient']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Invalid API key\. --recipient: is required for a recipient key/);
  });

  it('recipients: create, bad input with exit code 2, list as JSON', async () => {
    const made = await sluice(['recipients', 'create', '--name', 'Acme', '--tenant-id', 'acme', '--json']);
    assert.equal(made.code, 0, made.stderr);
    recipientId = JSON.parse(made.stdout).id;

    const bad = await sluice(['recipients', 'create', '--name', '', '--tenant-id', ' acme ']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /error \[invalid_input\]/);
    assert.match(bad.stderr, /- name: must not be empty/);
    assert.match(bad.stderr, /- tenantId: must not start or end with spaces/);

    const missing = await sluice(['recipients', 'show']);
    assert.equal(missing.code, 2, 'a usage error is bad input too');

    const list = await sluice(['recipients', 'list', '--json']);
    assert.deepEqual(
      JSON.parse(list.stdout).map((r: { tenantId: string }) => r.tenantId),
      ['acme'],
    );
  });

  it('destinations: refuses bad fields with the API messages under flag names', async () => {
    const bad = await sluice(['destinations', 'create', '--recipient', recipientId, '--bucket', 'Bad_Bucket', '--region', 'mars-1', '--role-arn', 'nope', '--frequency', '30']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /- --frequency: must be one of 15, 60, 360, 720, 1440/);
    const rules = await sluice(['destinations', 'create', '--recipient', recipientId, '--bucket', 'Bad_Bucket', '--region', 'mars-1', '--role-arn', 'nope']);
    assert.equal(rules.code, 2);
    assert.match(rules.stderr, /- --bucket: may contain only lowercase letters/);
    assert.match(rules.stderr, /- --region: "mars-1" is not an AWS region code/);
    assert.match(rules.stderr, /- --role-arn: must be 20 to 2048 characters long/);
  });

  it('destinations: creates with the secret from stdin, never shows it, passes the connection test', async () => {
    const made = await sluice(
      [
        'destinations', 'create', '--recipient', recipientId, '--bucket', BUCKET, '--region', 'us-east-1', '--prefix', 'cli',
        '--endpoint', s3.endpoint, '--force-path-style', '--no-request-checksums', '--access-key-id', KEY.accessKeyId,
        '--secret-access-key-stdin', '--format', 'csv', '--frequency', 'manual', '--json',
      ],
      `${KEY.secretAccessKey}\n`,
    );
    assert.equal(made.code, 0, made.stderr);
    const d = JSON.parse(made.stdout);
    destinationId = d.id;
    assert.equal(d.auth.secretAccessKey, 'set');
    assert.equal(d.requestChecksums, false);
    assert.equal(d.compression, 'gzip');
    assert.equal(d.frequencyMinutes, null);
    assert.ok(!made.stdout.includes(KEY.secretAccessKey) && !made.stderr.includes(KEY.secretAccessKey));

    const test = await sluice(['destinations', 'test', destinationId]);
    assert.equal(test.code, 0, test.stdout + test.stderr);
    assert.match(test.stdout, /ok {3}validate_config/);
    assert.match(test.stdout, /skip assume_role/);
    assert.match(test.stdout, /ok {3}put_object/);
    assert.match(test.stdout, /connection test passed/);

    assert.ok(!test.stdout.includes(KEY.secretAccessKey) && !test.stderr.includes(KEY.secretAccessKey));
    const { rows } = await db.pool.query('SELECT status FROM destinations WHERE id = $1', [destinationId]);
    assert.equal(rows[0].status, 'active');
    // It ran on the worker, as a queued job.
    assert.match(worker.output(), /"msg":"connection test finished"/);
  });

  it('worker: /metrics, /healthz and /readyz on --metrics-port, with the queue, transfer and connection-test metrics', async () => {
    assert.deepEqual(await (await fetch(`${metricsUrl}/healthz`)).json(), { status: 'ok' });
    const ready = await fetch(`${metricsUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { controlStore: true, queue: true });
    // Nothing else of the API is served there.
    assert.ok([401, 404].includes((await fetch(`${metricsUrl}/v1/destinations`)).status));

    const { transferId } = await enqueueTransfer(db.pool, { destinationId, trigger: 'cli' });
    for (let i = 0; i < 600; i++) {
      const { rows } = await db.pool.query('SELECT status FROM transfers WHERE id = $1', [transferId]);
      if (!['queued', 'running'].includes(rows[0].status)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // A retry-like job due in an hour, to see the queue gauges.
    await addTransferJob(db.pool, { transferId: 'trf_later', destinationId, kind: 'INCREMENTAL', trigger: 'cli' }, new Date(Date.now() + 3600_000));
    const res = await fetch(`${metricsUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const body = await res.text();
    assert.match(body, /^sluice_connection_tests_total\{outcome="passed",code="ok"\} 1$/m);
    assert.match(body, /^sluice_transfers_total\{status="succeeded",kind="INCREMENTAL"\} 1$/m);
    assert.match(body, /^sluice_rows_delivered_total\{model="events"\} 25$/m);
    assert.match(body, /^sluice_queue_jobs\{task="transfer",state="delayed"\} 1$/m);
    assert.match(body, /^# TYPE sluice_queue_oldest_waiting_seconds gauge$/m);
    assert.match(body, /^sluice_process_/m);
    await db.pool.query(`DELETE FROM graphile_worker._private_jobs WHERE payload->>'transferId' = 'trf_later'`);
  });

  it('destinations test: --no-wait prints the queued test; --local runs it in the CLI process', async () => {
    const queued = await sluice(['destinations', 'test', destinationId, '--no-wait', '--json']);
    assert.equal(queued.code, 0, queued.stderr);
    const run = JSON.parse(queued.stdout);
    assert.match(run.id, /^ctt_/);
    assert.equal(run.destinationId, destinationId);
    const local = await sluice(['destinations', 'test', destinationId, '--local']);
    assert.equal(local.code, 0, local.stdout + local.stderr);
    assert.match(local.stdout, /connection test passed/);
    const both = await sluice(['destinations', 'test', destinationId, '--local', '--no-wait']);
    assert.equal(both.code, 2);
  });

  it('destinations test: exit code 1 and who must act when a step fails', async () => {
    const upd = await sluice(['destinations', 'update', destinationId, '--bucket', 'missing-bucket', '--json']);
    assert.equal(upd.code, 0, upd.stderr);
    assert.equal(JSON.parse(upd.stdout).status, 'new');
    const test = await sluice(['destinations', 'test', destinationId, '--json']);
    assert.equal(test.code, 1);
    const result = JSON.parse(test.stdout);
    assert.equal(result.passed, false);
    const failed = result.steps.find((s: { status: string }) => s.status === 'failed');
    assert.equal(failed.code, 'bucket_not_found');
    assert.equal(failed.actor, 'recipient');
  });

  it('policy: for a destination and for a bucket, JSON on stdout; then delete', async () => {
    const role = await sluice([
      'destinations', 'create', '--recipient', recipientId, '--bucket', 'acme-lake', '--region', 'eu-west-1',
      '--role-arn', 'arn:aws:iam::123456789012:role/transfer-role', '--json',
    ]);
    assert.equal(role.code, 0, role.stderr);
    const d = JSON.parse(role.stdout);
    const forDestination = await sluice(['policy', d.id]);
    assert.equal(forDestination.code, 0, forDestination.stderr);
    const p = JSON.parse(forDestination.stdout);
    assert.equal(Object.values(p.trustPolicy.Statement[0].Condition.StringEquals).includes(d.audience), true);
    assert.equal(p.permissionsPolicy.Statement[0].Resource, 'arn:aws:s3:::acme-lake/*');

    const forBucket = await sluice(['policy', '--bucket', 'future-bucket', '--prefix', 'exports']);
    assert.equal(forBucket.code, 0, forBucket.stderr);
    assert.equal(JSON.parse(forBucket.stdout).permissionsPolicy.Statement[0].Resource, 'arn:aws:s3:::future-bucket/exports/*');

    const bad = await sluice(['policy', '--bucket', 'NO']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /- bucket: must be 3 to 63 characters long/);

    // delete: the destination is gone for the CLI too, and a second delete says so.
    const deleted = await sluice(['destinations', 'delete', d.id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, new RegExp(`destination ${d.id} deleted`));
    const gone = await sluice(['destinations', 'show', d.id]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /error \[not_found\]/);
    assert.equal((await sluice(['destinations', 'delete', d.id])).code, 2);
  });
});

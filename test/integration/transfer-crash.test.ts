/**
 * Crash safety: a child process runs a transfer and is SIGKILLed after each step of the commit
 * protocol in turn. After a rerun no row is lost, no manifest lists a missing file, the chain has no
 * fork, and `verify` passes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { type CommitStep } from '../../src/transfer/deps.js';
import { runTransfer } from '../../src/transfer/run.js';
import { deliveredRows, manifestsOf, tableModel, transferFixture, type TransferFixture, settle } from '../support/transfer-fixture.js';

let fx: TransferFixture;
const models = [tableModel('events', 'events'), tableModel('accounts', 'accounts')];

before(async () => {
  fx = await transferFixture(['crash']);
  await fx.sql.query(`
    CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text);
    CREATE TABLE accounts (id bigserial PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), name text);
  `);
});
after(async () => {
  await fx.close();
});

function runChild(destinationId: string, step: CommitStep, model: string): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/transfer-crash-child.ts'], {
      env: {
        ...process.env,
        SLUICE_CRASH_AT: step,
        SLUICE_CRASH_MODEL: model,
        SLUICE_CRASH_MODELS: JSON.stringify(models),
        SLUICE_CRASH_CONTROL_URL: fx.control.url,
        SLUICE_CRASH_SOURCE_URL: fx.sourceDb.url,
        SLUICE_CRASH_SECRET_KEY: fx.secretKey,
        SLUICE_CRASH_DESTINATION: destinationId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

async function addRows(tenant: string, n: number): Promise<void> {
  await fx.sql.query(`INSERT INTO events (tenant_id, payload) SELECT $1, repeat('x', 50) || g FROM generate_series(1, $2) g`, [tenant, n]);
  await fx.sql.query(`INSERT INTO accounts (tenant_id, name) SELECT $1, 'a' || g FROM generate_series(1, $2) g`, [tenant, Math.ceil(n / 4)]);
  // Below the next commit-safe bound: the next transfer reads them.
  await settle();
}

const steps: Array<[CommitStep, string]> = [
  ['mid_file', 'events'],
  ['file_written', 'events'],
  ['files_written', 'events'],
  ['manifest_prepared', 'events'],
  ['manifest_written', 'events'],
  ['watermark_committed', 'events'],
  // The second model: the first committed before the crash and must not be delivered twice.
  ['manifest_written', 'accounts'],
];

for (const [i, [step, model]] of steps.entries()) {
  test(`killed ${step === 'mid_file' ? 'in the middle of a file' : `after ${step.replace('_', ' ')}`} (${model}): the rerun loses nothing`, async () => {
    const tenant = `crash${i}`;
    const prefix = `p${i}`;
    const dst = await fx.addDestination({ tenantId: tenant, bucket: 'crash', prefix });
    await addRows(tenant, 60);
    // A first, clean transfer, so the crash happens on a chain that already has a link.
    assert.equal((await runTransfer(fx.deps(models, { fileLimits: { maxRowsPerFile: 25, maxBytesPerFile: 1 << 20 } }), { destinationId: dst })).status, 'succeeded');
    await addRows(tenant, 70);

    const child = await runChild(dst, step, model);
    assert.equal(child.signal, 'SIGKILL', `child was not killed at ${step}: exit ${child.code}\n${child.out}`);
    await addRows(tenant, 10);

    const rerun = await runTransfer(fx.deps(models, { fileLimits: { maxRowsPerFile: 25, maxBytesPerFile: 1 << 20 } }), { destinationId: dst });
    assert.equal(rerun.status, 'succeeded');

    const running = await fx.control.pool.query(`SELECT id FROM transfers WHERE destination_id = $1 AND status = 'running'`, [dst]);
    assert.equal(running.rowCount, 0, 'the killed transfer is not left running');

    for (const m of ['events', 'accounts']) {
      const delivered = new Set((await deliveredRows(fx.s3, 'crash', prefix, m)).map((r) => Number(r.id)));
      const source = await fx.sql.query<{ id: string }>(`SELECT id FROM ${m} WHERE tenant_id = $1`, [tenant]);
      const lost = source.rows.map((r) => Number(r.id)).filter((id) => !delivered.has(id));
      assert.deepEqual(lost, [], `${m}: rows lost after a crash at ${step}`);
      const chain = await manifestsOf(fx.s3, 'crash', prefix, m);
      const prevs = chain.map((c) => c.manifest.previous_manifest_sha256);
      assert.equal(new Set(prevs).size, prevs.length, `${m}: the chain forked`);
    }
    const report = await fx.verify('crash', prefix);
    assert.deepEqual(report.problems.filter((p) => p.severity === 'error'), []);
  });
}

test('killed after the manifest, then retried under the same transfer id (as the job queue does): committed once, nothing lost', async () => {
  const tenant = 'crash-retry';
  const prefix = 'retry';
  const dst = await fx.addDestination({ tenantId: tenant, bucket: 'crash', prefix });
  await addRows(tenant, 40);
  const child = await runChild(dst, 'manifest_written', 'events');
  assert.equal(child.signal, 'SIGKILL', child.out);
  const killed = await fx.control.pool.query<{ id: string }>('SELECT id FROM transfers WHERE destination_id = $1', [dst]);
  const id = killed.rows[0]!.id;
  const retry = await runTransfer(fx.deps(models), { destinationId: dst, transferId: id });
  assert.equal(retry.id, id);
  assert.equal(retry.status, 'succeeded');
  assert.equal(retry.models.find((m) => m.model === 'events')!.rows, 40);
  await addRows(tenant, 5);
  assert.equal((await runTransfer(fx.deps(models), { destinationId: dst })).status, 'succeeded');
  for (const m of ['events', 'accounts']) {
    const delivered = new Set((await deliveredRows(fx.s3, 'crash', prefix, m)).map((r) => Number(r.id)));
    const source = await fx.sql.query<{ id: string }>(`SELECT id FROM ${m} WHERE tenant_id = $1`, [tenant]);
    assert.deepEqual(source.rows.map((r) => Number(r.id)).filter((x) => !delivered.has(x)), [], `${m}: rows lost`);
  }
  const attempts = await fx.control.pool.query('SELECT attempt, status FROM transfers WHERE id = $1', [id]);
  assert.deepEqual(attempts.rows[0], { attempt: 2, status: 'succeeded' });
  assert.deepEqual((await fx.verify('crash', prefix)).problems.filter((p) => p.severity === 'error'), []);
});

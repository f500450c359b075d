/**
 * Workers survive their dependencies: with the real pipeline in a worker process, the source
 * connection reading a transfer is terminated mid-COPY, and then every control-store connection is
 * terminated mid-transfer (what a PostgreSQL restart does to its clients). Each time the process
 * stays up, logs what happened, and the transfer completes on retry with every row delivered.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { prepareQueue } from '../../src/jobs/queue.js';
import { serverUrl } from '../support/db.js';
import { spawnWorker, stopProc, workerIdOf, type Proc } from '../support/jobs-processes.js';
import { deliveredRows, settle, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';
import { until } from '../support/wait.js';

describe('workers survive their dependencies', () => {
  let fx: TransferFixture;
  let dir: string;
  let dst: string;
  let worker: Proc;
  let admin: pg.Client;
  let ctl: pg.Client;
  let nextId = 1;

  const addRows = async (n: number): Promise<void> => {
    await fx.sql.query(
      `INSERT INTO events (id, tenant_id, updated_at, payload)
       SELECT $1::bigint + g, 't1', clock_timestamp(), repeat(md5(g::text), 40) FROM generate_series(0, $2::int - 1) g`,
      [nextId, n],
    );
    nextId += n;
    // Rows reach a transfer once they are below the commit-safe bound (docs/change-detection.md).
    await settle();
  };
  // Through the admin connection: the test's own pool loses its connections too in the second test.
  const status = async (id: string): Promise<string | undefined> =>
    (await ctl.query<{ status: string }>('SELECT status FROM sluice.transfers WHERE id = $1', [id])).rows[0]?.status;
  const allDelivered = async (): Promise<void> => {
    const source = await fx.sql.query<{ id: string }>(`SELECT id::text FROM events`);
    const delivered = new Set((await deliveredRows(fx.s3, 'survive', 'exports', 'events')).map((r) => String(r.id)));
    assert.equal(source.rows.filter((r) => !delivered.has(r.id)).length, 0, 'rows never delivered');
    const report = await fx.verify('survive', 'exports');
    assert.ok(report.ok, JSON.stringify(report.problems.filter((p) => p.severity === 'error').slice(0, 5)));
  };
  const alive = (): boolean => worker.child.exitCode === null && worker.child.signalCode === null;

  before(async () => {
    fx = await transferFixture(['survive']);
    await prepareQueue(fx.control.pool);
    await fx.sql.query(`CREATE TABLE events (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, payload text);
                        CREATE INDEX ON events (tenant_id, updated_at, id)`);
    await fs.mkdir(path.resolve('.tmp'), { recursive: true });
    dir = await fs.mkdtemp(path.resolve('.tmp', 'jobs-survival-'));
    const models = path.join(dir, 'sluice.yaml');
    await fs.writeFile(models, 'models:\n  - name: events\n    table: public.events\n    cursor: updated_at\n    tenant: tenant_id\n');
    dst = await fx.addDestination({ tenantId: 't1', bucket: 'survive', prefix: 'exports' });
    admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    ctl = new pg.Client({ connectionString: fx.control.url });
    await ctl.connect();
    worker = spawnWorker({
      DATABASE_URL: fx.control.url,
      SLUICE_SOURCE_URL: fx.sourceDb.url,
      SLUICE_CONFIG: models,
      SLUICE_SECRET_KEY: fx.secretKey,
      SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
      SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
      JOBS_TEST_MODE: 'pipeline',
      // Small files: the transfer runs long enough to be interrupted half way.
      JOBS_TEST_FILE_ROWS: '100',
      SLUICE_WORKER_CONCURRENCY: '1',
      SLUICE_SCHEDULER_INTERVAL_SECONDS: '3600',
    });
    await workerIdOf(worker);
  });
  after(async () => {
    await stopProc(worker, 'SIGKILL');
    await admin.end();
    await ctl.end();
    await fx.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a terminated source backend fails the transfer, not the worker; the retry delivers every row', async () => {
    await addRows(40000);
    const { transferId } = await enqueueTransfer(fx.control.pool, { destinationId: dst });
    // The reader's backend while its session is open: in its COPY, or between its statements.
    const killed = await until(
      'the reader backend to terminate',
      async () => {
        const { rows } = await admin.query<{ n: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
            WHERE datname = $1 AND application_name = 'sluice-reader' AND state IN ('active', 'idle in transaction')`,
          [fx.sourceDb.name],
        );
        return rows[0]!.n > 0 && rows[0]!.n;
      },
      60_000,
    );
    assert.ok(killed >= 1);
    assert.equal(await status(transferId), 'running');
    await until('the transfer to succeed on retry', async () => (await status(transferId)) === 'succeeded', 90_000);
    assert.ok(alive(), `the worker exited:\n${worker.output().slice(-3000)}`);
    assert.match(worker.output(), /"code":"source_unavailable"/);
    assert.match(worker.output(), /will retry with backoff/);
    await allDelivered();
  });

  it('losing every control-store connection mid-transfer fails the transfer, not the worker; it reconnects and the retry completes', async () => {
    // Enough rows that the transfer is still running when its connections are cut, on an idle machine too.
    await addRows(30000);
    const { transferId } = await enqueueTransfer(fx.control.pool, { destinationId: dst });
    await until('the transfer to run', async () => (await status(transferId)) === 'running', 60_000);
    await sleep(500);
    const { rows } = await ctl.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    assert.ok(rows[0]!.n >= 3, `terminated ${rows[0]!.n} connections`);
    await until('the transfer to succeed on retry', async () => (await status(transferId)) === 'succeeded', 90_000);
    assert.ok(alive(), `the worker exited:\n${worker.output().slice(-3000)}`);
    // The liveness check notices the lost session on its next round (every second): wait for its lines.
    await worker.waitFor(/lost the control-store session that shows this worker is alive; reconnecting/);
    await worker.waitFor(/control-store session restored/);
    await allDelivered();
    // The worker is still a worker: it runs the next transfer as usual.
    await addRows(100);
    // The test's own pool lost its connections too; its first query may meet one that is gone.
    const next = await until('a transfer to be queued', () => enqueueTransfer(fx.control.pool, { destinationId: dst }).catch(() => undefined));
    await until('the next transfer to succeed', async () => (await status(next.transferId)) === 'succeeded', 60_000);
    await allDelivered();
  });
});

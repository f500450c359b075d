/**
 * Workers survive their dependencies: with the real pipeline in a worker process, the source
 * connection reading a transfer is terminated mid-COPY, and then every control-store connection is
 * terminated mid-transfer (what a PostgreSQL restart does to its clients). Each time the process
 * stays up, logs what happened, and the transfer completes on retry with every row delivered.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { serverUrl } from '../support/db.js';
import { eventsPipeline, workerIdOf, type EventsPipeline, type Proc } from '../support/jobs-processes.js';
import { deliveredRows, type TransferFixture } from '../support/transfer-fixture.js';
import { until } from '../support/wait.js';

describe('workers survive their dependencies', () => {
  let pipeline: EventsPipeline;
  let fx: TransferFixture;
  let dst: string;
  let worker: Proc;
  let admin: pg.Client;
  let ctl: pg.Client;

  const addRows = (n: number): Promise<void> => pipeline.addRows('t1', n, { payloadRepeat: 40 });
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
    pipeline = await eventsPipeline('survive');
    fx = pipeline.fx;
    dst = await fx.addDestination({ tenantId: 't1', bucket: 'survive', prefix: 'exports' });
    admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    ctl = new pg.Client({ connectionString: fx.control.url });
    await ctl.connect();
    // Small files (the pipeline's 100 rows): the transfer runs long enough to be interrupted half way.
    worker = pipeline.worker({ SLUICE_WORKER_CONCURRENCY: '1' });
    await workerIdOf(worker);
  });
  after(async () => {
    await admin?.end();
    await ctl?.end();
    await pipeline?.close();
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
    // Between attempts the record says `failed` (the attempt's end) until the retry takes it up again;
    // what it must not say yet is `succeeded`, which would mean the killed read went unnoticed.
    assert.notEqual(await status(transferId), 'succeeded');
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

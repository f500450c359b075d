/**
 * One lock per destination, whoever runs the transfer: `sluice transfer` (runTransfer in the CLI's
 * process) and a worker's job never run the same destination at once, in either order. And one
 * cancellation path: a cancel request stops a run started by the CLI as it stops a worker's.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SluiceError } from '../../src/core/errors.js';
import { cancelTransfer } from '../../src/jobs/cancel.js';
import { enqueueTransfer } from '../../src/jobs/enqueue.js';
import { prepareQueue } from '../../src/jobs/queue.js';
import type { Worker } from '../../src/jobs/worker.js';
import type { StepHook } from '../../src/transfer/deps.js';
import { runTransfer } from '../../src/transfer/run.js';
import { getTransferRow } from '../../src/transfer/store/transfers.js';
import { tableModel, transferFixture, type TransferFixture } from '../support/transfer-fixture.js';
import { startPipelineWorker } from '../support/in-process-worker.js';
import { until } from '../support/wait.js';

let fx: TransferFixture;
let worker: Worker;
const orders = tableModel('orders', 'orders');
/** The worker's commit-step hook: set by a test to hold the worker's transfer. */
let workerStep: StepHook | undefined;

/** A hook that holds the run at its first written file until `release` is called. */
function holdAtFirstFile(): { step: StepHook; reached: Promise<string>; release: () => void } {
  let reached!: (transferId: string) => void;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = false;
  return {
    reached: new Promise<string>((r) => (reached = r)),
    release,
    step: async (s, at) => {
      if (s !== 'file_written' || held) return;
      held = true;
      reached(at.transferId);
      await gate;
    },
  };
}

before(async () => {
  fx = await transferFixture(['locks']);
  await prepareQueue(fx.control.pool);
  await fx.sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
    INSERT INTO orders SELECT g, 'acme', timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, 500) g;
  `);
  worker = await startPipelineWorker(fx, {
    models: [orders],
    transfer: { fileLimits: { maxRowsPerFile: 100, maxBytesPerFile: 1 << 30 }, step: (s, at) => workerStep?.(s, at) },
  });
});
after(async () => {
  await worker.stop();
  await fx.close();
});

test('a worker\'s transfer waits while `sluice transfer` runs the same destination, and runs after it', async () => {
  const dst = await fx.addDestination({ tenantId: 'acme', bucket: 'locks', prefix: 'cli-first' });
  const hold = holdAtFirstFile();
  const cli = runTransfer(fx.deps([orders], { step: hold.step, fileLimits: { maxRowsPerFile: 100, maxBytesPerFile: 1 << 30 } }), { destinationId: dst });
  const cliId = await hold.reached;
  const queued = await enqueueTransfer(fx.control.pool, { destinationId: dst });
  // The worker took the job, found the destination locked and put the job back to run later.
  await until('the worker to find the destination busy', async () => {
    const r = await fx.control.pool.query(
      `SELECT 1 FROM graphile_worker._private_jobs WHERE key = $1 AND locked_at IS NULL AND run_at > now()`,
      [`transfer:${dst}`],
    );
    return r.rows.length > 0;
  });
  const waiting = await getTransferRow(fx.control.pool, queued.transferId);
  assert.equal(waiting!.status, 'queued', 'nothing of the worker\'s transfer ran while the CLI held the destination');
  assert.equal(waiting!.started_at, null);
  hold.release();
  const first = await cli;
  assert.equal(first.status, 'succeeded');
  const second = await until('the worker\'s transfer', async () => {
    const t = await getTransferRow(fx.control.pool, queued.transferId);
    return t?.status === 'succeeded' && t;
  });
  const cliRow = await getTransferRow(fx.control.pool, cliId);
  assert.ok(second.started_at! >= cliRow!.finished_at!, 'the worker\'s transfer started after the CLI\'s finished');
});

test('`sluice transfer` is refused while a worker runs the same destination', async () => {
  const dst = await fx.addDestination({ tenantId: 'acme', bucket: 'locks', prefix: 'worker-first' });
  const hold = holdAtFirstFile();
  workerStep = hold.step;
  try {
    const queued = await enqueueTransfer(fx.control.pool, { destinationId: dst });
    assert.equal(await hold.reached, queued.transferId);
    await assert.rejects(
      runTransfer(fx.deps([orders]), { destinationId: dst }),
      (e: unknown) => e instanceof SluiceError && e.code === 'transfer_already_running',
    );
    hold.release();
    await until('the worker\'s transfer', async () => (await getTransferRow(fx.control.pool, queued.transferId))?.status === 'succeeded');
  } finally {
    workerStep = undefined;
    hold.release();
  }
});

test('a cancel request stops a transfer run by `sluice transfer` as it stops a worker\'s', async () => {
  const dst = await fx.addDestination({ tenantId: 'acme', bucket: 'locks', prefix: 'cancel' });
  // The run's stop signal, as its stages get it (each write is handed it).
  let runSignal: AbortSignal | undefined;
  let cancelled!: () => void;
  const seen = new Promise<void>((r) => (cancelled = r));
  let reached!: (id: string) => void;
  const atFirstFile = new Promise<string>((r) => (reached = r));
  const base = fx.deps([orders], {
    fileLimits: { maxRowsPerFile: 100, maxBytesPerFile: 1 << 30 },
    // Held at the first file until the run's signal says it was cancelled.
    step: async (s, at) => {
      if (s !== 'file_written') return;
      reached(at.transferId);
      await seen;
    },
  });
  const deps = {
    ...base,
    objectWriter: (config: Parameters<typeof base.objectWriter>[0]) => {
      const w = base.objectWriter(config);
      return {
        write: (...args: Parameters<typeof w.write>) => {
          runSignal = args[2]?.signal;
          runSignal?.addEventListener('abort', () => cancelled(), { once: true });
          return w.write(...args);
        },
        close: () => w.close?.(),
      };
    },
  };
  const cli = runTransfer(deps, { destinationId: dst });
  const id = await atFirstFile;
  assert.equal((await cancelTransfer(fx.control.pool, id))?.status, 'cancelling');
  await seen;
  assert.equal((runSignal!.reason as SluiceError).code, 'cancelled');
  const r = await cli;
  assert.equal(r.status, 'cancelled');
  assert.equal(r.models[0]!.status, 'cancelled');
  assert.equal(r.models[0]!.manifestKey, null);
  assert.equal((await getTransferRow(fx.control.pool, id))!.status, 'cancelled');
});

/**
 * A worker process for the jobs tests (scale-out, crash, shutdown), configured by environment:
 *
 *   JOBS_TEST_MODE=pipeline   the real worker (`sluice worker`), with small files so a transfer takes
 *                             a while (JOBS_TEST_FILE_ROWS rows per file)
 *   JOBS_TEST_MODE=record     the real queue, scheduler and worker loop with a runner that only
 *                             records each run in `test_runs` (start, end, worker) and waits a moment
 *
 * Settings come from the usual variables (DATABASE_URL, SLUICE_WORKER_*, SLUICE_TEST_MINUTE_MS, …).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startJobService } from '../../src/jobs/job-service.js';
import { untilSignal } from '../../src/jobs/signals.js';
import { loadJobSettings } from '../../src/jobs/settings.js';
import { startWorker } from '../../src/jobs/worker.js';
import { createMetrics } from '../../src/metrics.js';
import { openRuntime } from '../../src/runtime.js';
import { transferResult } from './jobs-fixtures.js';

const rt = await openRuntime({ migrate: false });
const mode = process.env.JOBS_TEST_MODE ?? 'pipeline';
let stop: () => Promise<void>;
if (mode === 'record') {
  const runMs = Number(process.env.JOBS_TEST_RUN_MS ?? '20');
  let workerId = '';
  const worker = await startWorker({
    pool: rt.pool,
    databaseUrl: rt.databaseUrl,
    log: rt.log,
    metrics: createMetrics({ defaultMetrics: false }),
    settings: loadJobSettings(),
    sourceKey: 'test',
    runTransfer: async (job, ctx) => {
      const started = new Date();
      // Stops when the worker aborts it (shutdown, cancellation), as the real runner does.
      await sleep(runMs, undefined, { signal: ctx.signal });
      await rt.pool.query(
        'INSERT INTO public.test_runs (transfer_id, destination_id, worker_id, started_at, finished_at) VALUES ($1, $2, $3, $4, clock_timestamp())',
        [job.transferId, job.destinationId, workerId, started],
      );
      return transferResult(job, 'succeeded');
    },
    runConnectionTest: async () => ({ passed: true }),
  });
  workerId = worker.id;
  stop = () => worker.stop();
} else {
  const rows = Number(process.env.JOBS_TEST_FILE_ROWS ?? '1000000');
  const service = await startJobService(rt, { transfer: { fileLimits: { maxRowsPerFile: rows, maxBytesPerFile: 1 << 30 } } });
  stop = () => service.stop();
}
await untilSignal(rt.log, stop);
await rt.close();

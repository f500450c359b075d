/**
 * A worker in the test's own process, for tests that watch or steer its transfers from inside
 * (hooks, held steps). Process-level behaviour (signals, crashes) is tested with real worker
 * processes instead (jobs-processes.ts).
 */
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/core/log.js';
import type { ModelDefinition } from '../../src/core/types.js';
import { pipelineTransferRunner, type PipelineDeps } from '../../src/jobs/pipeline-jobs.js';
import type { JobSettings } from '../../src/jobs/settings.js';
import { startWorker, type Worker } from '../../src/jobs/worker.js';
import { createMetrics } from '../../src/metrics.js';
import { noIdentity, type TransferFixture } from './transfer-fixture.js';

/**
 * Settings for a worker under test: the scheduler as good as off (tests enqueue what they need), a
 * heartbeat and liveness slow enough that a loaded machine does not take the worker for dead.
 */
export function testJobSettings(over: Partial<JobSettings> = {}): JobSettings {
  return {
    concurrency: 2,
    sourceMaxTransfers: 4,
    shutdownGraceMs: 5000,
    deadAfterMs: 60_000,
    heartbeatMs: 10_000,
    checkMs: 1000,
    uploadStallMs: 60_000,
    schedulerIntervalMs: 3_600_000,
    minuteMs: 60_000,
    ...over,
  };
}

/**
 * A worker that runs the real pipeline over the fixture's source and S3 (the operator allows the
 * local http endpoint), with every connection test passing.
 */
export function startPipelineWorker(
  fx: TransferFixture,
  o: { models: ModelDefinition[]; settings?: Partial<JobSettings>; transfer?: PipelineDeps['transfer'] },
): Promise<Worker> {
  return startWorker({
    pool: fx.control.pool,
    databaseUrl: fx.control.url,
    log: silentLogger,
    metrics: createMetrics({ defaultMetrics: false }),
    settings: testJobSettings(o.settings),
    sourceKey: 'test',
    schedule: false,
    runTransfer: pipelineTransferRunner({
      pool: fx.control.pool,
      secrets: fx.secrets,
      log: silentLogger,
      config: loadConfig({ SLUICE_ALLOW_HTTP_ENDPOINTS: 'true', SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1' }),
      identity: noIdentity,
      source: fx.source,
      models: o.models,
      metrics: createMetrics({ defaultMetrics: false }),
      ...(o.transfer ? { transfer: o.transfer } : {}),
    }),
    runConnectionTest: async () => ({ passed: true }),
  });
}

/**
 * A worker bound to the real pipeline, from a runtime: identity, models and their source, metrics.
 * Used by `sluice worker` and `sluice start`.
 */
import { createIdentitySource } from '../identity/index.js';
import type { IdentitySource } from '../core/identity.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { openModels, sourceUrlOf, type OpenedModels } from '../models/index.js';
import { checkStoredTenantValues, tenantColumns } from '../models/tenant.js';
import type { Runtime } from '../runtime.js';
import { pipelineTransferRunner, s3ConnectionTester, type PipelineDeps } from './pipeline-jobs.js';
import { loadJobSettings, type JobSettings } from './settings.js';
import { startWorker, type Worker } from './worker.js';

export interface JobService {
  worker: Worker;
  identity: IdentitySource;
  metrics: Metrics;
  models: OpenedModels;
  settings: JobSettings;
  /** Stops the worker (graceful, bounded by the grace period) and closes the source. */
  stop(): Promise<void>;
}

export interface JobServiceOptions {
  /** Source database URL (default: SLUICE_SOURCE_URL, else the control store). */
  sourceUrl?: string;
  /** Models file (default: SLUICE_CONFIG). */
  modelsFile?: string;
  identity?: IdentitySource;
  metrics?: Metrics;
  settings?: JobSettings;
  schedule?: boolean;
  transfer?: PipelineDeps['transfer'];
}

export async function startJobService(rt: Runtime, opts: JobServiceOptions = {}): Promise<JobService> {
  const { config, log, pool, secrets } = rt;
  const settings = opts.settings ?? loadJobSettings();
  const metrics = opts.metrics ?? createMetrics();
  const sourceUrl = opts.sourceUrl ?? sourceUrlOf(config, rt.databaseUrl);
  const models = await openModels(opts.modelsFile ?? config.SLUICE_CONFIG, sourceUrl);
  try {
    // A model whose tenant column type cannot carry every recipient's stored value is refused here.
    await checkStoredTenantValues(pool, models.source.pool, tenantColumns(models.config.models), `models file ${models.config.file}`);
    const identity = opts.identity ?? (await createIdentitySource(config, { pool, secrets, log }));
    const deps: PipelineDeps = {
      pool,
      secrets,
      log,
      config,
      identity,
      source: models.source,
      models: models.config.models.map((m) => m.definition),
      metrics,
      uploadStallMs: settings.uploadStallMs,
      ...(opts.transfer ? { transfer: opts.transfer } : {}),
    };
    const source = new URL(sourceUrl);
    const worker = await startWorker({
      pool,
      databaseUrl: rt.databaseUrl,
      log,
      metrics,
      settings,
      runTransfer: pipelineTransferRunner(deps),
      runConnectionTest: s3ConnectionTester(deps),
      // The cap is per source database: host, port and database name identify it (never credentials).
      sourceKey: `${source.hostname}:${source.port}${source.pathname}`,
      ...(opts.schedule !== undefined ? { schedule: opts.schedule } : {}),
    });
    return {
      worker,
      identity,
      metrics,
      models,
      settings,
      async stop() {
        await worker.stop();
        await models.source.close();
      },
    };
  } catch (err) {
    await models.source.close();
    throw err;
  }
}

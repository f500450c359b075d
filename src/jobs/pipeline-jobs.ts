/**
 * The two jobs bound to the real pipeline: `transfer` runs the transfer runner (source → encoder →
 * object writer → manifest → watermark) and `connection_test` runs the S3 connection test and
 * records its outcome on the destination.
 */
import type { Config } from '../config.js';
import { testSavedDestination } from '../control/destination-tests.js';
import { endpointPolicy } from '../control/destination-rules.js';
import type { Pool } from '../control/db.js';
import type { SecretBox } from '../control/secrets.js';
import { createObjectWriter } from '../destinations/s3/object-writer.js';
import type { IdentitySource } from '../core/identity.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../metrics.js';
import type { PostgresSource } from '../sources/postgres/source.js';
import { postgresTransferSource } from '../transfer/postgres-source.js';
import type { TransferDeps } from '../transfer/deps.js';
import { runTransfer } from '../transfer/run.js';
import { transferDeps } from './transfer-deps.js';
import type { ModelDefinition, TransferSource } from '../core/types.js';
import type { ConnectionTester, TransferRunner } from './outcomes.js';

export interface PipelineDeps {
  pool: Pool;
  secrets: SecretBox;
  log: Logger;
  config: Config;
  identity: IdentitySource;
  source: PostgresSource;
  models: ModelDefinition[];
  metrics: Metrics;
  /** Uploads whose connection moves no bytes for this long are abandoned and retried (SLUICE_UPLOAD_STALL_SECONDS). */
  uploadStallMs?: number;
  /** Extra transfer options (tests: file limits, the commit-step hook). */
  transfer?: Partial<Pick<TransferDeps, 'fileLimits' | 'step'>>;
}

export function pipelineTransferRunner(deps: PipelineDeps): TransferRunner {
  const source = timedSource(postgresTransferSource(deps.source, deps.models), deps.metrics);
  // The runner binds the transfer and destination ids to its log itself.
  const network = { policy: endpointPolicy(deps.config) };
  const base = transferDeps({ pool: deps.pool, secrets: deps.secrets, log: deps.log, identity: deps.identity, source, network });
  return (job, ctx) =>
    runTransfer(
      {
        ...base,
        objectWriter: (config) =>
          createObjectWriter(config, {
            identity: deps.identity,
            log: ctx.log,
            // The network rules of this worker's configuration, checked on every connection it opens.
            network,
            ...(deps.uploadStallMs ? { options: { stallTimeoutMs: deps.uploadStallMs } } : {}),
          }),
        ...deps.transfer,
      },
      {
        destinationId: job.destinationId,
        transferId: job.transferId,
        kind: job.kind,
        ...(job.models ? { models: job.models } : {}),
        ...(job.from !== undefined ? { from: job.from } : {}),
        ...(job.to !== undefined ? { to: job.to } : {}),
        signal: ctx.signal,
        ...(ctx.lock ? { lock: ctx.lock } : {}),
      },
    );
}

/** Observes how long opening a model's read takes on the source (its snapshot and window query). */
function timedSource(source: TransferSource, metrics: Metrics): TransferSource {
  return {
    ...source,
    async open(req) {
      const stop = metrics.sourceQuerySeconds.startTimer({ model: req.model.name });
      try {
        return await source.open(req);
      } finally {
        stop();
      }
    },
  };
}

/**
 * The connection test of a saved destination, recorded on it exactly as a direct test is (status,
 * last test, last error, learnt account): the same testSavedDestination the CLI's --local uses.
 */
export function s3ConnectionTester(deps: Pick<PipelineDeps, 'pool' | 'secrets' | 'config' | 'identity' | 'log'>): ConnectionTester {
  return async (destinationId, ctx) => {
    const { result } = await testSavedDestination(
      deps.pool,
      deps.secrets,
      { config: deps.config, identity: deps.identity, log: ctx.log, ...(ctx.progress ? { onStep: ctx.progress } : {}) },
      destinationId,
    );
    const failed = result.steps.find((s) => s.status === 'failed');
    const error = failed ? { code: failed.code ?? 'connection_test_failed', actor: failed.actor ?? 'recipient', message: failed.message } : undefined;
    return { passed: result.passed, result, ...(error ? { error } : {}) };
  };
}

/**
 * `sluice start` (`npm start`): API, worker and scheduler in one process. Without SLUICE_SOURCE_URL
 * it also runs the demo — a generated multi-tenant dataset, a local bucket, a recipient and its
 * destination — and makes a first delivery, then reports what happened and where.
 */
import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { buildServer, type ApiApp } from '../../api/server.js';
import { loadConfig, type Config } from '../../config.js';
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../demo/bucket.js';
import { demoSummary, firstDelivery, prepareDemo, type Demo } from '../../demo/run.js';
import { demoSetupLink } from '../../demo/setup.js';
import { createIdentitySource } from '../../identity/index.js';
import { queuedConnectionTester } from '../../jobs/connection-tests.js';
import { startJobService, type JobService } from '../../jobs/job-service.js';
import { untilSignal } from '../../jobs/signals.js';
import { createMetrics } from '../../metrics.js';
import { catalogFromConfig, modelCatalog, type ModelCatalog } from '../../models/catalog.js';
import { openRuntime } from '../../runtime.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Run API, worker and scheduler in one process; without SLUICE_SOURCE_URL, also the demo (embedded defaults, a real delivery).')
    .option('--reset', 'delete the data folder first and start from nothing')
    .action(async (opts: { reset?: boolean }) => {
      const base = loadConfig();
      if (opts.reset) await fs.rm(base.dataDir, { recursive: true, force: true });
      const demoMode = !base.SLUICE_SOURCE_URL;
      // The demo bucket is plain http on 127.0.0.1: allowed here, for this process only.
      const config: Config = demoMode
        ? { ...base, SLUICE_ALLOW_HTTP_ENDPOINTS: true, SLUICE_ENDPOINT_ALLOWLIST: [...base.SLUICE_ENDPOINT_ALLOWLIST, '127.0.0.1'] }
        : base;
      const rt = await openRuntime({ config });
      const { log, pool, secrets } = rt;
      let demo: Demo | undefined;
      let service: JobService | undefined;
      let app: ApiApp | undefined;
      let models: ModelCatalog | undefined;
      // Stops what was started, in reverse order; the worker gets its grace period.
      const shutdown = async (): Promise<void> => {
        await app?.close();
        await models?.close();
        await service?.stop();
        await demo?.stop();
      };
      try {
        demo = demoMode ? await prepareDemo(rt) : undefined;
        const metrics = createMetrics();
        const identity = await createIdentitySource(config, { pool, secrets, log });
        service = await startJobService(rt, {
          identity,
          metrics,
          ...(demo ? { sourceUrl: demo.sourceUrl, modelsFile: demo.modelsFile } : {}),
        });
        models = demo ? modelCatalog(demo.modelsFile, demo.sourceUrl) : catalogFromConfig(config, rt.databaseUrl);
        app = await buildServer({ pool, secrets, log, config, identity, metrics, models });
        const apiUrl = await app.listen({ host: config.SLUICE_HOST, port: config.SLUICE_PORT });
        log.info({ api: apiUrl, workerId: service.worker.id }, 'sluice started: API, worker and scheduler');
        const stopped = untilSignal(log, shutdown);
        if (demo) {
          // Through the queue, like any connection test: the worker started above runs it.
          const tester = queuedConnectionTester(pool, { timeoutMs: config.SLUICE_CONNECTION_TEST_WAIT_SECONDS * 1000, deadAfterMs: service.settings.deadAfterMs });
          const report = await firstDelivery(pool, log, demo, tester);
          console.log(demoSummary({ demo, report, apiUrl, dataDir: config.dataDir, firstStart: demo.destination.created }));
          // The recipient's side: a setup link for the second demo recipient, against the same local store.
          const setup = await demoSetupLink(pool, { ...config, SLUICE_PUBLIC_URL: config.SLUICE_PUBLIC_URL ?? apiUrl }, demo.bucket);
          console.log(
            [
              `  recipient's side setup page of the second demo recipient (Globex), opens once:`,
              `                   ${setup.url}`,
              setup.destinationId
                ? `                   (Globex is connected already: the page shows its delivery status)`
                : `                   access key ${DEMO_ACCESS_KEY_ID}, secret ${DEMO_SECRET_ACCESS_KEY} (the local bucket's demo key)`,
              '',
            ].join('\n'),
          );
          demo.startChanges(60_000);
        } else {
          console.log(`\nSluice is running. API ${apiUrl} — stop with Ctrl-C.\n`);
        }
        await stopped;
      } catch (err) {
        await shutdown().catch(() => undefined);
        throw err;
      } finally {
        await rt.close();
      }
    });
}

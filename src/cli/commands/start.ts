/**
 * `sluice start` (`npm start`): API, worker and scheduler in one process. Without SLUICE_SOURCE_URL
 * it also runs the demo — a generated multi-tenant dataset, a local bucket, a recipient and its
 * destination — and makes a first delivery, then reports what happened and where.
 *
 * Ctrl-C (SIGINT to the terminal's process group) is the graceful stop: no new jobs, running transfers
 * get the grace period, then the API, the demo bucket and — last — the embedded PostgreSQL (which runs
 * in its own process group, so the terminal's signal does not reach it). Exit code 0.
 */
import fs from 'node:fs/promises';
import type { Command } from 'commander';
import type { ApiApp } from '../../api/server.js';
import { loadConfig, type Config } from '../../config.js';
import { assertPortFree } from '../../control/ports.js';
import { DEMO_KEYS, demoBucketPort } from '../../demo/bucket.js';
import type { Demo } from '../../demo/run.js';
import type { JobService } from '../../jobs/job-service.js';
import { untilSignal } from '../../jobs/signals.js';
import { createLogger } from '../../core/log.js';
import { openRuntime, type Runtime } from '../../runtime.js';
import { catalogFromConfig, modelCatalog, type ModelCatalog } from '../../models/catalog.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Run API, worker and scheduler in one process; without SLUICE_SOURCE_URL, also the demo (embedded defaults, a real delivery).')
    .option('--reset', 'delete the data folder first and start from nothing')
    .action(async (opts: { reset?: boolean }) => {
      const base = loadConfig();
      const demoMode = !base.SLUICE_SOURCE_URL;
      // Ports first, before anything starts: a taken one is one line naming its setting.
      await assertPortFree(base.SLUICE_HOST, base.SLUICE_PORT, 'SLUICE_PORT', 'the API');
      if (opts.reset) await fs.rm(base.dataDir, { recursive: true, force: true });
      if (demoMode) await assertPortFree('127.0.0.1', await demoBucketPort(base.dataDir), 'SLUICE_DEMO_S3_PORT', 'the demo bucket (s3rver)');
      // The demo bucket is plain http on 127.0.0.1: allowed here, for this process only.
      const config: Config = demoMode
        ? { ...base, SLUICE_ALLOW_HTTP_ENDPOINTS: true, SLUICE_ENDPOINT_ALLOWLIST: [...base.SLUICE_ENDPOINT_ALLOWLIST, '127.0.0.1'] }
        : base;
      const log = createLogger({ level: config.SLUICE_LOG_LEVEL, format: config.SLUICE_LOG_FORMAT });

      let rt: Runtime | undefined;
      let demo: Demo | undefined;
      let service: JobService | undefined;
      let app: ApiApp | undefined;
      let models: ModelCatalog | undefined;
      let stopRequested = false;
      let stopping: Promise<void> | undefined;
      // Stops what was started, in reverse order; the worker gets its grace period. PostgreSQL is
      // stopped after this, by rt.close().
      const shutdown = (): Promise<void> =>
        (stopping ??= (async () => {
          await app?.close();
          await models?.close();
          await service?.stop();
          await demo?.stop();
        })());
      // From the first moment: a Ctrl-C while PostgreSQL or the demo starts stops cleanly too.
      const stopped = untilSignal(log, async () => {
        stopRequested = true;
        await shutdown();
      });
      try {
        rt = await openRuntime({ config, log, service: true });
        if (stopRequested) return;
        const { pool, secrets } = rt;
        const [{ buildServer }, { demoSummary, firstDelivery, prepareDemo }, { createIdentitySource }, { queuedConnectionTester }, { startJobService }, { createMetrics }] =
          await Promise.all([
            import('../../api/server.js'),
            import('../../demo/run.js'),
            import('../../identity/index.js'),
            import('../../jobs/connection-tests.js'),
            import('../../jobs/job-service.js'),
            import('../../metrics.js'),
          ]);
        demo = demoMode ? await prepareDemo(rt) : undefined;
        if (stopRequested) return;
        const metrics = createMetrics();
        const identity = await createIdentitySource(config, { pool, secrets, log });
        service = await startJobService(rt, {
          identity,
          metrics,
          ...(demo ? { sourceUrl: demo.sourceUrl, modelsFile: demo.modelsFile } : {}),
        });
        if (stopRequested) return;
        const catalog = demo ? modelCatalog(demo.modelsFile, demo.sourceUrl) : catalogFromConfig(config, rt.databaseUrl);
        models = catalog;
        app = await buildServer({ pool, secrets, log, config, identity, metrics, models: catalog });
        const apiUrl = await app.listen({ host: config.SLUICE_HOST, port: config.SLUICE_PORT });
        log.info({ api: apiUrl, workerId: service.worker.id }, 'sluice started: API, worker and scheduler');
        if (demo) {
          // Through the queue, like any connection test: the worker started above runs it.
          const tester = queuedConnectionTester(pool, { timeoutMs: config.SLUICE_CONNECTION_TEST_WAIT_SECONDS * 1000, deadAfterMs: service.settings.deadAfterMs });
          const report = await Promise.race([firstDelivery(pool, log, demo, tester), stopped.then(() => null)]);
          if (!report) return;
          const controlUrl = rt.embedded ? new URL('/sluice', rt.embedded.url).toString() : null;
          console.log(demoSummary({ demo, report, apiUrl, dataDir: config.dataDir, firstStart: demo.destination.created, controlUrl }));
          // The recipient's side: a setup link for the second demo recipient, against the same local store.
          const { demoSetupLink } = await import('../../demo/setup.js');
          const setup = await demoSetupLink(
            { pool, secrets, config: { ...config, SLUICE_PUBLIC_URL: config.SLUICE_PUBLIC_URL ?? apiUrl }, models: catalog },
            demo.bucket,
          );
          console.log(
            [
              `  recipient's side setup page of the second demo recipient (Globex), opens once:`,
              `                   ${setup.url}`,
              setup.destinationId
                ? `                   (Globex is connected already: the page shows its delivery status)`
                : `                   access key ${DEMO_KEYS.globex.accessKeyId}, secret ${DEMO_KEYS.globex.secretAccessKey} (Globex's key to the local bucket)`,
              '',
            ].join('\n'),
          );
          demo.startChanges(60_000);
        } else {
          console.log(`\nSluice is running. API ${apiUrl} — stop with Ctrl-C.\n`);
        }
        await stopped;
      } catch (err) {
        if (!stopRequested) throw err;
        // A failure caused by the stop itself (a query cut short) is not an error of the start.
        log.debug({ err }, 'interrupted while starting');
      } finally {
        await shutdown().catch((err: unknown) => log.error({ err }, 'error while stopping'));
        await rt?.close();
        if (stopRequested) log.info('stopped');
      }
    });
}

import { InvalidArgumentError, type Command } from 'commander';
import type { ApiApp } from '../../api/server.js';
import { startJobService } from '../../jobs/job-service.js';
import { untilSignal } from '../../jobs/signals.js';
import { loadConfig } from '../../config.js';
import { assertPortFree } from '../../control/ports.js';
import { openRuntime } from '../../runtime.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: scheduled and triggered transfers and connection tests from the job queue. Run as many as you like.')
    .option('--no-schedule', 'do not enqueue due destinations from this process (another process does)')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on SLUICE_HOST:<port> (default: SLUICE_WORKER_METRICS_PORT; none when unset)', port)
    .action(async (opts: { schedule: boolean; metricsPort?: number }) => {
      const config = loadConfig();
      const wantedPort = opts.metricsPort ?? config.SLUICE_WORKER_METRICS_PORT;
      if (wantedPort !== undefined) await assertPortFree(config.SLUICE_HOST, wantedPort, 'SLUICE_WORKER_METRICS_PORT', 'the worker\'s metrics listener (--metrics-port)');
      const rt = await openRuntime({ config, service: true });
      try {
        const service = await startJobService(rt, { schedule: opts.schedule });
        let ops: ApiApp | undefined;
        const stop = async (): Promise<void> => {
          // The listener outlives the worker's drain, so a scrape during the grace period still answers.
          await service.stop();
          await ops?.close();
        };
        const metricsPort = opts.metricsPort ?? rt.config.SLUICE_WORKER_METRICS_PORT;
        if (metricsPort !== undefined) {
          try {
            // The API's own health and metrics routes on the worker's metrics: nothing else of the API.
            const { buildServer } = await import('../../api/server.js');
            const { healthRoutes } = await import('../../api/routes/health.js');
            const { metricsRoutes } = await import('../../api/routes/metrics.js');
            const { catalogFromConfig } = await import('../../models/catalog.js');
            const { pool, secrets, log, config } = rt;
            ops = await buildServer(
              // Health and metrics never load the models: the catalog stays unopened.
              { pool, secrets, log, config, identity: service.identity, metrics: service.metrics, models: catalogFromConfig(config, rt.databaseUrl) },
              { routes: [healthRoutes, metricsRoutes] },
            );
            const address = await ops.listen({ host: config.SLUICE_HOST, port: metricsPort });
            log.info({ address, workerId: service.worker.id }, 'worker metrics and health listening');
          } catch (err) {
            await stop();
            throw err;
          }
        }
        await untilSignal(rt.log, stop);
      } finally {
        await rt.close();
      }
    });
}

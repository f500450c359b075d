import type { Command } from 'commander';
import { startJobService } from '../../jobs/service.js';
import { untilSignal } from '../../jobs/signals.js';
import { openRuntime } from '../../runtime.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: scheduled and triggered transfers and connection tests from the job queue. Run as many as you like.')
    .option('--no-schedule', 'do not enqueue due destinations from this process (another process does)')
    .action(async (opts: { schedule: boolean }) => {
      const rt = await openRuntime();
      try {
        const service = await startJobService(rt, { schedule: opts.schedule });
        await untilSignal(rt.log, () => service.stop());
      } finally {
        await rt.close();
      }
    });
}

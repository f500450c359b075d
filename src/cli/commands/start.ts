import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { openRuntime } from '../../runtime.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Run everything on embedded defaults: control store, API, worker and the demo delivery.')
    .option('--reset', 'delete the data folder first and start from nothing')
    .action(async (opts: { reset?: boolean }) => {
      const config = loadConfig();
      if (opts.reset) await fs.rm(config.dataDir, { recursive: true, force: true });
      const rt = await openRuntime({ config });
      rt.log.info({ dataDir: config.dataDir }, 'control store ready');
      await rt.close();
    });
}

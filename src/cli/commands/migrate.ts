import type { Command } from 'commander';
import { openRuntime } from '../../runtime.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('Apply pending control-store migrations and exit.')
    .action(async () => {
      const rt = await openRuntime();
      await rt.close();
      console.log('control store is up to date');
    });
}

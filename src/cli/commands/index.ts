import type { Command } from 'commander';
import { registerMigrate } from './migrate.js';
import { registerModels } from './models.js';
import { registerStart } from './start.js';

/** Every command, in the order `sluice --help` lists them. */
export const commands: Array<(program: Command) => void> = [registerStart, registerMigrate, registerModels];

import type { Command } from 'commander';
import { registerApiKeys } from './apikeys.js';
import { registerIdentity } from './identity.js';
import { registerMigrate } from './migrate.js';
import { registerModels } from './models.js';
import { registerRecipients } from './recipients.js';
import { registerStart } from './start.js';

/** Every command, in the order `sluice --help` lists them. */
export const commands: Array<(program: Command) => void> = [
  registerStart,
  registerMigrate,
  registerApiKeys,
  registerRecipients,
  registerModels,
  registerIdentity,
];

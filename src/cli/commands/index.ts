import type { Command } from 'commander';
import { registerApiKeys } from './apikeys.js';
import { registerDemo } from './demo.js';
import { registerDestinations } from './destinations.js';
import { registerIdentity } from './identity.js';
import { registerLinks } from './links.js';
import { registerMigrate } from './migrate.js';
import { registerModels } from './models.js';
import { registerPolicy } from './policy.js';
import { registerQuery } from './query.js';
import { registerRecipients } from './recipients.js';
import { registerServe } from './serve.js';
import { registerStart } from './start.js';
import { registerWorker } from './worker.js';
import { registerTransfer } from './transfer.js';
import { registerTransfers } from './transfers.js';
import { registerVerify } from './verify.js';

/** Every command, in the order `sluice --help` lists them. */
export const commands: Array<(program: Command) => void> = [
  registerStart,
  registerWorker,
  registerMigrate,
  registerApiKeys,
  registerServe,
  registerRecipients,
  registerDestinations,
  registerLinks,
  registerPolicy,
  registerModels,
  registerIdentity,
  registerTransfer,
  registerTransfers,
  registerVerify,
  registerQuery,
  registerDemo,
];

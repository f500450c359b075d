/**
 * Chooses Sluice's identity source from SLUICE_IDENTITY. Everything else in Sluice sees only the
 * IdentitySource interface.
 */
import type { Config } from '../config.js';
import type { Pool } from '../control/db.js';
import type { SecretBox } from '../control/secrets.js';
import type { Logger } from '../log.js';
import { createOidcIdentity } from './oidc/index.js';
import type { IdentitySource } from './types.js';

export interface IdentityDeps {
  pool: Pool;
  secrets: SecretBox;
  log: Logger;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
}

export async function createIdentitySource(config: Config, deps: IdentityDeps): Promise<IdentitySource> {
  switch (config.SLUICE_IDENTITY) {
    case 'oidc':
      return createOidcIdentity(config, deps);
    case 'google':
    case 'token-file':
      throw new Error(`identity source ${config.SLUICE_IDENTITY} is being built`);
  }
}

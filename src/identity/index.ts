/**
 * Chooses Sluice's identity source from SLUICE_IDENTITY. Everything else in Sluice sees only the
 * IdentitySource interface.
 */
import type { Config } from '../config.js';
import type { Pool } from '../control/db.js';
import type { SecretBox } from '../control/secrets.js';
import { SluiceError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { GoogleKeyFileIdentity, GoogleMetadataIdentity, readServiceAccountKey } from './google.js';
import { createOidcIdentity } from './oidc/index.js';
import { TokenFileIdentity } from './token-file.js';
import type { IdentitySource } from '../core/identity.js';

export type { IdentitySource, TrustedIdentity, IdentityKind } from '../core/identity.js';

export interface IdentityDeps {
  pool: Pool;
  secrets: SecretBox;
  log: Logger;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
}

export async function createIdentitySource(config: Config, deps: IdentityDeps): Promise<IdentitySource> {
  const now = deps.now ? { now: deps.now } : {};
  switch (config.SLUICE_IDENTITY) {
    case 'oidc':
      return createOidcIdentity(config, deps);
    case 'google': {
      const subject = config.SLUICE_GOOGLE_SUBJECT ? { subject: config.SLUICE_GOOGLE_SUBJECT } : {};
      if (config.SLUICE_GOOGLE_SERVICE_ACCOUNT_KEY_FILE) {
        deps.log.info('google identity: ID tokens from the IAM Credentials API with a service-account key');
        return new GoogleKeyFileIdentity({
          key: await readServiceAccountKey(config.SLUICE_GOOGLE_SERVICE_ACCOUNT_KEY_FILE),
          iamCredentialsUrl: config.SLUICE_GOOGLE_IAM_CREDENTIALS_URL,
          log: deps.log,
          ...(config.SLUICE_GOOGLE_SERVICE_ACCOUNT_EMAIL ? { serviceAccountEmail: config.SLUICE_GOOGLE_SERVICE_ACCOUNT_EMAIL } : {}),
          ...subject,
          ...now,
        });
      }
      deps.log.info({ host: config.SLUICE_GOOGLE_METADATA_HOST }, 'google identity: ID tokens from the GCP metadata server');
      return new GoogleMetadataIdentity({ metadataHost: config.SLUICE_GOOGLE_METADATA_HOST, log: deps.log, ...subject });
    }
    case 'token-file': {
      if (!config.SLUICE_TOKEN_FILE) {
        throw new SluiceError({
          code: 'invalid_identity_config',
          message: 'SLUICE_IDENTITY=token-file needs SLUICE_TOKEN_FILE, the path of the projected token.',
          hint: 'Mount a projected serviceAccountToken volume and set SLUICE_TOKEN_FILE to its file.',
          docs: 'docs/identity-and-trust.md',
        });
      }
      return new TokenFileIdentity({
        file: config.SLUICE_TOKEN_FILE,
        ...(config.SLUICE_TOKEN_FILE_ISSUER ? { issuer: config.SLUICE_TOKEN_FILE_ISSUER } : {}),
        ...(config.SLUICE_TOKEN_FILE_SUBJECT ? { subject: config.SLUICE_TOKEN_FILE_SUBJECT } : {}),
        ...now,
      });
    }
  }
}

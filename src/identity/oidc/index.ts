import type { Config } from '../../config.js';
import type { Pool } from '../../control/db.js';
import type { SecretBox } from '../../control/secrets.js';
import { SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { issuerHostPath } from '../trusted.js';
import { OidcIdentity } from './issuer.js';
import { resolveIssuerUrl } from './issuer-url.js';
import { OidcKeyStore } from './keys.js';

export { OidcIdentity, DISCOVERY_PATH, JWKS_PATH } from './issuer.js';
export { OidcKeyStore, type KeyInfo, type KeyState } from './keys.js';

export type OidcConfig = Pick<
  Config,
  | 'SLUICE_PUBLIC_URL'
  | 'SLUICE_PORT'
  | 'SLUICE_OIDC_SUBJECT'
  | 'SLUICE_OIDC_TOKEN_TTL_SECONDS'
  | 'SLUICE_OIDC_JWKS_MAX_AGE_SECONDS'
  | 'SLUICE_OIDC_PUBLISH_LEAD_SECONDS'
  | 'SLUICE_OIDC_ALLOW_HTTP'
>;

export interface OidcDeps {
  pool: Pool;
  secrets: SecretBox;
  log: Logger;
  /** Clock in milliseconds (tests move it). */
  now?: () => number;
  /** Seconds a process keeps using the signing key it loaded (default 60). */
  reloadSeconds?: number;
}

/** Sluice's own issuer, with a signing key ready (the first one is created here). */
export async function createOidcIdentity(config: OidcConfig, deps: OidcDeps): Promise<OidcIdentity> {
  if (config.SLUICE_OIDC_PUBLISH_LEAD_SECONDS < config.SLUICE_OIDC_JWKS_MAX_AGE_SECONDS) {
    throw new SluiceError({
      code: 'invalid_identity_config',
      message: `SLUICE_OIDC_PUBLISH_LEAD_SECONDS (${config.SLUICE_OIDC_PUBLISH_LEAD_SECONDS}) is shorter than SLUICE_OIDC_JWKS_MAX_AGE_SECONDS (${config.SLUICE_OIDC_JWKS_MAX_AGE_SECONDS}).`,
      hint: 'A new key must be published at least as long as verifiers may cache the JWKS, or they would reject its first tokens.',
      docs: 'docs/identity-and-trust.md',
    });
  }
  const issuer = resolveIssuerUrl({
    publicUrl: config.SLUICE_PUBLIC_URL,
    port: config.SLUICE_PORT,
    allowHttp: config.SLUICE_OIDC_ALLOW_HTTP,
    log: deps.log,
  });
  const keys = new OidcKeyStore({
    pool: deps.pool,
    secrets: deps.secrets,
    log: deps.log,
    commonName: issuerHostPath(issuer),
    tokenTtlSeconds: config.SLUICE_OIDC_TOKEN_TTL_SECONDS,
    publishLeadSeconds: config.SLUICE_OIDC_PUBLISH_LEAD_SECONDS,
    ...(deps.reloadSeconds !== undefined ? { reloadSeconds: deps.reloadSeconds } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  await keys.init();
  return new OidcIdentity({
    issuer,
    subject: config.SLUICE_OIDC_SUBJECT,
    tokenTtlSeconds: config.SLUICE_OIDC_TOKEN_TTL_SECONDS,
    jwksMaxAgeSeconds: config.SLUICE_OIDC_JWKS_MAX_AGE_SECONDS,
    keys,
    ...(deps.now ? { now: deps.now } : {}),
  });
}

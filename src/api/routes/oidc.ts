/**
 * The OIDC issuer's public endpoints: `/.well-known/openid-configuration` and `/.well-known/jwks.json`.
 * Verifiers (AWS IAM, Ceph RGW) fetch them anonymously, so they must stay outside API-key auth.
 * Registered only when the identity is Sluice's own issuer; for google and token-file nothing is served.
 *
 * When SLUICE_PUBLIC_URL has a path (https://host/sluice), a reverse proxy maps
 * `<issuer>/.well-known/…` to these root paths.
 */
import type { FastifyPluginAsync } from 'fastify';
import { DISCOVERY_PATH, JWKS_PATH, OidcIdentity } from '../../identity/oidc/issuer.js';
import type { IdentitySource } from '../../core/identity.js';

export interface OidcRoutesOptions {
  identity: IdentitySource;
}

export const oidcRoutes: FastifyPluginAsync<OidcRoutesOptions> = async (app, opts) => {
  const identity = opts.identity;
  if (!(identity instanceof OidcIdentity)) return;

  app.get(DISCOVERY_PATH, { config: { public: true } }, async (_req, reply) => {
    reply.header('cache-control', identity.cacheControl());
    return identity.discovery();
  });

  app.get(JWKS_PATH, { config: { public: true } }, async (_req, reply) => {
    reply.header('cache-control', identity.cacheControl());
    return identity.jwks();
  });
};

/**
 * Sluice's own `oidc` identity, served over HTTP on a free loopback port exactly as `sluice start`
 * serves it (the same Fastify plugin), with its keys in a fresh control-store database. RGW fetches
 * the discovery document and the JWKS from it to verify tokens.
 */
import crypto from 'node:crypto';
import fastify from 'fastify';
import { oidcRoutes } from '../../src/api/routes/oidc.js';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../../src/control/embedded.js';
import { SecretBox } from '../../src/control/secrets.js';
import { createOidcIdentity, type OidcIdentity } from '../../src/identity/oidc/index.js';
import { silentLogger } from '../../src/log.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

export interface ServedIssuer {
  identity: OidcIdentity;
  issuer: string;
  db: TestDatabase;
  close(): Promise<void>;
}

export async function serveIssuer(subject = 'sluice-aws-suite'): Promise<ServedIssuer> {
  const db = await freshDatabase();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = loadConfig({ SLUICE_IDENTITY: 'oidc', SLUICE_PUBLIC_URL: issuer, SLUICE_OIDC_SUBJECT: subject });
  const identity = await createOidcIdentity(config, { pool: db.pool, secrets: new SecretBox(crypto.randomBytes(32)), log: silentLogger });
  const app = fastify();
  await app.register(oidcRoutes, { identity });
  await app.listen({ host: '127.0.0.1', port });
  return {
    identity,
    issuer,
    db,
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

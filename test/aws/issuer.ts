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
import { silentLogger } from '../../src/core/log.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';

export interface ServedIssuer {
  identity: OidcIdentity;
  issuer: string;
  /** A migrated control store holding the issuer's keys; usable for everything else too. */
  db: TestDatabase;
  secrets: SecretBox;
  /** SLUICE_SECRET_KEY (base64) of `secrets`, for a `sluice` CLI run against `db`. */
  secretKey: string;
  subject: string;
  /** Stops serving the discovery document and JWKS (as a stopped API process does); the keys stay. */
  stopServing(): Promise<void>;
  /** Serves them again, on the same URL. */
  startServing(): Promise<void>;
  close(): Promise<void>;
}

export async function serveIssuer(subject = 'sluice-aws-suite'): Promise<ServedIssuer> {
  const db = await freshDatabase();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = loadConfig({ SLUICE_IDENTITY: 'oidc', SLUICE_PUBLIC_URL: issuer, SLUICE_OIDC_SUBJECT: subject });
  const key = crypto.randomBytes(32);
  const secrets = new SecretBox(key);
  const identity = await createOidcIdentity(config, { pool: db.pool, secrets, log: silentLogger });
  const serve = async () => {
    const app = fastify();
    await app.register(oidcRoutes, { identity });
    await app.listen({ host: '127.0.0.1', port });
    return app;
  };
  let app: Awaited<ReturnType<typeof serve>> | undefined = await serve();
  return {
    identity,
    issuer,
    db,
    secrets,
    secretKey: key.toString('base64'),
    subject,
    async stopServing() {
      await app?.close();
      app = undefined;
    },
    async startServing() {
      app ??= await serve();
    },
    async close() {
      await app?.close();
      await db.drop();
    },
  };
}

/**
 * An API server on a fresh database for integration tests: real PostgreSQL, real Fastify (driven with
 * inject), an operator key, and a logger whose every line is kept for inspection.
 */
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { buildServer, type ApiApp } from '../../src/api/server.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createApiKey } from '../../src/control/apikeys.js';
import { SecretBox } from '../../src/control/secrets.js';
import type { IdentitySource, TrustedIdentity } from '../../src/identity/types.js';
import { createLogger } from '../../src/log.js';
import { freshDatabase, type TestDatabase } from './db.js';

/** A tiny OIDC-like identity for tests: describes itself and returns a recognisable fake token. */
export function testIdentity(issuer = 'https://sluice.test.example'): IdentitySource {
  const host = new URL(issuer).host;
  const trusted: TrustedIdentity = {
    kind: 'oidc',
    issuer,
    subject: 'sluice',
    conditionKeyPrefix: host,
    audienceConditionKey: 'aud',
    federatedPrincipal: (accountId, partition = 'aws') => `arn:${partition}:iam::${accountId}:oidc-provider/${host}`,
    requiresOidcProvider: true,
  };
  return {
    kind: 'oidc',
    describe: async () => trusted,
    token: async (audience) => `test-token-for-${audience}`,
  };
}

export interface TestApi {
  app: ApiApp;
  db: TestDatabase;
  config: Config;
  secrets: SecretBox;
  key: string;
  /** Everything the server logged so far. */
  logs(): string;
  auth: { authorization: string };
  close(): Promise<void>;
}

export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const db = await freshDatabase();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = createLogger({ level: 'trace', format: 'json', destination: sink });
  const config = loadConfig({ DATABASE_URL: db.url, SLUICE_DATA_DIR: '.tmp/api-test', ...env });
  const secrets = new SecretBox(crypto.randomBytes(32));
  const app = await buildServer({ pool: db.pool, secrets, log, config, identity: testIdentity() });
  const { key } = await createApiKey(db.pool, { name: 'test' });
  return {
    app,
    db,
    config,
    secrets,
    key,
    logs: () => lines.join(''),
    auth: { authorization: `Bearer ${key}` },
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

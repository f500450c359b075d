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
import type { IdentitySource, TrustedIdentity } from '../../src/core/identity.js';
import { s3ConnectionTester } from '../../src/jobs/pipeline-jobs.js';
import { loadJobSettings } from '../../src/jobs/settings.js';
import { startWorker, type Worker } from '../../src/jobs/worker.js';
import { createLogger } from '../../src/core/log.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
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
  /** SLUICE_SECRET_KEY (base64) of `secrets`, for a `sluice` CLI run against `db`. */
  secretKey: string;
  /** Shared by the API and the workers of startTestWorker, as in `sluice start`. */
  metrics: Metrics;
  key: string;
  /** Everything the server logged so far. */
  logs(): string;
  auth: { authorization: string };
  /** Starts a worker on the API's database (connection tests run on it); stopped by close() too. */
  startWorker(): Promise<{ worker: Worker; stop(): Promise<void> }>;
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
  const secretKeyBytes = crypto.randomBytes(32);
  const secrets = new SecretBox(secretKeyBytes);
  const metrics = createMetrics({ defaultMetrics: false });
  const app = await buildServer({ pool: db.pool, secrets, log, config, identity: testIdentity(), metrics });
  const { key } = await createApiKey(db.pool, { name: 'test' });
  const workers = new Set<Worker>();
  return {
    app,
    db,
    config,
    secrets,
    secretKey: secretKeyBytes.toString('base64'),
    metrics,
    key,
    logs: () => lines.join(''),
    auth: { authorization: `Bearer ${key}` },
    async startWorker() {
      // The real queue and worker loop with the real connection test; transfers are not part of these tests.
      const worker = await startWorker({
        pool: db.pool,
        databaseUrl: db.url,
        log,
        metrics,
        settings: loadJobSettings({}),
        sourceKey: 'test',
        schedule: false,
        runTransfer: () => Promise.reject(new Error('no transfers in API tests')),
        runConnectionTest: s3ConnectionTester({ pool: db.pool, secrets, config, identity: testIdentity(), log }),
      });
      workers.add(worker);
      return {
        worker,
        stop: async () => {
          workers.delete(worker);
          await worker.stop();
        },
      };
    },
    async close() {
      await Promise.all([...workers].map((w) => w.stop()));
      await app.close();
      await db.drop();
    },
  };
}

/**
 * An API server on a fresh database for integration tests: real PostgreSQL, real Fastify (driven with
 * inject), an operator key, and a logger whose every line is kept for inspection.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
import { catalogFromConfig } from '../../src/models/catalog.js';
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

/**
 * The models an API test checks requests against unless it brings its own SLUICE_CONFIG: `orders` and
 * `customers` in schema `shop` of the test's own database, tenant column text.
 */
export async function defaultTestModels(db: TestDatabase): Promise<string> {
  await db.pool.query(`
    CREATE SCHEMA IF NOT EXISTS shop;
    CREATE TABLE IF NOT EXISTS shop.orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
    CREATE TABLE IF NOT EXISTS shop.customers (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL);
  `);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-api-models-'));
  const file = path.join(dir, 'sluice.yaml');
  await fs.writeFile(
    file,
    ['models:', ...['orders', 'customers'].flatMap((m) => [`  - name: ${m}`, `    table: shop.${m}`, '    cursor: updated_at', '    tenant: tenant_id'])].join('\n') + '\n',
  );
  return file;
}

export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const db = await freshDatabase();
  if (env.SLUICE_CONFIG === undefined) env = { SLUICE_CONFIG: await defaultTestModels(db), SLUICE_SOURCE_URL: db.url, ...env };
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
  const models = catalogFromConfig(config, db.url);
  const app = await buildServer({ pool: db.pool, secrets, log, config, identity: testIdentity(), metrics, models });
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
      await models.close();
      await db.drop();
    },
  };
}

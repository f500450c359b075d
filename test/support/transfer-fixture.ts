/**
 * Everything a transfer test needs, all real: a control store and a source database (fresh PostgreSQL
 * databases), an s3rver bucket, recipients and access-key destinations in the control store, and the
 * runner's deps bound to the PostgreSQL source and the S3 object writer.
 */
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { secretContext } from '../../src/control/destination-store.js';
import { SecretBox } from '../../src/control/secrets.js';
import { createObjectWriter } from '../../src/destinations/s3/object-writer.js';
import type { IdentitySource } from '../../src/core/identity.js';
import { newId } from '../../src/core/ids.js';
import { silentLogger } from '../../src/core/log.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import { COMMIT_BOUND_MARGIN_MS } from '../../src/sources/postgres/watermark.js';
import { destinationLoader } from '../../src/control/transfer-destination.js';
import { postgresTransferSource } from '../../src/transfer/postgres-source.js';
import type { Manifest } from '../../src/transfer/manifest.js';
import type { TransferDeps } from '../../src/transfer/deps.js';
import type { Format, Compression, ModelDefinition } from '../../src/core/types.js';
import { parsePublicKeys, verifyBucket, type VerifyReport } from '../../src/verify/bucket.js';
import { controlStoreSigner, publicSigningKeys } from '../../src/control/signing-keys.js';
import { freshDatabase, type TestDatabase } from './db.js';
import { localNetwork, startS3, type TestS3 } from './s3.js';
import { markTested } from './trust.js';

// Access-key destinations never ask for a token.
export const noIdentity: IdentitySource = {
  kind: 'oidc',
  describe: () => Promise.reject(new Error('not used')),
  token: () => Promise.reject(new Error('access-key destinations need no token')),
};

export interface TransferFixture {
  control: TestDatabase;
  sourceDb: TestDatabase;
  source: PostgresSource;
  /** A client on the source database, for DDL and writes. */
  sql: pg.Pool;
  s3: TestS3;
  secretKey: string;
  secrets: SecretBox;
  deps(models: ModelDefinition[], over?: Partial<TransferDeps>): TransferDeps;
  addDestination(opts: { tenantId: string; bucket: string; prefix?: string; format?: Format; compression?: Compression; models?: string[] }): Promise<string>;
  verify(bucket: string, prefix?: string): Promise<VerifyReport>;
  close(): Promise<void>;
}

export async function transferFixture(buckets: string[]): Promise<TransferFixture> {
  const control = await freshDatabase();
  const sourceDb = await freshDatabase({ migrate: false, prefix: 'sluice_source' });
  const s3 = await startS3(buckets);
  const secretKey = crypto.randomBytes(32).toString('base64');
  const secrets = new SecretBox(Buffer.from(secretKey, 'base64'));
  const source = createPostgresSource(sourceDb.url, { maxConcurrentQueries: 2 });
  const sql = new pg.Pool({ connectionString: sourceDb.url, max: 6 });
  const recipients = new Map<string, string>();
  return {
    control,
    sourceDb,
    source,
    sql,
    s3,
    secretKey,
    secrets,
    deps(models, over = {}) {
      return { ...transferDeps({ pool: control.pool, secrets, source, models, identity: noIdentity }), ...over };
    },
    async addDestination(o) {
      let rcp = recipients.get(o.tenantId);
      if (!rcp) {
        rcp = newId('rcp');
        await control.pool.query('INSERT INTO recipients (id, name, tenant_id) VALUES ($1, $2, $3)', [rcp, `Tenant ${o.tenantId}`, o.tenantId]);
        recipients.set(o.tenantId, rcp);
      }
      const id = newId('dst');
      await control.pool.query(
        `INSERT INTO destinations (id, recipient_id, name, audience, bucket, region, prefix, auth_kind, access_key_id,
           secret_access_key, endpoint, force_path_style, conditional_writes, request_checksums, format, compression, models,
           enabled, status)
         VALUES ($1, $2, $3, $4, $5, 'us-east-1', $6, 'access_key', 'S3RVER', $7, $8, true, true, false, $9, $10, $11, true, 'active')`,
        [
          id,
          rcp,
          `bucket ${o.bucket}`,
          `sluice-${crypto.randomBytes(12).toString('hex')}`,
          o.bucket,
          o.prefix ?? '',
          secrets.encrypt('S3RVER', secretContext(id)),
          s3.endpoint,
          o.format ?? 'jsonl',
          o.compression ?? null,
          o.models ?? null,
        ],
      );
      await markTested(control.pool, [id]);
      return id;
    },
    async verify(bucket, prefix = '') {
      const keys = parsePublicKeys(JSON.stringify({ keys: await publicSigningKeys(control.pool) }));
      return verifyBucket({ client: s3.admin, bucket, prefix, publicKeys: keys });
    },
    async close() {
      await sql.end();
      await source.close();
      await s3.close();
      await sourceDb.drop();
      await control.drop();
    },
  };
}

/**
 * The runner's deps over real parts: the control store (its signing key, its destinations), the
 * PostgreSQL source reading `models`, and the S3 object writer with `identity`, allowed to reach
 * loopback servers (s3rver, RGW).
 */
export function transferDeps(o: { pool: TransferDeps['pool']; secrets: SecretBox; source: PostgresSource; models: ModelDefinition[]; identity: IdentitySource }): TransferDeps {
  return {
    pool: o.pool,
    signingKey: controlStoreSigner(o.pool, o.secrets),
    log: silentLogger,
    source: postgresTransferSource(o.source, o.models),
    loadDestination: destinationLoader(o.pool, o.secrets),
    objectWriter: (config) => createObjectWriter(config, { identity: o.identity, log: silentLogger, network: localNetwork }),
  };
}

/** A model over a table with the usual columns (id, tenant_id, updated_at[, deleted_at]). */
export function tableModel(name: string, table: string, over: Partial<ModelDefinition> = {}): ModelDefinition {
  return { name, source: { table }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'tenant_id', lookback: 0, ...over };
}

export interface DeliveredManifest {
  key: string;
  body: Buffer;
  manifest: Manifest;
}

/** Every manifest under `prefix` for `model`, oldest first by created_at. */
export async function manifestsOf(s3: TestS3, bucket: string, prefix: string, model: string): Promise<DeliveredManifest[]> {
  const base = `${prefix === '' ? '' : `${prefix}/`}_manifests/${model}/`;
  const out: DeliveredManifest[] = [];
  for (const key of await s3.list(bucket, base)) {
    const body = await s3.get(bucket, key);
    out.push({ key, body, manifest: JSON.parse(body.toString('utf8')) });
  }
  return out.sort((a, b) => a.manifest.created_at.localeCompare(b.manifest.created_at));
}

/** The rows a consumer following manifests sees (JSON Lines files, gzip or none). */
export async function deliveredRows(s3: TestS3, bucket: string, prefix: string, model: string): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  for (const m of await manifestsOf(s3, bucket, prefix, model)) {
    for (const f of m.manifest.files) {
      const raw = await s3.get(bucket, f.key);
      const text = (f.key.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
      for (const line of text.split('\n')) if (line.trim() !== '') rows.push(JSON.parse(line) as Record<string, unknown>);
    }
  }
  return rows;
}

/**
 * Waits until rows written with `now()` so far are below the next commit-safe bound (which stays a
 * margin behind the read's time: sources/postgres/watermark.ts).
 */
export async function settle(): Promise<void> {
  await sleep(COMMIT_BOUND_MARGIN_MS + 50);
}

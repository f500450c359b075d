/**
 * Transfers into a bucket on Ceph RGW through a role that has only the seed's policy
 * (s3:PutObject + s3:DeleteObject): a full refresh and an incremental transfer succeed, every object is
 * a conditional create, and `verify` (with the bucket owner's read access) finds the manifests signed,
 * chained and matching their files. The control store is the issuer's database, as in production.
 * Writers follow the cursor contract (docs/change-detection.md): `updated_at` comes from now(), and a
 * transfer runs only once those rows are below the commit-safe bound (`settle()`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createObjectWriter } from '../../src/destinations/s3/object-writer.js';
import { silentLogger } from '../../src/core/log.js';
import { createPostgresSource, type PostgresSource } from '../../src/sources/postgres/source.js';
import { destinationLoader } from '../../src/control/transfer-destination.js';
import { postgresTransferSource } from '../../src/transfer/postgres-source.js';
import { type TransferDeps } from '../../src/transfer/deps.js';
import { runTransfer } from '../../src/transfer/run.js';
import { controlStoreSigner, publicSigningKeys } from '../../src/control/signing-keys.js';
import { parsePublicKeys, verifyBucket } from '../../src/verify/bucket.js';
import type { ModelDefinition } from '../../src/core/types.js';
import { freshDatabase, type TestDatabase } from '../support/db.js';
import { settle } from '../support/transfer-fixture.js';
import { useRgw, type TestRgw } from '../support/rgw.js';
import { provisionStoredDestination, type ProvisionedDestination } from './destination.js';
import { serveIssuer, type ServedIssuer } from './issuer.js';
import { localNetwork } from '../support/s3.js';

let rgw: TestRgw;
let issuer: ServedIssuer;
let dest: ProvisionedDestination;
let sourceDb: TestDatabase;
let sql: pg.Pool;
let source: PostgresSource;
let deps: TransferDeps;
const orders: ModelDefinition = { name: 'orders', source: { table: 'orders' }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'tenant_id', lookback: 0 };

before(async () => {
  [rgw, issuer, sourceDb] = await Promise.all([useRgw(), serveIssuer(), freshDatabase({ migrate: false, prefix: 'sluice_source' })]);
  // Saved in the control store as the API saves it (role auth, the RGW endpoint, Parquet), role made from `sluice policy`.
  dest = await provisionStoredDestination(rgw, issuer, 'transfer', 't1');
  sql = new pg.Pool({ connectionString: sourceDb.url, max: 2 });
  // pool.end() resolves before its sockets close; the database's forced drop may then terminate one, and an
  // unhandled pool 'error' would fail the file after its tests passed.
  sql.on('error', () => undefined);
  await sql.query(`
    CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), amount numeric(12,2), note text);
    INSERT INTO orders (id, tenant_id, amount, note) SELECT g, 't' || (g % 2), g * 1.25, 'order ' || g
      FROM generate_series(1, 200) g;
  `);
  source = createPostgresSource(sourceDb.url, { maxConcurrentQueries: 1 });

  const control = issuer.db.pool;
  const secrets = issuer.secrets;
  deps = {
    pool: control,
    signingKey: controlStoreSigner(control, secrets),
    log: silentLogger,
    source: postgresTransferSource(source, [orders]),
    loadDestination: destinationLoader(control, secrets),
    objectWriter: (config) => createObjectWriter(config, { identity: issuer.identity, log: silentLogger, network: localNetwork }),
  };
});
after(async () => {
  await sql?.end();
  await source?.close();
  await Promise.all([rgw?.close(), issuer?.close(), sourceDb?.drop()]);
});

async function verify() {
  const publicKeys = parsePublicKeys(JSON.stringify({ keys: await publicSigningKeys(issuer.db.pool) }));
  return verifyBucket({ client: rgw.admin, bucket: dest.bucket, prefix: '', publicKeys });
}

test('a full refresh and then an incremental transfer succeed with only PutObject + DeleteObject', async () => {
  await settle();
  const full = await runTransfer(deps, { destinationId: dest.config.id, kind: 'FULL_REFRESH' });
  assert.equal(full.status, 'succeeded', JSON.stringify(full.models));
  assert.equal(full.models[0]!.rows, 100, "tenant t1's half of the table");
  assert.ok(full.models[0]!.manifestKey);

  await sql.query(`
    INSERT INTO orders (id, tenant_id, amount, note) SELECT g, 't' || (g % 2), g * 1.25, 'order ' || g
      FROM generate_series(201, 260) g;
    UPDATE orders SET updated_at = now(), note = 'changed' WHERE id IN (1, 3); -- tenant t1
  `);
  await settle();
  const inc = await runTransfer(deps, { destinationId: dest.config.id });
  assert.equal(inc.status, 'succeeded', JSON.stringify(inc.models));
  assert.equal(inc.models[0]!.rows, 32, '30 new rows of t1 and 2 updated ones');

  const keys = await rgw.list(dest.bucket);
  assert.equal(keys.filter((k) => k.startsWith('_manifests/orders/')).length, 2);
  assert.ok(keys.every((k) => k.endsWith('.parquet') || k.endsWith('.json')), keys.join('\n'));

  const report = await verify();
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(report.manifests, 2);
  assert.equal(report.rows, 132);
});

/**
 * `npm run bench:jobs`: what Sluice costs when there is nothing to deliver.
 *
 * 1. One incremental transfer with nothing new (after a first full delivery): wall time of the
 *    transfer runner (median and p95 of 30) and the objects it wrote (must be 0).
 * 2. One scheduling cycle over N (default 10,000) due destinations with nothing new, drained by 2
 *    worker processes (concurrency 4 each): time to enqueue and time until every transfer is done.
 *
 *   npm run bench:jobs [-- --destinations 10000]
 *
 * Uses DATABASE_URL's server (default: the local PostgreSQL), where it creates and drops its databases.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { SecretBox } from '../src/control/secrets.js';
import { prepareQueue } from '../src/jobs/queue.js';
import { pipelineTransferRunner } from '../src/jobs/pipeline-jobs.js';
import { scheduleDue } from '../src/jobs/scheduler.js';
import { createLogger } from '../src/core/log.js';
import { loadConfig } from '../src/config.js';
import { createMetrics } from '../src/metrics.js';
import { createPostgresSource } from '../src/sources/postgres/source.js';
import { newId } from '../src/core/ids.js';
import { freshDatabase } from '../test/support/db.js';
import { insertDestinations } from '../test/support/jobs-fixtures.js';
import { spawnWorker, stopProc, workerIdOf } from '../test/support/jobs-processes.js';
import { startS3 } from '../test/support/s3.js';
import { markTested } from '../test/support/trust.js';
import type { TransferJob } from '../src/jobs/queue.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('destinations', 10_000);
// Same default server as `npm run bench`: the local PostgreSQL.
process.env.SLUICE_TEST_DATABASE_URL ??= process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const secretKey = crypto.randomBytes(32).toString('base64');
const box = new SecretBox(Buffer.from(secretKey, 'base64'));
const log = createLogger({ level: 'warn', format: 'json', destination: process.stderr });

const control = await freshDatabase({ prefix: 'sluice_bench_jobs' });
const source = await freshDatabase({ migrate: false, prefix: 'sluice_bench_src' });
const s3 = await startS3(['bench']);
// .tmp/ is git-ignored and absent on a fresh clone.
await fs.mkdir(path.resolve('.tmp'), { recursive: true });
const workDir = await fs.mkdtemp(path.resolve('.tmp', 'bench-jobs-'));
try {
  await prepareQueue(control.pool);
  const src = new pg.Pool({ connectionString: source.url, max: 2 });
  await src.query(`CREATE TABLE events (id bigint PRIMARY KEY, tenant_id text NOT NULL, updated_at timestamptz NOT NULL, payload text);
                   CREATE INDEX ON events (tenant_id, updated_at, id);
                   INSERT INTO events SELECT g, 'busy', now() - interval '1 day' + g * interval '1 s', md5(g::text) FROM generate_series(1, 5000) g;`);
  await src.end();
  const modelsFile = path.join(workDir, 'sluice.yaml');
  await fs.writeFile(modelsFile, 'models:\n  - name: events\n    table: public.events\n    cursor: updated_at\n    tenant: tenant_id\n');
  const usable = async (ids: string[], enabled = true): Promise<void> => {
    // Real encrypted secrets and the s3rver endpoint (the fixture's are placeholders).
    await control.pool.query(
      `UPDATE destinations d SET access_key_id = 'S3RVER', secret_access_key = x.s, endpoint = $3, conditional_writes = false,
              request_checksums = false, format = 'csv', prefix = d.id
         FROM unnest($1::text[], $2::bytea[]) AS x(id, s) WHERE d.id = x.id`,
      [ids, ids.map((id) => box.encrypt('S3RVER', `destination:${id}:secret_access_key`)), s3.endpoint],
    );
    // The delivery gate wants a passing connection test of these very settings; markTested enables
    // the destination, so the cycle's destinations are disabled again until the workers are up.
    await markTested(control.pool, ids);
    if (!enabled) await control.pool.query('UPDATE destinations SET enabled = false WHERE id = ANY($1)', [ids]);
  };

  // 1. An incremental transfer with nothing new, in process.
  const [one] = await insertDestinations(control.pool, 1, { frequencyMinutes: null, bucket: 'bench' });
  await usable([one!.id]);
  await control.pool.query(`UPDATE recipients SET tenant_id = 'busy' WHERE id = $1`, [one!.recipientId]);
  const config = loadConfig({ DATABASE_URL: control.url, SLUICE_ALLOW_HTTP_ENDPOINTS: 'true', SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1' });
  const pgSource = createPostgresSource(source.url);
  const { loadModels } = await import('../src/models/index.js');
  const models = await loadModels(modelsFile, pgSource.pool);
  const noIdentity = { kind: 'oidc' as const, describe: () => Promise.reject(new Error('unused')), token: () => Promise.reject(new Error('unused')) };
  const run = pipelineTransferRunner({
    pool: control.pool,
    secrets: box,
    log,
    config,
    identity: noIdentity,
    source: pgSource,
    models: models.models.map((m) => m.definition),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  const job = (): TransferJob => ({ transferId: newId('trf'), destinationId: one!.id, kind: 'INCREMENTAL', trigger: 'cli' });
  const first = await run(job(), { signal: new AbortController().signal, log });
  const objectsAfterFirst = (await s3.list('bench')).length;
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    const r = await run(job(), { signal: new AbortController().signal, log });
    times.push(performance.now() - t);
    if (r.status !== 'succeeded') throw new Error(`no-op transfer ${r.status}`);
  }
  const writes = (await s3.list('bench')).length - objectsAfterFirst;
  times.sort((a, b) => a - b);
  const ms = (q: number): string => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(1);
  console.log(`incremental transfer, nothing new (after a first delivery of ${first.models[0]?.rows} rows):`);
  console.log(`  median ${ms(0.5)} ms, p95 ${ms(0.95)} ms over ${times.length} runs; objects written: ${writes}`);
  await pgSource.close();

  // 2. One scheduling cycle over N due destinations, nothing new, 2 worker processes.
  const t0 = performance.now();
  const many = await insertDestinations(control.pool, N, { enabled: false, bucket: 'bench' });
  for (let i = 0; i < many.length; i += 2000) await usable(many.slice(i, i + 2000).map((d) => d.id), false);
  console.log(`\n${N} destinations created in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const env = {
    DATABASE_URL: control.url,
    SLUICE_SOURCE_URL: source.url,
    SLUICE_CONFIG: modelsFile,
    SLUICE_SECRET_KEY: secretKey,
    SLUICE_ALLOW_HTTP_ENDPOINTS: 'true',
    SLUICE_ENDPOINT_ALLOWLIST: '127.0.0.1',
    SLUICE_LOG_LEVEL: 'warn',
    JOBS_TEST_MODE: 'pipeline',
    SLUICE_WORKER_CONCURRENCY: '4',
    SLUICE_SCHEDULER_INTERVAL_SECONDS: '3600',
  };
  const workers = [spawnWorker({ ...env, SLUICE_LOG_LEVEL: 'info' }), spawnWorker({ ...env, SLUICE_LOG_LEVEL: 'info' })];
  await Promise.all(workers.map(workerIdOf));
  await control.pool.query('UPDATE destinations SET enabled = true, next_run_at = NULL WHERE id = ANY($1)', [many.map((d) => d.id)]);
  const before = (await s3.list('bench')).length;
  const t1 = performance.now();
  const scheduled = await scheduleDue(control.pool);
  const t2 = performance.now();
  let done = 0;
  for (;;) {
    const { rows } = await control.pool.query<{ done: number; failed: number }>(
      `SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'partial', 'cancelled'))::int AS done,
              count(*) FILTER (WHERE status IN ('failed', 'partial'))::int AS failed
         FROM transfers WHERE destination_id = ANY($1)`,
      [many.map((d) => d.id)],
    );
    done = rows[0]!.done;
    if (done >= scheduled.enqueued) {
      if (rows[0]!.failed > 0) console.log(`  ${rows[0]!.failed} transfers failed`);
      break;
    }
    await sleep(500);
  }
  const t3 = performance.now();
  const writes2 = (await s3.list('bench')).length - before;
  console.log(`one scheduling cycle, ${N} due destinations with nothing new, 2 workers × concurrency 4:`);
  console.log(`  enqueued ${scheduled.enqueued} in ${((t2 - t1) / 1000).toFixed(1)} s; all done in ${((t3 - t1) / 1000).toFixed(1)} s (${Math.round(done / ((t3 - t1) / 1000))} transfers/s); objects written: ${writes2}`);
  await Promise.all(workers.map((w) => stopProc(w)));
} finally {
  await s3.close();
  await source.drop();
  await control.drop();
  await fs.rm(workDir, { recursive: true, force: true });
}

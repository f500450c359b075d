/**
 * What `npm start` adds on top of API + worker when no source is configured: the demo source
 * database (in the same PostgreSQL cluster as the control store), its changes over time, the local
 * bucket, the demo recipient and destination, and the first delivery with a short report of what
 * happened and where.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDatabase } from '../control/db.js';
import type { Pool } from '../control/db.js';
import { SluiceError, describeError } from '../core/errors.js';
import { enqueueTransfer } from '../jobs/enqueue.js';
import type { ConnectionTester } from '../jobs/outcomes.js';
import type { Logger } from '../core/log.js';
import type { Runtime } from '../runtime.js';
import { startDemoBucket, type DemoBucket } from './bucket.js';
import { applyChanges, seedDataset, type ChangeCounts } from './dataset.js';
import { demoApiKey, demoModelsFile } from './files.js';
import { DEMO_DATABASE, demoInfo, demoInfoLines } from './info.js';

export { DEMO_DATABASE };
import { DEMO_PREFIX, DEMO_TENANT, enableDemoSchedule, ensureDemoDestination, type DemoDestination } from './setup.js';
import { createPool } from '../control/db.js';
import { modelCatalog } from '../models/catalog.js';
import { COMMIT_BOUND_MARGIN_MS } from '../sources/postgres/watermark.js';


export interface Demo {
  sourceUrl: string;
  modelsFile: string;
  bucket: DemoBucket;
  destination: DemoDestination;
  apiKey: string;
  /** Rows changed at this start (undefined on the first start, which seeded the data). */
  changes?: ChangeCounts;
  /** Changes a few rows every `everyMs` until stop(). */
  startChanges(everyMs: number): void;
  stop(): Promise<void>;
}

export async function prepareDemo(rt: Runtime): Promise<Demo> {
  const { log, pool, secrets, config } = rt;
  const server = new URL(rt.databaseUrl);
  server.pathname = '/postgres';
  const sourceUrl = await ensureDatabase(server.toString(), DEMO_DATABASE, log);
  const sourcePool = createPool(sourceUrl, { max: 2, applicationName: 'sluice-demo-app' });
  let bucket: DemoBucket | undefined;
  try {
    const { seeded } = await seedDataset(sourcePool);
    const changes = seeded ? undefined : await applyChanges(sourcePool);
    // Rows changed less than the commit-safe margin ago belong to the next transfer
    // (docs/change-detection.md): wait it out, so that this start's delivery shows what just changed.
    if (changes) await sleep(COMMIT_BOUND_MARGIN_MS + 50);
    log.info({ database: DEMO_DATABASE, seeded, ...(changes ? { changes } : {}) }, 'demo source ready');
    bucket = await startDemoBucket(config.dataDir);
    const models = await demoModelsFile(config.SLUICE_CONFIG, config.dataDir);
    // Checked against the demo's models, like any recipient and destination the API creates.
    const catalog = modelCatalog(models.file, sourceUrl);
    const destination = await ensureDemoDestination({ pool, secrets, config, models: catalog }, bucket).finally(() => catalog.close());
    const apiKey = await demoApiKey(pool, config.dataDir);
    let timer: NodeJS.Timeout | undefined;
    const theBucket = bucket;
    return {
      sourceUrl,
      modelsFile: models.file,
      bucket,
      destination,
      apiKey,
      ...(changes ? { changes } : {}),
      startChanges(everyMs) {
        timer = setInterval(() => {
          applyChanges(sourcePool).then(
            (c) => log.debug({ changes: c }, 'demo source changed'),
            (err: unknown) => log.warn({ err: describeError(err) }, 'could not change the demo source'),
          );
        }, everyMs);
        timer.unref();
      },
      async stop() {
        if (timer) clearInterval(timer);
        await sourcePool.end();
        await theBucket.close();
      },
    };
  } catch (err) {
    await sourcePool.end().catch(() => undefined);
    await bucket?.close().catch(() => undefined);
    throw err;
  }
}

export interface DeliveryReport {
  transferId: string;
  status: string;
  seconds: number;
  models: Array<{ model: string; status: string; rows: number; files: number; error: { code: string; message: string } | null }>;
}

/** Connection test, schedule, first transfer; waits for it and returns what it did. */
export async function firstDelivery(
  pool: Pool,
  log: Logger,
  demo: Demo,
  testConnection: ConnectionTester,
  timeoutMs = 10 * 60_000,
): Promise<DeliveryReport> {
  const destinationId = demo.destination.destinationId;
  const test = await testConnection(destinationId, { signal: AbortSignal.timeout(60_000), log: log.child({ destinationId }) });
  if (!test.passed) {
    throw new SluiceError({
      code: 'demo_connection_test_failed',
      message: `The demo destination's connection test failed: ${test.error?.message ?? 'unknown error'}`,
      hint: 'Run `npm start -- --reset` to start the demo from nothing.',
    });
  }
  await enableDemoSchedule(pool, destinationId);
  const queued = await enqueueTransfer(pool, { destinationId, trigger: 'demo' });
  const started = Date.now();
  for (;;) {
    const t = await pool.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [queued.transferId]);
    const status = t.rows[0]?.status ?? 'queued';
    if (!['queued', 'running'].includes(status)) {
      const m = await pool.query<{ model: string; status: string; rows: string; files: number; error: { code: string; message: string } | null }>(
        'SELECT model, status, rows, files, error FROM transfer_models WHERE transfer_id = $1 ORDER BY model',
        [queued.transferId],
      );
      return {
        transferId: queued.transferId,
        status,
        seconds: (Date.now() - started) / 1000,
        models: m.rows.map((r) => ({ ...r, rows: Number(r.rows) })),
      };
    }
    if (Date.now() - started > timeoutMs) {
      throw new SluiceError({ code: 'demo_timeout', message: `The first transfer (${queued.transferId}) did not finish within ${timeoutMs / 60_000} minutes.` });
    }
    await sleep(200);
  }
}

/** The few lines printed after the first delivery. */
export function demoSummary(opts: { demo: Demo; report: DeliveryReport; apiUrl: string; dataDir: string; firstStart: boolean; controlUrl: string | null }): string {
  const { demo, report, apiUrl } = opts;
  const files = path.join(demo.bucket.directory, demo.bucket.bucket, DEMO_PREFIX);
  const rows = report.models.reduce((n, m) => n + m.rows, 0);
  const fileCount = report.models.reduce((n, m) => n + m.files, 0);
  const perModel = report.models.map((m) => `${m.model} ${m.rows}`).join(', ');
  const failed = report.models.filter((m) => m.error);
  const what = opts.firstStart
    ? 'first transfer (everything so far)'
    : 'incremental transfer (only what changed in the demo data since the last run)';
  const lines = [
    '',
    `Sluice is running — demo recipient "${DEMO_TENANT}", destination ${demo.destination.destinationId}.`,
    `  connection test  passed (PutObject + DeleteObject on bucket ${demo.bucket.bucket} at ${demo.bucket.endpoint})`,
    `  ${what}`,
    `                   ${report.transferId}: ${report.status}, ${rows} rows in ${fileCount} files (${perModel}) in ${report.seconds.toFixed(1)} s`,
    ...failed.map((m) => `                   ${m.model} failed: [${m.error?.code}] ${m.error?.message}`),
    `  files            ${files}  (s3rver keeps each object as <key>._S3rver_object)`,
    `  API              ${apiUrl}   key: ${demo.apiKey}`,
    `  next transfer    curl -X POST -H "Authorization: Bearer ${demo.apiKey}" ${apiUrl}/v1/destinations/${demo.destination.destinationId}/transfers`,
    `                   (or wait: it runs every 15 minutes; the demo data changes every minute)`,
    // The current state: rows are re-delivered when they change, so only the latest version of each key counts.
    `  inspect          npm run sluice -- query "SELECT status, count(*) AS orders FROM (FROM read_parquet('${files}/orders/**/*.parquet._S3rver_object') QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _sluice_synced_at DESC) = 1) WHERE NOT _sluice_deleted GROUP BY 1 ORDER BY 1"`,
    `                   (orders now, by status: the latest version of each order; Sluice's bundled DuckDB, the duckdb CLI takes the same SQL)`,
    `  stop             Ctrl-C  (npm start again delivers only what changed; npm start -- --reset starts from nothing)`,
    '',
    ...demoInfoLines(
      demoInfo({
        apiUrl,
        apiKey: demo.apiKey,
        controlUrl: opts.controlUrl,
        sourceUrl: demo.sourceUrl,
        modelsFile: demo.modelsFile,
        endpoint: demo.bucket.endpoint,
        directory: demo.bucket.directory,
      }),
    ),
    '',
  ];
  return lines.join('\n');
}

/**
 * One measured pipeline, run in its own process by bench/run.ts so that peak RSS belongs to it alone.
 * Prints one JSON line: rows, bytes, seconds, peak RSS (MB), CPU seconds.
 *
 *   copy-text | copy-csv   the baseline: `COPY (SELECT …) TO STDOUT` into a null sink
 *   encode                 Sluice's reader + encoder; files drained into a null sink, or uploaded with
 *                          the S3 destination's object writer to a local s3rver (`s3`)
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { describeQuery, describeTable } from '../src/sources/postgres/catalog.js';
import { copyOut } from '../src/sources/postgres/copy-out.js';
import { openModelRead } from '../src/sources/postgres/reader.js';
import { encodedFiles } from '../src/transfer/postgres-source.js';
import { createPostgresSource } from '../src/sources/postgres/source.js';
import type { RowBatch } from '../src/formats/rows.js';
import type { Compression, Format, ModelDefinition } from '../src/core/types.js';
import { createObjectWriter } from '../src/destinations/s3/object-writer.js';
import type { ObjectWriter } from '../src/destinations/s3/types.js';
import type { IdentitySource } from '../src/core/identity.js';
import { silentLogger } from '../src/core/log.js';
import { BENCH_BUCKET, BIG_TENANT, COLUMNS, tableSql } from './common.js';

export interface PipelineJob {
  url: string;
  mode: 'copy-text' | 'copy-csv' | 'encode';
  scope: 'tenant' | 'table';
  format?: Format;
  compression?: Compression;
  maxRowsPerFile: number;
  maxBytesPerFile: number;
  /** Source table (one per row count, so runs at several sizes can coexist). */
  table: string;
  /** S3 endpoint (a local s3rver) to upload files to, instead of a null sink. */
  s3?: string;
  /** Count rows for live progress and read the counters every 2 s (one control-store-sized query), as a transfer does. */
  progress?: boolean;
}

export interface PipelineResult {
  rows: number;
  bytes: number;
  files: number;
  seconds: number;
  peakRssMb: number;
  cpuSeconds: number;
  /** S3 sink: seconds spent finishing uploads after their file was fully encoded (summed over files). */
  uploadTailSeconds?: number;
}


function nullSink(onBytes: (n: number) => void): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb();
    },
  });
}

async function copyBaseline(job: PipelineJob): Promise<{ rows: number; bytes: number; files: number }> {
  const client = new pg.Client({ connectionString: job.url });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'");
    const where = job.scope === 'tenant' ? `WHERE tenant_id = ${BIG_TENANT}` : '';
    const format = job.mode === 'copy-csv' ? 'csv' : 'text';
    // The same COPY reader as the pipeline: the baseline is PostgreSQL's rate, not a slower client's.
    const stream = copyOut(client, `COPY (SELECT ${COLUMNS.join(', ')} FROM ${job.table} ${where} ORDER BY updated_at, id) TO STDOUT WITH (FORMAT ${format})`);
    let bytes = 0;
    for await (const batch of stream as AsyncIterable<RowBatch>) bytes += batch.data.length;
    return { rows: stream.rowCount, bytes, files: 1 };
  } finally {
    await client.end();
  }
}

/** The S3 destination's object writer against a local s3rver (access keys: no identity involved). */
function s3Writer(endpoint: string): ObjectWriter {
  const identity: IdentitySource = {
    kind: 'oidc',
    describe: () => Promise.reject(new Error('the bench destination uses access keys')),
    token: () => Promise.reject(new Error('the bench destination uses access keys')),
  };
  return createObjectWriter(
    {
      id: 'dst_bench',
      recipientId: 'rcp_bench',
      audience: 'bench',
      bucket: BENCH_BUCKET,
      region: 'us-east-1',
      prefix: '',
      auth: { kind: 'access_key', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      endpoint,
      forcePathStyle: true,
      conditionalWrites: false,
      // s3rver stores aws-chunked bodies corrupted: no streaming checksums against it.
      requestChecksums: false,
    },
    // The bench's S3 server is local plain http, allowed explicitly as an operator would.
    { identity, log: silentLogger, network: { policy: { allowHttp: true, allowlist: ['127.0.0.1'] } } },
  );
}

async function encode(job: PipelineJob): Promise<{ rows: number; bytes: number; files: number; uploadTailSeconds?: number }> {
  const source = createPostgresSource(job.url, { maxConcurrentQueries: 1, statementTimeoutMs: 0 });
  try {
    let model: ModelDefinition;
    let columns;
    if (job.scope === 'tenant') {
      model = { name: 'purchases', source: { table: job.table }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'tenant_id', lookback: 0 };
      columns = (await describeTable(source.pool, job.table))!.columns;
    } else {
      model = { name: 'purchases', source: { sql: tableSql(job.table) }, columns: COLUMNS, primaryKey: ['id'], cursor: 'updated_at', tenant: 'all_rows', lookback: 0 };
      const client = await source.pool.connect();
      columns = (await describeQuery(client, tableSql(job.table))).columns;
      client.release();
    }
    const read = await openModelRead(source, {
      model,
      columns,
      tenantId: job.scope === 'tenant' ? BIG_TENANT : '0',
      window: { from: null, to: null },
      transferId: 'trf_bench',
      syncedAt: new Date(),
    });
    let rows = 0;
    let bytes = 0;
    let files = 0;
    let uploadTail = 0;
    const writer = job.s3 ? s3Writer(job.s3) : null;
    const counter = { rows: 0 };
    const timer = job.progress
      ? setInterval(() => {
          void source.pool.query('SELECT $1::bigint, $2::bigint', [counter.rows, bytes]).catch(() => undefined);
        }, 2000)
      : undefined;
    try {
      for await (const f of encodedFiles(read, undefined, {
        format: job.format!,
        compression: job.compression!,
        maxRowsPerFile: job.maxRowsPerFile,
        maxBytesPerFile: job.maxBytesPerFile,
        ...(job.progress ? { progress: counter } : {}),
      })) {
        if (writer) {
          // The upload's tail: from the file's last byte leaving the encoder to the object existing.
          const encoded = f.done.then(() => performance.now(), () => performance.now());
          const written = await writer.write(`bench/${job.scope}/part-${String(f.index).padStart(5, '0')}.${f.extension}`, f.body, { contentType: f.contentType });
          bytes += written.bytes;
          uploadTail += performance.now() - (await encoded);
        } else {
          await pipeline(f.body, nullSink((n) => (bytes += n)));
        }
        rows += (await f.done).rows;
        files++;
      }
    } finally {
      if (timer) clearInterval(timer);
      await read.close();
    }
    if (job.progress && counter.rows !== rows) throw new Error(`progress counted ${counter.rows} rows, the files hold ${rows}`);
    return { rows, bytes, files, ...(writer ? { uploadTailSeconds: uploadTail / 1000 } : {}) };
  } finally {
    await source.close();
  }
}

const job = JSON.parse(process.argv[2]!) as PipelineJob;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const out = job.mode === 'encode' ? await encode(job) : await copyBaseline(job);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const result: PipelineResult = {
  ...out,
  seconds,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
};
console.log(JSON.stringify(result));
process.exit(0);

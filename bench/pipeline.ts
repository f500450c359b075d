/**
 * One measured pipeline, run in its own process by bench/run.ts so that peak RSS belongs to it alone.
 * Prints one JSON line: rows, bytes, seconds, peak RSS (MB), CPU seconds.
 *
 *   copy-text | copy-csv   the baseline: `COPY (SELECT …) TO STDOUT` into a null sink
 *   encode                 Sluice's reader + encoder, files drained into a null sink (or S3 when given)
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { describeQuery, describeTable } from '../src/sources/postgres/catalog.js';
import { openModelRead } from '../src/sources/postgres/reader.js';
import { createPostgresSource } from '../src/sources/postgres/source.js';
import type { Compression, Format, ModelDefinition } from '../src/transfer/types.js';

export interface PipelineJob {
  url: string;
  mode: 'copy-text' | 'copy-csv' | 'encode';
  scope: 'tenant' | 'table';
  format?: Format;
  compression?: Compression;
  maxRowsPerFile: number;
  maxBytesPerFile: number;
}

export interface PipelineResult {
  rows: number;
  bytes: number;
  files: number;
  seconds: number;
  peakRssMb: number;
  cpuSeconds: number;
}

export const BIG_TENANT = '1';
export const COLUMNS = ['id', 'tenant_id', 'quantity', 'amount', 'product', 'created_at', 'updated_at', 'attributes', 'note'];
/** The whole table as one model: every row carries the same pseudo-tenant. */
export const TABLE_SQL = `SELECT ${COLUMNS.join(', ')}, 0 AS all_rows FROM purchases`;

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
    const stream = client.query(copyTo(`COPY (SELECT ${COLUMNS.join(', ')} FROM purchases ${where} ORDER BY updated_at, id) TO STDOUT WITH (FORMAT ${format})`));
    let bytes = 0;
    await pipeline(stream, nullSink((n) => (bytes += n)));
    return { rows: stream.rowCount, bytes, files: 1 };
  } finally {
    await client.end();
  }
}

async function encode(job: PipelineJob): Promise<{ rows: number; bytes: number; files: number }> {
  const source = createPostgresSource(job.url, { maxConcurrentQueries: 1, statementTimeoutMs: 0 });
  try {
    let model: ModelDefinition;
    let columns;
    if (job.scope === 'tenant') {
      model = { name: 'purchases', source: { table: 'purchases' }, primaryKey: ['id'], cursor: 'updated_at', tenant: 'tenant_id', lookback: 0 };
      columns = (await describeTable(source.pool, 'purchases'))!.columns;
    } else {
      model = { name: 'purchases', source: { sql: TABLE_SQL }, columns: COLUMNS, primaryKey: ['id'], cursor: 'updated_at', tenant: 'all_rows', lookback: 0 };
      const client = await source.pool.connect();
      columns = (await describeQuery(client, TABLE_SQL)).columns;
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
    try {
      for await (const f of read.encode(undefined, {
        format: job.format!,
        compression: job.compression!,
        maxRowsPerFile: job.maxRowsPerFile,
        maxBytesPerFile: job.maxBytesPerFile,
      })) {
        await pipeline(f.body, nullSink((n) => (bytes += n)));
        rows += (await f.done).rows;
        files++;
      }
    } finally {
      await read.close();
    }
    return { rows, bytes, files };
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

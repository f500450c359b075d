/**
 * `npm run bench [-- --rows 5000000] [--only tenant|table] [--formats parquet:snappy,csv:zstd,parquet:snappy:2,…] [--sink null|s3] [--repeat 3]`
 * (a third field on a Parquet format is DuckDB's thread count)
 *
 * Generates a purchases-like table (bigint, int, numeric(12,2), text, two timestamptz, jsonb, a
 * nullable text; 200 tenants, skewed: tenant 1 holds ~17 %) in its own database `sluice_bench` on
 * DATABASE_URL's server (reused when it already has the requested row count), measures the source's
 * own `COPY (SELECT …) TO STDOUT` (text and csv) as the baseline, then runs Sluice's reader + encoder
 * for one large tenant and for the whole table in each format. Each pipeline runs in a child process,
 * one at a time, so peak RSS is per pipeline. Prints rows/s, MB/s, peak RSS, CPU and the ratio to the
 * baseline, and the machine's load (uptime) — figures are only comparable within one run.
 * By default every file is uploaded through the S3 destination's object writer to a local s3rver
 * (end to end, as a transfer does); `--sink null` discards the bytes and measures reading + encoding
 * alone.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import pg from 'pg';
import { ensureDatabase } from '../src/control/db.js';
import type { Compression, Format } from '../src/core/types.js';
import { startS3 } from '../test/support/s3.js';
import { BENCH_BUCKET } from './common.js';
import type { PipelineJob, PipelineResult } from './pipeline.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ROWS = Number(arg('rows') ?? 5_000_000);
const SCOPES = (arg('only') ? [arg('only')] : ['tenant', 'table']) as Array<'tenant' | 'table'>;
const FORMATS = (arg('formats') ?? 'parquet:snappy,parquet:zstd,csv:zstd,csv:gzip,csv:none,jsonl:gzip,jsonl:zstd')
  .split(',')
  .map((s) => s.split(':') as [Format, Compression, string?]);
const MAX_ROWS_PER_FILE = Number(arg('max-rows-per-file') ?? 1_000_000);
const MAX_BYTES_PER_FILE = 1024 * 1024 * 1024;
const SINK = arg('sink') ?? 's3';
/** Rounds of baselines + pipelines; the table shows medians (and the range of ratios when > 1). */
const REPEAT = Number(arg('repeat') ?? 1);
if (!Number.isInteger(REPEAT) || REPEAT < 1) throw new Error(`--repeat must be a positive whole number, not ${arg('repeat')}`);
if (SINK !== 's3' && SINK !== 'null') throw new Error(`--sink must be s3 or null, not ${SINK}`);
const TABLE = `purchases_${ROWS}`;
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const log = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)} load ${load()}] ${s}`);

async function prepare(url: string): Promise<void> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const exists = (await db.query(`SELECT to_regclass('${TABLE}') AS r`)).rows[0].r !== null;
    const have = exists ? Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`)).rows[0]!.n) : -1;
    if (have === ROWS) {
      log(`reusing ${TABLE} (${ROWS.toLocaleString()} rows)`);
      return;
    }
    log(`generating ${ROWS.toLocaleString()} rows …`);
    await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
    // UNLOGGED: the bench measures reading; WAL for 5–50 M generated rows is only a cost.
    await db.query(`CREATE UNLOGGED TABLE ${TABLE} (
      id bigint NOT NULL, tenant_id integer NOT NULL, quantity integer NOT NULL, amount numeric(12,2) NOT NULL,
      product text NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
      attributes jsonb NOT NULL, note text)`);
    const batch = 1_000_000;
    for (let start = 1; start <= ROWS; start += batch) {
      const end = Math.min(ROWS, start + batch - 1);
      await db.query(
        `INSERT INTO ${TABLE}
         SELECT g, 1 + floor(200 * power(random(), 3))::int, 1 + (g % 20), round((random() * 2000)::numeric, 2),
                'product-' || (g % 5000) || ' ' || (ARRAY['small', 'medium', 'large, boxed', 'gift "deluxe"'])[1 + g % 4],
                c, c + random() * interval '30 days',
                jsonb_build_object('color', (ARRAY['red', 'green', 'blue'])[1 + g % 3], 'size', g % 50, 'gift', g % 7 = 0, 'tags', jsonb_build_array('a', g % 11)),
                CASE WHEN g % 4 = 0 THEN NULL ELSE 'note ' || md5(g::text) END
         FROM generate_series($1::bigint, $2::bigint) g, LATERAL (SELECT timestamptz '2024-01-01Z' + g * interval '5 seconds' AS c) t`,
        [start, end],
      );
      log(`  ${end.toLocaleString()} rows`);
    }
    await db.query(`ALTER TABLE ${TABLE} ADD PRIMARY KEY (id)`);
    await db.query(`CREATE INDEX ON ${TABLE} (tenant_id, updated_at, id)`);
    await db.query(`CREATE INDEX ON ${TABLE} (updated_at, id)`);
    await db.query(`VACUUM ANALYZE ${TABLE}`);
    log('generated');
  } finally {
    await db.end();
  }
}

function runChild(job: PipelineJob, env: Record<string, string> = {}): Promise<PipelineResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/pipeline.ts', JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`pipeline ${JSON.stringify(job)} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as PipelineResult);
    });
  });
}

/** One pipeline's runs (one per round), each with its ratio to the same round's baseline. */
interface Line {
  scope: string;
  name: string;
  target?: number;
  runs: Array<{ r: PipelineResult; ratio?: number }>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const url = await ensureDatabase(serverUrl, 'sluice_bench');
const s3 = SINK === 's3' ? await startS3([BENCH_BUCKET]) : undefined;
console.log(`Sluice bench: ${ROWS.toLocaleString()} rows, sink ${SINK}, ${REPEAT} round${REPEAT > 1 ? 's' : ''}, ${os.cpus().length} CPUs, node ${process.version}`);
await prepare(url);
const lines = new Map<string, Line>();
const record = (scope: string, name: string, r: PipelineResult, ratio?: number, target?: number): void => {
  const key = `${scope}/${name}`;
  const line = lines.get(key) ?? { scope, name, ...(target !== undefined ? { target } : {}), runs: [] };
  line.runs.push({ r, ...(ratio !== undefined ? { ratio } : {}) });
  lines.set(key, line);
};
for (const scope of SCOPES) {
  const base = { url, scope, table: TABLE, ...(s3 ? { s3: s3.endpoint } : {}), maxRowsPerFile: MAX_ROWS_PER_FILE, maxBytesPerFile: MAX_BYTES_PER_FILE };
  // Rounds interleave baselines and pipelines, so a slow spell on this shared machine hits a round,
  // not one pipeline; each ratio is against its own round's baseline, and the table shows medians.
  for (let round = 1; round <= REPEAT; round++) {
    const text = await runChild({ ...base, mode: 'copy-text' });
    log(`${scope} COPY text: ${(text.rows / text.seconds / 1000).toFixed(0)} k rows/s`);
    const csv = await runChild({ ...base, mode: 'copy-csv' });
    log(`${scope} COPY csv: ${(csv.rows / csv.seconds / 1000).toFixed(0)} k rows/s`);
    record(scope, 'COPY text (baseline)', text);
    record(scope, 'COPY csv (baseline)', csv);
    for (const [format, compression, feed] of FORMATS) {
      // `parquet:snappy:2` runs DuckDB with 2 threads instead of the default 1; `csv:zstd:progress`
      // counts rows for live progress and reads the counters every 2 s, as a transfer does.
      const progress = feed === 'progress';
      const r = await runChild({ ...base, mode: 'encode', format, compression, ...(progress ? { progress } : {}) }, feed && !progress ? { SLUICE_DUCKDB_THREADS: feed } : {});
      // Targets (DESIGN.md "Speed"): Parquet vs COPY text, CSV vs COPY csv.
      const baseline = format === 'parquet' ? text : csv;
      const ratio = r.rows / r.seconds / (baseline.rows / baseline.seconds);
      const target = format === 'parquet' ? 0.5 : format === 'csv' && compression === 'zstd' ? 0.8 : format === 'csv' && compression === 'gzip' ? 0.6 : undefined;
      const variant = progress ? ' (live progress)' : feed ? ` (${feed} DuckDB threads)` : '';
      record(scope, `${format} ${compression}${variant}`, r, ratio, target);
      log(`${scope} ${format} ${compression}${variant}: ${(r.rows / r.seconds / 1000).toFixed(0)} k rows/s, ${ratio.toFixed(2)}×, ${r.peakRssMb.toFixed(0)} MB`);
    }
  }
}

await s3?.close();
console.log(`\nload average at the end: ${load()} (2 cores shared with other work: absolute figures vary, ratios are within one run)\n`);
const tail = SINK === 's3';
const many = REPEAT > 1;
console.log(
  `| scope | pipeline | rows | k rows/s | MB/s out | peak RSS MB | CPU s |${tail ? ' upload tail s |' : ''} × baseline |${many ? ' range |' : ''} target |`,
);
console.log(`|---|---|---:|---:|---:|---:|---:|${tail ? '---:|' : ''}---:|${many ? '---|' : ''}---|`);
for (const l of lines.values()) {
  // Medians over the rounds; peak RSS is the highest seen.
  const rs = l.runs.map((x) => x.r);
  const rate = median(rs.map((r) => r.rows / r.seconds));
  const mbps = median(rs.map((r) => r.bytes / r.seconds / 1e6));
  const peak = Math.max(...rs.map((r) => r.peakRssMb));
  const ratios = l.runs.flatMap((x) => (x.ratio === undefined ? [] : [x.ratio]));
  const ratio = ratios.length ? median(ratios) : undefined;
  const tails = rs.flatMap((r) => (r.uploadTailSeconds === undefined ? [] : [r.uploadTailSeconds]));
  const verdict = l.target === undefined || ratio === undefined ? '' : `${ratio >= l.target ? '✓' : '✗'} ≥ ${l.target}×`;
  const range = ratios.length ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}` : '';
  console.log(
    `| ${l.scope === 'tenant' ? 'tenant 1' : 'whole table'} | ${l.name} | ${rs[0]!.rows.toLocaleString()} | ${(rate / 1000).toFixed(0)} | ${mbps.toFixed(1)} | ${peak.toFixed(0)}${peak > 300 ? ' ✗' : ''} | ${median(rs.map((r) => r.cpuSeconds)).toFixed(1)} |${tail ? ` ${tails.length ? median(tails).toFixed(2) : ''} |` : ''} ${ratio === undefined ? '' : `${ratio.toFixed(2)}×`} |${many ? ` ${range} |` : ''} ${verdict} |`,
  );
}

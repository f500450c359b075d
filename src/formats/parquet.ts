/**
 * Parquet, encoded natively by DuckDB: PostgreSQL's COPY csv stream is written into a FIFO that DuckDB
 * reads with explicit column types (no sniffing), converts where CSV cannot carry the type (hex → BLOB,
 * JSON arrays → LIST) and writes as Parquet to a temporary file. When a part is complete its bytes are
 * streamed out and the temporary file is deleted as soon as the body closes.
 *
 * Logical type → Parquet (via DuckDB): decimal(p,s) → DECIMAL(p,s); timestamp_us_utc → TIMESTAMP
 * (isAdjustedToUTC, µs); timestamp_us → TIMESTAMP (local, µs); date → DATE; time_us → TIME (µs);
 * binary → BYTE_ARRAY; list<T> → LIST<T>; json and string → UTF8 strings; int16/32/64, float32/64, boolean.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ColumnInfo, Compression, EncodeOptions, EncodedFile } from '../transfer/types.js';
import { SluiceError } from '../errors.js';
import { listElement } from '../sources/postgres/types.js';
import { openDuckDB, sqlIdent, sqlString } from './duckdb.js';
import { feedColumns, syncedAtText, type RowLayout } from './metadata.js';
import { splitIntoFiles, writeWithBackpressure, type OpenPart } from './split.js';

/** Rows per row group: half DuckDB's default, which measured ~25 MB less peak RSS at the same speed. */
export const PARQUET_ROW_GROUP_SIZE = 61_440;
/**
 * Longest row (as CSV) the Parquet encoder accepts — DuckDB's default. DuckDB's CSV buffer is twice
 * this, so it is memory: 4 MiB measured ~15 MB more peak RSS than 2 MiB.
 */
export const MAX_ROW_BYTES = 2 * 1024 * 1024;
/**
 * Most rows in one Parquet file, whatever maxRowsPerFile says: DuckDB's memory for one COPY grows
 * with the rows it writes (measured: 250 k rows ≈ 140 MB over Node, 1 M rows > 160 MB), so files are
 * capped to keep a pipeline's peak RSS under 300 MB at any table size.
 */
export const PARQUET_MAX_ROWS_PER_FILE = 200_000;
/** …and at most this much CSV input per Parquet file, so wide rows are bounded the same way. */
export const PARQUET_MAX_CSV_BYTES_PER_FILE = 40 * 1024 * 1024;

const SCALAR: Record<string, string> = {
  int16: 'SMALLINT',
  int32: 'INTEGER',
  int64: 'BIGINT',
  float32: 'FLOAT',
  float64: 'DOUBLE',
  boolean: 'BOOLEAN',
  string: 'VARCHAR',
  json: 'VARCHAR',
  binary: 'BLOB',
  date: 'DATE',
  time_us: 'TIME',
  timestamp_us: 'TIMESTAMP',
  timestamp_us_utc: 'TIMESTAMPTZ',
};

/** DuckDB type that a logical type is stored as. */
export function duckdbType(logicalType: string): string {
  const elem = listElement(logicalType);
  if (elem) return `${duckdbType(elem)}[]`;
  const dec = /^decimal\((\d+),(\d+)\)$/.exec(logicalType);
  if (dec) return `DECIMAL(${dec[1]},${dec[2]})`;
  return SCALAR[logicalType] ?? 'VARCHAR';
}

/** Type of the column as it arrives in the CSV feed, and the expression that gives its final value. */
function feedColumn(c: ColumnInfo): { csvType: string; select: string } {
  const ref = sqlIdent(c.name);
  const elem = listElement(c.logicalType);
  if (elem) {
    // The feed carries arrays as JSON; from_json with a typed shape gives a typed list.
    const shape = JSON.stringify([duckdbType(elem) === 'BLOB' ? 'VARCHAR' : duckdbType(elem)]);
    return { csvType: 'VARCHAR', select: `from_json(${ref}, ${sqlString(shape)}) AS ${ref}` };
  }
  if (c.logicalType === 'binary') return { csvType: 'VARCHAR', select: `unhex(${ref}) AS ${ref}` };
  return { csvType: duckdbType(c.logicalType), select: ref };
}

function parquetCompression(c: Compression): string {
  return c === 'none' ? 'uncompressed' : c;
}

/** The DuckDB statement that turns one CSV part (a FIFO) into one Parquet file. */
export function parquetCopySql(layout: RowLayout, csvPath: string, parquetPath: string, compression: Compression): string {
  const columns = feedColumns(layout);
  const feed = columns.map(feedColumn);
  const types = columns.map((c, i) => `${sqlString(c.name)}: ${sqlString(feed[i]!.csvType)}`).join(', ');
  // The file's columns in order: the model's, then the metadata, two of them constants added here.
  const select = feed.map((f) => f.select);
  const deleted = layout.deletedInFeed ? select.pop()! : 'false AS _sluice_deleted';
  select.push(
    `${sqlString(layout.transferId)} AS _sluice_transfer_id`,
    `TIMESTAMPTZ ${sqlString(syncedAtText(layout.syncedAt).text)} AS _sluice_synced_at`,
    deleted,
  );
  return `COPY (
  SELECT ${select.join(', ')}
  FROM read_csv(${sqlString(csvPath)}, columns = {${types}}, header = false, auto_detect = false,
                delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false,
                parallel = false, max_line_size = ${MAX_ROW_BYTES}, buffer_size = ${2 * MAX_ROW_BYTES})
) TO ${sqlString(parquetPath)} (FORMAT parquet, COMPRESSION ${parquetCompression(compression)}, ROW_GROUP_SIZE ${PARQUET_ROW_GROUP_SIZE})`;
}

/** DuckDB's error, with a clear one for the limit a provider can actually hit. */
function parquetError(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (/maximum line size/i.test(message)) {
    return new SluiceError({
      code: 'row_too_large_for_parquet',
      message: `A row is larger than ${MAX_ROW_BYTES / 1024 / 1024} MiB as CSV, the most the Parquet encoder reads at once.`,
      actor: 'provider',
      hint: 'Deliver this model as CSV or JSON Lines, or leave the very large column out of the model.',
      status: 422,
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(message);
}

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', ['-m', '600', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed: ${r.stderr || r.error?.message}`);
}

/** Re-read the part's size on disk after this many input bytes (a stat per few MB is free). */
const STAT_EVERY = 4 * 1024 * 1024;

/**
 * How the CSV reaches DuckDB. `fifo`: DuckDB converts while PostgreSQL streams (overlap, but reading a
 * pipe costs DuckDB more CPU). `file`: each part's CSV goes to a temporary file first, then DuckDB
 * converts it (less CPU in total; no overlap within a part). Chosen by measurement (README, Benchmarks).
 */
export type ParquetFeed = 'fifo' | 'file';
// Default `fifo`: with a core to spare it did the whole table end to end at 0.43× COPY text against
// 0.32× for the file feed (same run); on a saturated machine the file feed's lower CPU won (0.29× vs 0.18×).
export const PARQUET_FEED: ParquetFeed = process.env.SLUICE_PARQUET_FEED === 'file' ? 'file' : 'fifo';

/** Hands a finished Parquet file to the consumer; the file is deleted once its body closes. */
function emitParquet(out: string, index: number, rows: number, emit: (f: EncodedFile) => void): Promise<unknown> {
  const body = fs.createReadStream(out, { highWaterMark: 1024 * 1024 });
  const done = new Promise<{ rows: number }>((resolve, reject) => {
    body.once('end', () => resolve({ rows }));
    body.once('error', reject);
    body.once('close', () => {
      fs.rm(out, { force: true }, () => undefined);
      if (!body.readableEnded) reject(body.errored ?? new Error('file body closed before its end'));
    });
  });
  done.catch(() => undefined);
  emit({ index, extension: 'parquet', contentType: 'application/vnd.apache.parquet', body, done });
  return done;
}

async function convert(layout: RowLayout, csv: string, out: string, compression: Compression): Promise<void> {
  // A fresh DuckDB per file: an instance kept across files held on to its memory (measured ~+60 MB
  // RSS per million rows); closing it returns the memory, and opening one costs milliseconds.
  const instance = await openDuckDB();
  const conn = await instance.connect();
  try {
    await conn.run(parquetCopySql(layout, csv, out, compression));
  } catch (err) {
    throw parquetError(err);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

function parquetParts(layout: RowLayout, compression: Compression, dir: Promise<string>, feed: ParquetFeed): OpenPart {
  const consumed: Array<Promise<unknown>> = [];
  // Parquet size / CSV size of the last part: estimates a `file`-fed part's output size for rotation.
  let ratio = 0.3;
  return async (index, emit) => {
    // At most two finished parts wait on disk for the consumer.
    await consumed[index - 2]?.catch(() => undefined);
    const folder = await dir;
    const csv = path.join(folder, `part-${index}.csv`);
    const out = path.join(folder, `part-${index}.parquet`);
    if (feed === 'fifo') mkfifo(csv);
    let failed: Error | null = null;
    const writer = fs.createWriteStream(csv, { highWaterMark: 1024 * 1024 });
    // Failures surface through write()/finish(); an 'error' event without a listener would crash the process.
    writer.on('error', () => undefined);
    const converting =
      feed === 'fifo'
        ? convert(layout, csv, out, compression).catch((err: unknown) => {
            failed = err as Error;
            // If DuckDB failed before opening the FIFO, our open() would block forever: open the read end
            // ourselves so the writer's open returns, then stop it.
            fs.open(csv, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, (e, fd) => {
              if (!e) fs.close(fd, () => undefined);
            });
            writer.destroy(failed);
          })
        : null;
    let inBytes = 0;
    let statAt = STAT_EVERY;
    let outBytes = 0;
    const cleanup = (): void => fs.rm(csv, { force: true }, () => undefined);
    return {
      async write(chunk) {
        try {
          await writeWithBackpressure(writer, chunk);
        } catch (err) {
          // EPIPE means DuckDB stopped reading: its own error is the one worth reporting.
          if (converting) await converting;
          throw failed ?? err;
        }
        inBytes += chunk.length;
        if (feed === 'file') outBytes = inBytes * ratio;
        else if (inBytes >= statAt) {
          statAt = inBytes + STAT_EVERY;
          outBytes = await fsp.stat(out).then((s) => s.size, () => outBytes);
        }
      },
      // Past the CSV cap, report "full" so the splitter ends the file at the next row end.
      bytes: () => (inBytes >= PARQUET_MAX_CSV_BYTES_PER_FILE ? Number.POSITIVE_INFINITY : outBytes),
      async finish(rows) {
        try {
          await new Promise<void>((resolve, reject) => writer.end((err?: Error | null) => (err ? reject(failed ?? err) : resolve())));
          if (converting) await converting;
          else await convert(layout, csv, out, compression);
        } finally {
          cleanup();
        }
        if (failed) throw failed;
        const size = (await fsp.stat(out)).size;
        if (inBytes > 0) ratio = size / inBytes;
        consumed[index] = emitParquet(out, index, rows, emit);
      },
      abort(err) {
        writer.destroy(err);
        void (converting ?? Promise.resolve()).finally(() => {
          cleanup();
          fs.rm(out, { force: true }, () => undefined);
        });
      },
    };
  };
}

export function encodeParquet(input: Readable, layout: RowLayout, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  const dir = fsp.mkdtemp(path.join(os.tmpdir(), 'sluice-parquet-'));
  const limits = { maxRowsPerFile: Math.min(opts.maxRowsPerFile, PARQUET_MAX_ROWS_PER_FILE), maxBytesPerFile: opts.maxBytesPerFile };
  const files = splitIntoFiles(input, limits, parquetParts(layout, opts.compression, dir, PARQUET_FEED));
  // Remove the temporary folder once iteration ends (files still being read are deleted on close).
  return (async function* () {
    try {
      yield* files;
    } finally {
      const folder = await dir;
      await fsp.rm(folder, { recursive: true, force: true }).catch(() => undefined);
    }
  })();
}

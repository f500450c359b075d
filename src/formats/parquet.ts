/**
 * Parquet, encoded natively by DuckDB. Each part's rows (PostgreSQL's COPY csv output) go to a
 * temporary CSV file; when the part is complete, DuckDB reads it with explicit column types (no
 * sniffing), converts where CSV cannot carry the type (hex → BLOB, JSON arrays → LIST), adds the
 * constant metadata columns and writes a Parquet file — while the next part's rows are written. The
 * finished file's bytes are then streamed out and it is deleted as soon as the body closes.
 *
 * Why a file and not a pipe: DuckDB reads a regular file with its parallel CSV reader in bounded
 * memory, while a pipe needs `parallel = false`, whose buffers grew with the rows of the part (it ran
 * out of its 128 MB on an 855 k-row part); the file also costs DuckDB less CPU than the pipe. The
 * overlap a pipe gave (DuckDB encoding while PostgreSQL streams) comes from converting one part while
 * the next is written. Temporary disk: about two parts of CSV plus two Parquet files.
 *
 * Logical type → Parquet (via DuckDB): decimal(p,s) → DECIMAL(p,s); timestamp_us_utc → TIMESTAMP
 * (isAdjustedToUTC, µs); timestamp_us → TIMESTAMP (local, µs); date → DATE; time_us → TIME (µs);
 * binary → BYTE_ARRAY; list<T> → LIST<T>; json and string → UTF8 strings; int16/32/64, float32/64, boolean.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ColumnInfo, Compression, EncodeOptions, EncodedFile } from '../core/types.js';
import { SluiceError } from '../core/errors.js';
import { feedColumns, type RowLayout } from '../core/row-layout.js';
import { listElement } from '../core/types.js';
import { openDuckDB, sqlIdent, sqlString } from './duckdb.js';
import { csvHeader } from './csv.js';
import { syncedAtText } from './metadata.js';
import type { RowBatch } from './rows.js';
import { splitIntoFiles, writeWithBackpressure, type OpenPart, type PartSource } from './split.js';

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

/** from_json's shape for a list type: `[["INTEGER"]]` for list<list<int32>>; bytes arrive as hex text. */
function jsonShape(logicalType: string): unknown {
  const elem = listElement(logicalType);
  if (elem) return [jsonShape(elem)];
  const t = duckdbType(logicalType);
  return t === 'BLOB' ? 'VARCHAR' : t;
}

/** `value` with `leaf` applied to every element of a `depth`-deep nested list. */
function mapLeaves(value: string, depth: number, leaf: (e: string) => string): string {
  if (depth === 0) return leaf(value);
  const v = `e${depth}`;
  return `list_transform(${value}, ${v} -> ${mapLeaves(v, depth - 1, leaf)})`;
}

/** Type of the column as it arrives in the CSV feed, and the expression that gives its final value. */
function feedColumn(c: ColumnInfo): { csvType: string; select: string } {
  const ref = sqlIdent(c.name);
  if (listElement(c.logicalType)) {
    // The feed carries arrays as JSON (sources/postgres/sql.ts refused any other shape than the
    // declared one); from_json with a typed, nested shape gives a typed list.
    let depth = 0;
    let leaf = c.logicalType;
    for (let e = listElement(leaf); e; e = listElement(leaf)) {
      leaf = e;
      depth++;
    }
    let value = `from_json(${ref}, ${sqlString(JSON.stringify(jsonShape(c.logicalType)))})`;
    // bytea elements arrive as PostgreSQL's hex text, `\x0102`.
    if (leaf === 'binary') value = mapLeaves(value, depth, (e) => `unhex(substr(${e}, 3))`);
    return { csvType: 'VARCHAR', select: `${value} AS ${ref}` };
  }
  if (c.logicalType === 'binary') return { csvType: 'VARCHAR', select: `unhex(${ref}) AS ${ref}` };
  return { csvType: duckdbType(c.logicalType), select: ref };
}

function parquetCompression(c: Compression): string {
  return c === 'none' ? 'uncompressed' : c;
}

/** The DuckDB statement that turns one CSV part into one Parquet file. */
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
  FROM read_csv(${sqlString(csvPath)}, columns = {${types}}, header = true, auto_detect = false,
                delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false,
                max_line_size = ${MAX_ROW_BYTES}, buffer_size = ${2 * MAX_ROW_BYTES})
) TO ${sqlString(parquetPath)} (FORMAT parquet, COMPRESSION ${parquetCompression(compression)}, ROW_GROUP_SIZE ${PARQUET_ROW_GROUP_SIZE})`;
}

function rowTooLarge(cause?: unknown): SluiceError {
  return new SluiceError({
    code: 'row_too_large_for_parquet',
    message: `A row is larger than ${MAX_ROW_BYTES / 1024 / 1024} MiB as CSV, the most the Parquet encoder reads at once.`,
    actor: 'provider',
    hint: 'Deliver this model as CSV or JSON Lines, or leave the very large column out of the model.',
    status: 422,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Refuses a batch holding a row longer than DuckDB's line limit before it is written: DuckDB names
 * that limit only up to its buffer size, and reports a longer quoted value as an unterminated quote.
 */
function checkRowSizes(batch: RowBatch): RowBatch {
  let start = 0;
  for (let i = 0; i < batch.rows; i++) {
    const end = batch.ends[i]!;
    if (end - start - 1 > MAX_ROW_BYTES) throw rowTooLarge();
    start = end;
  }
  return batch;
}

/** DuckDB's error, with a clear one for the limit a provider can actually hit. */
function parquetError(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (/maximum line size/i.test(message)) return rowTooLarge(err);
  // DuckDB's conversion errors quote the value and the whole CSV line: never let row values into a
  // message (they reach logs and transfer records). The read query refuses what Parquet cannot carry
  // (docs/types.md), so reaching this is a Sluice bug; name the column, not the value.
  if (/Conversion Error|CSV Error|Could not convert|Invalid Input Error|out of range/i.test(message)) {
    const column = /column "?([^"\s.]+)"?/i.exec(message)?.[1];
    return new SluiceError({
      code: 'parquet_conversion_failed',
      message: `The Parquet encoder could not convert a value${column ? ` of column ${column}` : ''}; nothing of this model was delivered.`,
      actor: 'sluice',
      hint: 'Deliver this model as CSV or JSON Lines meanwhile, and report the column\'s PostgreSQL type to the Sluice maintainers.',
      status: 500,
    });
  }
  return err instanceof Error ? err : new Error(message);
}

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

/** Parts written to temporary CSV files and converted one at a time, each while the next is written. */
function parquetParts(layout: RowLayout, compression: Compression, dir: Promise<string>): PartSource {
  const consumed: Array<Promise<unknown>> = [];
  // Parquet size / CSV size of the last converted part: estimates a part's output size for rotation.
  let ratio = 0.3;
  // The conversion in flight (at most one); a failure surfaces at the next part's finish or at drain.
  let converting: Promise<void> = Promise.resolve();

  const header = csvHeader(feedColumns(layout));
  const open: OpenPart = async (index, emit) => {
    // At most two finished files wait on disk for the consumer.
    await consumed[index - 2]?.catch(() => undefined);
    const folder = await dir;
    const csv = path.join(folder, `part-${index}.csv`);
    const out = path.join(folder, `part-${index}.parquet`);
    const writer = fs.createWriteStream(csv, { highWaterMark: 1024 * 1024 });
    // Failures surface through write()/finish(); an 'error' event without a listener would crash the process.
    writer.on('error', () => undefined);
    // A header line first (DuckDB skips it): DuckDB drops a byte order mark at the start of a file,
    // which would otherwise be the first byte of the first row — a text value starting with U+FEFF.
    writer.write(header);
    let inBytes = 0;
    const removeCsv = (): void => fs.rm(csv, { force: true }, () => undefined);
    return {
      async write(chunk) {
        await writeWithBackpressure(writer, chunk);
        inBytes += chunk.length;
      },
      // Past the CSV cap, report "full" so the splitter ends the file after the next row.
      bytes: () => (inBytes >= PARQUET_MAX_CSV_BYTES_PER_FILE ? Number.POSITIVE_INFINITY : inBytes * ratio),
      async finish(rows) {
        try {
          await new Promise<void>((resolve, reject) => writer.end((err?: Error | null) => (err ? reject(err) : resolve())));
          await converting;
        } catch (err) {
          removeCsv();
          throw err;
        }
        converting = (async () => {
          try {
            await convert(layout, csv, out, compression);
          } catch (err) {
            fs.rm(out, { force: true }, () => undefined);
            throw err;
          } finally {
            removeCsv();
          }
          const size = (await fsp.stat(out)).size;
          if (inBytes > 0) ratio = size / inBytes;
          consumed[index] = emitParquet(out, index, rows, emit);
        })();
        converting.catch(() => undefined); // observed by the next finish or by drain
      },
      abort(err) {
        writer.destroy(err);
        removeCsv();
      },
    };
  };
  return { open, drain: () => converting };
}

/**
 * Two column names DuckDB cannot tell apart, or null. DuckDB compares identifiers ignoring ASCII case
 * (`Name` and `name` are one column to it, and to most engines that read Parquet), while PostgreSQL
 * keeps quoted names apart: such a model cannot be written, and says so before any row is read.
 */
export function caseClash(columns: ColumnInfo[]): [string, string] | null {
  const seen = new Map<string, string>();
  for (const { name } of columns) {
    const key = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
    const other = seen.get(key);
    if (other !== undefined) return [other, name];
    seen.set(key, name);
  }
  return null;
}

function caseClashError([a, b]: [string, string]): SluiceError {
  return new SluiceError({
    code: 'parquet_column_names_clash',
    message: `Columns ${JSON.stringify(a)} and ${JSON.stringify(b)} differ only in letter case, which Parquet writers and most of its readers do not tell apart; nothing of this model was delivered.`,
    actor: 'provider',
    hint: `Rename one of them in a SQL model (SELECT ${JSON.stringify(b)} AS ${JSON.stringify(`${b}_2`)}, …), or deliver this model as CSV or JSON Lines.`,
    status: 422,
  });
}

export function encodeParquet(input: Readable, layout: RowLayout, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  const clash = caseClash(layout.columns);
  if (clash) {
    return (async function* () {
      input.destroy(); // no row is read: the source's stream ends here, as when a consumer stops early
      yield* [];
      throw caseClashError(clash);
    })();
  }
  const dir = fsp.mkdtemp(path.join(os.tmpdir(), 'sluice-parquet-'));
  const limits = { maxRowsPerFile: Math.min(opts.maxRowsPerFile, PARQUET_MAX_ROWS_PER_FILE), maxBytesPerFile: opts.maxBytesPerFile };
  const parts = parquetParts(layout, opts.compression, dir);
  const files = splitIntoFiles(input, limits, parts.open, { map: checkRowSizes, drain: parts.drain, ...(opts.progress ? { progress: opts.progress } : {}) });
  // Remove the temporary folder once iteration ends (files still being read are deleted on close).
  return (async function* () {
    try {
      yield* files;
    } finally {
      // A conversion still running (the consumer stopped early) must not write into a removed folder.
      await parts.drain().catch(() => undefined);
      const folder = await dir;
      await fsp.rm(folder, { recursive: true, force: true }).catch(() => undefined);
    }
  })();
}

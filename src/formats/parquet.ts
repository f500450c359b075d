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
import { listElement } from '../sources/postgres/types.js';
import { duckdb, sqlIdent, sqlString } from './duckdb.js';
import { CsvRowScanner } from './rows.js';
import { splitIntoFiles, writeWithBackpressure, type OpenPart } from './split.js';

export const PARQUET_ROW_GROUP_SIZE = 122_880;
/** Longest row (as CSV) the Parquet encoder accepts. DuckDB's CSV buffer is twice this, so it is memory. */
export const MAX_ROW_BYTES = 8 * 1024 * 1024;

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
export function parquetCopySql(columns: ColumnInfo[], csvPath: string, parquetPath: string, compression: Compression): string {
  const feed = columns.map(feedColumn);
  const types = columns.map((c, i) => `${sqlString(c.name)}: ${sqlString(feed[i]!.csvType)}`).join(', ');
  return `COPY (
  SELECT ${feed.map((f) => f.select).join(', ')}
  FROM read_csv(${sqlString(csvPath)}, columns = {${types}}, header = false, auto_detect = false,
                delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false,
                parallel = false, max_line_size = ${MAX_ROW_BYTES}, buffer_size = ${2 * MAX_ROW_BYTES})
) TO ${sqlString(parquetPath)} (FORMAT parquet, COMPRESSION ${parquetCompression(compression)}, ROW_GROUP_SIZE ${PARQUET_ROW_GROUP_SIZE})`;
}

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', ['-m', '600', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed: ${r.stderr || r.error?.message}`);
}

/** Re-read the part's size on disk after this many input bytes (a stat per few MB is free). */
const STAT_EVERY = 4 * 1024 * 1024;

function parquetParts(columns: ColumnInfo[], compression: Compression, dir: Promise<string>): OpenPart {
  const consumed: Array<Promise<unknown>> = [];
  return async (index, emit) => {
    // At most two finished parts wait on disk for the consumer.
    await consumed[index - 2]?.catch(() => undefined);
    const folder = await dir;
    const fifo = path.join(folder, `part-${index}.csv`);
    const out = path.join(folder, `part-${index}.parquet`);
    mkfifo(fifo);
    const conn = await (await duckdb()).connect();
    let failed: Error | null = null;
    const writer = fs.createWriteStream(fifo);
    const converting = conn.run(parquetCopySql(columns, fifo, out, compression)).then(
      () => undefined,
      (err: unknown) => {
        failed = err instanceof Error ? err : new Error(String(err));
        // If DuckDB failed before opening the FIFO, our open() would block forever: open the read end
        // ourselves so the writer's open returns, then stop it.
        fs.open(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, (e, fd) => {
          if (!e) fs.close(fd, () => undefined);
        });
        writer.destroy(failed);
      },
    );
    let inBytes = 0;
    let statAt = STAT_EVERY;
    let outBytes = 0;
    const cleanup = (): void => {
      conn.closeSync();
      fs.rm(fifo, { force: true }, () => undefined);
    };
    return {
      async write(chunk) {
        try {
          await writeWithBackpressure(writer, chunk);
        } catch (err) {
          throw failed ?? err;
        }
        inBytes += chunk.length;
        if (inBytes >= statAt) {
          statAt = inBytes + STAT_EVERY;
          outBytes = await fsp.stat(out).then((s) => s.size, () => outBytes);
        }
      },
      bytes: () => outBytes,
      async finish(rows) {
        await new Promise<void>((resolve, reject) => writer.end((err?: Error | null) => (err ? reject(failed ?? err) : resolve())));
        await converting;
        cleanup();
        if (failed) throw failed;
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
        consumed[index] = done;
        emit({ index, extension: 'parquet', contentType: 'application/vnd.apache.parquet', body, done });
      },
      abort(err) {
        writer.destroy(err);
        void converting.finally(() => {
          cleanup();
          fs.rm(out, { force: true }, () => undefined);
        });
      },
    };
  };
}

export function encodeParquet(input: Readable, columns: ColumnInfo[], opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  const dir = fsp.mkdtemp(path.join(os.tmpdir(), 'sluice-parquet-'));
  const files = splitIntoFiles(input, new CsvRowScanner(), opts, parquetParts(columns, opts.compression, dir));
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

/**
 * Splits one stream of row batches (the COPY output) into files: a new file after `maxRowsPerFile`
 * rows, or after the next row once the current file has reached about `maxBytesPerFile` output bytes. A
 * background pump moves bytes; the consumer pulls finished-or-streaming files from an async iterator.
 * Memory stays bounded by stream backpressure: when nobody reads a file's body, the pump waits.
 */
import type { Readable, Writable } from 'node:stream';
import type { EncodedFile } from '../core/types.js';
import type { RowBatch } from './rows.js';

/** One output file being written. */
export interface PartWriter {
  write(chunk: Buffer): Promise<void>;
  /** Output bytes so far (compressed size; for Parquet, the file's size on disk). */
  bytes(): number;
  /** No more input: `rows` rows were written. Resolves once the part accepted everything. */
  finish(rows: number): Promise<void>;
  /** Stop because of an error elsewhere; the file's body fails with `err`. */
  abort(err: Error): void;
}

/** Opens part `index`; calls `emit` with its EncodedFile (at once for streams, after finishing for Parquet). */
export type OpenPart = (index: number, emit: (file: EncodedFile) => void) => Promise<PartWriter>;

/** Parts whose output is finished after `finish` returns (Parquet): `drain` settles when all are. */
export interface PartSource {
  open: OpenPart;
  drain: () => Promise<void>;
}

export interface SplitOptions {
  /** Applied to each batch first (encoders add the constant metadata columns with it). */
  map?: (batch: RowBatch) => RowBatch;
  /** Awaited after the last part's finish, before the files end. */
  drain?: () => Promise<void>;
  /** Rows taken so far, counted as they go into parts (live progress). */
  progress?: { rows: number };
}

export interface SplitLimits {
  maxRowsPerFile: number;
  maxBytesPerFile: number;
}

/** Writes `chunk` and waits while the stream's buffer is full (or until it closes). */
export async function writeWithBackpressure(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.destroyed) throw stream.errored ?? new Error('output stream closed');
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
  if (stream.errored) throw stream.errored;
}

/** A minimal async queue: producer pushes, a single consumer iterates; `fail` surfaces an error. */
class FileQueue {
  private readonly items: EncodedFile[] = [];
  private waiter: (() => void) | null = null;
  private closed = false;
  private error: unknown = null;

  push(f: EncodedFile): void {
    this.items.push(f);
    this.wake();
  }
  close(): void {
    this.closed = true;
    this.wake();
  }
  fail(err: unknown): void {
    this.error = err;
    this.closed = true;
    this.wake();
  }
  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
  async next(): Promise<EncodedFile | null> {
    for (;;) {
      const item = this.items.shift();
      if (item) return item;
      if (this.error) throw this.error;
      if (this.closed) return null;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
}

/**
 * The files of `input` (a stream of RowBatch objects). No rows → no files. If the consumer stops
 * early, the input is destroyed and the current part aborted.
 */
export async function* splitIntoFiles(
  input: Readable,
  limits: SplitLimits,
  open: OpenPart,
  { map, drain, progress }: SplitOptions = {},
): AsyncGenerator<EncodedFile> {
  if (!(limits.maxRowsPerFile >= 1) || !(limits.maxBytesPerFile >= 1)) throw new RangeError('maxRowsPerFile and maxBytesPerFile must be ≥ 1');
  const queue = new FileQueue();
  let part: PartWriter | null = null;
  let stopped = false;

  const pump = async (): Promise<void> => {
    let index = 0;
    let rows = 0;
    const counter = progress;
    for await (const received of input as AsyncIterable<RowBatch>) {
      const batch = map ? map(received) : received;
      let row = 0;
      let start = 0;
      while (row < batch.rows) {
        if (stopped) return;
        if (!part) {
          part = await open(index++, (f) => queue.push(f));
          rows = 0;
        }
        const limit = part.bytes() >= limits.maxBytesPerFile ? 1 : limits.maxRowsPerFile - rows;
        const take = Math.min(limit, batch.rows - row);
        const end = batch.ends[row + take - 1]!;
        await part.write(batch.data.subarray(start, end));
        rows += take;
        row += take;
        if (counter) counter.rows += take;
        start = end;
        if (take === limit) {
          const done = part;
          part = null;
          await done.finish(rows);
        }
      }
    }
    if (part) {
      const done: PartWriter = part;
      part = null;
      await done.finish(rows);
    }
    await drain?.();
  };

  const pumping = pump().then(
    () => queue.close(),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      (part as PartWriter | null)?.abort(e);
      part = null;
      queue.fail(e);
    },
  );

  let completed = false;
  try {
    for (;;) {
      const f = await queue.next();
      if (!f) break;
      yield f;
    }
    completed = true;
  } finally {
    if (!completed) {
      stopped = true;
      const err = new Error('encoding stopped before the end of the input');
      input.destroy();
      (part as PartWriter | null)?.abort(err);
    }
    await pumping;
  }
}

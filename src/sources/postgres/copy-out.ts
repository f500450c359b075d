/**
 * `COPY … TO STDOUT` as a stream of row batches, read straight off the `pg` connection.
 *
 * PostgreSQL sends each row of a COPY out as its own CopyData message, so the protocol already says
 * where every row ends. This reader keeps that: it copies each message's payload into a batch and
 * records its end offset, so the encoders split files by rows without scanning bytes (scanning CSV
 * for unquoted newlines cost more CPU than PostgreSQL's own COPY — docs/benchmarks.md). It replaces
 * pg-copy-streams for the same reason: that library re-frames every message through a buffer list.
 *
 * Protocol (PostgreSQL docs, "COPY Operations"): CopyOutResponse, CopyData*, CopyDone, then
 * CommandComplete (`COPY n`) and ReadyForQuery; an ErrorResponse may come at any point. While the COPY
 * runs this stream owns the socket; at CopyDone or ErrorResponse it hands the rest back to `pg`, whose
 * parser then calls `handleCommandComplete` / `handleError` / `handleReadyForQuery` here.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { RowBatch } from '../../core/row-layout.js';

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const COPY_OUT_RESPONSE = 0x48; // 'H'
const NOTICE = 0x4e; // 'N'
const PARAMETER_STATUS = 0x53; // 'S'
const NOTIFICATION = 0x41; // 'A'
const HEADER = 5; // code byte + int32 length

/** The parts of `pg`'s connection this reader touches (not in pg's public types). */
interface PgConnection {
  stream: Socket;
  query(text: string): void;
}

type DataHandler = (chunk: Buffer) => void;

export class CopyOut extends Readable {
  /** Rows received (CopyData messages). */
  rowCount = 0;
  private connection: PgConnection | null = null;
  private pgHandler: DataHandler | null = null;
  /** Unparsed bytes (at most one partial message) and how many bytes parsing needs before it can go on. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private needed = HEADER;
  private wanted = false;
  private reading = false;
  private attached = false;
  /** Reused row-end scratch space; each batch gets a copy of its own part. */
  private ends = new Uint32Array(1024);

  constructor(readonly text: string) {
    // A batch is one socket read (~64 KiB): 16 of them buffered is about a megabyte.
    super({ objectMode: true, highWaterMark: 16 });
    // The connection can fail after the consumer stopped reading (or before it started): the error
    // then has nobody to go to, and an unheard 'error' event would exit the process. A consumer's
    // own listener (async iteration, pipeline) still receives it.
    this.on('error', () => undefined);
  }

  /**
   * Called by `pg` when the query reaches the front of the connection's queue. A returned error makes
   * pg fail this query (through handleError) and move on, instead of waiting for a reply that never comes.
   */
  submit(connection: PgConnection): Error | undefined {
    this.connection = connection;
    const stream = connection.stream;
    const handlers = stream.listeners('data') as DataHandler[];
    if (handlers.length !== 1) return new Error(`COPY reader expected one data listener on the connection, found ${handlers.length}`);
    this.pgHandler = handlers[0]!;
    stream.removeListener('data', this.pgHandler);
    stream.pause();
    stream.on('readable', this.onReadable);
    this.attached = true;
    connection.query(this.text);
    return undefined;
  }

  override _read(): void {
    this.wanted = true;
    this.pull();
  }

  private readonly onReadable = (): void => this.pull();

  /** Moves socket bytes into batches while the consumer wants more. */
  private pull(): void {
    if (this.reading || !this.attached) return;
    this.reading = true;
    try {
      let chunk: Buffer | null;
      while (this.wanted && this.attached && (chunk = this.connection!.stream.read() as Buffer | null) !== null) this.accept(chunk);
    } finally {
      this.reading = false;
    }
  }

  private accept(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // A row longer than one socket read arrives in pieces: join them once, when it is complete.
    if (this.pendingBytes < this.needed) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.parse(buf);
  }

  private parse(buf: Buffer): void {
    // Rows are compacted in place: each payload moves left over the message headers before it
    // (copyWithin is a memmove, ~3× cheaper per row than Buffer#copy into another buffer). Only bytes
    // before `pos` are written, so a partial message or what is handed back to pg stays intact.
    let outAt = 0;
    let rows = 0;
    let pos = 0;
    let handBack = -1;
    while (buf.length - pos >= HEADER) {
      const code = buf[pos]!;
      const end = pos + 1 + buf.readUInt32BE(pos + 1);
      if (code === COPY_DATA) {
        if (end > buf.length) break;
        buf.copyWithin(outAt, pos + HEADER, end);
        outAt += end - pos - HEADER;
        if (rows === this.ends.length) {
          const grown = new Uint32Array(rows * 2);
          grown.set(this.ends);
          this.ends = grown;
        }
        this.ends[rows++] = outAt;
        pos = end;
      } else if (code === COPY_OUT_RESPONSE || code === NOTICE || code === PARAMETER_STATUS || code === NOTIFICATION) {
        if (end > buf.length) break;
        pos = end;
      } else {
        // CopyDone: the rows are over; pg reads CommandComplete and ReadyForQuery after it. Anything
        // else (ErrorResponse above all) is pg's to parse, from its first byte.
        if (code === COPY_DONE) {
          if (end > buf.length) break;
          pos = end;
        }
        handBack = pos;
        break;
      }
    }
    if (rows > 0) {
      this.rowCount += rows;
      const batch: RowBatch = { data: buf.subarray(0, outAt), rows, ends: this.ends.slice(0, rows) };
      this.wanted = this.push(batch);
    }
    if (handBack >= 0) {
      this.detach(buf.subarray(handBack));
      return;
    }
    this.needed = HEADER;
    if (pos < buf.length) {
      const rest = buf.subarray(pos);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
      // Parse again once the partial message is whole (its length is known once its header is here).
      if (rest.length >= HEADER) this.needed = 1 + rest.readUInt32BE(1);
    }
  }

  /** Gives the socket back to pg, with the bytes it has to parse first. */
  private detach(rest: Buffer): void {
    if (!this.attached) return;
    this.attached = false;
    const stream = this.connection!.stream;
    stream.removeListener('readable', this.onReadable);
    stream.on('data', this.pgHandler!);
    if (rest.length > 0) this.pgHandler!(rest);
    // Resume on the next tick: the handler above may have paused the socket for its own backpressure.
    process.nextTick(() => stream.resume());
  }

  /** pg: CommandComplete `COPY n` — a count that disagrees with the rows received is an error, not a shrug. */
  handleCommandComplete(msg: { text?: string }): void {
    const n = /^COPY (\d+)/.exec(msg.text ?? '')?.[1];
    if (n !== undefined && Number(n) !== this.rowCount) {
      this.destroy(new Error(`COPY reported ${n} rows but sent ${this.rowCount} row messages`));
    }
  }

  /** pg: the connection is idle again; only now is the stream complete. */
  handleReadyForQuery(): void {
    if (!this.destroyed) this.push(null);
  }

  /** pg: the server (ErrorResponse) or the connection failed. */
  handleError(err: Error): void {
    if (this.attached) {
      this.attached = false;
      this.connection?.stream.removeListener('readable', this.onReadable);
    }
    this.destroy(err);
  }

  // pg calls these on any submittable; a COPY out gets none of them.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}

/** Runs `text` (a `COPY … TO STDOUT`) on `client`; the stream yields RowBatch objects. */
export function copyOut(client: pg.ClientBase, text: string): CopyOut {
  // pg accepts any object with submit(); its typings only know its own Query classes.
  return client.query(new CopyOut(text) as unknown as pg.QueryConfig) as unknown as CopyOut;
}

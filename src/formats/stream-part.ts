/**
 * A part whose bytes stream out while they are written: CSV and JSON Lines, optionally compressed.
 * The file is handed to the consumer as soon as it is opened; its `done` settles when the consumer has
 * read the whole body.
 */
import { PassThrough, Transform, pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Compression, EncodeOptions, EncodedFile } from '../core/types.js';
import { compressedExtension, createCompressor, endCompressor } from './compress.js';
import { insertIntoRows, type Insertion } from './metadata.js';
import { splitIntoFiles, writeWithBackpressure, type OpenPart, type PartWriter } from './split.js';

export interface StreamPartOptions {
  compression: Compression;
  extension: string;
  contentType: string;
  /** Bytes written at the start of every file (the CSV header). */
  preamble?: Buffer;
}

export function streamParts(opts: StreamPartOptions): OpenPart {
  return async (index, emit) => {
    const compressor = createCompressor(opts.compression);
    let outBytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        outBytes += chunk.length;
        cb(null, chunk);
      },
    });
    const body = new PassThrough();
    pipeline(compressor, counter, body, () => undefined);

    let rows = 0;
    const done = new Promise<{ rows: number }>((resolve, reject) => {
      body.once('end', () => resolve({ rows }));
      body.once('error', reject);
      body.once('close', () => {
        if (!body.readableEnded) reject(body.errored ?? new Error('file body closed before its end'));
      });
    });
    done.catch(() => undefined); // observed by the consumer; never an unhandled rejection
    const file: EncodedFile = { index, extension: opts.extension, contentType: opts.contentType, body, done };
    emit(file);
    if (opts.preamble) await writeWithBackpressure(compressor, opts.preamble);

    const writer: PartWriter = {
      write: (chunk) => writeWithBackpressure(compressor, chunk),
      bytes: () => outBytes,
      async finish(n) {
        rows = n;
        await endCompressor(compressor);
      },
      abort(err) {
        compressor.destroy(err);
        body.destroy(err);
      },
    };
    return writer;
  };
}

function contentTypeOf(compression: Compression, plain: string): string {
  return compression === 'gzip' ? 'application/gzip' : compression === 'zstd' ? 'application/zstd' : plain;
}

/** A text format (CSV, JSON Lines): PostgreSQL's rows with the constant metadata inserted, compressed. */
export function encodeStreamed(
  input: Readable,
  opts: EncodeOptions,
  format: { name: string; contentType: string; preamble?: Buffer; insertion: Insertion },
): AsyncGenerator<EncodedFile> {
  return splitIntoFiles(
    input,
    opts,
    streamParts({
      compression: opts.compression,
      extension: `${format.name}${compressedExtension(opts.compression)}`,
      contentType: contentTypeOf(opts.compression, format.contentType),
      ...(format.preamble ? { preamble: format.preamble } : {}),
    }),
    { map: (batch) => insertIntoRows(batch, format.insertion), ...(opts.progress ? { progress: opts.progress } : {}) },
  );
}

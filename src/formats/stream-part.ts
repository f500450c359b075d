/**
 * A part whose bytes stream out while they are written: CSV and JSON Lines, optionally compressed.
 * The file is handed to the consumer as soon as it is opened; its `done` settles when the consumer has
 * read the whole body.
 */
import { PassThrough, Transform, pipeline } from 'node:stream';
import type { Compression, EncodedFile } from '../transfer/types.js';
import { createCompressor } from './compress.js';
import { writeWithBackpressure, type OpenPart, type PartWriter } from './split.js';

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
        compressor.end();
      },
      abort(err) {
        compressor.destroy(err);
        body.destroy(err);
      },
    };
    return writer;
  };
}

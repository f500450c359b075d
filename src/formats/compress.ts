/**
 * Byte-stream compressors for CSV and JSON Lines. gzip runs in Node's zlib on libuv's thread pool, so
 * it overlaps with reading from PostgreSQL; so does zstd where Node's zlib has it (Node 22.15+, 23.8+).
 * On Node 20 zstd goes through libzstd's streaming compressor in a zstd addon, in slices on the
 * JavaScript thread (zstd-stream.ts). Either way a .zst file is one zstd frame, and no installed
 * program is needed.
 *
 * Level 1 for both (docs/benchmarks.md): gzip level 1 alone runs at ~0.66× COPY on two cores, so a
 * higher level would miss the 0.6× target; zstd -1 compresses better than gzip -1 at a higher rate.
 */
import { PassThrough, type Transform, type TransformOptions } from 'node:stream';
import zlib from 'node:zlib';
import { SluiceError } from '../core/errors.js';
import type { Compression } from '../core/types.js';
import { assertZstdStreamAvailable, createZstdStream } from './zstd-stream.js';

export const GZIP_LEVEL = 1;
export const ZSTD_LEVEL = 1;
/** Input bytes a compressor may hold before it pushes back on the reader. */
const COMPRESSOR_BUFFER = 4 * 1024 * 1024;

// node:zlib's zstd (Node 22.15+, 23.8+); @types/node 20 does not declare it yet.
const zlibZstd = zlib as typeof zlib & {
  createZstdCompress?: (options: { params: Record<number, number>; chunkSize?: number } & TransformOptions) => Transform;
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number };
};
/** True when this Node compresses zstd itself; otherwise the zstd addon does (zstd-stream.ts). */
export const NATIVE_ZSTD = typeof zlibZstd.createZstdCompress === 'function' && zlibZstd.constants.ZSTD_c_compressionLevel !== undefined;

/** Fails with a clear message when zstd output is asked for and this Node cannot make it. */
export function assertZstdAvailable(): void {
  if (!NATIVE_ZSTD) assertZstdStreamAvailable();
}

// zlib passes Transform options through (its typings omit them): a deeper input buffer lets the reader
// keep PostgreSQL streaming while deflate catches up, instead of pausing every 16 KiB (bench: 0.57–0.60×
// → 0.62–0.69× COPY csv for tenant 1).
const gzipOptions: zlib.ZlibOptions & TransformOptions = { level: GZIP_LEVEL, chunkSize: 64 * 1024, writableHighWaterMark: COMPRESSOR_BUFFER };

/** A stream that compresses what is written into it. `none` passes bytes through. */
export function createCompressor(compression: Compression): Transform {
  switch (compression) {
    case 'gzip':
      return zlib.createGzip(gzipOptions);
    case 'zstd':
      if (NATIVE_ZSTD) {
        return zlibZstd.createZstdCompress!({
          params: { [zlibZstd.constants.ZSTD_c_compressionLevel!]: ZSTD_LEVEL },
          chunkSize: 64 * 1024,
        });
      }
      return createZstdStream(ZSTD_LEVEL);
    case 'none':
      return new PassThrough();
    case 'snappy':
      throw new SluiceError({
        code: 'invalid_compression',
        message: 'snappy compression exists for Parquet only.',
        hint: 'Use gzip, zstd or none for CSV and JSON Lines.',
      });
  }
}

/**
 * Ends a compressor's input once every write is processed. Node's own zstd (22, 24) ends the frame on
 * a write still buffered when end() is called, and once more in its flush: a second, empty frame.
 * Once every write is processed only the flush ends it, and a .zst file stays one frame.
 */
export async function endCompressor(compressor: Transform): Promise<void> {
  await new Promise<void>((resolve, reject) => compressor.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  compressor.end();
}

export function compressedExtension(compression: Compression): string {
  return compression === 'gzip' ? '.gz' : compression === 'zstd' ? '.zst' : '';
}

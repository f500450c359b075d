/**
 * Byte-stream compressors for CSV and JSON Lines. Both run outside the JavaScript thread, so
 * compression overlaps with reading from PostgreSQL: gzip in Node's zlib (libuv thread pool), zstd in
 * Node's zlib where it has it (Node 22.15+, 23.8+) and otherwise in the `zstd` program (Node 20).
 *
 * Level 1 for both (docs/benchmarks.md): gzip level 1 alone runs at ~0.66× COPY on two cores, so a
 * higher level would miss the 0.6× target; zstd -1 compresses better than gzip -1 at a higher rate.
 */
import { spawn, spawnSync } from 'node:child_process';
import { Duplex, PassThrough, type Transform, type TransformOptions } from 'node:stream';
import zlib from 'node:zlib';
import { SluiceError } from '../core/errors.js';
import type { Compression } from '../core/types.js';

export const GZIP_LEVEL = 1;
export const ZSTD_LEVEL = 1;
/** Input bytes a compressor may hold before it pushes back on the reader. */
const COMPRESSOR_BUFFER = 4 * 1024 * 1024;

let zstdChecked: boolean | undefined;

// node:zlib's zstd (Node 22.15+, 23.8+); @types/node 20 does not declare it yet.
const zlibZstd = zlib as typeof zlib & {
  createZstdCompress?: (options: { params: Record<number, number>; chunkSize?: number } & TransformOptions) => Transform;
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number };
};
/** True when this Node compresses zstd itself: no program needed. */
export const NATIVE_ZSTD = typeof zlibZstd.createZstdCompress === 'function' && zlibZstd.constants.ZSTD_c_compressionLevel !== undefined;

/** Fails with a clear message when zstd output is asked for and neither Node nor `zstd` can make it. */
export function assertZstdAvailable(): void {
  if (NATIVE_ZSTD) return;
  if (zstdChecked === undefined) {
    const probe = spawnSync('zstd', ['--version'], { stdio: 'ignore' });
    zstdChecked = probe.status === 0;
  }
  if (!zstdChecked) {
    throw new SluiceError({
      code: 'zstd_unavailable',
      message: 'zstd compression for CSV / JSON Lines needs Node 22.15 or later, or the `zstd` program, which is not on PATH.',
      actor: 'provider',
      hint: 'Run Sluice on Node 22 or 24, or install zstd (Debian/Ubuntu: apt-get install zstd), or choose gzip or none for this destination.',
      status: 500,
    });
  }
}

function zstdStream(level: number): Duplex {
  const child = spawn('zstd', [`-${level}`, '-q', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (err) => duplex.destroy(err));
  child.on('exit', (code, signal) => {
    if (code !== 0 && !duplex.destroyed) duplex.destroy(new Error(`zstd exited with ${code ?? signal}: ${stderr.trim()}`));
  });
  duplex.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return duplex;
}

// zlib passes Transform options through (its typings omit them): a deeper input buffer lets the reader
// keep PostgreSQL streaming while deflate catches up, instead of pausing every 16 KiB (bench: 0.57–0.60×
// → 0.62–0.69× COPY csv for tenant 1).
const gzipOptions: zlib.ZlibOptions & TransformOptions = { level: GZIP_LEVEL, chunkSize: 64 * 1024, writableHighWaterMark: COMPRESSOR_BUFFER };

/** A stream that compresses what is written into it. `none` passes bytes through. */
export function createCompressor(compression: Compression): Duplex | Transform {
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
      assertZstdAvailable();
      return zstdStream(ZSTD_LEVEL);
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

export function compressedExtension(compression: Compression): string {
  return compression === 'gzip' ? '.gz' : compression === 'zstd' ? '.zst' : '';
}

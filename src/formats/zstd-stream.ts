/**
 * zstd for a Node whose zlib has none (Node 20; node:zlib compresses zstd from 22.15 and 23.8).
 *
 * `zstd-napi` is libzstd in a Node-API addon with libzstd's streaming compressor
 * (ZSTD_compressStream2). One compression context per file, ended once: every .zst file is ONE zstd
 * frame, as node:zlib writes it, because many readers stop silently after a first frame
 * (python-zstandard's decompress(), pandas, node:zlib's zstdDecompressSync). Memory stays at the
 * context's window and buffers (a few MiB at level 1) whatever the file's size.
 *
 * The addon compresses on the calling thread. Each call gets at most SLICE_BYTES of input, and a
 * larger write yields to the event loop between slices, so no call holds the loop for long. zstd's
 * own worker threads (nbWorkers) were measured and not kept (docs/benchmarks.md): at level 1 the
 * hand-over cost more than the compression, and with the workers busy the calling thread waits for them.
 *
 * Its binary is built when it is installed (a prebuilt download, or from source with a C++ compiler);
 * an install without it fails here with zstd_unavailable, before a transfer starts.
 */
import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { SluiceError } from '../core/errors.js';

/** Input bytes per call into libzstd: about 0.5 ms at level 1, so the event loop is never held long. */
export const SLICE_BYTES = 256 * 1024;

const require = createRequire(import.meta.url);
let binding: typeof ZstdBinding | undefined;

/** The addon, loaded on first use (Node 22.15+ never loads it). */
function zstdBinding(): typeof ZstdBinding {
  if (!binding) {
    try {
      binding = require('zstd-napi/binding.js') as typeof ZstdBinding;
    } catch (err) {
      throw new SluiceError({
        code: 'zstd_unavailable',
        message: `zstd compression for CSV / JSON Lines on Node ${process.versions.node} needs the zstd-napi addon, whose binary for ${process.platform}-${process.arch} did not load: ${(err as Error).message}`,
        actor: 'provider',
        hint: "Run Sluice on Node 22.15 or later (its zlib compresses zstd), or reinstall so that zstd-napi's install script builds it (npm ci with a C++ compiler, make and python3), or choose gzip or none for this destination.",
        status: 500,
      });
    }
  }
  return binding;
}

/** Fails with zstd_unavailable now, rather than in the middle of a transfer, when the addon cannot load. */
export function assertZstdStreamAvailable(): void {
  zstdBinding();
}

/** A stream that compresses what is written into it as one zstd frame, ended when the stream ends. */
export function createZstdStream(level: number): Transform {
  return new ZstdStream(zstdBinding(), level);
}

/**
 * Output leaves through push(); Transform holds the next write until the reader has taken what is
 * pushed, so memory is the context, one slice's output and what the reader has not taken.
 */
class ZstdStream extends Transform {
  readonly #zstd: typeof ZstdBinding;
  readonly #cctx: ZstdBinding.CCtx;
  readonly #out: Buffer;

  constructor(zstd: typeof ZstdBinding, level: number) {
    super();
    this.#zstd = zstd;
    this.#cctx = new zstd.CCtx();
    this.#cctx.setParameter(zstd.CParameter.compressionLevel, level);
    this.#out = Buffer.allocUnsafe(zstd.cStreamOutSize());
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#compressSlices(chunk, callback);
  }

  override _flush(callback: TransformCallback): void {
    // Ends the frame. An empty input still gets its frame: a .zst file is never zero bytes.
    try {
      this.#compress(Buffer.alloc(0), this.#zstd.EndDirective.end);
    } catch (err) {
      return callback(err as Error);
    }
    callback();
  }

  #compressSlices(input: Buffer, callback: TransformCallback): void {
    try {
      this.#compress(input.subarray(0, SLICE_BYTES), this.#zstd.EndDirective.continue);
    } catch (err) {
      return callback(err as Error);
    }
    if (input.length <= SLICE_BYTES) return callback();
    setImmediate(() => {
      // Destroyed meanwhile (the transfer failed): stop, and the write did not complete.
      if (this.destroyed) return callback(this.errored ?? new Error('zstd stream destroyed before the write was compressed'));
      this.#compressSlices(input.subarray(SLICE_BYTES), callback);
    });
  }

  /** Feeds `input` to libzstd and pushes what it writes; with `end`, until the frame is complete. */
  #compress(input: Buffer, directive: ZstdBinding.EndDirective): void {
    for (;;) {
      const [remaining, produced, consumed] = this.#cctx.compressStream2(this.#out, input, directive);
      // A copy: the output buffer is reused, and a pushed view would pin it while the reader holds it.
      if (produced > 0) this.push(Buffer.from(this.#out.subarray(0, produced)));
      input = input.subarray(consumed);
      if (input.length === 0 && (directive === this.#zstd.EndDirective.continue || remaining === 0)) return;
    }
  }
}

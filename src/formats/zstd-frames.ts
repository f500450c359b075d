/**
 * zstd for a Node whose zlib has none (Node 20; node:zlib compresses zstd from 22.15 and 23.8).
 *
 * `@toondepauw/node-zstd` is libzstd in a Node-API addon whose prebuilt binary ships inside its npm
 * package (one optional package per platform), so installing it downloads nothing else and needs no
 * compiler. It compresses whole buffers only, on libuv's thread pool; to stream with bounded memory,
 * every FRAME_BYTES of input becomes one independent zstd frame. Concatenated frames are one valid
 * zstd stream (RFC 8878 §3.1): the `zstd` program and DuckDB read them as one file. An input smaller
 * than FRAME_BYTES is one frame, as node:zlib would write it. Some decoders stop after the first
 * frame unless told otherwise (docs/bucket-contract.md names them).
 */
import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import type * as NodeZstd from '@toondepauw/node-zstd';
import { SluiceError } from '../core/errors.js';

/**
 * Input bytes per frame: level 1's window, so a frame loses little of what one long stream would
 * find (on CSV the same ratio to two decimals). 4 MiB frames ran at half the rate of 1 MiB and
 * smaller ones; between 512 KiB and 1 MiB the machine's load decided (docs/benchmarks.md).
 */
export const FRAME_BYTES = 512 * 1024;
/** Frames compressing at once, on libuv's thread pool (4 threads): overlapping with the reader. */
const FRAMES_IN_FLIGHT = 3;

const require = createRequire(import.meta.url);
const encoders = new Map<number, NodeZstd.Encoder>();

/** The addon's encoder at `level`, loaded on first use (Node 22.15+ never loads it). */
function encoderAt(level: number): NodeZstd.Encoder {
  let encoder = encoders.get(level);
  if (!encoder) {
    let addon: typeof NodeZstd;
    try {
      addon = require('@toondepauw/node-zstd') as typeof NodeZstd;
    } catch (err) {
      throw new SluiceError({
        code: 'zstd_unavailable',
        message: `zstd compression for CSV / JSON Lines on Node ${process.versions.node} needs the zstd addon's prebuilt binary for ${process.platform}-${process.arch}, which did not load: ${(err as Error).message}`,
        actor: 'provider',
        hint: 'Run Sluice on Node 22.15 or later (its zlib compresses zstd), or install without --omit=optional on Linux, macOS or Windows (x64 or arm64), or choose gzip or none for this destination.',
        status: 500,
      });
    }
    encoder = new addon.Encoder(level);
    encoders.set(level, encoder);
  }
  return encoder;
}

/** Fails with zstd_unavailable now, rather than in the middle of a transfer, when the addon cannot load. */
export function assertZstdFramesAvailable(level: number): void {
  encoderAt(level);
}

/** A stream that compresses what is written into it as a sequence of zstd frames, in input order. */
export function createZstdFrames(level: number, frameBytes = FRAME_BYTES, framesInFlight = FRAMES_IN_FLIGHT): Transform {
  return new ZstdFrames(encoderAt(level), frameBytes, framesInFlight);
}

/**
 * Input collects into the frame being filled; a full frame starts compressing. While FRAMES_IN_FLIGHT
 * frames compress, the next input waits for the oldest one, whose output goes out through the
 * transform callback: Transform then holds further input until the reader takes it. Memory is
 * therefore at most the frame being filled, FRAMES_IN_FLIGHT frames and their outputs, plus what the
 * reader has not taken.
 */
class ZstdFrames extends Transform {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #framesStarted = 0;
  /** Frames compressing (or compressed, not yet pushed), in input order. */
  #frames: Promise<Buffer>[] = [];

  constructor(
    private readonly encoder: NodeZstd.Encoder,
    private readonly frameBytes: number,
    private readonly framesInFlight: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes >= this.frameBytes) this.#startFrame();
    if (this.#frames.length < this.framesInFlight) return callback();
    this.#frames.shift()!.then((out) => callback(null, out), callback);
  }

  override _flush(callback: TransformCallback): void {
    // An empty input still becomes one (empty) frame: a .zst file is never zero bytes.
    if (this.#pendingBytes > 0 || this.#framesStarted === 0) this.#startFrame();
    const rest = this.#frames;
    this.#frames = [];
    void (async () => {
      for (const frame of rest) this.push(await frame);
    })().then(() => callback(), callback);
  }

  #startFrame(): void {
    const input = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#framesStarted++;
    const frame = this.encoder.encode(input);
    frame.catch(() => undefined); // observed when its turn comes; never an unhandled rejection
    this.#frames.push(frame);
  }
}

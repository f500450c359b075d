/**
 * Copies a body's bytes into part-sized buffers, counting every buffer alive in the writer's
 * BufferStats. The first part starts small and grows, since most objects are small; it is the only
 * buffer alive at that point, so growing it cannot break the writer's memory bound.
 */
import { DEFAULT_PART_SIZE, partSizeFor } from './part-size.js';

export interface BufferStats {
  /** Bytes of part buffers held now, over all writes of this writer. */
  current: number;
  /** Highest `current` seen. */
  peak: number;
}

export function hold(stats: BufferStats, bytes: number): void {
  stats.current += bytes;
  if (stats.current > stats.peak) stats.peak = stats.current;
}

export function release(stats: BufferStats, bytes: number): void {
  stats.current -= bytes;
}

/** A full part: its bytes, and how many bytes to release from BufferStats once it is sent. */
export interface FullPart {
  number: number;
  data: Buffer;
  heldBytes: number;
}

export class PartBuffer {
  /** Number of the part being filled (1-based). */
  partNumber = 1;
  #target: number;
  #part: Buffer;
  #fill = 0;

  constructor(
    private readonly stats: BufferStats,
    private readonly basePartSize = DEFAULT_PART_SIZE,
  ) {
    this.#target = partSizeFor(1, basePartSize);
    this.#part = Buffer.allocUnsafe(Math.min(this.#target, 64 * 1024));
    hold(stats, this.#part.length);
  }

  /**
   * Copies `chunk` in; `onFull` is awaited for every part that fills, before the next one is
   * allocated (it may wait for room to send it, which bounds memory). When `onFull` resolves, the
   * part is the sender's, who releases its bytes; if it throws, the part stays here until release().
   */
  async append(chunk: Buffer, onFull: (part: FullPart) => Promise<void>): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#fill === this.#part.length && this.#part.length < this.#target) this.#grow();
      const n = Math.min(this.#part.length - this.#fill, chunk.length - offset);
      chunk.copy(this.#part, this.#fill, offset, offset + n);
      this.#fill += n;
      offset += n;
      if (this.#fill === this.#target) {
        await onFull({ number: this.partNumber, data: this.#part, heldBytes: this.#part.length });
        this.#fill = 0;
        this.partNumber += 1;
        this.#target = partSizeFor(this.partNumber, this.basePartSize);
        this.#part = Buffer.allocUnsafe(this.#target);
        hold(this.stats, this.#part.length);
      }
    }
  }

  /** The bytes of the part being filled, and the bytes its buffer holds. */
  rest(): FullPart {
    return { number: this.partNumber, data: this.#part.subarray(0, this.#fill), heldBytes: this.#part.length };
  }

  /** Forgets the part being filled; its buffer is released (call once, when the write ends). */
  release(): void {
    release(this.stats, this.#part.length);
    this.#part = Buffer.alloc(0);
    this.#fill = 0;
  }

  /** The part being filled now belongs to a sender, who releases its bytes: nothing is left here. */
  handedOver(): void {
    this.#part = Buffer.alloc(0);
    this.#fill = 0;
  }

  #grow(): void {
    const grown = Buffer.allocUnsafe(Math.min(this.#target, this.#part.length * 2));
    hold(this.stats, grown.length);
    this.#part.copy(grown, 0, 0, this.#fill);
    release(this.stats, this.#part.length);
    this.#part = grown;
  }
}

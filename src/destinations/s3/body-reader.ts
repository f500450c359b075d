/**
 * Reads an object's body chunk by chunk, by hand rather than with `for await`, so that an abort also
 * interrupts a wait for the next chunk; and stops a body that was not read to its end.
 */
import type { Readable } from 'node:stream';
import type { SluiceError } from '../../core/errors.js';

export class BodyReader {
  #iterator: AsyncIterator<Uint8Array>;
  #drained = false;
  #aborted: Promise<never> | undefined;
  #onAbort: (() => void) | undefined;

  constructor(
    private readonly body: Readable | AsyncIterable<Uint8Array>,
    private readonly signal: AbortSignal | undefined,
    private readonly abortError: () => SluiceError,
  ) {
    this.#iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    if (signal) {
      this.#aborted = new Promise<never>((_, reject) => {
        this.#onAbort = () => reject(abortError());
        if (signal.aborted) this.#onAbort();
        else signal.addEventListener('abort', this.#onAbort, { once: true });
      });
      this.#aborted.catch(() => undefined);
    }
  }

  /** The next chunk as a Buffer, or null at the body's end; rejects once the signal aborts. */
  async next(): Promise<Buffer | null> {
    const next = this.#aborted ? await Promise.race([this.#iterator.next(), this.#aborted]) : await this.#iterator.next();
    if (next.done) {
      this.#drained = true;
      return null;
    }
    if (this.signal?.aborted) throw this.abortError();
    const chunk = next.value;
    return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }

  /** Stops listening for the abort, and stops the body if it was not read to its end. */
  close(): void {
    if (this.#onAbort) this.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#drained) return;
    // Not awaited: an async generator queues return() behind a pending next(), which may never settle
    // once we stopped waiting for it.
    const body = this.body as Readable;
    if (typeof body.destroy === 'function') body.destroy();
    else this.#iterator.return?.().catch(() => undefined);
  }
}

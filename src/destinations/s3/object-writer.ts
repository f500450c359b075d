/**
 * Streams a body of unknown length into one object of a recipient's bucket, as a create:
 *
 * - Bytes are copied into a part buffer. If the body ends before the first part is full, one PutObject
 *   sends it; otherwise a multipart upload sends full parts while the body is still being read, with at
 *   most `queueSize` parts in flight. Memory held is therefore ≤ (queueSize + 1) × part size.
 * - Part sizes grow (×2 every 1,000 parts) so that 10,000 parts reach past 5 TiB.
 * - `If-None-Match: *` on PutObject and CompleteMultipartUpload when the destination allows it, so an
 *   existing object is never replaced. Create/UploadPart/Complete need only s3:PutObject.
 * - Every request body is a Buffer and each request or part is retried here on transient failures
 *   (the SDK does not retry streaming bodies).
 * - On failure the multipart upload is aborted; the object appears only when Complete succeeds, so
 *   nothing is visible at the key unless write() resolves. If the recipient did not grant
 *   s3:AbortMultipartUpload, the parts stay until a lifecycle rule removes them: logged once.
 *
 * Never reads, lists or heads anything.
 */
import crypto from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SluiceError } from '../../core/errors.js';
import type { IdentitySource } from '../../core/identity.js';
import type { Logger } from '../../core/log.js';
import { ownerParams, transferClient } from './client.js';
import { classifyError, type ErrorContext, type S3Operation } from './errors.js';
import type { NetworkGuard } from './network.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { ObjectWriter, S3DestinationConfig, WriteOptions, WrittenObject } from './types.js';

export const MIB = 1024 * 1024;
export const DEFAULT_PART_SIZE = 8 * MIB;
export const MAX_PARTS = 10_000;
export const MAX_PART_SIZE = 5 * 1024 * MIB;
/** Part size doubles after every this many parts. */
export const PARTS_PER_SIZE_STEP = 1_000;

/**
 * Size of part `partNumber` (1-based) when the first parts are `base` bytes. With the default 8 MiB
 * the 10,000 parts add up to ~8 TiB, above S3's 5 TiB object limit.
 */
export function partSizeFor(partNumber: number, base = DEFAULT_PART_SIZE): number {
  const step = Math.floor((partNumber - 1) / PARTS_PER_SIZE_STEP);
  return Math.min(MAX_PART_SIZE, base * 2 ** step);
}

/** Largest object that `MAX_PARTS` parts of the growing schedule can hold. */
export function maxObjectSize(base = DEFAULT_PART_SIZE): number {
  let total = 0;
  for (let step = 0; step * PARTS_PER_SIZE_STEP < MAX_PARTS; step++) total += PARTS_PER_SIZE_STEP * partSizeFor(step * PARTS_PER_SIZE_STEP + 1, base);
  return total;
}

export interface ObjectWriterOptions {
  /** Size of the first parts, and the threshold between PutObject and multipart (default 8 MiB; S3 needs ≥ 5 MiB). */
  partSize?: number;
  /** Parts uploaded concurrently (default 4). */
  queueSize?: number;
  retry?: RetryOptions;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** A request whose connection moved no bytes for this long is abandoned and retried (see client.ts). */
  stallTimeoutMs?: number;
}

export interface ObjectWriterDeps {
  identity: IdentitySource;
  log: Logger;
  /** The operator's network rules of now, applied to every connection (network.ts). */
  network: NetworkGuard;
  options?: ObjectWriterOptions;
  /** A client for this destination, owned by the caller (otherwise the writer's own, see transferClient). */
  client?: S3Client;
}

export interface BufferStats {
  /** Bytes of part buffers held now, over all writes of this writer. */
  current: number;
  /** Highest `current` seen. */
  peak: number;
}

export interface S3ObjectWriter extends ObjectWriter {
  readonly buffers: BufferStats;
  /** Destroys the writer's own client and with it the role session: call when the transfer ends. */
  close(): void;
}

/** Destinations for which a denied AbortMultipartUpload was already logged. */
const abortDeniedLogged = new Set<string>();

export function createObjectWriter(config: S3DestinationConfig, deps: ObjectWriterDeps): S3ObjectWriter {
  const opts = deps.options ?? {};
  const basePartSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const queueSize = Math.max(1, opts.queueSize ?? 4);
  // One writer per transfer, and with it one client and one role session (see transferClient).
  const client =
    deps.client ??
    transferClient(config, {
      identity: deps.identity,
      log: deps.log,
      network: deps.network,
      ...(opts.connectionTimeoutMs ? { connectionTimeoutMs: opts.connectionTimeoutMs } : {}),
      ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.stallTimeoutMs ? { stallTimeoutMs: opts.stallTimeoutMs } : {}),
    });
  const log = deps.log.child({ destinationId: config.id });
  const buffers: BufferStats = { current: 0, peak: 0 };
  const owner = ownerParams(config);
  const conditional = config.conditionalWrites ? { IfNoneMatch: '*' } : {};

  function hold(bytes: number): void {
    buffers.current += bytes;
    if (buffers.current > buffers.peak) buffers.peak = buffers.current;
  }
  function release(bytes: number): void {
    buffers.current -= bytes;
  }

  function ctx(operation: S3Operation, key: string): ErrorContext {
    return { operation, bucket: config.bucket, region: config.region, key, auth: config.auth.kind, ...(config.endpoint ? { endpoint: config.endpoint } : {}) };
  }

  async function send<T>(operation: S3Operation, key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    let retried = false;
    try {
      return await withRetry(() => fn(), ctx(operation, key), opts.retry, signal, (err, attempt, delayMs) => {
        retried = true;
        log.warn({ key, operation, code: err.code, attempt, delayMs }, 'retrying S3 request');
      });
    } catch (err) {
      // A create whose answer was lost may have succeeded; its retry then meets its own object. Sluice
      // may not read the bucket to tell, so it says so: the caller writes the data again under a new key.
      if (retried && err instanceof SluiceError && err.code === 'object_exists') {
        throw new SluiceError({
          code: err.code,
          actor: err.actor,
          message: `${err.message} An earlier attempt of this same write failed without an answer and may have created it.`,
          ...(err.hint ? { hint: err.hint } : {}),
          ...(err.docs ? { docs: err.docs } : {}),
          status: err.status,
          cause: err,
        });
      }
      throw err;
    }
  }

  async function abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await withRetry(
        () => client.send(new AbortMultipartUploadCommand({ Bucket: config.bucket, Key: key, UploadId: uploadId, ...owner })),
        ctx('abort_multipart', key),
        { ...opts.retry, attempts: Math.min(3, opts.retry?.attempts ?? 3) },
      );
    } catch (err) {
      const e = err instanceof SluiceError ? err : classifyError(err, ctx('abort_multipart', key));
      if (e.code === 'access_denied_abort') {
        if (!abortDeniedLogged.has(config.id)) {
          abortDeniedLogged.add(config.id);
          log.warn(
            { key, code: e.code, docs: 'docs/errors.md#ct-access_denied_abort' },
            'could not abort an incomplete multipart upload (s3:AbortMultipartUpload not granted); recommend the recipient add a lifecycle rule with AbortIncompleteMultipartUpload',
          );
        }
      } else {
        log.warn({ key, code: e.code }, 'could not abort an incomplete multipart upload; a lifecycle rule with AbortIncompleteMultipartUpload removes its parts');
      }
    }
  }

  async function write(key: string, body: Readable | AsyncIterable<Uint8Array>, wopts: WriteOptions = {}): Promise<WrittenObject> {
    const signal = wopts.signal;
    const contentType = wopts.contentType ? { ContentType: wopts.contentType } : {};
    const hash = crypto.createHash('sha256');
    let bytes = 0;

    // The part being filled. The first one starts small and grows (most objects are small); it is the
    // only buffer alive at that point, so growing cannot break the memory bound.
    let partNumber = 1;
    let target = partSizeFor(1, basePartSize);
    let part = Buffer.allocUnsafe(Math.min(target, 64 * 1024));
    hold(part.length);
    let fill = 0;

    let uploadId: string | undefined;
    const completed: CompletedPart[] = [];
    const inflight = new Set<Promise<void>>();
    let partError: SluiceError | undefined;

    const startMultipart = async (): Promise<string> => {
      const out = await send('multipart', key, signal, () =>
        client.send(
          new CreateMultipartUploadCommand({
            Bucket: config.bucket,
            Key: key,
            ...contentType,
            ...owner,
            ...(config.requestChecksums ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
          }),
          { abortSignal: signal },
        ),
      );
      if (!out.UploadId) throw classifyError(Object.assign(new Error('no UploadId'), { $metadata: { httpStatusCode: 502 } }), ctx('multipart', key));
      return out.UploadId;
    };

    const submitPart = async (number: number, data: Buffer, heldBytes: number): Promise<void> => {
      while (inflight.size >= queueSize) await Promise.race(inflight);
      if (partError) throw partError;
      const id = uploadId!;
      const p = send('multipart', key, signal, () =>
        client.send(
          new UploadPartCommand({ Bucket: config.bucket, Key: key, UploadId: id, PartNumber: number, Body: data, ...owner }),
          { abortSignal: signal },
        ),
      )
        .then((out) => {
          completed.push({ PartNumber: number, ETag: out.ETag, ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}) });
        })
        .catch((err: unknown) => {
          partError ??= err instanceof SluiceError ? err : classifyError(err, ctx('multipart', key));
        })
        .finally(() => {
          release(heldBytes);
          inflight.delete(p);
        });
      inflight.add(p);
    };

    // The body is read by hand so that an abort also interrupts a wait for the next chunk.
    const iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    let drained = false;
    const abortError = () => classifyError(Object.assign(new Error('aborted'), { name: 'AbortError' }), ctx('put_object', key));
    let onAbort: (() => void) | undefined;
    const aborted = signal
      ? new Promise<never>((_, reject) => {
          onAbort = () => reject(abortError());
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        })
      : undefined;
    aborted?.catch(() => undefined);

    try {
      for (;;) {
        const next = aborted ? await Promise.race([iterator.next(), aborted]) : await iterator.next();
        if (next.done) {
          drained = true;
          break;
        }
        const chunk = next.value;
        if (signal?.aborted) throw abortError();
        if (partError) throw partError;
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        hash.update(buf);
        bytes += buf.length;
        let offset = 0;
        while (offset < buf.length) {
          if (fill === part.length && part.length < target) {
            const grown = Buffer.allocUnsafe(Math.min(target, part.length * 2));
            hold(grown.length);
            part.copy(grown, 0, 0, fill);
            release(part.length);
            part = grown;
          }
          const n = Math.min(part.length - fill, buf.length - offset);
          buf.copy(part, fill, offset, offset + n);
          fill += n;
          offset += n;
          if (fill === target) {
            if (partNumber > MAX_PARTS) throw tooLarge(key, bytes);
            uploadId ??= await startMultipart();
            await submitPart(partNumber, part, part.length);
            partNumber += 1;
            target = partSizeFor(partNumber, basePartSize);
            part = Buffer.allocUnsafe(target);
            hold(part.length);
            fill = 0;
          }
        }
      }
      if (signal?.aborted) throw abortError();
      const sha256 = hash.digest('hex');

      if (uploadId === undefined) {
        const data = part.subarray(0, fill);
        const out = await send('put_object', key, signal, () =>
          client.send(new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: data, ...contentType, ...owner, ...conditional }), { abortSignal: signal }),
        );
        return { key, bytes, sha256, ...(out.ETag ? { etag: out.ETag } : {}) };
      }

      if (fill > 0) {
        if (partNumber > MAX_PARTS) throw tooLarge(key, bytes);
        await submitPart(partNumber, part.subarray(0, fill), part.length);
      } else {
        release(part.length);
      }
      part = Buffer.alloc(0);
      fill = 0;
      while (inflight.size > 0) await Promise.race(inflight);
      if (partError) throw partError;

      const id = uploadId;
      const parts = [...completed].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      const out = await send('multipart', key, signal, () =>
        client.send(
          new CompleteMultipartUploadCommand({ Bucket: config.bucket, Key: key, UploadId: id, MultipartUpload: { Parts: parts }, ...owner, ...conditional }),
          { abortSignal: signal },
        ),
      );
      uploadId = undefined;
      return { key, bytes, sha256, ...(out.ETag ? { etag: out.ETag } : {}) };
    } catch (err) {
      // Let in-flight parts settle before aborting, so no part lands after the abort.
      while (inflight.size > 0) await Promise.race(inflight);
      if (uploadId !== undefined) await abortUpload(key, uploadId);
      throw err;
    } finally {
      // Whatever buffer is still being filled is released; in-flight ones release themselves.
      if (part.length > 0) release(part.length);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      // Stop a body we did not finish reading. Not awaited: an async generator queues return() behind
      // a pending next(), which may never settle once we stopped waiting for it.
      if (!drained) {
        if (typeof (body as Readable).destroy === 'function') (body as Readable).destroy();
        else iterator.return?.().catch(() => undefined);
      }
    }
  }

  return {
    write,
    buffers,
    close() {
      if (!deps.client) client.destroy();
    },
  };
}

function tooLarge(key: string, bytes: number): SluiceError {
  return new SluiceError({
    code: 'object_too_large',
    actor: 'sluice',
    message: `The object ${key} exceeds what ${MAX_PARTS} parts can hold (${bytes} bytes so far).`,
    hint: 'Lower the file rotation size of the transfer.',
    status: 500,
  });
}

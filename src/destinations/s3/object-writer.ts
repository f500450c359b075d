/**
 * Streams a body of unknown length into one object of a recipient's bucket, as a create: the entry
 * point of the S3 destination's writing side.
 *
 * - Bytes are copied into a part buffer (part-buffer.ts). If the body ends before the first part is
 *   full, one PutObject sends it; otherwise a multipart upload (multipart-upload.ts) sends full parts
 *   while the body is still being read, with at most `queueSize` parts in flight. Memory held is
 *   therefore ≤ (queueSize + 1) × part size. Part sizes grow so that 10,000 parts reach past 5 TiB
 *   (part-size.ts).
 * - `If-None-Match: *` on PutObject and CompleteMultipartUpload when the destination allows it, so an
 *   existing object is never replaced.
 * - Every request body is a Buffer and each request or part is retried on transient failures
 *   (requests.ts).
 * - On failure the multipart upload is aborted; the object appears only when Complete succeeds, so
 *   nothing is visible at the key unless write() resolves.
 *
 * Never reads, lists or heads anything.
 */
import crypto from 'node:crypto';
import type { Readable } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { IdentitySource } from '../../core/identity.js';
import type { Logger } from '../../core/log.js';
import { BodyReader } from './body-reader.js';
import { ownerParams, transferClient } from './client.js';
import { classifyError } from './errors.js';
import { MultipartUpload, type MultipartContext } from './multipart-upload.js';
import { PartBuffer, type BufferStats } from './part-buffer.js';
import { DEFAULT_PART_SIZE, MAX_PARTS, tooLarge } from './part-size.js';
import type { NetworkGuard } from './network.js';
import { requestSender } from './requests.js';
import type { RetryOptions } from './retry.js';
import type { ObjectWriter, S3DestinationConfig, WriteOptions, WrittenObject } from './types.js';

export type { BufferStats } from './part-buffer.js';

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

export interface S3ObjectWriter extends ObjectWriter {
  readonly buffers: BufferStats;
  /** Destroys the writer's own client and with it the role session: call when the transfer ends. */
  close(): void;
}

export function createObjectWriter(config: S3DestinationConfig, deps: ObjectWriterDeps): S3ObjectWriter {
  const opts = deps.options ?? {};
  const basePartSize = opts.partSize ?? DEFAULT_PART_SIZE;
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
  const requests = requestSender(config, log, opts.retry);
  const multipart: MultipartContext = { client, config, requests, log, buffers, queueSize: Math.max(1, opts.queueSize ?? 4), retry: opts.retry };
  const conditional = config.conditionalWrites ? { IfNoneMatch: '*' } : {};

  async function write(key: string, body: Readable | AsyncIterable<Uint8Array>, wopts: WriteOptions = {}): Promise<WrittenObject> {
    const signal = wopts.signal;
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    const abortError = () => classifyError(Object.assign(new Error('aborted'), { name: 'AbortError' }), requests.context('put_object', key));
    const reader = new BodyReader(body, signal, abortError);
    const parts = new PartBuffer(buffers, basePartSize);
    const upload = new MultipartUpload(multipart, key, wopts.contentType, signal);

    try {
      for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
        if (upload.failure) throw upload.failure;
        hash.update(chunk);
        bytes += chunk.length;
        await parts.append(chunk, async (part) => {
          if (part.number > MAX_PARTS) throw tooLarge(key, bytes);
          await upload.send(part);
        });
      }
      if (signal?.aborted) throw abortError();
      const sha256 = hash.digest('hex');

      const rest = parts.rest();
      if (!upload.open) {
        const out = await requests.send('put_object', key, signal, () =>
          client.send(
            new PutObjectCommand({
              Bucket: config.bucket,
              Key: key,
              Body: rest.data,
              ...(wopts.contentType ? { ContentType: wopts.contentType } : {}),
              ...ownerParams(config),
              ...conditional,
            }),
            { abortSignal: signal },
          ),
        );
        return { key, bytes, sha256, ...(out.ETag ? { etag: out.ETag } : {}) };
      }

      if (rest.data.length > 0) {
        if (rest.number > MAX_PARTS) throw tooLarge(key, bytes);
        await upload.send(rest);
        parts.handedOver();
      }
      const out = await upload.complete(conditional);
      return { key, bytes, sha256, ...(out.ETag ? { etag: out.ETag } : {}) };
    } catch (err) {
      await upload.abort();
      throw err;
    } finally {
      // Whatever buffer is still being filled is released; parts in flight release themselves.
      parts.release();
      reader.close();
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

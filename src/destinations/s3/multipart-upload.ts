/**
 * One multipart upload: created on its first full part, parts sent while the body is still being read
 * (at most `queueSize` in flight), completed with `If-None-Match: *` where the destination allows it,
 * or aborted. CreateMultipartUpload, UploadPart and CompleteMultipartUpload need only s3:PutObject;
 * AbortMultipartUpload needs s3:AbortMultipartUpload, which a recipient may not grant: then the parts
 * stay until a lifecycle rule removes them, logged once per destination.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SluiceError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { ownerParams } from './client.js';
import { classifyError } from './errors.js';
import { release, type BufferStats, type FullPart } from './part-buffer.js';
import type { RequestSender } from './requests.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { S3DestinationConfig } from './types.js';

export interface MultipartContext {
  client: S3Client;
  config: S3DestinationConfig;
  requests: RequestSender;
  log: Logger;
  buffers: BufferStats;
  queueSize: number;
  retry: RetryOptions | undefined;
}

/** Destinations for which a denied AbortMultipartUpload was already logged. */
const abortDeniedLogged = new Set<string>();

export class MultipartUpload {
  #uploadId: string | undefined;
  #completed: CompletedPart[] = [];
  #inflight = new Set<Promise<void>>();
  #partError: SluiceError | undefined;

  constructor(
    private readonly ctx: MultipartContext,
    private readonly key: string,
    private readonly contentType: string | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** True once CreateMultipartUpload succeeded and until Complete succeeded. */
  get open(): boolean {
    return this.#uploadId !== undefined;
  }

  /** A part that failed for good; the writer stops at the next chunk. */
  get failure(): SluiceError | undefined {
    return this.#partError;
  }

  /**
   * Sends `part` once fewer than `queueSize` parts are in flight (creating the upload first). When
   * this resolves the part is in flight, and its bytes are released from BufferStats when it settles.
   */
  async send(part: FullPart): Promise<void> {
    this.#uploadId ??= await this.#create();
    while (this.#inflight.size >= this.ctx.queueSize) await Promise.race(this.#inflight);
    if (this.#partError) throw this.#partError;
    const { client, config, requests } = this.ctx;
    const id = this.#uploadId;
    const p = requests
      .send('multipart', this.key, this.signal, () =>
        client.send(
          new UploadPartCommand({ Bucket: config.bucket, Key: this.key, UploadId: id, PartNumber: part.number, Body: part.data, ...ownerParams(config) }),
          { abortSignal: this.signal },
        ),
      )
      .then((out) => {
        this.#completed.push({ PartNumber: part.number, ETag: out.ETag, ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}) });
      })
      .catch((err: unknown) => {
        this.#partError ??= err instanceof SluiceError ? err : classifyError(err, requests.context('multipart', this.key));
      })
      .finally(() => {
        release(this.ctx.buffers, part.heldBytes);
        this.#inflight.delete(p);
      });
    this.#inflight.add(p);
  }

  /** Waits for every part in flight, then completes the upload: the object appears only now. */
  async complete(conditional: { IfNoneMatch?: string }): Promise<{ ETag?: string | undefined }> {
    await this.settle();
    if (this.#partError) throw this.#partError;
    const { client, config, requests } = this.ctx;
    const id = this.#uploadId!;
    const parts = [...this.#completed].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const out = await requests.send('multipart', this.key, this.signal, () =>
      client.send(
        new CompleteMultipartUploadCommand({ Bucket: config.bucket, Key: this.key, UploadId: id, MultipartUpload: { Parts: parts }, ...ownerParams(config), ...conditional }),
        { abortSignal: this.signal },
      ),
    );
    this.#uploadId = undefined;
    return out;
  }

  /** Lets parts in flight settle, so that none lands after the abort. */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.race(this.#inflight);
  }

  /** Aborts an open upload after its parts settled; a failure to abort is logged, never thrown. */
  async abort(): Promise<void> {
    await this.settle();
    if (this.#uploadId === undefined) return;
    const { client, config, requests, log, retry } = this.ctx;
    const uploadId = this.#uploadId;
    try {
      await withRetry(
        () => client.send(new AbortMultipartUploadCommand({ Bucket: config.bucket, Key: this.key, UploadId: uploadId, ...ownerParams(config) })),
        requests.context('abort_multipart', this.key),
        { ...retry, attempts: Math.min(3, retry?.attempts ?? 3) },
      );
    } catch (err) {
      const e = err instanceof SluiceError ? err : classifyError(err, requests.context('abort_multipart', this.key));
      if (e.code === 'access_denied_abort') {
        if (!abortDeniedLogged.has(config.id)) {
          abortDeniedLogged.add(config.id);
          log.warn(
            { key: this.key, code: e.code, docs: 'docs/errors.md#ct-access_denied_abort' },
            'could not abort an incomplete multipart upload (s3:AbortMultipartUpload not granted); recommend the recipient add a lifecycle rule with AbortIncompleteMultipartUpload',
          );
        }
      } else {
        log.warn({ key: this.key, code: e.code }, 'could not abort an incomplete multipart upload; a lifecycle rule with AbortIncompleteMultipartUpload removes its parts');
      }
    }
  }

  async #create(): Promise<string> {
    const { client, config, requests } = this.ctx;
    const out = await requests.send('multipart', this.key, this.signal, () =>
      client.send(
        new CreateMultipartUploadCommand({
          Bucket: config.bucket,
          Key: this.key,
          ...(this.contentType ? { ContentType: this.contentType } : {}),
          ...ownerParams(config),
          ...(config.requestChecksums ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
        }),
        { abortSignal: this.signal },
      ),
    );
    if (!out.UploadId) throw classifyError(Object.assign(new Error('no UploadId'), { $metadata: { httpStatusCode: 502 } }), requests.context('multipart', this.key));
    return out.UploadId;
  }
}

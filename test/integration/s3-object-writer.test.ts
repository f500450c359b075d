import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ObjectWriterOptions } from '../../src/destinations/s3/object-writer.js';
import type { S3DestinationConfig } from '../../src/destinations/s3/types.js';
import { SluiceError } from '../../src/core/errors.js';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { s3Error, type FaultProxy } from '../support/fault-proxy.js';
import { startFaultProxyWriters, type FaultProxyWriters } from '../support/fault-proxy-writer.js';
import type { TestS3 } from '../support/s3.js';

const BUCKET = 'writer-bucket';
const PART = 64 * 1024; // s3rver accepts small parts; AWS needs ≥ 5 MiB, which the default respects.
const fastRetry = { baseDelayMs: 1, throttleBaseDelayMs: 1, attempts: 4 };

function chunks(total: number, seed = 1): { body: Buffer; stream: () => Readable } {
  const body = crypto.createHash('sha256').update(String(seed)).digest();
  const data = Buffer.alloc(total);
  for (let i = 0; i < total; i += body.length) body.copy(data, i);
  // Uneven chunk sizes, so part boundaries fall inside chunks.
  return {
    body: data,
    stream: () =>
      Readable.from(
        (function* () {
          let off = 0;
          let n = 1000;
          while (off < total) {
            yield data.subarray(off, Math.min(total, off + n));
            off += n;
            n = (n * 7) % 50_000 + 1;
          }
        })(),
      ),
  };
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('S3 object writer', () => {
  let fx: FaultProxyWriters;
  let s3: TestS3;
  let proxy: FaultProxy;

  before(async () => {
    fx = await startFaultProxyWriters(BUCKET, { config: { accountId: '123456789012' }, options: { partSize: PART, queueSize: 2, retry: fastRetry } });
    ({ s3, proxy } = fx);
  });
  after(() => fx.close());
  beforeEach(() => fx.reset());

  function writer(over: Partial<S3DestinationConfig> = {}, options: ObjectWriterOptions = {}, log = silentLogger) {
    return fx.writer({ config: over, options, log });
  }

  it('writes a small body with one conditional PutObject and reports bytes and SHA-256', async () => {
    const w = writer();
    const { body, stream } = chunks(10_000);
    const out = await w.write('exports/small.csv', stream(), { contentType: 'text/csv' });
    w.close();
    assert.equal(out.bytes, body.length);
    assert.equal(out.sha256, sha(body));
    const stored = await s3.get(BUCKET, 'exports/small.csv');
    assert.equal(sha(stored), out.sha256);
    assert.deepEqual(proxy.requests.map((r) => r.method), ['PUT']);
    const put = proxy.requests[0]!;
    assert.equal(put.headers['if-none-match'], '*');
    assert.equal(put.headers['x-amz-expected-bucket-owner'], '123456789012');
    assert.equal(put.headers['content-type'], 'text/csv');
  });

  it('writes an empty body as an empty object', async () => {
    const w = writer();
    const out = await w.write('exports/empty.csv', Readable.from([]));
    w.close();
    assert.equal(out.bytes, 0);
    assert.equal((await s3.get(BUCKET, 'exports/empty.csv')).length, 0);
  });

  it('streams a large body as a multipart upload, in order, with bounded buffers', async () => {
    // Slow parts make the reader wait for the queue: the bound is what it holds meanwhile.
    proxy.rule({ method: 'PUT', path: /partNumber=/, action: { delayMs: 20 } });
    const w = writer();
    const { body, stream } = chunks(PART * 7 + 12_345, 2);
    const out = await w.write('exports/big.bin', stream());
    w.close();
    assert.equal(out.bytes, body.length);
    assert.equal(out.sha256, sha(body));
    assert.equal(sha(await s3.get(BUCKET, 'exports/big.bin')), sha(body));

    const parts = proxy.requests.filter((r) => r.method === 'PUT' && /partNumber=/.test(r.path));
    assert.equal(parts.length, 8);
    const create = proxy.requests.find((r) => r.method === 'POST' && /\?uploads/.test(r.path));
    const complete = proxy.requests.find((r) => r.method === 'POST' && /uploadId=/.test(r.path));
    assert.ok(create && complete);
    assert.equal(complete.headers['if-none-match'], '*');
    for (const r of proxy.requests) assert.equal(r.headers['x-amz-expected-bucket-owner'], '123456789012', `${r.method} ${r.path}`);
    assert.ok(w.buffers.peak <= (2 + 1) * PART, `peak ${w.buffers.peak} > ${(2 + 1) * PART}`);
    assert.ok(w.buffers.peak >= 2 * PART, 'the queue was actually used');
    assert.equal(w.buffers.current, 0);
  });

  it('retries 503 SlowDown, 500 and connection resets, then succeeds', async () => {
    proxy.rule({ method: 'POST', path: /\?uploads/, times: 1, action: s3Error(503, 'SlowDown', 'Please reduce your request rate.') });
    proxy.rule({ method: 'PUT', path: /partNumber=2&/, times: 1, action: s3Error(500, 'InternalError', 'We encountered an internal error.') });
    proxy.rule({ method: 'PUT', path: /partNumber=1&/, times: 1, action: { reset: true } });
    proxy.rule({ method: 'POST', path: /uploadId=/, times: 1, action: s3Error(503, 'ServiceUnavailable', 'Service unavailable') });
    const w = writer();
    const { body, stream } = chunks(PART * 2 + 10, 3);
    const out = await w.write('exports/retried.bin', stream());
    assert.equal(sha(await s3.get(BUCKET, 'exports/retried.bin')), sha(body));
    assert.equal(out.sha256, sha(body));

    proxy.rule({ method: 'PUT', times: 2, action: s3Error(503, 'SlowDown', 'Please reduce your request rate.') });
    await w.write('exports/retried-small.bin', Readable.from([Buffer.from('hello')]));
    w.close();
    assert.equal((await s3.get(BUCKET, 'exports/retried-small.bin')).toString(), 'hello');
    assert.equal(proxy.requests.filter((r) => r.path.includes('retried-small')).length, 3);
  });

  it('fails fast on AccessDenied without retrying', async () => {
    proxy.rule({ method: 'PUT', action: s3Error(403, 'AccessDenied', 'Access Denied') });
    const w = writer();
    await assert.rejects(w.write('exports/denied.bin', Readable.from([Buffer.from('x')])), (e: unknown) => e instanceof SluiceError && e.code === 'access_denied_put' && e.actor === 'recipient');
    w.close();
    assert.equal(proxy.requests.length, 1);
  });

  it('gives up after the configured attempts on a persistent 5xx', async () => {
    proxy.rule({ method: 'PUT', action: s3Error(500, 'InternalError', 'boom') });
    const w = writer();
    await assert.rejects(w.write('exports/down.bin', Readable.from([Buffer.from('x')])), (e: unknown) => e instanceof SluiceError && e.code === 'transient');
    w.close();
    assert.equal(proxy.requests.length, fastRetry.attempts);
  });

  it('reports an existing object as object_exists (412)', async () => {
    proxy.rule({ method: 'PUT', action: s3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold') });
    const w = writer();
    await assert.rejects(w.write('exports/exists.bin', Readable.from([Buffer.from('x')])), (e: unknown) => e instanceof SluiceError && e.code === 'object_exists');
    w.close();
    assert.equal(proxy.requests.length, 1);
  });

  it('says when a 412 follows a lost answer, since its own earlier attempt may have created the object', async () => {
    proxy.rule({ method: 'PUT', times: 1, action: { reset: true } });
    proxy.rule({ method: 'PUT', action: s3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold') });
    const w = writer();
    await assert.rejects(
      w.write('exports/ambiguous.bin', Readable.from([Buffer.from('x')])),
      (e: unknown) => e instanceof SluiceError && e.code === 'object_exists' && /earlier attempt/.test(e.message),
    );
    w.close();
  });

  it('aborts a failed multipart upload and leaves no object; a denied abort is logged once', async () => {
    proxy.rule({ method: 'PUT', path: /partNumber=3&/, action: s3Error(403, 'AccessDenied', 'Access Denied') });
    proxy.rule({ method: 'DELETE', path: /uploadId=/, action: s3Error(403, 'AccessDenied', 'Access Denied') });
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
    const log = createLogger({ level: 'warn', format: 'json', destination: sink });
    const w = writer({}, {}, log);
    for (const key of ['exports/failed-1.bin', 'exports/failed-2.bin']) {
      const { stream } = chunks(PART * 4, 4);
      await assert.rejects(w.write(key, stream()), (e: unknown) => e instanceof SluiceError && e.code === 'access_denied_put');
    }
    w.close();
    assert.equal(proxy.requests.filter((r) => r.method === 'DELETE' && /uploadId=/.test(r.path)).length, 2);
    assert.deepEqual(await s3.list(BUCKET, 'exports/failed-'), []);
    const abortLogs = lines.filter((l) => l.includes('AbortIncompleteMultipartUpload'));
    assert.equal(abortLogs.length, 1, lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('secretsecret')));
  });

  it('stops when its AbortSignal fires, aborts the upload and leaves no object', async () => {
    const controller = new AbortController();
    const w = writer();
    const body = new PassThrough();
    const done = w.write('exports/cancelled.bin', body, { signal: controller.signal });
    body.write(Buffer.alloc(PART * 2 + 5, 1));
    // Abort while the writer waits for more of the body, once the multipart upload has begun.
    while (!proxy.requests.some((r) => /partNumber=2&/.test(r.path))) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await assert.rejects(done, (e: unknown) => e instanceof SluiceError && e.code === 'aborted');
    w.close();
    assert.ok(proxy.requests.some((r) => r.method === 'DELETE' && /uploadId=/.test(r.path)));
    assert.deepEqual(await s3.list(BUCKET, 'exports/cancelled'), []);
    assert.equal(w.buffers.current, 0);
  });

  it('sends CRC32 checksums with Buffer bodies when request checksums are on', async () => {
    const w = writer({ requestChecksums: true });
    const { body, stream } = chunks(PART * 2 + 99, 5);
    await w.write('exports/checksummed.bin', stream());
    await w.write('exports/checksummed-small.bin', Readable.from([Buffer.from('small')]));
    w.close();
    assert.equal(sha(await s3.get(BUCKET, 'exports/checksummed.bin')), sha(body));
    assert.equal((await s3.get(BUCKET, 'exports/checksummed-small.bin')).toString(), 'small');
    const bodies = proxy.requests.filter((r) => r.method === 'PUT');
    assert.ok(bodies.length >= 4);
    for (const r of bodies) {
      assert.ok(r.headers['x-amz-checksum-crc32'], `${r.path} carries a CRC32`);
      assert.notEqual(r.headers['content-encoding'], 'aws-chunked', 'Buffers are sent whole, not as aws-chunked streams');
    }
    const create = proxy.requests.find((r) => r.method === 'POST' && /\?uploads/.test(r.path))!;
    assert.equal(create.headers['x-amz-checksum-algorithm'], 'CRC32');
  });

  it('omits If-None-Match and ExpectedBucketOwner when the destination says so', async () => {
    const w = writer({ conditionalWrites: false, accountId: '' });
    await w.write('exports/plain.bin', Readable.from([Buffer.from('plain')]));
    w.close();
    const put = proxy.requests[0]!;
    assert.equal(put.headers['if-none-match'], undefined);
    assert.equal(put.headers['x-amz-expected-bucket-owner'], undefined);
  });

  it('passes body errors through and aborts the upload', async () => {
    const w = writer();
    const body = Readable.from(
      (async function* () {
        yield Buffer.alloc(PART * 2, 7);
        throw new Error('encoder failed');
      })(),
    );
    await assert.rejects(w.write('exports/broken.bin', body), /encoder failed/);
    w.close();
    assert.ok(proxy.requests.some((r) => r.method === 'DELETE' && /uploadId=/.test(r.path)));
    assert.deepEqual(await s3.list(BUCKET, 'exports/broken'), []);
  });
});

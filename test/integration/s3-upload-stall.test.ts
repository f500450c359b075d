/**
 * Stalled uploads are found by lack of progress, not by a fixed time per request: through the fault
 * proxy, an upload whose connection stops moving is abandoned after the stall timeout and retried
 * (a PutObject, and one part of a multipart upload); an upload that is slow but moving runs for
 * longer than that timeout and is left alone; one that stalls on every attempt fails with
 * `upload_stalled`, naming the key.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ObjectWriterOptions } from '../../src/destinations/s3/object-writer.js';
import { SluiceError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/log.js';
import type { FaultProxy } from '../support/fault-proxy.js';
import { startFaultProxyWriters, type FaultProxyWriters } from '../support/fault-proxy-writer.js';
import type { TestS3 } from '../support/s3.js';

const BUCKET = 'stall-bucket';
const MIB = 1024 * 1024;
// Well above the event-loop pauses of a loaded test machine (proxy, client and s3rver share a process).
const STALL_MS = 2000;

const body = (n: number): Buffer => crypto.randomBytes(n);
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

describe('stalled uploads', () => {
  let fx: FaultProxyWriters;
  let s3: TestS3;
  let proxy: FaultProxy;
  let logged: string;

  before(async () => {
    fx = await startFaultProxyWriters(BUCKET, { options: { partSize: 5 * MIB, retry: { baseDelayMs: 1, attempts: 3 }, stallTimeoutMs: STALL_MS } });
    ({ s3, proxy } = fx);
  });
  after(() => fx.close());
  beforeEach(() => {
    fx.reset();
    logged = '';
  });

  function writer(options: ObjectWriterOptions = {}) {
    const sink = new PassThrough();
    sink.on('data', (b: Buffer) => (logged += b.toString()));
    return fx.writer({ options, log: createLogger({ level: 'warn', format: 'json', destination: sink }) });
  }

  it('abandons a PutObject whose connection stops moving after the stall timeout, and retries it', async () => {
    proxy.rule({ method: 'PUT', times: 1, action: { stallAfterBytes: 64 * 1024 } });
    const data = body(3 * MIB);
    const t = performance.now();
    const out = await writer().write('exports/stalled-put.bin', Readable.from([data]));
    const seconds = (performance.now() - t) / 1000;
    assert.equal(out.sha256, sha(data));
    assert.equal(sha(await s3.get(BUCKET, 'exports/stalled-put.bin')), sha(data));
    assert.ok(proxy.requests.filter((r) => r.method === 'PUT').length >= 2);
    assert.match(logged, /"code":"upload_stalled"[^\n]*"msg":"retrying S3 request"/);
    // One stall timeout and a retry, not a fixed two minutes.
    assert.ok(seconds < 30, `took ${seconds} s`);
  });

  it('abandons and retries one stalled part of a multipart upload', async () => {
    proxy.rule({ method: 'PUT', path: /partNumber=2/, times: 1, action: { stallAfterBytes: 256 * 1024 } });
    const data = body(12 * MIB);
    const out = await writer().write('exports/stalled-part.bin', Readable.from([data]));
    assert.equal(sha(await s3.get(BUCKET, 'exports/stalled-part.bin')), out.sha256);
    assert.equal(out.sha256, sha(data));
    assert.ok(proxy.requests.filter((r) => /partNumber=2/.test(r.path)).length >= 2);
    assert.match(logged, /"code":"upload_stalled"/);
  });

  it('leaves alone an upload that is slow but moving, however long it takes', async () => {
    // 84 MiB at 6 MiB/s: 14 s in all, twice the stall timeout, but never long without progress. The
    // timeout here is 7 s: what the proxy's socket buffers took at once it reads out at that rate after
    // the last byte (about a second of silence on the client's socket), then s3rver stores the object
    // before it answers, and proxy, client and s3rver share one event loop on a loaded machine; none of
    // that may count as a stall.
    const stallMs = 7000;
    proxy.rule({ method: 'PUT', times: 1, action: { bytesPerSecond: 6 * MIB } });
    const data = body(84 * MIB);
    const t = performance.now();
    const out = await writer({ partSize: 96 * MIB, stallTimeoutMs: stallMs }).write('exports/slow.bin', Readable.from([data]));
    const seconds = (performance.now() - t) / 1000;
    assert.equal(sha(await s3.get(BUCKET, 'exports/slow.bin')), out.sha256);
    assert.ok(seconds > (1.5 * stallMs) / 1000, `the slow upload took only ${seconds} s`);
    assert.equal(proxy.requests.filter((r) => r.method === 'PUT').length, 1, logged);
    assert.doesNotMatch(logged, /upload_stalled/);
  });

  it('fails with upload_stalled, naming the key, when every attempt stalls', async () => {
    proxy.rule({ method: 'PUT', action: { stallAfterBytes: 0 } });
    const err = await writer({ retry: { baseDelayMs: 1, attempts: 2 } })
      .write('exports/never.bin', Readable.from([body(MIB)]))
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof SluiceError, String(err));
    assert.equal(err.code, 'upload_stalled');
    assert.match(err.message, /moved no bytes for 2 s while writing exports\/never\.bin/);
    assert.equal(proxy.requests.filter((r) => r.method === 'PUT').length, 2);
  });
});

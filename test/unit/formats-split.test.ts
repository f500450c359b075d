import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { decompress } from 'zstd-napi';
import { createCompressor, NATIVE_ZSTD, ZSTD_LEVEL } from '../../src/formats/compress.js';
import { csvField, csvInsertion } from '../../src/formats/csv.js';
import { jsonlInsertion } from '../../src/formats/jsonl.js';
import { insertIntoRows, syncedAtText } from '../../src/formats/metadata.js';
import { rowBatch, rowBatches } from '../../src/formats/rows.js';
import { splitIntoFiles, writeWithBackpressure } from '../../src/formats/split.js';
import { streamParts } from '../../src/formats/stream-part.js';
import { createZstdStream, SLICE_BYTES } from '../../src/formats/zstd-stream.js';
import { Semaphore } from '../../src/sources/postgres/semaphore.js';
import { zstdFrames } from '../support/zstd-frames.js';

describe('csvField', () => {
  it('quotes only when RFC 4180 requires it', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "x"'), '"say ""x"""');
    assert.equal(csvField('l1\nl2'), '"l1\nl2"');
  });
});

describe('splitIntoFiles', () => {
  const list = Array.from({ length: 10 }, (_, i) => `${i},"multi\nline ${i}"\n`);
  const rows = list.join('');

  it('splits at whole rows, each file with the preamble, bytes preserved', async () => {
    // Batches of 3 against files of 4: every file boundary falls inside a batch.
    const input = rowBatches(list, 3);
    const bodies: string[] = [];
    const counts: number[] = [];
    for await (const f of splitIntoFiles(input, { maxRowsPerFile: 4, maxBytesPerFile: 1 << 20 }, streamParts({ compression: 'none', extension: 'csv', contentType: 'text/csv', preamble: Buffer.from('n,s\n') }))) {
      bodies.push((await buffer(f.body)).toString());
      counts.push((await f.done).rows);
    }
    assert.deepEqual(counts, [4, 4, 2]);
    assert.ok(bodies.every((b) => b.startsWith('n,s\n')));
    assert.equal(bodies.map((b) => b.slice(4)).join(''), rows);
  });

  it('rotates on output bytes after the next row', async () => {
    const input = rowBatches(list, 1);
    const counts: number[] = [];
    for await (const f of splitIntoFiles(input, { maxRowsPerFile: 100, maxBytesPerFile: 1 }, streamParts({ compression: 'none', extension: 'csv', contentType: 'text/csv' }))) {
      await buffer(f.body);
      counts.push((await f.done).rows);
    }
    // Output bytes are counted as they leave the compressor, a row or so behind the input.
    assert.equal(counts.reduce((a, b) => a + b, 0), 10);
    assert.ok(counts.length >= 5 && counts.every((n) => n <= 2), `files of ${counts.join(', ')} rows`);
  });

  it('yields no file for empty input', async () => {
    const files = [];
    for await (const f of splitIntoFiles(Readable.from([], { objectMode: true }), { maxRowsPerFile: 1, maxBytesPerFile: 1 }, streamParts({ compression: 'gzip', extension: 'x', contentType: 'x' }))) files.push(f);
    assert.equal(files.length, 0);
  });

  it('fails the files and the iteration when the input fails', async () => {
    const input = new Readable({ objectMode: true, read() {} });
    input.push(rowBatch(['1\n', '2\n']));
    const it = splitIntoFiles(input, { maxRowsPerFile: 10, maxBytesPerFile: 1 << 20 }, streamParts({ compression: 'none', extension: 'x', contentType: 'x' }));
    const first = await it.next();
    assert.ok(!first.done);
    first.value.body.resume();
    input.destroy(new Error('connection lost'));
    await assert.rejects(first.value.done, /connection lost/);
    await assert.rejects(it.next(), /connection lost/);
  });
});

describe('zstd', () => {
  const rowsText = (n: number, from = 0): string => Array.from({ length: n }, (_, i) => `${from + i},tenant ${(from + i) % 7},"quoted, ""text"""\n`).join('');
  const jsonlText = (n: number): string => Array.from({ length: n }, (_, i) => `${JSON.stringify({ id: i, tenant: `t${i % 7}`, note: `row "${i}"\n`, attrs: { size: i % 50 } })}\n`).join('');
  const compress = async (c: Transform, input: Buffer): Promise<Buffer> => {
    const out = buffer(c);
    c.end(input);
    return out;
  };
  /** Decodes every frame (zstd-napi), so a test can tell a lost frame from a short one. */
  const decode = (b: Buffer): Buffer => decompress(b);
  /** node:zlib's decoder (Node 22.15+), which like many readers stops after the first frame. */
  const zlibDecode = (zlib as typeof zlib & { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
  const oneFrame = (zst: Buffer): void => {
    const frames = zstdFrames(zst);
    assert.equal(frames.length, 1, `${frames.length} frames`);
    assert.equal(frames[0]!.kind, 'zstd');
  };

  it(`needs no program: with nothing on PATH, this Node (${NATIVE_ZSTD ? 'node:zlib' : 'the zstd addon'}) writes zstd`, () => {
    const script = `import('./src/formats/compress.js').then(async (m) => { const c = m.createCompressor('zstd'); const out = []; c.on('data', (b) => out.push(b)); c.on('end', () => console.log(Buffer.concat(out).subarray(0, 4).toString('hex'))); c.end(Buffer.from('a,b\\n'.repeat(1000))); })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, PATH: '/nonexistent' }, encoding: 'utf8' });
    assert.equal(r.stdout, '28b52ffd\n', r.stderr); // the zstd frame magic number
  });

  it('without the addon: zstd_unavailable says who acts and what to do, before a transfer starts', () => {
    // The child's require() cannot find zstd-napi's binary, as after an install whose build failed.
    const hide = `const M = require('node:module'); const r = M._resolveFilename; M._resolveFilename = function (req, ...a) { if (req.startsWith('zstd-napi')) throw new Error('Cannot find module ' + req); return r.call(this, req, ...a); };`;
    const script = `import('./src/formats/zstd-stream.js').then((m) => { try { m.createZstdStream(1); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ code: e.code, actor: e.actor, hint: e.hint, message: e.message })); } })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `${hide} ${script}`], { encoding: 'utf8' });
    const err = JSON.parse(r.stdout || '{}') as { code?: string; actor?: string; hint?: string; message?: string };
    assert.equal(err.code, 'zstd_unavailable', r.stdout + r.stderr);
    assert.equal(err.actor, 'provider');
    assert.match(err.message!, /zstd-napi addon.*did not load: Cannot find module zstd-napi/);
    assert.match(err.hint!, /Node 22\.15 or later.*C\+\+ compiler.*gzip or none/);
  });

  it(`what this Node's compressor (${NATIVE_ZSTD ? 'node:zlib' : 'the zstd addon'}) writes is one frame and reads back byte for byte`, async () => {
    const input = Buffer.from(rowsText(100_000)); // ~3.7 MiB
    const zst = await compress(createCompressor('zstd'), input);
    oneFrame(zst);
    assert.ok(decode(zst).equals(input));
  });

  for (const [name, text] of [
    ['CSV', () => rowsText(300_000)],
    ['JSON Lines', () => jsonlText(100_000)],
  ] as const) {
    it(`the addon's stream (Node 20): ${name} of several MiB is ONE frame that any reader reads whole`, async () => {
      const input = Buffer.from(text());
      assert.ok(input.length > 8 * SLICE_BYTES, `${input.length} bytes`);
      // In 64 KiB writes, as the file's rows arrive, and one write larger than a slice.
      const c = createZstdStream(ZSTD_LEVEL);
      const out = buffer(c);
      const big = 3 * SLICE_BYTES + 17;
      for (let i = 0; i < input.length; ) {
        const n = i === 0 ? big : 64 * 1024;
        await writeWithBackpressure(c, input.subarray(i, i + n));
        i += n;
      }
      c.end();
      const zst = await out;
      oneFrame(zst);
      assert.ok(decode(zst).equals(input));
      if (zlibDecode) assert.ok(zlibDecode(zst).equals(input), 'node:zlib reads it whole');
    });
  }

  it("the addon's stream: DuckDB reads its CSV", async () => {
    const zst = await compress(createZstdStream(ZSTD_LEVEL), Buffer.from(rowsText(300_000)));
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-zstd-'));
    try {
      const file = path.join(dir, 'rows.csv.zst');
      await fs.writeFile(file, zst);
      const conn = await (await DuckDBInstance.create(':memory:', { threads: '1' })).connect();
      const r = await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n, sum(column0)::BIGINT AS s, min(column2) AS c FROM read_csv('${file}', header = false)`);
      assert.deepEqual(r.getRowObjects(), [{ n: 300_000, s: (299_999n * 300_000n) / 2n, c: 'quoted, "text"' }]);
      conn.closeSync();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("the addon's stream: an empty input is one empty frame, not an empty file", async () => {
    const zst = await compress(createZstdStream(ZSTD_LEVEL), Buffer.alloc(0));
    assert.ok(zst.length > 0);
    oneFrame(zst);
    assert.equal(decode(zst).length, 0);
    if (zlibDecode) assert.equal(zlibDecode(zst).length, 0);
  });

  it("the addon's stream: a large write yields to the event loop between slices", async () => {
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const c = createZstdStream(ZSTD_LEVEL);
    c.resume();
    await new Promise<void>((resolve, reject) => c.write(crypto.randomBytes(16 * SLICE_BYTES), (err) => (err ? reject(err) : resolve())));
    counting = false;
    c.destroy();
    // One slice per turn of the loop: 16 slices, at least 15 turns in between (not one long call).
    assert.ok(turns >= 15, `${turns} turns of the event loop`);
  });

  it("the addon's stream: destroyed between slices, it stops compressing and the write fails", async () => {
    const c = createZstdStream(ZSTD_LEVEL);
    let out = 0;
    c.on('data', (b: Buffer) => (out += b.length));
    c.on('error', () => undefined); // the transfer's own error, seen by the pipeline that destroyed it
    const written = new Promise<Error | null | undefined>((resolve) => c.write(crypto.randomBytes(16 * SLICE_BYTES), resolve));
    setImmediate(() => c.destroy(new Error('transfer failed')));
    assert.equal((await written)?.message, 'transfer failed');
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(out < 4 * SLICE_BYTES, `${out} bytes out after destroy`);
  });

  it("the addon's stream: a reader that does not keep up holds the input back (bounded memory)", async () => {
    // Random bytes do not compress, so the output is as large as the input: what the reader has not
    // taken counts in full.
    const chunkBytes = 64 * 1024;
    const total = 24 * 1024 * 1024;
    let produced = 0;
    let taken = 0;
    let maxHeld = 0;
    const source = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += chunkBytes;
        maxHeld = Math.max(maxHeld, produced - taken);
        this.push(crypto.randomBytes(chunkBytes));
      },
    });
    const slow = new Writable({
      highWaterMark: 1,
      write(out: Buffer, _e, cb) {
        taken += out.length;
        setImmediate(cb);
      },
    });
    await pipeline(source, createZstdStream(ZSTD_LEVEL), slow);
    assert.ok(taken >= total, `${taken} bytes out`);
    // libzstd's buffers, one slice's output and the streams' buffers: far below the 24 MiB an
    // unbounded compressor would take in.
    assert.ok(maxHeld <= 2 * 1024 * 1024, `held ${maxHeld} bytes`);
  });
});

describe('Semaphore', () => {
  it('admits at most `limit` holders, in arrival order', async () => {
    const s = new Semaphore(2);
    const a = await s.acquire();
    const b = await s.acquire();
    const order: string[] = [];
    const c = s.acquire().then((r) => (order.push('c'), r));
    const d = s.acquire().then((r) => (order.push('d'), r));
    await Promise.resolve();
    assert.deepEqual(order, []);
    a();
    a(); // releasing twice frees one slot only
    (await c)();
    b();
    (await d)();
    assert.deepEqual(order, ['c', 'd']);
    assert.equal(s.inUse, 0);
  });
});

describe('constant metadata columns', () => {
  const base = { columns: [], transferId: 'trf_abc', syncedAt: new Date('2024-05-01T10:00:00.120Z') };

  it('prints the sync time as PostgreSQL does, in text and JSON', () => {
    assert.deepEqual(syncedAtText(new Date('2024-05-01T10:00:00.120Z')), { text: '2024-05-01 10:00:00.12+00', json: '"2024-05-01T10:00:00.12+00:00"' });
    assert.deepEqual(syncedAtText(new Date('2024-05-01T10:00:00.000Z')), { text: '2024-05-01 10:00:00+00', json: '"2024-05-01T10:00:00+00:00"' });
    assert.equal(syncedAtText(new Date('2024-05-01T10:00:00.007Z')).text, '2024-05-01 10:00:00.007+00');
  });

  it('go before the CSV deleted flag, or end the row with it', () => {
    const fed = insertIntoRows(rowBatch(['1,"a\nb",t\n', '2,,f\n']), csvInsertion({ ...base, deletedInFeed: true }));
    assert.equal(fed.data.toString(), '1,"a\nb",trf_abc,2024-05-01 10:00:00.12+00,t\n2,,trf_abc,2024-05-01 10:00:00.12+00,f\n');
    assert.deepEqual([...fed.ends], [fed.data.indexOf('\n2,') + 1, fed.data.length]);
    const plain = insertIntoRows(rowBatch(['1,x\n']), csvInsertion({ ...base, deletedInFeed: false }));
    assert.equal(plain.data.toString(), '1,x,trf_abc,2024-05-01 10:00:00.12+00,f\n');
  });

  it('become members of each JSON object, in column order', () => {
    const fed = insertIntoRows(rowBatch(['{"a":1,"_sluice_deleted":true}\n', '{"a":2,"_sluice_deleted":false}\n']), jsonlInsertion({ ...base, deletedInFeed: true }));
    const lines = fed.data.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines, [
      { a: 1, _sluice_transfer_id: 'trf_abc', _sluice_synced_at: '2024-05-01T10:00:00.12+00:00', _sluice_deleted: true },
      { a: 2, _sluice_transfer_id: 'trf_abc', _sluice_synced_at: '2024-05-01T10:00:00.12+00:00', _sluice_deleted: false },
    ]);
    assert.deepEqual(Object.keys(lines[0]!), ['a', '_sluice_transfer_id', '_sluice_synced_at', '_sluice_deleted']);
    const plain = insertIntoRows(rowBatch(['{"a":3}\n']), jsonlInsertion({ ...base, deletedInFeed: false }));
    assert.deepEqual(JSON.parse(plain.data.toString()), { a: 3, _sluice_transfer_id: 'trf_abc', _sluice_synced_at: '2024-05-01T10:00:00.12+00:00', _sluice_deleted: false });
  });
});

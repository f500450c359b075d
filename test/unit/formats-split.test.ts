import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { csvField } from '../../src/formats/csv.js';
import { CsvRowScanner, LineScanner, type RowScanner } from '../../src/formats/rows.js';
import { splitIntoFiles } from '../../src/formats/split.js';
import { streamParts } from '../../src/formats/stream-part.js';
import { Semaphore } from '../../src/sources/postgres/semaphore.js';

/** Row ends found when `data` arrives cut into chunks at every position in `cuts`. */
function rowEnds(scanner: RowScanner, data: string, cuts: number[]): number[] {
  const buf = Buffer.from(data);
  const ends: number[] = [];
  let offset = 0;
  for (const [i, cut] of [...cuts, buf.length].entries()) {
    const chunk = buf.subarray(i === 0 ? 0 : cuts[i - 1], cut);
    let pos = 0;
    while (pos < chunk.length) {
      const r = scanner.scan(chunk, pos, 1);
      if (r.rows === 1) ends.push(offset + r.end);
      pos = r.end;
    }
    offset += chunk.length;
  }
  return ends;
}

describe('row scanners', () => {
  const csv = 'a,"x\ny",1\n"he said ""hi""\n",2\n,,\n"",""\n';
  const expected = [10, 30, 33, 39];

  it('find CSV row ends, ignoring newlines inside quotes, whatever the chunking', () => {
    for (let cut = 1; cut < csv.length; cut++) assert.deepEqual(rowEnds(new CsvRowScanner(), csv, [cut]), expected, `cut at ${cut}`);
    assert.deepEqual(rowEnds(new CsvRowScanner(), csv, [3, 4, 5, 17, 18, 19]), expected);
  });

  it('count lines for JSON Lines', () => {
    assert.deepEqual(rowEnds(new LineScanner(), '{"a":"x\\ny"}\n{}\n', [5]), [13, 16]);
  });

  it('stop after maxRows', () => {
    const r = new CsvRowScanner().scan(Buffer.from(csv), 0, 2);
    assert.deepEqual(r, { rows: 2, end: 30 });
  });
});

describe('csvField', () => {
  it('quotes only when RFC 4180 requires it', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "x"'), '"say ""x"""');
    assert.equal(csvField('l1\nl2'), '"l1\nl2"');
  });
});

describe('splitIntoFiles', () => {
  const rows = Array.from({ length: 10 }, (_, i) => `${i},"multi\nline ${i}"\n`).join('');

  it('splits at whole rows, each file with the preamble, bytes preserved', async () => {
    const input = Readable.from([Buffer.from(rows.slice(0, 7)), Buffer.from(rows.slice(7, 50)), Buffer.from(rows.slice(50))]);
    const bodies: string[] = [];
    const counts: number[] = [];
    for await (const f of splitIntoFiles(input, new CsvRowScanner(), { maxRowsPerFile: 4, maxBytesPerFile: 1 << 20 }, streamParts({ compression: 'none', extension: 'csv', contentType: 'text/csv', preamble: Buffer.from('n,s\n') }))) {
      bodies.push((await buffer(f.body)).toString());
      counts.push((await f.done).rows);
    }
    assert.deepEqual(counts, [4, 4, 2]);
    assert.ok(bodies.every((b) => b.startsWith('n,s\n')));
    assert.equal(bodies.map((b) => b.slice(4)).join(''), rows);
  });

  it('yields no file for empty input', async () => {
    const files = [];
    for await (const f of splitIntoFiles(Readable.from([]), new LineScanner(), { maxRowsPerFile: 1, maxBytesPerFile: 1 }, streamParts({ compression: 'gzip', extension: 'x', contentType: 'x' }))) files.push(f);
    assert.equal(files.length, 0);
  });

  it('fails the files and the iteration when the input fails', async () => {
    const input = new Readable({ read() {} });
    input.push(Buffer.from('1\n2\n'));
    const it = splitIntoFiles(input, new LineScanner(), { maxRowsPerFile: 10, maxBytesPerFile: 1 << 20 }, streamParts({ compression: 'none', extension: 'x', contentType: 'x' }));
    const first = await it.next();
    assert.ok(!first.done);
    first.value.body.resume();
    input.destroy(new Error('connection lost'));
    await assert.rejects(first.value.done, /connection lost/);
    await assert.rejects(it.next(), /connection lost/);
  });
});

describe('zstd', () => {
  it('fails with a clear message when the zstd program is missing', () => {
    const script = `import('./src/formats/compress.js').then((m) => { try { m.createCompressor('zstd'); console.log('no error'); } catch (e) { console.log(e.code + ': ' + e.hint); } })`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, PATH: '/nonexistent' }, encoding: 'utf8' });
    assert.match(r.stdout, /^zstd_unavailable: Install it/);
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

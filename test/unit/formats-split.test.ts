import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { createCompressor, NATIVE_ZSTD } from '../../src/formats/compress.js';
import { csvField, csvInsertion } from '../../src/formats/csv.js';
import { jsonlInsertion } from '../../src/formats/jsonl.js';
import { insertIntoRows, syncedAtText } from '../../src/formats/metadata.js';
import { rowBatch, rowBatches } from '../../src/formats/rows.js';
import { splitIntoFiles } from '../../src/formats/split.js';
import { streamParts } from '../../src/formats/stream-part.js';
import { Semaphore } from '../../src/sources/postgres/semaphore.js';

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
  const compressWithoutZstdProgram = (): string => {
    const script = `import('./src/formats/compress.js').then((m) => { try { m.createCompressor('zstd').end(Buffer.from('a,b\\n'.repeat(1000))); console.log(m.NATIVE_ZSTD ? 'native' : 'no error'); } catch (e) { console.log(e.code + ': ' + e.hint); } })`;
    return spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, PATH: '/nonexistent' }, encoding: 'utf8' }).stdout;
  };
  it(NATIVE_ZSTD ? 'needs no program: this Node compresses zstd itself' : 'fails with a clear message when neither Node nor a zstd program can compress', () => {
    if (NATIVE_ZSTD) assert.equal(compressWithoutZstdProgram(), 'native\n');
    else assert.match(compressWithoutZstdProgram(), /^zstd_unavailable: Run Sluice on Node 22 or 24, or install zstd/);
  });

  it('what it writes is zstd that the zstd program reads back byte for byte', async () => {
    const input = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `${i},tenant ${i % 7},"quoted, ""text"""\n`).join(''));
    const c = createCompressor('zstd');
    const out: Buffer[] = [];
    c.on('data', (b: Buffer) => out.push(b));
    const done = new Promise((resolve, reject) => c.on('end', resolve).on('error', reject));
    c.end(input);
    await done;
    const back = spawnSync('zstd', ['-d', '-c', '-q'], { input: Buffer.concat(out) });
    assert.equal(back.status, 0, back.stderr?.toString());
    assert.ok(back.stdout.equals(input));
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

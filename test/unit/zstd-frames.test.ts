import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compress, decompress } from 'zstd-napi';
import { zstdFrames } from '../support/zstd-frames.js';

const magic = [0x28, 0xb5, 0x2f, 0xfd];
/** A frame written by hand: single segment, 1-byte content size 3, one last raw block "abc". */
const rawFrame = [...magic, 0x20, 3, 0x19, 0x00, 0x00, ...Buffer.from('abc')];
/** Single segment, 1-byte content size 4, one last RLE block: "x" four times. */
const rleFrame = [...magic, 0x20, 4, 0x23, 0x00, 0x00, 0x78];
/** A skippable frame (magic 0x184D2A53) of 2 bytes. */
const skippable = [0x53, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 0xaa, 0xbb];

describe('zstdFrames (the test helper that counts frames)', () => {
  it('walks a hand-made input of two frames and a skippable frame, which a zstd decoder reads as one stream', () => {
    const input = Buffer.from([...rawFrame, ...skippable, ...rleFrame]);
    assert.deepEqual(zstdFrames(input), [
      { kind: 'zstd', offset: 0, length: 12, blocks: 1, checksum: false, contentSize: 3 },
      { kind: 'skippable', offset: 12, length: 10, blocks: 0, checksum: false },
      { kind: 'zstd', offset: 22, length: 10, blocks: 1, checksum: false, contentSize: 4 },
    ]);
    assert.equal(decompress(input).toString(), 'abcxxxx'); // the hand-made frames are real zstd
  });

  it("walks libzstd's own frames: several blocks, a checksum, a content size", () => {
    const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `${i},row ${i % 13}\n`).join('')); // > one 128 KiB block
    const one = compress(text, { compressionLevel: 1, checksumFlag: true });
    const [frame, ...rest] = zstdFrames(one);
    assert.deepEqual(rest, []);
    assert.equal(frame!.kind, 'zstd');
    assert.equal(frame!.length, one.length);
    assert.equal(frame!.checksum, true);
    assert.equal(frame!.contentSize, text.length);
    assert.ok(frame!.blocks >= 3, `${frame!.blocks} blocks`);
    assert.equal(zstdFrames(Buffer.concat([one, one, compress(Buffer.alloc(0))])).length, 3);
  });

  it('rejects what is not a whole sequence of frames', () => {
    assert.throws(() => zstdFrames(Buffer.from(rawFrame.slice(0, -1))), /truncated in block content/);
    assert.throws(() => zstdFrames(Buffer.from([...rawFrame, 0x28, 0xb5])), /truncated in a magic number/);
    assert.throws(() => zstdFrames(Buffer.from('a,b\n')), /not a zstd frame at byte 0/);
    assert.deepEqual(zstdFrames(Buffer.alloc(0)), []);
  });
});

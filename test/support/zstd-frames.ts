/**
 * Walks a zstd stream frame by frame (RFC 8878 §3.1) without decompressing it, so a test can tell one
 * frame from several: a reader that stops after the first frame would lose the rest of the file
 * without an error. Throws on anything that is not a complete, well-formed sequence of frames.
 */

export interface ZstdFrame {
  kind: 'zstd' | 'skippable';
  /** Byte offset of the frame's magic number. */
  offset: number;
  /** The whole frame's length in bytes, header and checksum included. */
  length: number;
  /** Blocks in a zstd frame (0 for a skippable frame). */
  blocks: number;
  /** Frame_Content_Size when the header carries it. */
  contentSize?: number;
  checksum: boolean;
}

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

export function zstdFrames(input: Uint8Array): ZstdFrame[] {
  const data = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const frames: ZstdFrame[] = [];
  let at = 0;
  const need = (n: number, what: string): void => {
    if (at + n > data.length) throw new Error(`zstd stream truncated in ${what} at byte ${at} (needs ${n}, has ${data.length - at})`);
  };
  while (at < data.length) {
    const offset = at;
    need(4, 'a magic number');
    const magic = data.readUInt32LE(at);
    at += 4;
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      need(4, 'a skippable frame size');
      const size = data.readUInt32LE(at);
      at += 4;
      need(size, 'skippable frame data');
      at += size;
      frames.push({ kind: 'skippable', offset, length: at - offset, blocks: 0, checksum: false });
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new Error(`not a zstd frame at byte ${offset}: magic 0x${magic.toString(16)}`);

    need(1, 'a frame header descriptor');
    const fhd = data[at++]!;
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd & 0x20) !== 0;
    if (fhd & 0x08) throw new Error(`reserved bit set in the frame header at byte ${offset}`);
    const checksum = (fhd & 0x04) !== 0;
    const dictIdBytes = [0, 1, 2, 4][fhd & 0x03]!;
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
    const headerRest = (singleSegment ? 0 : 1) + dictIdBytes + fcsBytes;
    need(headerRest, 'a frame header');
    at += (singleSegment ? 0 : 1) + dictIdBytes;
    let contentSize: number | undefined;
    if (fcsBytes === 1) contentSize = data[at]!;
    else if (fcsBytes === 2) contentSize = data.readUInt16LE(at) + 256; // the 2-byte form is offset by 256
    else if (fcsBytes === 4) contentSize = data.readUInt32LE(at);
    else if (fcsBytes === 8) contentSize = Number(data.readBigUInt64LE(at));
    at += fcsBytes;

    let blocks = 0;
    for (let last = false; !last; ) {
      need(3, 'a block header');
      const header = data.readUIntLE(at, 3);
      at += 3;
      last = (header & 1) === 1;
      const type = (header >> 1) & 3;
      const size = header >> 3;
      if (type === 3) throw new Error(`reserved block type at byte ${at - 3}`);
      const contentBytes = type === 1 ? 1 : size; // an RLE block holds one byte, repeated `size` times
      need(contentBytes, 'block content');
      at += contentBytes;
      blocks++;
    }
    if (checksum) {
      need(4, 'a content checksum');
      at += 4;
    }
    frames.push({ kind: 'zstd', offset, length: at - offset, blocks, checksum, ...(contentSize !== undefined ? { contentSize } : {}) });
  }
  return frames;
}

/**
 * Rows as encoders receive them: batches of whole rows, already laid out in the file's format by
 * PostgreSQL (one CSV record or one JSON line each), with the offset where each row ends. The source
 * knows row boundaries for free (COPY sends one CopyData message per row), so encoders can rotate
 * files after N rows without scanning a byte.
 */
import { Readable } from 'node:stream';
import type { RowBatch } from '../core/row-layout.js';

export type { RowBatch };


/** One batch holding `rows` (each a complete row, line end included). */
export function rowBatch(rows: Array<string | Buffer>): RowBatch {
  const parts = rows.map((r) => (typeof r === 'string' ? Buffer.from(r) : r));
  const ends = new Uint32Array(parts.length);
  let at = 0;
  parts.forEach((p, i) => (ends[i] = at += p.length));
  return { data: Buffer.concat(parts, at), rows: parts.length, ends };
}

/** A stream of batches of `perBatch` rows each (tests and tools; the source streams its own). */
export function rowBatches(rows: Array<string | Buffer>, perBatch = 64): Readable {
  const batches: RowBatch[] = [];
  for (let i = 0; i < rows.length; i += perBatch) batches.push(rowBatch(rows.slice(i, i + perBatch)));
  return Readable.from(batches, { objectMode: true });
}

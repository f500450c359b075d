/**
 * CSV (RFC 4180): PostgreSQL formats every row (`COPY … (FORMAT csv)`: comma, double-quote quoting,
 * doubled quotes, LF line ends; NULL is an empty unquoted field and the empty string is `""`). Sluice
 * adds the header line to every file, splits at row boundaries and compresses.
 */
import type { ColumnInfo, EncodeOptions, EncodedFile } from '../core/types.js';
import type { RowLayout } from '../core/row-layout.js';
import { syncedAtText, type Insertion } from './metadata.js';
import { encodeStreamed } from './stream-part.js';
import type { Readable } from 'node:stream';

/** A field quoted as RFC 4180 asks: only when it contains a comma, quote, CR or LF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvHeader(columns: ColumnInfo[]): Buffer {
  return Buffer.from(`${columns.map((c) => csvField(c.name)).join(',')}\n`);
}

export function encodeCsv(input: Readable, layout: RowLayout, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  return encodeStreamed(input, opts, { name: 'csv', contentType: 'text/csv; charset=utf-8', preamble: csvHeader(layout.columns), insertion: csvInsertion(layout) });
}

/**
 * CSV rows end `…,f\n` (flag from the source) or `…\n`: the constants go before the flag, or before
 * the newline together with `,f`.
 */
export function csvInsertion(layout: RowLayout): Insertion {
  const constants = `,${csvField(layout.transferId)},${syncedAtText(layout.syncedAt).text}`;
  if (layout.deletedInFeed) return { bytes: Buffer.from(constants), tail: () => 3 };
  return { bytes: Buffer.from(`${constants},f`), tail: () => 1 };
}

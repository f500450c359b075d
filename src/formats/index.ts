/**
 * Encoders: one streaming interface for every format. Input is the byte stream PostgreSQL produced
 * for that format (see sources/postgres/sql.ts, `readQuery`); output is a sequence of files, each a
 * stream of bytes, rotated at `maxRowsPerFile` rows or about `maxBytesPerFile` bytes.
 */
import type { Readable } from 'node:stream';
import { SluiceError } from '../core/errors.js';
import type { Compression, EncodeOptions, EncodedFile, Format } from '../core/types.js';
import { assertZstdAvailable } from './compress.js';
import { encodeCsv } from './csv.js';
import { encodeJsonl } from './jsonl.js';
import type { RowLayout } from '../core/row-layout.js';
import { encodeParquet } from './parquet.js';

/** The format table: every format, every compression, and which compressions each format takes. */
export const FORMATS = ['parquet', 'csv', 'jsonl'] as const satisfies readonly Format[];
export const ALL_COMPRESSIONS = ['snappy', 'zstd', 'gzip', 'none'] as const satisfies readonly Compression[];

export const COMPRESSIONS: Record<Format, Compression[]> = {
  parquet: ['snappy', 'zstd', 'gzip', 'none'],
  csv: ['gzip', 'zstd', 'none'],
  jsonl: ['gzip', 'zstd', 'none'],
};

export const DEFAULT_COMPRESSION: Record<Format, Compression> = { parquet: 'snappy', csv: 'gzip', jsonl: 'gzip' };

/** Throws a clear error for a format/compression pair Sluice does not write, or whose tool is missing. */
export function checkEncodeOptions(opts: EncodeOptions): void {
  if (!COMPRESSIONS[opts.format]?.includes(opts.compression)) {
    throw new SluiceError({
      code: 'invalid_compression',
      message: `${opts.format} files cannot be compressed with ${opts.compression}.`,
      hint: `Choose one of: ${(COMPRESSIONS[opts.format] ?? []).join(', ')}.`,
    });
  }
  if (!(Number.isInteger(opts.maxRowsPerFile) && opts.maxRowsPerFile >= 1) || !(opts.maxBytesPerFile >= 1)) {
    throw new SluiceError({ code: 'invalid_rotation', message: 'maxRowsPerFile and maxBytesPerFile must be positive.' });
  }
  if (opts.compression === 'zstd' && opts.format !== 'parquet') assertZstdAvailable();
}

/** Files of `input` (row batches laid out for `opts.format`, as `layout` describes). */
export function encodeFiles(input: Readable, layout: RowLayout, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  checkEncodeOptions(opts);
  switch (opts.format) {
    case 'csv':
      return encodeCsv(input, layout, opts);
    case 'jsonl':
      return encodeJsonl(input, layout, opts);
    case 'parquet':
      return encodeParquet(input, layout, opts);
  }
}

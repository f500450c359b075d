/**
 * JSON Lines: PostgreSQL builds each line (`row_to_json`) and COPY emits it as is — the reader uses
 * FORMAT csv with quote and delimiter bytes (0x01, 0x02) that JSON text never contains raw (JSON
 * escapes control characters), so no byte of a line is escaped or quoted. One object per line.
 */
import type { Readable } from 'node:stream';
import type { EncodeOptions, EncodedFile } from '../transfer/types.js';
import { jsonlInsertion, type RowLayout } from './metadata.js';
import { encodeStreamed } from './stream-part.js';

export function encodeJsonl(input: Readable, layout: RowLayout, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  return encodeStreamed(input, opts, { name: 'jsonl', contentType: 'application/x-ndjson', insertion: jsonlInsertion(layout) });
}

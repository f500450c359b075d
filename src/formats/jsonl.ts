/**
 * JSON Lines: PostgreSQL builds each line (`row_to_json`) and COPY emits it as is — the reader uses
 * FORMAT csv with quote and delimiter bytes (0x01, 0x02) that JSON text never contains raw (JSON
 * escapes control characters), so no byte of a line is escaped or quoted. One object per line.
 */
import type { Readable } from 'node:stream';
import type { EncodeOptions, EncodedFile } from '../transfer/types.js';
import { compressedExtension } from './compress.js';
import { contentTypeOf } from './csv.js';
import { LineScanner } from './rows.js';
import { splitIntoFiles } from './split.js';
import { streamParts } from './stream-part.js';

export function encodeJsonl(input: Readable, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  return splitIntoFiles(
    input,
    new LineScanner(),
    opts,
    streamParts({
      compression: opts.compression,
      extension: `jsonl${compressedExtension(opts.compression)}`,
      contentType: opts.compression === 'none' ? 'application/x-ndjson' : contentTypeOf(opts.compression),
    }),
  );
}

/**
 * JSON Lines: PostgreSQL builds each line (`row_to_json`) and COPY emits it as is — the reader uses
 * FORMAT csv with quote and delimiter bytes (0x01, 0x02) that JSON text never contains raw (JSON
 * escapes control characters), so no byte of a line is escaped or quoted. One object per line.
 */
import type { Readable } from 'node:stream';
import type { EncodeOptions, EncodedFile } from '../transfer/types.js';
import { insertIntoRows, jsonlInsertion, type RowLayout } from './metadata.js';
import { compressedExtension } from './compress.js';
import { contentTypeOf } from './csv.js';
import { splitIntoFiles } from './split.js';
import { streamParts } from './stream-part.js';

export function encodeJsonl(input: Readable, layout: RowLayout, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  const insertion = jsonlInsertion(layout);
  return splitIntoFiles(
    input,
    opts,
    streamParts({
      compression: opts.compression,
      extension: `jsonl${compressedExtension(opts.compression)}`,
      contentType: opts.compression === 'none' ? 'application/x-ndjson' : contentTypeOf(opts.compression),
    }),
    { map: (batch) => insertIntoRows(batch, insertion) },
  );
}

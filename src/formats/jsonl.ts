/**
 * JSON Lines: PostgreSQL builds each line (`row_to_json`) and COPY emits it as is — the reader uses
 * FORMAT csv with quote and delimiter bytes (0x01, 0x02) that JSON text never contains raw (JSON
 * escapes control characters), so no byte of a line is escaped or quoted. One object per line.
 */
import type { Readable } from 'node:stream';
import type { EncodeOptions, EncodedFile } from '../core/types.js';
import type { RowLayout } from '../core/row-layout.js';
import { syncedAtText, type Insertion } from './metadata.js';
import { encodeStreamed } from './stream-part.js';

export function encodeJsonl(input: Readable, layout: RowLayout, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  return encodeStreamed(input, opts, { name: 'jsonl', contentType: 'application/x-ndjson', insertion: jsonlInsertion(layout) });
}

const F = 0x66;
/** `"_sluice_deleted":false}\n` and `"_sluice_deleted":true}\n`. */
const DELETED_FALSE_TAIL = 25;
const DELETED_TRUE_TAIL = 24;

/**
 * JSON Lines rows end `…,"_sluice_deleted":false}\n` / `true}\n` (flag from the source) or `…}\n`:
 * the two constant members go before the flag, or before the closing brace with `"_sluice_deleted":false`.
 */
export function jsonlInsertion(layout: RowLayout): Insertion {
  const members = `"_sluice_transfer_id":${JSON.stringify(layout.transferId)},"_sluice_synced_at":${syncedAtText(layout.syncedAt).json}`;
  if (layout.deletedInFeed) {
    return { bytes: Buffer.from(`${members},`), tail: (data, end) => (data[end - 7] === F ? DELETED_FALSE_TAIL : DELETED_TRUE_TAIL) };
  }
  return { bytes: Buffer.from(`,${members},"_sluice_deleted":false`), tail: () => 2 };
}

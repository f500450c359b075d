/**
 * The rows every stage agrees on: the `_sluice_*` columns each delivered file ends with (the bucket
 * contract, docs/bucket-contract.md), and what a source sends per row versus what an encoder adds.
 * A source emits `feedColumns(layout)`; an encoder appends the constant metadata bytes itself.
 */
import type { ColumnInfo } from './types.js';

export const METADATA_COLUMNS: ColumnInfo[] = [
  { name: '_sluice_transfer_id', pgType: 'text', typeOid: 25, isArray: false, nullable: false, logicalType: 'string' },
  { name: '_sluice_synced_at', pgType: 'timestamp with time zone', typeOid: 1184, isArray: false, nullable: false, logicalType: 'timestamp_us_utc' },
  { name: '_sluice_deleted', pgType: 'boolean', typeOid: 16, isArray: false, nullable: false, logicalType: 'boolean' },
];

/** What arrives from the source, and the metadata values the encoder adds to it. */
export interface RowLayout {
  /** Columns of every file, in order: the model's columns, then METADATA_COLUMNS. */
  columns: ColumnInfo[];
  /** True when each row arrives ending with its `_sluice_deleted` flag (the model has a soft-delete column). */
  deletedInFeed: boolean;
  transferId: string;
  syncedAt: Date;
}

/** The columns of the source's rows: the file's, without the ones the encoder adds. */
export function feedColumns(layout: RowLayout): ColumnInfo[] {
  const modelColumns = layout.columns.slice(0, layout.columns.length - METADATA_COLUMNS.length);
  return layout.deletedInFeed ? [...modelColumns, METADATA_COLUMNS[2]!] : modelColumns;
}

/**
 * Rows as the source hands them to encoders: whole rows back to back, already laid out in the file's
 * format, with the offset where each row ends (COPY sends one message per row, so this is free).
 */
export interface RowBatch {
  /** The rows' bytes, back to back. */
  data: Buffer;
  /** Rows in `data`. */
  rows: number;
  /** `ends[i]` is the offset just past row i; `ends[rows - 1] === data.length`. */
  ends: Uint32Array;
}

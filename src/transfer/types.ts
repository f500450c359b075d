/**
 * Shared vocabulary of the transfer pipeline: what a model is, what window a transfer reads, and the
 * files the encoders hand to the object writer.
 */
import type { Readable } from 'node:stream';

export type Format = 'parquet' | 'csv' | 'jsonl';
export type Compression = 'snappy' | 'zstd' | 'gzip' | 'none';
export type TransferKind = 'INCREMENTAL' | 'FULL_REFRESH' | 'BACKFILL';

/** A model as declared in sluice.yaml, after validation. */
export interface ModelDefinition {
  /** Used in object keys: lowercase letters, digits and underscores, starting with a letter. */
  name: string;
  source: { table: string } | { sql: string };
  /** Columns to export; undefined = all columns of the source. */
  columns?: string[];
  primaryKey: string[];
  cursor: string;
  tenant: string;
  softDelete?: string;
  /** How far before the watermark each incremental window starts again (seconds for time cursors, units otherwise). */
  lookback: number;
}

/** A source column as the catalog describes it. */
export interface ColumnInfo {
  name: string;
  /** `format_type()` of the column, e.g. `numeric(12,2)`, `timestamp with time zone`, `integer[]`. */
  pgType: string;
  /** Type OID (of the element for arrays). */
  typeOid: number;
  isArray: boolean;
  nullable: boolean;
  /** Logical type written into files and manifests, e.g. `decimal(12,2)`, `timestamp_us_utc`, `list<int32>`. */
  logicalType: string;
}

/** One end of a window: a cursor value and, for ties, the primary key. Values are text as PostgreSQL prints them. */
export interface CursorPosition {
  cursor: string;
  primaryKey: string[];
}

/** Rows with (cursor, pk) in (from, to]; `from` null = from the beginning. */
export interface ReadWindow {
  from: CursorPosition | null;
  to: CursorPosition | null;
}

/** Everything needed to read one model for one recipient. */
export interface ReadSpec {
  model: ModelDefinition;
  columns: ColumnInfo[];
  tenantId: string;
  window: ReadWindow;
  transferId: string;
  /** The `_sluice_synced_at` value of every row of this transfer. */
  syncedAt: Date;
}

export interface EncodeOptions {
  format: Format;
  compression: Compression;
  /** Rotate to a new file after this many rows… */
  maxRowsPerFile: number;
  /** …or about this many (compressed) bytes, whichever comes first. */
  maxBytesPerFile: number;
}

/** One output file, produced as a stream. `done` settles after the stream ends. */
export interface EncodedFile {
  /** 0-based position of the file within the model's output. */
  index: number;
  extension: string;
  contentType: string;
  body: Readable;
  done: Promise<{ rows: number }>;
}

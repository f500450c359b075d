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
  /**
   * How far before the watermark each incremental window starts again (seconds for time cursors,
   * units otherwise) when the lookback method is used: forced by `watermark: lookback`, or as the
   * fallback where the commit-safe watermark cannot be used (docs/change-detection.md).
   */
  lookback: number;
  /** `lookback` forces the lookback method; default: the commit-safe watermark where it can be used. */
  watermark?: 'lookback';
  /** `track`: hard deletes recorded by Sluice's trigger in the source are delivered as tombstones. */
  deletes?: 'track';
}

/** Logical type of a list's elements, or null when not a list. */
export function listElement(logicalType: string): string | null {
  const m = /^list<(.+)>$/.exec(logicalType);
  return m ? (m[1] ?? null) : null;
}

/** A source column as the catalog describes it. */
export interface ColumnInfo {
  name: string;
  /** `format_type()` of the column, e.g. `numeric(12,2)`, `timestamp with time zone`, `integer[]`. */
  pgType: string;
  /** Type OID (of the element for arrays), domains resolved to their base type. */
  typeOid: number;
  isArray: boolean;
  /**
   * Dimensions of an array column as declared (`int[][]` → 2; `int[]`, a SQL expression or an
   * undeclared count → 1); 0 for a non-array. Its list type nests this deep, and a row whose array
   * has another shape is refused (sources/postgres/sql.ts).
   */
  arrayDims?: number;
  /** True for a composite (row) type, or an array of one: its text is PostgreSQL's `(a,b)` form. */
  composite?: boolean;
  /** False only where PostgreSQL guarantees a value: a NOT NULL table column (also through a SQL model). */
  nullable: boolean;
  /** Logical type written into files and manifests, e.g. `decimal(12,2)`, `timestamp_us_utc`, `list<int32>`. */
  logicalType: string;
}

/**
 * One end of a window: a cursor value and, for ties, the primary key. Values are text as PostgreSQL
 * prints them (timestamps may also be ISO 8601, e.g. `2026-01-02T03:04:05.000006Z`: the reader casts
 * them to the column's type). An empty `primaryKey` compares on the cursor alone: as a lower end it
 * excludes rows whose cursor equals it, as an upper end it includes them (backfill ranges).
 */
export interface CursorPosition {
  cursor: string;
  primaryKey: string[];
}

/**
 * Rows with (cursor, pk) in (from, to]; `from` null = from the beginning. A commit-safe window is
 * [from, to) on the cursor alone (`fromInclusive`, `toExclusive`, bounds without primary keys).
 */
export interface ReadWindow {
  from: CursorPosition | null;
  to: CursorPosition | null;
  fromInclusive?: boolean;
  toExclusive?: boolean;
}

/** How the upper end of a read was fixed (docs/change-detection.md). */
export type WatermarkMethod = 'commit_safe' | 'lookback';

/** Why a read used the lookback instead of the commit-safe watermark. */
export type WatermarkFallback =
  | 'configured' // the model says `watermark: lookback`
  | 'cursor_type' // only timestamptz cursors carry the transaction's clock comparably
  | 'replica' // a standby cannot see the primary's transactions
  | 'cannot_see_sessions' // the source role cannot read other sessions' xact_start (pg_read_all_stats)
  | 'backfill'; // a backfill reads a range chosen by the operator

export interface WatermarkInfo {
  method: WatermarkMethod;
  fallback: WatermarkFallback | null;
  /**
   * Commit-safe only: seconds between the read and its upper bound. Large when an open transaction
   * on the source holds the watermark back.
   */
  lagSeconds: number | null;
  /** The oldest open transaction that held the bound, when one did (no query text, never values). */
  heldBy: { pid: number; applicationName: string; xactStart: string } | null;
  /** The source's threshold: a lag above it is logged as a warning. */
  lagWarningSeconds?: number;
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
  /** Counts rows as they are read (live progress; the files' own counts are the record). */
  progress?: { rows: number };
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

/**
 * One model read for one tenant: a REPEATABLE READ READ ONLY transaction on the source, opened by
 * `TransferSource.open`. `high` was computed in that transaction's snapshot.
 */
export interface EncodedModelRead {
  /**
   * Lookback method: largest (cursor, pk) of the tenant in the window, in the snapshot; null when the
   * window has no row. Commit-safe: the window's exclusive upper bound (never null).
   */
  readonly high: CursorPosition | null;
  /** How `high` was fixed; the next window's lower end depends on it. */
  readonly watermark: WatermarkInfo;
  /** The planner's estimate of the window's rows (for a progress bar's total); null when it has none. */
  estimateRows?(): Promise<number | null>;
  /** Columns of the files, in order, including the `_sluice_*` metadata columns. */
  readonly columns: ColumnInfo[];
  /**
   * The window's rows, encoded, ordered by (cursor, pk), rotated into files. The next file is produced
   * only after the previous one's body has been consumed. Nothing is produced when `high` is null.
   */
  files(): AsyncIterable<EncodedFile>;
  /** Ends the read transaction and releases its connection (also after an error). */
  close(): Promise<void>;
}

export interface OpenReadRequest {
  model: ModelDefinition;
  tenantId: string;
  window: ReadWindow;
  transferId: string;
  syncedAt: Date;
  encode: EncodeOptions;
  signal?: AbortSignal;
  /** Fix the upper end with the commit-safe watermark where the source allows it… */
  commitSafe: boolean;
  /** …or why not (when `commitSafe` is false). */
  fallback?: WatermarkFallback;
}

/** What the transfer runner needs of the source (bound to sources/postgres in production). */
export interface TransferSource {
  /** Every configured model, validated against the catalog. */
  models(): ModelDefinition[];
  /** `format_type()` of a model's cursor column (window planning does lookback arithmetic in that type). */
  cursorType(model: ModelDefinition): Promise<string>;
  open(req: OpenReadRequest): Promise<EncodedModelRead>;
  /**
   * `deletes: track` models: removes the tenant's delete records below `before` (ISO instant), which
   * every destination has committed past. Returns how many went.
   */
  pruneDeleteRecords?(model: ModelDefinition, tenantId: string, before: string): Promise<number>;
}

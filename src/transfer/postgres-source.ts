/**
 * The transfer runner's view of a PostgreSQL source (sources/postgres): the configured models, the
 * catalog's columns, and one read session per (model, tenant) whose high end is fixed in the read's
 * own snapshot before any row is encoded.
 */
import pg from 'pg';
import type {
  ColumnInfo,
  CursorPosition,
  EncodeOptions,
  EncodedFile,
  ModelDefinition,
  EncodedModelRead,
  ReadWindow,
  TransferSource,
  WatermarkFallback,
  WatermarkInfo,
} from '../core/types.js';
import { checkEncodeOptions, encodeFiles } from '../formats/index.js';
import type { RelationInfo } from '../sources/postgres/catalog.js';
import { describeQuery, describeTable } from '../sources/postgres/catalog.js';
import { pruneDeleteRecords, relationName } from '../sources/postgres/deletes.js';
import { openModelRead, sourceError, type ModelRead } from '../sources/postgres/reader.js';
import type { PostgresSource } from '../sources/postgres/source.js';
import { isTimestamptzType } from '../sources/postgres/types.js';

/** The rows of `window`, read by the source and encoded into files: where the two stages meet. */
export async function* encodedFiles(read: ModelRead, window: ReadWindow | undefined, opts: EncodeOptions): AsyncGenerator<EncodedFile> {
  checkEncodeOptions(opts);
  const rows = await read.rows(window, opts.format);
  try {
    yield* encodeFiles(rows, read.layout, opts);
  } catch (err) {
    throw read.explain(err);
  }
}

async function describe(source: PostgresSource, model: ModelDefinition): Promise<RelationInfo> {
  if ('table' in model.source) {
    const info = await describeTable(source.pool, model.source.table);
    if (!info) throw sourceError(new Error(`table ${model.source.table} does not exist`), model.name);
    if (model.deletes !== 'track') return info;
    // A tombstone is NULL in every column but the key, tenant and cursor, whatever the table's NOT
    // NULL says: the manifest must not promise a value there.
    const kept = new Set([...model.primaryKey, model.tenant, model.cursor]);
    return { ...info, columns: info.columns.map((c) => (kept.has(c.name) ? c : { ...c, nullable: true })) };
  }
  const client = await source.pool.connect();
  try {
    return await describeQuery(client, model.source.sql);
  } catch (err) {
    throw sourceError(err, model.name);
  } finally {
    client.release();
  }
}

/**
 * The planner's row estimate for a model's window (tenant, cursor range), for a progress bar's total:
 * cheap (EXPLAIN, no rows read) and usually close on the (tenant, cursor, pk) index. Table models
 * only; null when there is no estimate.
 */
async function plannerEstimate(
  source: PostgresSource,
  model: ModelDefinition,
  columns: ColumnInfo[],
  tenantId: string,
  from: CursorPosition | null,
  to: CursorPosition,
): Promise<number | null> {
  if (!('table' in model.source)) return null;
  const cursorType = columns.find((c) => c.name === model.cursor)?.pgType;
  if (!cursorType) return null;
  try {
    const rel = await source.pool.query<{ r: string | null }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
      [model.source.table],
    );
    const relation = rel.rows[0]?.r;
    if (!relation) return null;
    const cursor = pg.escapeIdentifier(model.cursor);
    // Values are bound parameters: PostgreSQL plans the unnamed statement with them (a custom plan),
    // so the tenant's own statistics count. cursorType is format_type() from the catalog, never input.
    const params: string[] = [tenantId, to.cursor];
    let where = `${pg.escapeIdentifier(model.tenant)} = $1 AND ${cursor} <= $2::${cursorType}`;
    if (from) {
      params.push(from.cursor);
      where += ` AND ${cursor} >= $3::${cursorType}`;
    }
    const r = await source.pool.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${relation} WHERE ${where}`, params);
    const rows = r.rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'];
    return typeof rows === 'number' ? Math.round(rows) : null;
  } catch {
    return null; // an estimate is a nicety: the counter with a rate is shown instead
  }
}

export function postgresTransferSource(source: PostgresSource, models: ModelDefinition[]): TransferSource {
  const columnsOf = async (model: ModelDefinition): Promise<ColumnInfo[]> => (await describe(source, model)).columns;
  return {
    models: () => models,
    async pruneDeleteRecords(model, tenantId, before) {
      if (!('table' in model.source)) return 0;
      const relation = await relationName(source.pool, model.source.table);
      return relation === null ? 0 : pruneDeleteRecords(source.pool, relation, tenantId, before);
    },
    async cursorType(model) {
      const cursor = (await columnsOf(model)).find((c) => c.name === model.cursor);
      if (!cursor) throw sourceError(new Error(`cursor column ${model.cursor} is not in the source`), model.name);
      return cursor.pgType;
    },
    async open(req): Promise<EncodedModelRead> {
      const columns = await columnsOf(req.model);
      const cursor = columns.find((c) => c.name === req.model.cursor);
      // Only a timestamptz compares with transaction start times as instants (docs/change-detection.md).
      const timestamptz = cursor !== undefined && isTimestamptzType(cursor.pgType);
      const probe = req.commitSafe && timestamptz;
      const read = await openModelRead(
        source,
        { model: req.model, columns, tenantId: req.tenantId, window: req.window, transferId: req.transferId, syncedAt: req.syncedAt },
        { probeCommitBound: probe },
      );
      try {
        const bound = read.commitBound;
        let high: CursorPosition | null;
        let window: ReadWindow;
        let watermark: WatermarkInfo;
        if (bound?.usable) {
          // [from, bound): rows at or above the bound wait for the next read, whatever their key.
          high = { cursor: bound.bound, primaryKey: [] };
          window = { ...req.window, to: high, toExclusive: true };
          watermark = {
            method: 'commit_safe',
            fallback: null,
            lagSeconds: bound.lagSeconds,
            heldBy: bound.heldBy,
            lagWarningSeconds: source.lagWarningSeconds,
          };
        } else {
          // Incremental and full refresh: the tenant's highest (cursor, pk) in this snapshot. A backfill
          // reads up to its chosen end (it never moves the watermark).
          high = req.window.to ?? (await read.high());
          window = { ...req.window, to: high };
          const fallback: WatermarkFallback = !req.commitSafe ? (req.fallback ?? 'configured') : !timestamptz ? 'cursor_type' : bound && !bound.usable ? bound.reason : 'configured';
          watermark = { method: 'lookback', fallback, lagSeconds: null, heldBy: null };
        }
        return {
          high,
          watermark,
          columns: read.columns,
          estimateRows: () => (high === null ? Promise.resolve(0) : plannerEstimate(source, req.model, columns, req.tenantId, req.window.from, high)),
          files(): AsyncIterable<EncodedFile> {
            if (high === null) return (async function* () {})();
            return encodedFiles(read, window, req.encode);
          },
          close: () => read.close(),
        };
      } catch (err) {
        await read.close();
        throw err;
      }
    },
  };
}

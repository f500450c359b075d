/**
 * Reading one model for one recipient (tenant) — the contract the transfer pipeline codes against.
 *
 *   const read = await openModelRead(source, spec);   // waits for a source slot, opens the session
 *   try {
 *     const high = await read.high();                  // max (cursor, pk) of the tenant, or null: no rows
 *     const rows = await read.rows({ from, to: high }, 'csv');   // the COPY's row batches
 *     for await (const file of encodeFiles(rows, read.layout, opts)) …   // the transfer encodes them
 *   } finally {
 *     await read.close();                              // ends the transaction, frees the slot
 *   }
 *
 * A session is one `REPEATABLE READ READ ONLY` transaction on one connection: `high()` and every
 * `rows()` see the same snapshot, so the window's high end and its rows agree. Rows come in
 * (cursor, primary key) order with (cursor, pk) in (from, to]; a bound whose `primaryKey` is empty
 * compares on the cursor alone. Values (tenant, bounds, transfer id, sync time) are bound parameters
 * (`set_config($1)` then `current_setting()` in the COPY query): never interpolated into SQL.
 * `rows()` runs one COPY; call it again only after the previous stream ended. The source knows no
 * encoder: it hands row batches laid out for a format, and `layout` says what they hold.
 */
import type pg from 'pg';
import { SluiceError, describeError } from '../../core/errors.js';
import { METADATA_COLUMNS, type RowLayout } from '../../core/row-layout.js';
import { isConnectionLoss } from '../../core/transient.js';
import type { ColumnInfo, CursorPosition, Format, ReadSpec, ReadWindow } from '../../core/types.js';
import { copyOut, type CopyOut } from './copy-out.js';
import type { PostgresSource } from './source.js';
import { deleteTrackingInstalled, trackingNotInstalled } from './deletes.js';
import { SETTING, copyStatement, deletedVaries, highQuery, parseRefusal, readQuery, type Refusal, type WindowBounds } from './sql.js';
import { probeCommitBound, type CommitBound } from './watermark.js';

export interface ModelRead {
  /** Columns of every file, in order: the model's columns, then `_sluice_*` metadata columns. */
  columns: ColumnInfo[];
  /** The commit-safe bound probed just before this read's snapshot, when `probeCommitBound` was asked. */
  commitBound: CommitBound | null;
  /** Highest (cursor, pk) of the tenant's rows in this snapshot; null when it has none. */
  high(): Promise<CursorPosition | null>;
  /** `position` moved back by `lookback` (seconds for time cursors, units otherwise), on the cursor only. */
  withLookback(position: CursorPosition | null, lookback: number): Promise<CursorPosition | null>;
  /** What each row of `rows()` holds, and the metadata an encoder adds to it. */
  layout: RowLayout;
  /**
   * The tenant's rows in `window` (default: the spec's window) as row batches laid out for `format`.
   * The connection is given back to the pool only if the stream was read to its end.
   */
  rows(window: ReadWindow | undefined, format: Format): Promise<CopyOut>;
  /** An error met while consuming `rows()`, as Sluice shows it (PostgreSQL's errors get a code and a hint). */
  explain(err: unknown): unknown;
  /** Ends the transaction and frees the slot. Safe to call twice. */
  close(): Promise<void>;
}

/** PostgreSQL's error, turned into one Sluice can show: code, who acts, what to do. */
export function sourceError(err: unknown, modelName: string): SluiceError {
  if (err instanceof SluiceError) return err;
  const code = (err as { code?: string } | null)?.code;
  if (code === '57014') {
    return new SluiceError({
      code: 'source_statement_timeout',
      message: `Reading model ${modelName} exceeded the source's statement timeout and was cancelled.`,
      actor: 'provider',
      hint: 'Add an index on (tenant, cursor, primary key) for this model, or raise source.statement_timeout in sluice.yaml.',
      status: 504,
      cause: err,
    });
  }
  if (isConnectionLoss(err)) {
    return new SluiceError({
      code: 'source_unavailable',
      message: `Reading model ${modelName} stopped: the connection to the source database was lost (${describeError(err)}).`,
      actor: 'provider',
      hint: 'Sluice retries the transfer with backoff. If it keeps happening, check that the source database runs, that SLUICE_SOURCE_URL points at it, and that nothing terminates Sluice\'s sessions.',
      status: 503,
      cause: err,
    });
  }
  return new SluiceError({
    code: 'source_read_failed',
    message: `Reading model ${modelName} from the source failed: ${describeError(err)}`,
    actor: 'provider',
    hint: 'Check that the source database is reachable and the model still matches its table or query.',
    status: 502,
    cause: err,
  });
}

const REFUSAL_TEXT: Record<Refusal['reason'], string> = {
  infinite: 'holds an infinite date or timestamp (±infinity), which Parquet cannot carry',
  out_of_range: 'holds a timestamp after 294247-01-10, beyond what Parquet timestamps (µs since 1970 in 64 bits) can carry',
  nan: 'holds NaN in a decimal column, which Parquet decimals cannot carry',
  array_shape: 'holds an array whose shape differs from the column\'s declared one (number of dimensions, or a lower bound other than 1)',
};
const REFUSAL_HINT: Record<Refusal['reason'], string> = {
  infinite: 'Deliver this model as CSV or JSON Lines (they carry "infinity" as text), or use a SQL model that maps it, e.g. CASE WHEN isfinite(c) THEN c END, or c::text.',
  out_of_range: 'Deliver this model as CSV or JSON Lines, or use a SQL model that delivers the column as text (c::text).',
  nan: 'Deliver this model as CSV or JSON Lines (they carry "NaN"), or use a SQL model that maps it, e.g. NULLIF(c, \'NaN\') or c::text.',
  array_shape: 'Declare the column with its real dimensions (int[][] for a matrix) and lower bounds of 1, or use a SQL model that delivers it as text (c::text).',
};

/** A value the format cannot carry exactly: names model, column and the row's key, never the value. */
export function refusedValueError(modelName: string, column: string, primaryKeyColumns: string[], r: Refusal, format: string, cause?: unknown): SluiceError {
  const key = primaryKeyColumns.map((k, i) => `${k}=${r.primaryKey[i] ?? '?'}`).join(', ');
  return new SluiceError({
    code: 'value_not_representable',
    message: `Model ${modelName}, column ${column}, row with primary key (${key}) ${REFUSAL_TEXT[r.reason]} (format ${format}); the model was not delivered.`,
    actor: 'provider',
    hint: REFUSAL_HINT[r.reason],
    status: 422,
    cause,
  });
}

function isDatabaseError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'severity' in err && typeof (err as { code?: unknown }).code === 'string';
}

async function relationOf(client: pg.PoolClient, spec: ReadSpec): Promise<string | null> {
  if (!('table' in spec.model.source)) return null;
  const r = await client.query<{ relation: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS relation
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
    [spec.model.source.table],
  );
  const rel = r.rows[0]?.relation;
  if (!rel) throw sourceError(new Error(`table ${spec.model.source.table} does not exist`), spec.model.name);
  return rel;
}

function exportedColumns(spec: ReadSpec): ColumnInfo[] {
  if (!spec.model.columns) return spec.columns;
  return spec.model.columns.map((name) => {
    const c = spec.columns.find((x) => x.name === name);
    if (!c) throw sourceError(new Error(`column ${name} is not in the source`), spec.model.name);
    return c;
  });
}

export async function openModelRead(source: PostgresSource, spec: ReadSpec, opts: { probeCommitBound?: boolean } = {}): Promise<ModelRead> {
  const release = await source.slots.acquire();
  let client: pg.PoolClient;
  try {
    client = await source.pool.connect();
  } catch (err) {
    release();
    throw sourceError(err, spec.model.name);
  }
  let broken: Error | undefined;
  let closed = false;
  let relation: string | null;
  let open: CopyOut | undefined;
  // The format of the last rows() call: a refusal names it.
  let lastFormat: Format = 'csv';
  let commitBound: CommitBound | null = null;
  try {
    // Before the snapshot, in its own statement (watermark.ts says why).
    if (opts.probeCommitBound) commitBound = await probeCommitBound(client, source.applicationName);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // Text forms that parse back exactly and mean the same everywhere: UTC instants, ISO dates, and
    // bytea in hex (elements of bytea arrays and fields of composites travel as text; a server set
    // to `bytea_output = escape` would change their spelling, and the Parquet feed decodes hex).
    await client.query(
      `SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
              set_config('IntervalStyle', 'iso_8601', true), set_config('extra_float_digits', '1', true),
              set_config('bytea_output', 'hex', true),
              set_config('statement_timeout', $1, true),
              set_config('${SETTING.tenant}', $2, true)`,
      [String(source.statementTimeoutMs), spec.tenantId],
    );
    relation = await relationOf(client, spec);
    if (spec.model.deletes === 'track' && relation && !(await deleteTrackingInstalled(client, relation))) {
      throw trackingNotInstalled(spec.model.name, relation);
    }
  } catch (err) {
    client.release(err instanceof Error ? err : true);
    release();
    throw sourceError(err, spec.model.name);
  }
  const exported = exportedColumns(spec);
  const columns = [...exported, ...METADATA_COLUMNS];
  const layout: RowLayout = { columns, deletedInFeed: deletedVaries(spec.model), transferId: spec.transferId, syncedAt: spec.syncedAt };
  const typeOf = (name: string): string => spec.columns.find((c) => c.name === name)?.pgType ?? 'text';

  async function setBounds(window: ReadWindow): Promise<WindowBounds> {
    const names: string[] = [];
    const values: string[] = [];
    const add = (prefix: 'from' | 'to', pos: CursorPosition | null): number => {
      if (!pos) return 0;
      if (pos.primaryKey.length !== 0 && pos.primaryKey.length !== spec.model.primaryKey.length) {
        throw new SluiceError({
          code: 'invalid_window',
          message: `Window bound for model ${spec.model.name} has ${pos.primaryKey.length} primary-key values; the model's key has ${spec.model.primaryKey.length}.`,
          actor: 'sluice',
          status: 500,
        });
      }
      names.push(prefix === 'from' ? SETTING.fromCursor : SETTING.toCursor);
      values.push(pos.cursor);
      pos.primaryKey.forEach((v, i) => {
        names.push(prefix === 'from' ? SETTING.fromPk(i) : SETTING.toPk(i));
        values.push(v);
      });
      return pos.primaryKey.length;
    };
    const fromPkCount = add('from', window.from);
    const toPkCount = add('to', window.to);
    if (names.length > 0) {
      const calls = names.map((n, i) => `set_config('${n}', $${i + 1}, true)`).join(', ');
      await client.query(`SELECT ${calls}`, values);
    }
    return {
      hasFrom: window.from !== null,
      fromPkCount,
      hasTo: window.to !== null,
      toPkCount,
      ...(window.fromInclusive ? { fromInclusive: true } : {}),
      ...(window.toExclusive ? { toExclusive: true } : {}),
    };
  }

  const session: ModelRead = {
    columns,
    commitBound,
    async high() {
      try {
        const r = await client.query<Record<string, string>>(highQuery(spec.model, relation, spec.columns));
        const row = r.rows[0];
        if (!row) return null;
        const primaryKey = spec.model.primaryKey.map((_, i) => row[`k${i + 1}`]!);
        // NULLs sort first in a descending order: a NULL here means some row has no cursor value.
        if (row.k0 === null) {
          const key = spec.model.primaryKey.map((k, i) => `${k}=${primaryKey[i]}`).join(', ');
          throw new SluiceError({
            code: 'null_cursor',
            message: `Model ${spec.model.name}: the row with primary key (${key}) has NULL in cursor column ${spec.model.cursor}, so it has no place in the incremental order and would never be delivered; the model was not delivered.`,
            actor: 'provider',
            hint: `Give every row a cursor value (make ${spec.model.cursor} NOT NULL), or use a SQL model with COALESCE(${spec.model.cursor}, <a fixed value>).`,
            status: 422,
          });
        }
        return { cursor: row.k0!, primaryKey };
      } catch (err) {
        throw sourceError(err, spec.model.name);
      }
    },
    async withLookback(position, lookback) {
      if (!position || lookback <= 0) return position;
      const type = typeOf(spec.model.cursor);
      const isTime = /^(timestamp|date)/.test(type);
      const expr = isTime ? `($1::${type} - $2::float8 * interval '1 second')::${type}` : `($1::${type} - $2::${type})`;
      const r = await client.query<{ v: string }>(`SELECT ${expr}::text AS v`, [position.cursor, String(lookback)]);
      return { cursor: r.rows[0]!.v, primaryKey: [] };
    },
    layout,
    async rows(window, format) {
      if (closed) throw new Error('read session is closed');
      if (open && !open.readableEnded) throw new Error('the previous rows() stream has not ended');
      try {
        const bounds = await setBounds(window ?? spec.window);
        const query = readQuery(format, spec.model, relation, spec.columns, exported, bounds);
        lastFormat = format;
        open = copyOut(client, copyStatement(format, query));
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
        throw sourceError(err, spec.model.name);
      }
      // A COPY stopped half way leaves the connection mid-protocol: it must not be reused.
      open.once('error', (err) => (broken ??= err));
      return open;
    },
    explain(err) {
      // A value the format cannot carry, refused by the read query itself (sql.ts).
      const refusal = isDatabaseError(err) ? parseRefusal(err) : null;
      if (refusal) return refusedValueError(spec.model.name, exported[refusal.columnIndex]?.name ?? '?', spec.model.primaryKey, refusal, lastFormat);
      // PostgreSQL's errors carry a SQLSTATE; encoder errors (DuckDB, zstd) pass through as they are.
      return isDatabaseError(err) || isConnectionLoss(err) ? sourceError(err, spec.model.name) : err;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (open && !open.readableEnded && !broken) broken = new Error('COPY abandoned before its end');
      try {
        if (!broken) await client.query('ROLLBACK');
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
      } finally {
        client.release(broken ?? undefined);
        release();
      }
    },
  };
  return session;
}

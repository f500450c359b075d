/**
 * Reading one model for one recipient (tenant) — the contract the transfer pipeline codes against.
 *
 *   const read = await openModelRead(source, spec);   // waits for a source slot, opens the session
 *   try {
 *     const high = await read.high();                  // max (cursor, pk) of the tenant, or null: no rows
 *     const from = read.withLookback(watermark, spec.model.lookback);   // optional
 *     for await (const file of read.encode({ from, to: high }, encodeOptions)) {
 *       await upload(file.body);                       // stream it; then
 *       const { rows } = await file.done;              // rows in that file
 *     }
 *   } finally {
 *     await read.close();                              // ends the transaction, frees the slot
 *   }
 *
 * A session is one `REPEATABLE READ READ ONLY` transaction on one connection: `high()` and every
 * `encode()` see the same snapshot, so the window's high end and its rows agree. Rows come in
 * (cursor, primary key) order with (cursor, pk) in (from, to]; a bound whose `primaryKey` is empty
 * compares on the cursor alone. Values (tenant, bounds, transfer id, sync time) are bound parameters
 * (`set_config($1)` then `current_setting()` in the COPY query): never interpolated into SQL.
 * `encode()` runs one COPY; call it again only after the previous iteration ended.
 */
import type pg from 'pg';
import { SluiceError, describeError } from '../../errors.js';
import { encodeFiles } from '../../formats/index.js';
import type { ColumnInfo, CursorPosition, EncodeOptions, EncodedFile, ReadSpec, ReadWindow } from '../../transfer/types.js';
import type { RowLayout } from '../../formats/metadata.js';
import { copyOut, type CopyOut } from './copy-out.js';
import type { PostgresSource } from './source.js';
import { METADATA_COLUMNS, SETTING, copyStatement, highQuery, readQuery, type WindowBounds } from './sql.js';

export interface ModelRead {
  /** Columns of every file, in order: the model's columns, then `_sluice_*` metadata columns. */
  columns: ColumnInfo[];
  /** Highest (cursor, pk) of the tenant's rows in this snapshot; null when it has none. */
  high(): Promise<CursorPosition | null>;
  /** `position` moved back by `lookback` (seconds for time cursors, units otherwise), on the cursor only. */
  withLookback(position: CursorPosition | null, lookback: number): Promise<CursorPosition | null>;
  /** Files holding the tenant's rows in `window` (default: the spec's window). No rows, no files. */
  encode(window: ReadWindow | undefined, opts: EncodeOptions): AsyncGenerator<EncodedFile>;
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
  return new SluiceError({
    code: 'source_read_failed',
    message: `Reading model ${modelName} from the source failed: ${describeError(err)}`,
    actor: 'provider',
    hint: 'Check that the source database is reachable and the model still matches its table or query.',
    status: 502,
    cause: err,
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

export async function openModelRead(source: PostgresSource, spec: ReadSpec): Promise<ModelRead> {
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
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // Text forms that parse back exactly and mean the same everywhere: UTC instants, ISO dates.
    await client.query(
      `SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
              set_config('IntervalStyle', 'iso_8601', true), set_config('extra_float_digits', '1', true),
              set_config('statement_timeout', $1, true),
              set_config('${SETTING.tenant}', $2, true)`,
      [String(source.statementTimeoutMs), spec.tenantId],
    );
    relation = await relationOf(client, spec);
  } catch (err) {
    client.release(err instanceof Error ? err : true);
    release();
    throw sourceError(err, spec.model.name);
  }
  const exported = exportedColumns(spec);
  const columns = [...exported, ...METADATA_COLUMNS];
  const layout: RowLayout = { columns, deletedInFeed: Boolean(spec.model.softDelete), transferId: spec.transferId, syncedAt: spec.syncedAt };
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
    return { hasFrom: window.from !== null, fromPkCount, hasTo: window.to !== null, toPkCount };
  }

  const session: ModelRead = {
    columns,
    async high() {
      try {
        const r = await client.query<Record<string, string>>(highQuery(spec.model, relation, spec.columns));
        const row = r.rows[0];
        if (!row) return null;
        return { cursor: row.k0!, primaryKey: spec.model.primaryKey.map((_, i) => row[`k${i + 1}`]!) };
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
    encode(window, opts) {
      return (async function* () {
        if (closed) throw new Error('read session is closed');
        let stream: CopyOut | undefined;
        let finished = false;
        try {
          const bounds = await setBounds(window ?? spec.window);
          const query = readQuery(opts.format, spec.model, relation, spec.columns, exported, bounds);
          stream = copyOut(client, copyStatement(opts.format, query));
          yield* encodeFiles(stream, layout, opts);
          finished = true;
        } catch (err) {
          // A COPY stopped half way leaves the connection mid-protocol: it must not be reused.
          broken = err instanceof Error ? err : new Error(String(err));
          // PostgreSQL's errors carry a SQLSTATE; encoder errors (DuckDB, zstd) pass through as they are.
          throw isDatabaseError(err) ? sourceError(err, spec.model.name) : err;
        } finally {
          if (!finished && stream && !broken) broken = new Error('COPY abandoned before its end');
        }
      })();
    },
    async close() {
      if (closed) return;
      closed = true;
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

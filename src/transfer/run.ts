/**
 * One transfer of one destination: for each model, read → encode → write files → write the manifest
 * → commit the watermark. The commit protocol, per model:
 *
 *   1. files      each file is created under a new key (the contract's, with this transfer's id);
 *   2. prepare    the manifest is signed and stored in the control store as *pending*, chained to
 *                 the last committed manifest (compare-and-set on the chain);
 *   3. manifest   the manifest is created in the bucket, last;
 *   4. commit     one control-store transaction moves the watermark and the chain to it.
 *
 * A crash before 2 leaves only files that no manifest lists (orphans; the next run reads the same
 * window again under new keys). A crash between 2 and 4 leaves a pending manifest: the next run of the
 * destination writes it again (same key, same bytes; a create that finds it there is fine) and
 * commits it before anything else, so the chain never forks and no row is lost. The watermark never
 * moves before its manifest is in the bucket.
 *
 * Models are isolated: one failing is recorded (code, actor, message) and the others still commit.
 * At most one transfer runs per destination (a session advisory lock held for the whole run).
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient } from '../core/pg.js';
import type { ObjectWriter, S3DestinationConfig } from '../destinations/s3/types.js';
import { describeError, errorRecord, SluiceError, validationError, type ErrorRecord } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { TransferDestination } from './destination.js';
import { dataKey, manifestKey, stampOf } from './keys.js';
import { MANIFEST_VERSION, serialiseManifest, type Manifest, sha256Hex, signManifest, schemaSha256, type ManifestFile, type SigningKey, type UnsignedManifest } from './manifest.js';
import {
  closeInterruptedTransfers,
  DESTINATION_LOCK_NAMESPACE,
  commitPendingManifest,
  deleteRecordsCommittedBefore,
  finishTransferRow,
  getTransferRow,
  getWatermark,
  insertTransfer,
  isCancelRequested,
  markTransferRunning,
  modelRows,
  savePendingManifest,
  upsertModelRow,
  type ModelStatus,
  type TransferRow,
  type TransferStatus,
  type WatermarkRow,
} from './store.js';
import type { ColumnInfo, CursorPosition, EncodedFile, ModelDefinition, TransferKind, TransferSource, WatermarkInfo } from '../core/types.js';
import { planWindow } from './window.js';

/** Points of the commit protocol, for the crash tests' hook. */
export type CommitStep =
  | 'mid_file'
  | 'file_written'
  | 'files_written'
  | 'manifest_prepared'
  | 'manifest_written'
  | 'watermark_committed';

export type StepHook = (step: CommitStep, at: { transferId: string; model: string; key?: string }) => void | Promise<void>;

export interface TransferDeps {
  pool: Pool;
  log: Logger;
  /** The key that signs this transfer's manifests (control/signing-keys.ts keeps them). */
  signingKey(): Promise<SigningKey>;
  source: TransferSource;
  /**
   * The destination, or the delivery gate's refusal (control/transfer-destination.ts applies
   * control/delivery-gate.ts): called before anything is written.
   */
  loadDestination(destinationId: string): Promise<TransferDestination>;
  objectWriter(config: S3DestinationConfig): ObjectWriter;
  fileLimits?: { maxRowsPerFile: number; maxBytesPerFile: number };
  now?: () => Date;
  /** Test hook: called at each step of the commit protocol (the crash tests kill the process in it). */
  step?: StepHook;
  /** How often a running model's rows, bytes and files are written to the control store (default 2 s). */
  progressIntervalMs?: number;
  /** How often a running model's progress is logged (default 15 s). */
  progressLogIntervalMs?: number;
}

export interface TransferProgress {
  transferId: string;
  model: string;
  status: ModelStatus;
  rows: number;
  bytes: number;
  files: number;
  /** The planner's estimate of the model's rows in this transfer, once known; null when there is none. */
  estimatedRows: number | null;
  elapsedMs: number;
  rowsPerSecond: number;
  bytesPerSecond: number;
}

export interface RunTransferOptions {
  destinationId: string;
  kind?: TransferKind;
  models?: string[];
  /** BACKFILL: cursor range (from exclusive, to inclusive), as text in the cursor's type. */
  from?: string;
  to?: string;
  /** Run a transfer row created earlier (by the API or the job queue) instead of creating one. */
  transferId?: string;
  signal?: AbortSignal;
  onProgress?: (p: TransferProgress) => void;
}

export interface ModelResult {
  model: string;
  status: ModelStatus;
  rows: number;
  bytes: number;
  files: number;
  manifestKey: string | null;
  window: { from: CursorPosition | null; to: CursorPosition | null };
  /** How the read's upper end was fixed (null when the model failed before its read). */
  watermark: WatermarkInfo | null;
  durationMs: number;
  error: ErrorRecord | null;
}

export interface TransferResult {
  id: string;
  destinationId: string;
  kind: TransferKind;
  status: TransferStatus;
  startedAt: Date;
  models: ModelResult[];
  /** Not errors, but worth a look: e.g. the recipient's tenant id matches no row in any model. */
  warnings: TransferWarning[];
}

export interface TransferWarning {
  code: string;
  actor: 'recipient' | 'provider' | 'sluice';
  message: string;
  hint?: string;
}

/**
 * A recipient whose tenant id matches no row of any model gets an empty delivery every time, which
 * looks like success: say so. Known only when every model was read from the beginning (no watermark)
 * and found no row of the tenant at all.
 */
function tenantWarnings(ctx: RunContext, results: ModelResult[]): TransferWarning[] {
  const read = results.filter((r) => r.status === 'succeeded');
  if (read.length === 0 || read.length !== ctx.tenantEmpty.size) return [];
  return [
    {
      code: 'tenant_has_no_rows',
      actor: 'provider',
      message: `No model has a single row whose tenant column equals this recipient's tenant id (${read.map((r) => r.model).join(', ')}): the delivery is empty.`,
      hint: "Check the recipient's tenant id against the source's tenant column (exact value, case included), or that the models' tenant column is the right one.",
    },
  ];
}

export const DEFAULT_FILE_LIMITS = { maxRowsPerFile: 1_000_000, maxBytesPerFile: 256 * 1024 * 1024 };

const LOCK_NAMESPACE = DESTINATION_LOCK_NAMESPACE;

/** True when a create failed because the object already exists (HTTP 412 on If-None-Match: *). */
export function isAlreadyExists(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; name?: unknown; status?: unknown; $metadata?: { httpStatusCode?: number } };
    if (x.code === 'object_exists' || x.code === 'PreconditionFailed' || x.name === 'PreconditionFailed') return true;
    if (x.$metadata?.httpStatusCode === 412 || (x.code !== undefined && x.status === 412)) return true;
  }
  return false;
}

// A predecessor killed a moment ago still holds the lock until PostgreSQL notices its connection is
// gone (usually milliseconds, longer under load), so wait briefly before calling the destination busy.
const LOCK_WAIT_MS = 3_000;

async function tryLockDestination(client: PoolClient, destinationId: string, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_NAMESPACE, destinationId]);
    if (r.rows[0]?.ok) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

export async function runTransfer(deps: TransferDeps, opts: RunTransferOptions): Promise<TransferResult> {
  const now = deps.now ?? (() => new Date());
  const lockClient = await deps.pool.connect();
  try {
    if (!(await tryLockDestination(lockClient, opts.destinationId, LOCK_WAIT_MS))) {
      throw new SluiceError({
        code: 'transfer_already_running',
        message: `A transfer of destination ${opts.destinationId} is already running.`,
        hint: 'Wait for it to finish; at most one transfer runs per destination at a time.',
        actor: 'provider',
        status: 409,
      });
    }
    try {
      return await runLocked(deps, opts, now);
    } finally {
      await lockClient.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_NAMESPACE, opts.destinationId]);
    }
  } finally {
    lockClient.release();
  }
}

async function runLocked(deps: TransferDeps, opts: RunTransferOptions, now: () => Date): Promise<TransferResult> {
  const { pool } = deps;
  const found = opts.transferId ? await getTransferRow(pool, opts.transferId) : null;
  if (found && found.destination_id !== opts.destinationId) {
    throw validationError([{ field: 'transferId', message: `transfer ${found.id} belongs to destination ${found.destination_id}` }], 'transfer');
  }
  // A job queue may hand us an id it generated: the row is created with it on first run.
  const row =
    found ??
    (await insertTransfer(pool, {
      ...(opts.transferId ? { id: opts.transferId } : {}),
      destinationId: opts.destinationId,
      kind: opts.kind ?? 'INCREMENTAL',
      models: opts.models ?? null,
      rangeFrom: opts.from ?? null,
      rangeTo: opts.to ?? null,
    }));
  const kind = row.kind;
  let startedAt = now();
  // Data keys carry the transfer id and the attempt's start second: a retry of the same transfer in
  // the same second would reuse a key, so it waits for the next second.
  if (row.started_at && stampOf(row.started_at) === stampOf(startedAt)) {
    await sleep(1000 - startedAt.getUTCMilliseconds());
    startedAt = now();
  }
  const log = deps.log.child({ transferId: row.id, destinationId: row.destination_id });

  if (row.cancel_requested || row.status === 'cancelled') {
    await finishTransferRow(pool, row.id, 'cancelled', null);
    return { id: row.id, destinationId: row.destination_id, kind, status: 'cancelled', startedAt, models: [], warnings: [] };
  }

  let destination: TransferDestination;
  let models: ModelDefinition[];
  try {
    // After the destination lock and before anything is written: the loader applies the delivery
    // gate (control/delivery-gate.ts), so every caller of the runner (worker, `sluice transfer`) goes through it.
    destination = await deps.loadDestination(row.destination_id);
    models = selectModels(deps.source.models(), destination, row.models);
    if (kind === 'BACKFILL' && row.range_from === null && row.range_to === null) {
      throw validationError([{ field: 'from', message: 'a backfill needs --from and/or --to (a cursor range)' }], 'transfer');
    }
  } catch (err) {
    await markTransferRunning(pool, row.id, startedAt);
    await finishTransferRow(pool, row.id, 'failed', errorRecord(err));
    throw err;
  }

  await markTransferRunning(pool, row.id, startedAt);
  const interrupted = await closeInterruptedTransfers(pool, row.destination_id, row.id);
  if (interrupted.length > 0) log.warn({ interrupted }, 'closed transfers whose process stopped');
  log.info({ kind, models: models.map((m) => m.name) }, 'transfer started');

  const abort = new AbortController();
  const onAbort = (): void => abort.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();

  const ctx: RunContext = {
    deps,
    log,
    row,
    kind,
    startedAt,
    destination,
    writer: deps.objectWriter(destination.s3),
    signal: abort.signal,
    tenantEmpty: new Set(),
    async cancelled() {
      if (abort.signal.aborted) return true;
      if (await isCancelRequested(pool, row.id)) abort.abort(new Error('cancel requested'));
      return abort.signal.aborted;
    },
    onProgress: opts.onProgress,
  };

  const done = new Set((await modelRows(pool, row.id)).filter((m) => m.status === 'succeeded').map((m) => m.model));
  const results: ModelResult[] = [];
  try {
    for (const model of models) {
      if (done.has(model.name)) continue; // a retry of this transfer: already committed
      results.push(await runModel(ctx, model));
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // The role session ends with the transfer: the next one assumes the role again (docs/trust.md).
    ctx.writer.close?.();
  }

  const all = await modelRows(pool, row.id);
  const status = transferStatus(all.map((m) => m.status));
  const failed = all.filter((m) => m.status === 'failed');
  const error: ErrorRecord | null =
    status === 'failed' && failed.length > 0
      ? { code: 'models_failed', actor: failed[0]!.error?.actor ?? 'sluice', message: `${failed.length} of ${all.length} models failed; see each model's error.` }
      : null;
  await finishTransferRow(pool, row.id, status, error);
  const warnings = tenantWarnings(ctx, results);
  if (warnings.length > 0) {
    await pool.query('UPDATE transfers SET warnings = $2 WHERE id = $1', [row.id, JSON.stringify(warnings)]);
    for (const w of warnings) log.warn({ warning: w }, w.message);
  }
  log.info({ status }, 'transfer finished');
  return { id: row.id, destinationId: row.destination_id, kind, status, startedAt, models: results, warnings };
}

function transferStatus(statuses: ModelStatus[]): TransferStatus {
  if (statuses.length === 0) return 'succeeded';
  if (statuses.some((s) => s === 'cancelled')) return 'cancelled';
  const ok = statuses.filter((s) => s === 'succeeded').length;
  if (ok === statuses.length) return 'succeeded';
  return ok > 0 ? 'partial' : 'failed';
}

function selectModels(configured: ModelDefinition[], dest: TransferDestination, requested: string[] | null): ModelDefinition[] {
  const byName = new Map(configured.map((m) => [m.name, m]));
  const enabled = dest.models ?? configured.map((m) => m.name);
  const names = requested ?? enabled;
  const problems = names.flatMap((name) => {
    if (!byName.has(name)) return [{ field: 'models', message: `${name} is not a configured model (configured: ${[...byName.keys()].join(', ') || 'none'})` }];
    if (!enabled.includes(name)) return [{ field: 'models', message: `${name} is not exported to this destination (exported: ${enabled.join(', ')})` }];
    return [];
  });
  if (problems.length > 0) throw validationError(problems, 'transfer');
  return names.map((n) => byName.get(n)!);
}

interface RunContext {
  deps: TransferDeps;
  log: Logger;
  row: TransferRow;
  kind: TransferKind;
  startedAt: Date;
  destination: TransferDestination;
  writer: ObjectWriter;
  signal: AbortSignal;
  /** Models read from the beginning that have no row of the tenant at all. */
  tenantEmpty: Set<string>;
  cancelled(): Promise<boolean>;
  onProgress: ((p: TransferProgress) => void) | undefined;
}

async function step(ctx: RunContext, name: CommitStep, model: string, key?: string): Promise<void> {
  await ctx.deps.step?.(name, { transferId: ctx.row.id, model, ...(key ? { key } : {}) });
}

async function runModel(ctx: RunContext, model: ModelDefinition): Promise<ModelResult> {
  const { pool } = ctx.deps;
  const began = Date.now();
  const result: ModelResult = {
    model: model.name,
    status: 'running',
    rows: 0,
    bytes: 0,
    files: 0,
    manifestKey: null,
    window: { from: null, to: null },
    watermark: null,
    durationMs: 0,
    error: null,
  };
  const meter: Meter = { live: { rows: 0 }, estimated: null };
  const snapshot = (): TransferProgress => {
    const elapsedMs = Date.now() - began;
    const secs = Math.max(elapsedMs / 1000, 0.001);
    // Rows read so far (the current file's included); the files' own counts are the record at the end.
    const rows = Math.max(result.rows, meter.live.rows);
    return {
      transferId: ctx.row.id,
      model: model.name,
      status: result.status,
      rows,
      bytes: result.bytes,
      files: result.files,
      estimatedRows: meter.estimated,
      elapsedMs,
      rowsPerSecond: rows / secs,
      bytesPerSecond: result.bytes / secs,
    };
  };
  const progress = (): void => {
    ctx.onProgress?.(snapshot());
  };
  // Live progress, off the data path: a timer writes the counters every few seconds and logs them
  // now and then; the pipeline itself only bumps counters.
  let flushing: Promise<void> = Promise.resolve();
  let lastLog = Date.now();
  const tick = (): void => {
    const p = snapshot();
    ctx.onProgress?.(p);
    flushing = flushing
      .then(() => upsertModelRow(pool, ctx.row.id, model.name, { rows: p.rows, bytes: p.bytes, files: p.files, progress_at: new Date() }))
      .catch((err: unknown) => ctx.log.warn({ model: model.name, err: describeError(err) }, 'could not record progress'));
    if (Date.now() - lastLog >= (ctx.deps.progressLogIntervalMs ?? 15_000)) {
      lastLog = Date.now();
      ctx.log.info(
        { model: model.name, rows: p.rows, bytes: p.bytes, files: p.files, estimatedRows: p.estimatedRows, rowsPerSecond: Math.round(p.rowsPerSecond) },
        'transfer progress',
      );
    }
  };
  const timer = setInterval(tick, ctx.deps.progressIntervalMs ?? 2_000);
  timer.unref();
  await upsertModelRow(pool, ctx.row.id, model.name, {
    status: 'running',
    started_at: new Date(),
    finished_at: null,
    error: null,
    rows: 0,
    bytes: 0,
    files: 0,
    manifest_key: null,
  });
  progress();
  try {
    await deliverModel(ctx, model, result, progress, meter);
    result.status = 'succeeded';
  } catch (err) {
    const cancelled = ctx.signal.aborted;
    result.status = cancelled ? 'cancelled' : 'failed';
    result.error = cancelled ? null : errorRecord(err);
    if (!cancelled) ctx.log.error({ model: model.name, err: result.error }, 'model failed');
  } finally {
    clearInterval(timer);
    // A progress write still in flight must not land after the result below.
    await flushing;
  }
  result.durationMs = Date.now() - began;
  await upsertModelRow(pool, ctx.row.id, model.name, {
    status: result.status,
    rows: result.rows,
    bytes: result.bytes,
    files: result.files,
    manifest_key: result.manifestKey,
    finished_at: new Date(),
    duration_ms: result.durationMs,
    error: result.error,
  });
  progress();
  return result;
}

/** Live counters of a running model: rows read so far, and the planner's estimate of its rows. */
interface Meter {
  live: { rows: number };
  estimated: number | null;
}

async function deliverModel(ctx: RunContext, model: ModelDefinition, result: ModelResult, progress: () => void, meter: Meter): Promise<void> {
  const { deps, row, destination } = ctx;
  const { pool } = deps;
  let wm = await getWatermark(pool, row.destination_id, model.name);
  if (wm?.pending_manifest) {
    await rollForward(ctx, model.name, wm);
    if (wm.pending_transfer_id === row.id) {
      // A retry of this very transfer: its manifest for this model is now committed, and a second
      // one would need the same key. The model is done; newer rows go with the next transfer.
      const m = JSON.parse(wm.pending_manifest.toString('utf8')) as Manifest;
      Object.assign(result, {
        rows: m.total_rows,
        bytes: m.total_bytes,
        files: m.files.length,
        manifestKey: wm.pending_manifest_key,
        window: { from: m.window.from, to: m.window.to },
      });
      return;
    }
    wm = await getWatermark(pool, row.destination_id, model.name);
  }
  if (await ctx.cancelled()) throw new Error('cancelled');

  const window = await planWindow(pool, {
    kind: ctx.kind,
    watermark: wm?.position ?? null,
    watermarkMethod: wm?.method ?? null,
    watermarkReadAt: wm?.read_at ?? null,
    lookback: model.lookback,
    cursorType: await deps.source.cursorType(model),
    range: { from: row.range_from, to: row.range_to },
  });
  // Taken before the snapshot: the next window's lookback is measured from here (window.ts).
  const readAt = new Date();
  const session = await deps.source.open({
    model,
    tenantId: destination.tenantId,
    window,
    transferId: row.id,
    syncedAt: ctx.startedAt,
    encode: { format: destination.format, compression: destination.compression, ...(deps.fileLimits ?? DEFAULT_FILE_LIMITS), progress: meter.live },
    signal: ctx.signal,
    commitSafe: ctx.kind !== 'BACKFILL' && model.watermark !== 'lookback',
    fallback: ctx.kind === 'BACKFILL' ? 'backfill' : 'configured',
  });
  noteWatermark(ctx, model, session.watermark);
  result.watermark = session.watermark;
  const files: ManifestFile[] = [];
  let columns: ColumnInfo[];
  try {
    columns = session.columns;
    result.window = { from: window.from, to: session.high };
    meter.estimated = (await session.estimateRows?.()) ?? null;
    await upsertModelRow(pool, row.id, model.name, {
      window_from: window.from,
      window_to: session.high,
      watermark_method: session.watermark.method,
      watermark_fallback: session.watermark.fallback,
      watermark_lag_seconds: session.watermark.lagSeconds,
      watermark_held_by: session.watermark.heldBy,
      estimated_rows: meter.estimated,
    });
    progress();
    if (session.high !== null) {
      for await (const file of session.files()) {
        if (await ctx.cancelled()) {
          file.body.destroy();
          throw new Error('cancelled');
        }
        files.push(await writeFile(ctx, model.name, file, result, progress));
      }
    }
  } finally {
    await session.close();
  }
  await step(ctx, 'files_written', model.name);
  // Read from the beginning and not a single row of the tenant: see tenantWarnings.
  if (window.from === null && ctx.kind !== 'BACKFILL' && files.length === 0) ctx.tenantEmpty.add(model.name);

  // An increment with no rows writes nothing (the transfer still records the model). A full refresh
  // always commits a manifest: "the recipient has no rows now" is news to its consumers.
  if (files.length === 0 && ctx.kind !== 'FULL_REFRESH') return;

  const key = manifestKey({ prefix: destination.s3.prefix, model: model.name, startedAt: ctx.startedAt, transferId: row.id });
  const signing = await deps.signingKey();
  const schemaColumns = columns.map((c) => ({ name: c.name, type: c.logicalType, nullable: c.nullable }));
  const unsigned: UnsignedManifest = {
    version: MANIFEST_VERSION,
    transfer_id: row.id,
    destination_id: row.destination_id,
    model: model.name,
    type: ctx.kind === 'FULL_REFRESH' ? 'FULL_REFRESH' : 'INCREMENTAL',
    transfer_kind: ctx.kind,
    window: {
      cursor_column: model.cursor,
      primary_key: model.primaryKey,
      from: result.window.from,
      to: result.window.to,
      bounds: `${window.fromInclusive ? '[' : '('}${session.watermark.method === 'commit_safe' ? ')' : ']'}`,
    },
    format: destination.format,
    compression: destination.compression,
    schema: { columns: schemaColumns },
    schema_sha256: schemaSha256(schemaColumns),
    files,
    total_rows: files.reduce((n, f) => n + f.rows, 0),
    total_bytes: files.reduce((n, f) => n + f.bytes, 0),
    previous_manifest_key: wm?.last_manifest_key ?? null,
    previous_manifest_sha256: wm?.last_manifest_sha256 ?? null,
    created_at: new Date().toISOString(),
    key_id: signing.id,
  };
  const body = serialiseManifest(signManifest(unsigned, signing.privateKey));
  const saved = await savePendingManifest(pool, {
    destinationId: row.destination_id,
    model: model.name,
    transferId: row.id,
    key,
    body,
    position: session.high,
    readAt,
    movesWatermark: ctx.kind !== 'BACKFILL',
    method: session.watermark.method,
    previousSha256: unsigned.previous_manifest_sha256,
  });
  if (!saved) {
    throw new SluiceError({
      code: 'chain_moved',
      message: `The manifest chain of ${model.name} changed while this transfer ran; its files stay unlisted.`,
      hint: 'Another transfer committed this model concurrently. Run the transfer again.',
      actor: 'sluice',
      status: 409,
    });
  }
  await step(ctx, 'manifest_prepared', model.name, key);
  await ctx.writer.write(key, Readable.from([body]), { contentType: 'application/json', signal: ctx.signal });
  await step(ctx, 'manifest_written', model.name, key);
  await commit(pool, row.destination_id, model.name, sha256Hex(body), async (client) => {
    await upsertModelRow(client, row.id, model.name, { manifest_key: key });
  });
  result.manifestKey = key;
  await step(ctx, 'watermark_committed', model.name, key);
  if (model.deletes === 'track' && ctx.kind !== 'BACKFILL') await pruneDeletes(ctx, model);
}

/** Drops the delete records every destination of the tenant has committed. A failure only delays it. */
async function pruneDeletes(ctx: RunContext, model: ModelDefinition): Promise<void> {
  const { deps, destination } = ctx;
  if (!deps.source.pruneDeleteRecords) return;
  try {
    const tracked = deps.source.models().filter((m) => m.deletes === 'track');
    const before = await deleteRecordsCommittedBefore(deps.pool, destination.tenantId, tracked.map((m) => ({ name: m.name, lookback: m.lookback })));
    if (before === null) return;
    const pruned = await deps.source.pruneDeleteRecords(model, destination.tenantId, before);
    if (pruned > 0) ctx.log.info({ model: model.name, pruned, before }, 'pruned delete records every destination has committed');
  } catch (err) {
    ctx.log.warn({ model: model.name, err: errorRecord(err) }, 'could not prune delete records; the next transfer tries again');
  }
}

/** Says in the logs how the read's upper end was fixed when it is worth an operator's attention. */
function noteWatermark(ctx: RunContext, model: ModelDefinition, w: WatermarkInfo): void {
  if (w.method === 'lookback') {
    // Chosen in sluice.yaml, or implied by the cursor's type or a backfill: information. The source
    // refusing what the model asked for (a replica, a role without pg_read_all_stats): a warning.
    const expected = w.fallback === 'configured' || w.fallback === 'backfill' || w.fallback === 'cursor_type';
    const fields = { model: model.name, watermark: 'lookback', fallback: w.fallback, lookback: model.lookback };
    if (expected) ctx.log.info(fields, 'read with the lookback method');
    else ctx.log.warn(fields, 'commit-safe watermark unavailable on this source: fell back to the lookback (rows committed later than the lookback after their cursor would be missed)');
    return;
  }
  if (w.lagSeconds !== null && w.lagWarningSeconds !== undefined && w.lagSeconds > w.lagWarningSeconds) {
    ctx.log.warn(
      { model: model.name, lagSeconds: Math.round(w.lagSeconds), thresholdSeconds: w.lagWarningSeconds, heldBy: w.heldBy },
      'an open transaction on the source holds the watermark back: rows newer than its start wait until it ends',
    );
  }
}

async function commit(
  pool: Pool,
  destinationId: string,
  model: string,
  sha256: string,
  also: (client: PoolClient) => Promise<void>,
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const committed = await commitPendingManifest(client, { destinationId, model, sha256 });
    if (!committed) throw new SluiceError({ code: 'chain_moved', message: `No pending manifest of ${model} to commit.`, actor: 'sluice', status: 409 });
    await also(client);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Finishes the commit of a manifest prepared by a run that stopped (see the header). */
async function rollForward(ctx: RunContext, model: string, wm: WatermarkRow): Promise<void> {
  const key = wm.pending_manifest_key!;
  const body = wm.pending_manifest!;
  try {
    await ctx.writer.write(key, Readable.from([body]), { contentType: 'application/json', signal: ctx.signal });
  } catch (err) {
    // Only this transfer id ever writes this key: if it exists, it holds these bytes.
    if (!isAlreadyExists(err)) throw err;
  }
  const previous = wm.pending_transfer_id!;
  // The manifest is the record of what the model delivered: its counts replace the interrupted run's.
  const m = JSON.parse(body.toString('utf8')) as Manifest;
  await commit(ctx.deps.pool, wm.destination_id, model, sha256Hex(body), async (client) => {
    await client.query(
      `UPDATE transfer_models SET status = 'succeeded', error = NULL, manifest_key = $3, rows = $4, bytes = $5, files = $6,
              finished_at = coalesce(finished_at, now())
       WHERE transfer_id = $1 AND model = $2`,
      [previous, model, key, m.total_rows, m.total_bytes, m.files.length],
    );
    // The interrupted transfer's status follows from its models now; a transfer that succeeded in
    // the end carries no error.
    await client.query(
      `UPDATE transfers t SET status = s.status, error = CASE WHEN s.status = 'succeeded' THEN NULL ELSE t.error END
         FROM (SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM transfer_models m WHERE m.transfer_id = $1 AND m.status <> 'succeeded')
                           THEN 'succeeded' ELSE 'partial' END AS status) s
       WHERE t.id = $1 AND t.status IN ('failed', 'partial')`,
      [previous],
    );
  });
  ctx.log.warn({ model, manifestKey: key, previousTransferId: previous }, 'committed the manifest of an interrupted transfer');
}

async function writeFile(
  ctx: RunContext,
  model: string,
  file: EncodedFile,
  result: ModelResult,
  progress: () => void,
): Promise<ManifestFile> {
  // `done` may reject while the writer is still busy; observe it now so it is never unhandled.
  const done = file.done.then(
    (v) => ({ ok: true as const, rows: v.rows }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  const key = dataKey({
    prefix: ctx.destination.s3.prefix,
    model,
    startedAt: ctx.startedAt,
    transferId: ctx.row.id,
    index: file.index,
    extension: file.extension,
  });
  const bytesBefore = result.bytes;
  let hooked = false;
  const metered = async function* (): AsyncGenerator<Uint8Array> {
    for await (const chunk of file.body as AsyncIterable<Uint8Array>) {
      yield chunk;
      result.bytes += chunk.length;
      progress();
      if (!hooked) {
        hooked = true;
        await step(ctx, 'mid_file', model, key);
      }
    }
  };
  let written;
  try {
    written = await ctx.writer.write(key, Readable.from(metered()), { contentType: file.contentType, signal: ctx.signal });
  } catch (err) {
    file.body.destroy();
    throw err;
  }
  const d = await done;
  if (!d.ok) throw d.err;
  result.bytes = bytesBefore + written.bytes;
  result.rows += d.rows;
  result.files += 1;
  progress();
  await step(ctx, 'file_written', model, key);
  return { key, rows: d.rows, bytes: written.bytes, sha256: written.sha256 };
}

/**
 * Steps 2 to 4 of the commit protocol (see run.ts): a model's manifest is signed and stored as
 * pending, written to the bucket last, then committed with the watermark in one control-store
 * transaction. And the roll-forward of a manifest a stopped run had prepared.
 */
import { Readable } from 'node:stream';
import { SluiceError } from '../core/errors.js';
import { withTransaction, type Pool, type PoolClient } from '../core/pg.js';
import type { ColumnInfo, CursorPosition, ModelDefinition, ReadWindow, WatermarkInfo } from '../core/types.js';
import { step, type RunContext } from './context.js';
import { manifestKey } from './keys.js';
import { MANIFEST_VERSION, serialiseManifest, sha256Hex, signManifest, schemaSha256, type Manifest, type ManifestFile, type UnsignedManifest } from './manifest.js';
import type { ModelResult } from './result.js';
import { markModelDelivered, upsertModelRow } from './store/transfer-models.js';
import { settleFromModels } from './store/transfers.js';
import { commitPendingManifest, savePendingManifest, type WatermarkRow } from './store/watermarks.js';

/** What a model's read produced, for its manifest. */
export interface DeliveredRead {
  files: ManifestFile[];
  columns: ColumnInfo[];
  window: ReadWindow;
  high: CursorPosition | null;
  watermark: WatermarkInfo;
  /** When the read's snapshot was taken (the next window's lookback is measured from here). */
  readAt: Date;
  /** The watermark the read started from (the chain's last manifest). */
  previous: WatermarkRow | null;
}

/** Signs, prepares, writes and commits the manifest of a model's read; sets result.manifestKey. */
export async function commitManifest(ctx: RunContext, model: ModelDefinition, read: DeliveredRead, result: ModelResult): Promise<void> {
  const { deps, row, destination } = ctx;
  const { pool } = deps;
  const { files, columns, window, readAt } = read;
  const wm = read.previous;
  const session = { high: read.high, watermark: read.watermark };
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
  await commitPending(pool, row.destination_id, model.name, sha256Hex(body), async (client) => {
    await upsertModelRow(client, row.id, model.name, { manifest_key: key });
  });
  result.manifestKey = key;
  await step(ctx, 'watermark_committed', model.name, key);
}


async function commitPending(
  pool: Pool,
  destinationId: string,
  model: string,
  sha256: string,
  also: (client: PoolClient) => Promise<void>,
): Promise<void> {
  await withTransaction(pool, async (client) => {
    const committed = await commitPendingManifest(client, { destinationId, model, sha256 });
    if (!committed) throw new SluiceError({ code: 'chain_moved', message: `No pending manifest of ${model} to commit.`, actor: 'sluice', status: 409 });
    await also(client);
  });
}


/** Finishes the commit of a manifest prepared by a run that stopped (see the header). */
export async function rollForward(ctx: RunContext, model: string, wm: WatermarkRow): Promise<void> {
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
  await commitPending(ctx.deps.pool, wm.destination_id, model, sha256Hex(body), async (client) => {
    await markModelDelivered(client, previous, model, { manifestKey: key, rows: m.total_rows, bytes: m.total_bytes, files: m.files.length });
    // The interrupted transfer's status follows from its models now; a transfer that succeeded in
    // the end carries no error.
    await settleFromModels(client, previous);
  });
  ctx.log.warn({ model, manifestKey: key, previousTransferId: previous }, 'committed the manifest of an interrupted transfer');
}


/** True when a create failed because the object already exists (HTTP 412 on If-None-Match: *). */
export function isAlreadyExists(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; name?: unknown; status?: unknown; $metadata?: { httpStatusCode?: number } };
    if (x.code === 'object_exists' || x.code === 'PreconditionFailed' || x.name === 'PreconditionFailed') return true;
    if (x.$metadata?.httpStatusCode === 412 || (x.code !== undefined && x.status === 412)) return true;
  }
  return false;
}


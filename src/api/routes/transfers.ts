/**
 * Transfers as recorded by the runner, and the public keys that verify manifests.
 *
 *   GET /v1/transfers            filters: destination, recipient, status, since, until, limit
 *   GET /v1/transfers/:id        one transfer with its per-model results
 *   GET /v1/manifest-keys        Ed25519 public keys (JWK set) that verify manifest signatures
 *   GET /.well-known/sluice-manifest-keys.json   the same, public: what recipients give `sluice verify`
 */
import { z } from 'zod';
import { notFound } from '../../core/errors.js';
import { publicSigningKeys } from '../../control/signing-keys.js';
import { transferDetails } from '../../jobs/transfer-details.js';
import { getTransferRow, listTransferRows } from '../../transfer/store/transfers.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';

const tags = ['transfers'];
const Status = z.enum(['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled']);
const ErrorRecord = z.object({ code: z.string(), actor: z.enum(['recipient', 'provider', 'sluice']), message: z.string(), hint: z.string().optional() });
const Position = z.object({ cursor: z.string(), primaryKey: z.array(z.string()) });

export const Transfer = z
  .object({
    id: z.string(),
    destinationId: z.string(),
    kind: z.enum(['INCREMENTAL', 'FULL_REFRESH', 'BACKFILL']),
    status: Status,
    models: z.array(z.string()).nullable(),
    range: z.object({ from: z.string().nullable(), to: z.string().nullable() }).nullable(),
    requestedAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    attempt: z.number().int(),
    cancelRequested: z.boolean(),
    error: ErrorRecord.nullable(),
    warnings: z.array(z.object({ code: z.string(), actor: z.string(), message: z.string(), hint: z.string().optional() })).describe('Not errors, worth a look (e.g. tenant_has_no_rows)'),
  })
  .describe('Transfer');

export const ModelResult = z
  .object({
    model: z.string(),
    status: z.enum(['pending', 'running', 'succeeded', 'failed', 'cancelled']),
    rows: z.number().int(),
    bytes: z.number().int(),
    files: z.number().int(),
    manifestKey: z.string().nullable(),
    window: z.object({ from: Position.nullable(), to: Position.nullable() }),
    watermark: z
      .object({
        method: z.enum(['commit_safe', 'lookback']).nullable().describe('how the upper end of the read was fixed (docs/change-detection.md)'),
        fallback: z.string().nullable().describe('why the lookback was used: configured, cursor_type, replica, cannot_see_sessions, backfill'),
        lagSeconds: z.number().nullable().describe('commit-safe: how far behind the read its bound was (an open transaction holds it back)'),
        heldBy: z.object({ pid: z.number().int(), applicationName: z.string(), xactStart: z.string() }).nullable(),
      })
      .describe('WatermarkUse'),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    error: ErrorRecord.nullable(),
    estimatedRows: z.number().int().nullable().describe("The planner's estimate of the model's rows in this transfer (a progress total)"),
    progressAt: z.string().nullable().describe('When rows, bytes and files were last written while the model ran (every few seconds)'),
  })
  .describe('TransferModelResult');

const TransferDetails = Transfer.extend({
  results: z.array(ModelResult),
  nextAttempt: z
    .object({ at: z.string(), attempt: z.number().int(), maxAttempts: z.number().int() })
    .nullable()
    .describe('Set while a failed attempt waits for its retry: the status `failed` is then not final'),
}).describe('TransferDetails');

const Jwk = z.object({
  kid: z.string(),
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string(),
  use: z.literal('sig'),
  alg: z.literal('EdDSA'),
  created_at: z.string(),
  retired_at: z.string().nullable(),
});
const KeySet = z.object({ keys: z.array(Jwk) }).describe('ManifestKeys');

// Years 1 to 9999: JavaScript dates reach 271821 BC, PostgreSQL's timestamptz only 4713 BC (a
// `since` before that was a 500), and no transfer lies outside them.
const time = (field: string) =>
  z
    .string()
    .refine((v) => {
      const t = Date.parse(v);
      if (Number.isNaN(t)) return false;
      const year = new Date(t).getUTCFullYear();
      return year >= 1 && year <= 9999;
    }, `${field} must be an ISO 8601 time between the years 1 and 9999, e.g. 2026-01-31T00:00:00Z`)
    .transform((v) => new Date(v));

const ListQuery = z.strictObject({
  destination: z.string().max(100).optional(),
  recipient: z.string().max(100).optional(),
  status: Status.optional(),
  since: time('since').optional(),
  until: time('until').optional(),
  limit: z.coerce.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(100),
});

export const transferRoutes: RoutePlugin = {
  name: 'transfers',
  register(app, { pool }) {
    app.get(
      '/v1/transfers',
      {
        config: { access: access.list('recipient') },
        schema: {
          tags,
          security: bearer,
          summary: 'List transfers, newest first, each with its per-model results (filters: destination, recipient, status, since/until on the request time)',
          querystring: ListQuery,
          response: { 200: z.object({ transfers: z.array(TransferDetails) }), ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query;
        const rows = await listTransferRows(pool, {
          ...(q.destination ? { destinationId: q.destination } : {}),
          ...(q.recipient ? { recipientId: q.recipient } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.since ? { since: q.since } : {}),
          ...(q.until ? { until: q.until } : {}),
          limit: q.limit,
        });
        return { transfers: await transferDetails(pool, rows) };
      },
    );
    app.get(
      '/v1/transfers/:id',
      {
        config: { access: access.transfer(false) },
        schema: {
          tags,
          security: bearer,
          summary: 'Show a transfer with its per-model results (rows, bytes, files, manifest, window, duration, error)',
          params: IdParams,
          response: { 200: TransferDetails, ...errorResponses },
        },
      },
      async (req) => {
        const row = await getTransferRow(pool, req.params.id);
        if (!row) throw notFound('transfer', req.params.id);
        return (await transferDetails(pool, [row]))[0]!;
      },
    );
    app.get(
      '/v1/manifest-keys',
      {
        config: { access: access.none(false) },
        schema: {
          tags,
          security: bearer,
          summary: 'The Ed25519 public keys (JWK set) that verify manifest signatures, newest first',
          response: { 200: KeySet, ...errorResponses },
        },
      },
      async () => ({ keys: await publicSigningKeys(pool) }),
    );
    app.get(
      '/.well-known/sluice-manifest-keys.json',
      {
        schema: {
          tags,
          summary: 'The manifest public keys, without authentication: give this URL to `sluice verify --public-key`',
          response: { 200: KeySet, ...errorResponses },
        },
      },
      async () => ({ keys: await publicSigningKeys(pool) }),
    );
  },
};

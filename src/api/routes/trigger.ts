/**
 * Starting and cancelling transfers: POST /v1/destinations/:id/transfers queues one (or reports the
 * one already waiting), POST /v1/transfers/:id/cancel cancels a queued or running one. Listing and
 * showing transfers are in transfers.ts.
 */
import { z } from 'zod';
import { SluiceError, validationError } from '../../core/errors.js';
import { transferRequestProblems } from '../../models/catalog.js';
import { cancelTransfer } from '../../jobs/cancel.js';
import { enqueueTransfer } from '../../jobs/enqueue.js';
import { prepareQueue } from '../../jobs/queue.js';
import { IdParams, bearer, errorResponses } from '../schemas.js';
import { access } from '../access.js';
import type { RoutePlugin } from '../types.js';

const modelName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a model name: lowercase letters, digits and underscores');

export const TransferTriggerInput = z
  .strictObject({
    kind: z.enum(['INCREMENTAL', 'FULL_REFRESH', 'BACKFILL']).default('INCREMENTAL'),
    models: z.array(modelName).min(1, 'list at least one model, or leave `models` out for all of them').max(500).optional(),
    from: z.string().min(1).max(100).optional().describe('BACKFILL: start of the cursor range (exclusive)'),
    to: z.string().min(1).max(100).optional().describe('BACKFILL: end of the cursor range (inclusive)'),
  })
  .superRefine((v, ctx) => {
    if (v.kind === 'BACKFILL' && (v.from === undefined || v.to === undefined)) {
      ctx.addIssue({ code: 'custom', path: [v.from === undefined ? 'from' : 'to'], message: 'a BACKFILL needs both `from` and `to`' });
    }
    if (v.kind !== 'BACKFILL' && (v.from !== undefined || v.to !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: '`from` and `to` are only for kind BACKFILL' });
    }
  })
  .describe('TransferTrigger');

const Queued = z
  .object({
    transferId: z.string(),
    destinationId: z.string(),
    kind: z.enum(['INCREMENTAL', 'FULL_REFRESH', 'BACKFILL']),
    status: z.enum(['queued', 'already_queued']).describe('already_queued: the same request was waiting; that one is returned'),
    behindRunning: z.boolean().describe('A transfer of this destination is running; this one starts after it'),
  })
  .describe('QueuedTransfer');

const Cancelled = z
  .object({
    transferId: z.string(),
    destinationId: z.string(),
    status: z.enum(['cancelled', 'cancelling']).describe('cancelling: it is running and stops within seconds'),
  })
  .describe('TransferCancellation');

const tags = ['transfers'];

export const triggerRoutes: RoutePlugin = {
  name: 'transfers-trigger',
  register(app, { pool, log, models }) {
    // The queue's schema is created on first use (once per process), not at registration: building the
    // server touches no database.
    const ready = (): Promise<void> => prepareQueue(pool, log);
    app.post(
      '/v1/destinations/:id/transfers',
      {
        config: { access: access.destination(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Start a transfer (incremental by default; full refresh or backfill of some models)',
          params: IdParams,
          // A POST without a body is an incremental transfer of every model.
          body: TransferTriggerInput.nullish(),
          response: { 202: Queued, ...errorResponses },
        },
      },
      async (req, reply) => {
        await ready();
        const body = req.body ?? { kind: 'INCREMENTAL' as const };
        // Unknown models and unparsable backfill bounds are refused now, not when the transfer runs.
        const dst = await pool.query<{ models: string[] | null }>('SELECT models FROM destinations WHERE id = $1', [req.params.id]);
        if (dst.rows[0]) {
          const problems = await transferRequestProblems(models, dst.rows[0].models, body);
          if (problems.length > 0) throw validationError(problems, 'transfer request');
        }
        const queued = await enqueueTransfer(pool, {
          destinationId: req.params.id,
          kind: body.kind,
          ...(body.models ? { models: body.models } : {}),
          ...(body.from !== undefined ? { from: body.from } : {}),
          ...(body.to !== undefined ? { to: body.to } : {}),
          trigger: 'api',
        });
        return reply.code(202).send(queued);
      },
    );
    app.post(
      '/v1/transfers/:id/cancel',
      {
        config: { access: access.transfer(true) },
        schema: {
          tags,
          security: bearer,
          summary: 'Cancel a queued or running transfer',
          params: IdParams,
          response: { 202: Cancelled, ...errorResponses },
        },
      },
      async (req, reply) => {
        await ready();
        const outcome = await cancelTransfer(pool, req.params.id);
        if (!outcome) throw new SluiceError({ code: 'not_found', message: `No transfer with id ${req.params.id}.`, status: 404 });
        if (outcome.status === 'finished') {
          throw new SluiceError({
            code: 'conflict',
            message: `Transfer ${outcome.transferId} has already finished (${outcome.transferStatus}).`,
            hint: 'Only queued or running transfers can be cancelled.',
            status: 409,
          });
        }
        return reply.code(202).send({ transferId: outcome.transferId, destinationId: outcome.destinationId, status: outcome.status });
      },
    );
  },
};

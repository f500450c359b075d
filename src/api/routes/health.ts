/** Liveness and readiness: public, unauthenticated, cheap. */
import { z } from 'zod';
import { QUEUE_SCHEMA } from '../../jobs/queue.js';
import type { RoutePlugin } from '../types.js';

const Ready = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.object({ controlStore: z.boolean(), queue: z.boolean() }),
});

export const healthRoutes: RoutePlugin = {
  name: 'health',
  register(app, { pool }) {
    app.get(
      '/healthz',
      { schema: { tags: ['health'], summary: 'The process is running', response: { 200: z.object({ status: z.literal('ok') }) } } },
      async () => ({ status: 'ok' as const }),
    );
    app.get(
      '/readyz',
      {
        schema: {
          tags: ['health'],
          summary: 'The control store and the job queue answer',
          response: { 200: Ready, 503: Ready },
        },
      },
      async (_req, reply) => {
        const checks = { controlStore: false, queue: false };
        try {
          const { rows } = await pool.query<{ queue: boolean }>(
            `SELECT to_regclass('${QUEUE_SCHEMA}._private_jobs') IS NOT NULL AS queue`,
          );
          checks.controlStore = true;
          checks.queue = rows[0]?.queue === true;
        } catch {
          // Unreachable control store: both stay false.
        }
        const ok = checks.controlStore && checks.queue;
        return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks });
      },
    );
  },
};

/** Liveness and readiness: public, unauthenticated, cheap. */
import { z } from 'zod';
import type { RoutePlugin } from '../types.js';

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
          summary: 'The control store answers',
          response: { 200: z.object({ status: z.literal('ready') }), 503: z.object({ status: z.literal('unavailable') }) },
        },
      },
      async (_req, reply) => {
        try {
          await pool.query('SELECT 1');
          return { status: 'ready' as const };
        } catch {
          return reply.code(503).send({ status: 'unavailable' as const });
        }
      },
    );
  },
};

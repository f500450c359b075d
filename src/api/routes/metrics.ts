/** GET /metrics: Prometheus text format, unauthenticated like /healthz (bind it to a private network). */
import { queueStats } from '../../jobs/queue-stats.js';
import { createMetrics } from '../../metrics.js';
import type { RoutePlugin } from '../types.js';

export const metricsRoutes: RoutePlugin = {
  name: 'metrics',
  register(app, deps) {
    // `sluice start` shares one set of metrics between the API and its worker; a lone API has its own.
    const metrics = deps.metrics ?? createMetrics();
    metrics.observeQueue(() => queueStats(deps.pool));
    app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics (text exposition format)' } }, async (_req, reply) => {
      const body = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).send(body);
    });
  },
};

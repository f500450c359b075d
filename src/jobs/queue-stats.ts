/** The job queue's depth and age, for /metrics. */
import type { Queryable } from '../control/db.js';
import type { QueueStats } from '../metrics.js';
import { QUEUE_SCHEMA } from './queue.js';

/** The job queue's depth and age, as /metrics reports them. */
export async function queueStats(db: Queryable): Promise<QueueStats> {
  const { rows } = await db.query<{ task: string; state: string; n: number; age: number | null }>(
    `SELECT t.identifier AS task,
            CASE WHEN j.locked_at IS NOT NULL THEN 'running' WHEN j.run_at <= now() THEN 'waiting' ELSE 'delayed' END AS state,
            count(*)::int AS n,
            extract(epoch FROM now() - min(j.run_at))::float8 AS age
       FROM ${QUEUE_SCHEMA}._private_jobs j
       JOIN ${QUEUE_SCHEMA}._private_tasks t ON t.id = j.task_id
      WHERE j.attempts < j.max_attempts OR j.locked_at IS NOT NULL
      GROUP BY 1, 2`,
  );
  const stats: QueueStats = { waiting: {}, running: {}, delayed: {}, oldestWaitingSeconds: {} };
  for (const r of rows) {
    if (r.state === 'waiting') {
      stats.waiting[r.task] = r.n;
      stats.oldestWaitingSeconds[r.task] = Math.max(0, r.age ?? 0);
    } else if (r.state === 'running') stats.running[r.task] = r.n;
    else stats.delayed[r.task] = r.n;
  }
  return stats;
}

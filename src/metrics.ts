/**
 * Prometheus metrics, served at /metrics. One registry per process; instruments are created once and
 * shared by the worker, the scheduler and the API. Queue depth and age are read from the control
 * store at scrape time (they describe the whole cluster, so every process reports the same values).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface QueueStats {
  /** Jobs waiting (runnable now), by task. */
  waiting: Record<string, number>;
  /** Jobs running, by task. */
  running: Record<string, number>;
  /** Jobs scheduled for later (retries with backoff), by task. */
  delayed: Record<string, number>;
  /** Seconds the oldest runnable job has been waiting, by task. */
  oldestWaitingSeconds: Record<string, number>;
}

export interface Metrics {
  registry: Registry;
  /** Finished transfers by status (succeeded, failed, cancelled, needs_attention, retrying). */
  transfers: Counter<'status' | 'kind'>;
  rowsDelivered: Counter<'model'>;
  bytesDelivered: Counter<'model'>;
  transferDuration: Histogram<'status'>;
  connectionTests: Counter<'outcome' | 'code'>;
  sourceQuerySeconds: Histogram<'model'>;
  /** Commit-safe reads: seconds between the read and its bound (an open transaction on the source holds it back). */
  watermarkLag: Gauge<'model'>;
  /** Reads that used the lookback instead of the commit-safe watermark, by reason. */
  watermarkFallbacks: Counter<'model' | 'reason'>;
  scheduled: Counter;
  workersRecovered: Counter;
  /** Reads queue depth and age with `read` at every scrape (jobs/queue-stats.ts's queueStats). */
  observeQueue(read: () => Promise<QueueStats>): void;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  let readQueue: (() => Promise<QueueStats>) | undefined;

  const depth = new Gauge({
    name: 'sluice_queue_jobs',
    help: 'Jobs in the queue by task and state (waiting = runnable now, delayed = retry backoff, running).',
    labelNames: ['task', 'state'] as const,
    registers: [registry],
    async collect() {
      if (!readQueue) return;
      this.reset();
      age.reset();
      const s = await readQueue();
      for (const [state, byTask] of [['waiting', s.waiting], ['running', s.running], ['delayed', s.delayed]] as const) {
        for (const [task, n] of Object.entries(byTask)) this.set({ task, state }, n);
      }
      for (const [task, seconds] of Object.entries(s.oldestWaitingSeconds)) age.set({ task }, seconds);
    },
  });
  const age = new Gauge({
    name: 'sluice_queue_oldest_waiting_seconds',
    help: 'Age of the oldest runnable job, by task.',
    labelNames: ['task'] as const,
    registers: [registry],
  });
  void depth;

  return {
    registry,
    transfers: new Counter({
      name: 'sluice_transfers_total',
      help: 'Finished transfer attempts by outcome.',
      labelNames: ['status', 'kind'] as const,
      registers: [registry],
    }),
    rowsDelivered: new Counter({
      name: 'sluice_rows_delivered_total',
      help: 'Rows delivered in committed files.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    bytesDelivered: new Counter({
      name: 'sluice_bytes_delivered_total',
      help: 'Bytes of committed files.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    transferDuration: new Histogram({
      name: 'sluice_transfer_duration_seconds',
      help: 'Wall time of transfer attempts.',
      labelNames: ['status'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    connectionTests: new Counter({
      name: 'sluice_connection_tests_total',
      help: 'Connection tests by outcome and error code (code "ok" when passed).',
      labelNames: ['outcome', 'code'] as const,
      registers: [registry],
    }),
    sourceQuerySeconds: new Histogram({
      name: 'sluice_source_query_seconds',
      help: 'Time spent reading a model from the source database.',
      labelNames: ['model'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers: [registry],
    }),
    watermarkLag: new Gauge({
      name: 'sluice_watermark_lag_seconds',
      help: 'Commit-safe watermark: how far behind its read the last bound of a model was; an open transaction on the source holds it back.',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    watermarkFallbacks: new Counter({
      name: 'sluice_watermark_fallbacks_total',
      help: 'Model reads that used the lookback instead of the commit-safe watermark, by reason (configured, cursor_type, replica, cannot_see_sessions, backfill).',
      labelNames: ['model', 'reason'] as const,
      registers: [registry],
    }),
    scheduled: new Counter({
      name: 'sluice_scheduled_transfers_total',
      help: 'Transfers enqueued by the scheduler in this process.',
      registers: [registry],
    }),
    workersRecovered: new Counter({
      name: 'sluice_dead_workers_recovered_total',
      help: 'Dead workers whose jobs this process unlocked.',
      registers: [registry],
    }),
    observeQueue(read) {
      readQueue = read;
    },
  };
}

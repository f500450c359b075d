-- Jobs: schedules and worker heartbeats. The queue itself is graphile-worker's
-- own schema (graphile_worker) in the same database; these tables hold what Sluice adds around it.

-- When the scheduler next enqueues a transfer for the destination; NULL = as soon as it is enabled
-- with a frequency. Advanced by the scheduler in the same transaction that enqueues the job.
ALTER TABLE destinations ADD COLUMN next_run_at timestamptz;
CREATE INDEX destinations_due ON destinations (next_run_at NULLS FIRST)
  WHERE enabled AND frequency_minutes IS NOT NULL AND status IN ('new', 'active');

-- One row per live worker pool (graphile-worker locks jobs with the pool id). A pool whose heartbeat is
-- older than the recovery bound is presumed dead: a live worker deletes its row and unlocks its jobs.
CREATE TABLE workers (
  id            text PRIMARY KEY,
  hostname      text NOT NULL,
  pid           integer NOT NULL,
  concurrency   integer NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now()
);

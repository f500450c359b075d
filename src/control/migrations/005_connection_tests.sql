-- Connection tests of saved destinations run as `connection_test` jobs on the queue. One row per
-- requested test: the API waits on it (or hands out its id), the worker fills in the outcome. The
-- destination's last_test_* fields still summarise the latest finished test.
CREATE TABLE connection_tests (
  id              text PRIMARY KEY,
  destination_id  text NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
  -- queued → running → passed | failed; `error` when the test could not run at all (e.g. the
  -- destination was deleted meanwhile): then `error` says why.
  status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'passed', 'failed', 'error')),
  requested_at    timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  -- The steps as the API returns them (codes, messages, durations): never credentials.
  result          jsonb,
  error           jsonb
);
CREATE INDEX connection_tests_destination ON connection_tests (destination_id, requested_at DESC);

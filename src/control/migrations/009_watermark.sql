-- The commit-safe watermark (docs/change-detection.md). A watermark remembers how it was fixed: a
-- commit-safe one is an exact bound (the next window starts at it, inclusive); a lookback one is the
-- last row read (the next window starts `lookback` before it). NULL = written before this migration,
-- which were all lookback watermarks.
ALTER TABLE watermarks
  ADD COLUMN method text CHECK (method IN ('commit_safe', 'lookback')),
  ADD COLUMN pending_method text CHECK (pending_method IN ('commit_safe', 'lookback'));

-- Each model's read records its method, why it fell back to a lookback, and how far an open
-- transaction on the source held the bound back (seconds), with that transaction's pid,
-- application name and start (never its query).
ALTER TABLE transfer_models
  ADD COLUMN watermark_method text CHECK (watermark_method IN ('commit_safe', 'lookback')),
  ADD COLUMN watermark_fallback text,
  ADD COLUMN watermark_lag_seconds double precision,
  ADD COLUMN watermark_held_by jsonb;

-- Live progress of a running transfer: rows, bytes and files of each model are written while it runs
-- (every few seconds); the planner's estimate of the model's rows gives progress bars a total.
ALTER TABLE transfer_models ADD COLUMN estimated_rows bigint;
ALTER TABLE transfer_models ADD COLUMN progress_at timestamptz;
-- Warnings of a finished transfer that are not errors (e.g. the recipient's tenant id matches no row).
ALTER TABLE transfers ADD COLUMN warnings jsonb;

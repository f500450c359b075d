-- Transfers, their per-model results, watermarks (with the manifest chain) and manifest signing keys.

CREATE TABLE transfers (
  id              text PRIMARY KEY,
  destination_id  text NOT NULL REFERENCES destinations(id),
  kind            text NOT NULL CHECK (kind IN ('INCREMENTAL', 'FULL_REFRESH', 'BACKFILL')),
  status          text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
  -- NULL = every model the destination exports.
  models          text[],
  -- Backfill range on the cursor column, as text the source casts to the cursor's type.
  range_from      text,
  range_to        text,
  requested_at    timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  -- SluiceError JSON {code, actor, message} when the transfer as a whole failed.
  error           jsonb,
  attempt         integer NOT NULL DEFAULT 0,
  cancel_requested boolean NOT NULL DEFAULT false,
  CHECK (kind = 'BACKFILL' OR (range_from IS NULL AND range_to IS NULL))
);
CREATE INDEX transfers_destination ON transfers (destination_id, requested_at DESC);
CREATE INDEX transfers_status ON transfers (status, requested_at DESC);

CREATE TABLE transfer_models (
  transfer_id     text NOT NULL REFERENCES transfers(id) ON DELETE CASCADE,
  model           text NOT NULL,
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  rows            bigint NOT NULL DEFAULT 0,
  bytes           bigint NOT NULL DEFAULT 0,
  files           integer NOT NULL DEFAULT 0,
  manifest_key    text,
  -- The window read: (window_from, window_to] on (cursor, primary key), JSON CursorPosition or NULL.
  window_from     jsonb,
  window_to       jsonb,
  started_at      timestamptz,
  finished_at     timestamptz,
  duration_ms     integer,
  error           jsonb,
  PRIMARY KEY (transfer_id, model)
);

-- Per destination and model: what has been committed. The watermark moves only after the manifest
-- listing the rows up to it exists in the bucket. `pending_*` is a manifest prepared (signed, stored
-- here) but not yet known to be in the bucket: the next run writes it again (a create of identical
-- bytes at the same key) and commits it, so a crash between the manifest and the commit neither
-- loses rows nor forks the chain.
CREATE TABLE watermarks (
  destination_id         text NOT NULL REFERENCES destinations(id),
  model                  text NOT NULL,
  -- CursorPosition JSON {cursor, primaryKey}; NULL before the first committed row.
  position               jsonb,
  -- When the read that produced `position` started (Sluice's clock, taken before the snapshot).
  read_at                timestamptz,
  last_transfer_id       text,
  last_manifest_key      text,
  last_manifest_sha256   text,
  pending_transfer_id    text,
  pending_manifest_key   text,
  pending_manifest       bytea,
  pending_position       jsonb,
  pending_read_at        timestamptz,
  -- Whether committing the pending manifest moves the watermark (not for backfills).
  pending_moves_watermark boolean,
  updated_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (destination_id, model),
  CHECK ((pending_manifest IS NULL) = (pending_manifest_key IS NULL))
);

-- Ed25519 keys that sign manifests. The private key (PKCS#8 DER) is encrypted with the secret box
-- under the context `manifest_key:<id>`; the public key is published by the API.
CREATE TABLE manifest_signing_keys (
  id            text PRIMARY KEY,
  algorithm     text NOT NULL DEFAULT 'Ed25519' CHECK (algorithm = 'Ed25519'),
  public_key    text NOT NULL,
  private_key   bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  retired_at    timestamptz
);
-- At most one key signs at a time.
CREATE UNIQUE INDEX manifest_signing_keys_active ON manifest_signing_keys ((true)) WHERE retired_at IS NULL;

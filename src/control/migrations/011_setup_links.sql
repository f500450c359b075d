-- Setup links: a provider hands a recipient a link to a hosted page where the recipient connects its
-- own bucket. The link's token is a capability; only its SHA-256 is stored. Opening the link once
-- exchanges it for a browser session (setup_sessions), also stored only as a hash.

CREATE TABLE setup_links (
  id                    text PRIMARY KEY,
  recipient_id          text NOT NULL REFERENCES recipients(id),
  -- SHA-256 of the token; the token itself is shown once, at creation.
  token_hash            bytea NOT NULL UNIQUE,
  -- The destination the page set up (or was pointed at); NULL until then.
  destination_id        text REFERENCES destinations(id),
  -- The audience the destination created through this link gets, so that its trust policy is final
  -- before the destination exists; NULL for a link to an existing destination (which has one).
  audience              text UNIQUE,
  -- Prefilled fields {bucket, region, prefix, format, frequencyMinutes}, what the recipient may choose
  -- {authMethods, formats, frequencies} and the provider's store settings {endpoint, forcePathStyle, …}.
  prefill               jsonb NOT NULL DEFAULT '{}',
  allowed               jsonb NOT NULL DEFAULT '{}',
  store                 jsonb NOT NULL DEFAULT '{}',
  return_url            text,
  created_by            text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  expires_at            timestamptz NOT NULL,
  -- Set when the token was exchanged for a session: a token opens one browser session only.
  used_at               timestamptz,
  revoked_at            timestamptz,
  -- Connection tests requested through the link: at most N per window (rate limit).
  test_window_start     timestamptz,
  tests_in_window       integer NOT NULL DEFAULT 0,
  first_transfer_id     text
);
CREATE INDEX setup_links_recipient ON setup_links (recipient_id, created_at DESC);

CREATE TABLE setup_sessions (
  -- SHA-256 of the session cookie's value.
  id_hash      bytea PRIMARY KEY,
  link_id      text NOT NULL REFERENCES setup_links(id) ON DELETE CASCADE,
  -- Sent back by the page in X-CSRF-Token on every state-changing request.
  csrf_token   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX setup_sessions_link ON setup_sessions (link_id);

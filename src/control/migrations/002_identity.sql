-- Signing keys of Sluice's own OIDC issuer (SLUICE_IDENTITY=oidc).
--
-- A key's life: published (in the JWKS, not yet signing, so verifiers' caches learn it first)
-- → active (the one signing key) → previous (no longer signing, still in the JWKS until every token
-- it signed has expired) → retired (out of the JWKS; its private key is erased).
-- Times are set by Sluice, not by now(), so the rotation schedule is one clock.

CREATE TABLE identity_keys (
  -- RFC 7638 thumbprint of the public key: the JWK's `kid`.
  kid               text PRIMARY KEY,
  algorithm         text NOT NULL DEFAULT 'RS256' CHECK (algorithm = 'RS256'),
  state             text NOT NULL CHECK (state IN ('published', 'active', 'previous', 'retired')),
  -- Public JWK as served, including `x5c` (the self-signed certificate RGW verifies with).
  public_jwk        jsonb NOT NULL,
  -- AES-256-GCM ciphertext (control/secrets.ts, context `identity_key:<kid>`) of the PKCS#8 PEM.
  -- NULL once retired: a key nobody may verify against any more is not worth keeping.
  private_key       bytea,
  published_at      timestamptz NOT NULL,
  -- Earliest time the key may sign: published_at + the publish lead time.
  activates_at      timestamptz NOT NULL,
  activated_at      timestamptz,
  -- When another key took over signing; the key stays published until retire_at.
  signing_ended_at  timestamptz,
  retire_at         timestamptz,
  retired_at        timestamptz,
  CHECK ((state = 'retired') = (private_key IS NULL)),
  CHECK (state NOT IN ('active', 'previous') OR activated_at IS NOT NULL),
  CHECK (state <> 'previous' OR (signing_ended_at IS NOT NULL AND retire_at IS NOT NULL))
);

-- At most one signing key, whatever several processes do at once.
CREATE UNIQUE INDEX identity_keys_one_active ON identity_keys (state) WHERE state = 'active';
CREATE INDEX identity_keys_live ON identity_keys (state) WHERE state <> 'retired';

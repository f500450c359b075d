-- Core control-store tables: recipients, destinations and operator API keys.
-- Identifiers are text with a type prefix (rcp_, dst_, key_) so a wrong id is obvious in logs.

CREATE TABLE recipients (
  id           text PRIMARY KEY,
  name         text NOT NULL,
  tenant_id    text NOT NULL UNIQUE,
  disabled_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE destinations (
  id                  text PRIMARY KEY,
  recipient_id        text NOT NULL REFERENCES recipients(id),
  name                text NOT NULL,
  -- Server-generated, immutable, URL-safe: the `aud` of every token minted for this destination.
  audience            text NOT NULL UNIQUE,
  bucket              text NOT NULL,
  region              text NOT NULL,
  prefix              text NOT NULL DEFAULT '',
  auth_kind           text NOT NULL CHECK (auth_kind IN ('role', 'access_key')),
  role_arn            text,
  -- Account that owns the bucket (from the role ARN, or learnt with GetCallerIdentity): ExpectedBucketOwner.
  account_id          text,
  access_key_id       text,
  -- AES-256-GCM ciphertext of the secret access key (see control/secrets.ts); never returned by the API.
  secret_access_key   bytea,
  endpoint            text,
  force_path_style    boolean NOT NULL DEFAULT false,
  kms_key_arn         text,
  -- S3-compatible stores differ: these switch off what a store rejects.
  conditional_writes  boolean NOT NULL DEFAULT true,
  request_checksums   boolean NOT NULL DEFAULT true,
  format              text NOT NULL DEFAULT 'parquet' CHECK (format IN ('parquet', 'csv', 'jsonl')),
  compression         text,
  -- NULL = every model in the configuration.
  models              text[],
  frequency_minutes   integer CHECK (frequency_minutes IN (15, 60, 360, 720, 1440)),
  enabled             boolean NOT NULL DEFAULT false,
  status              text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'active', 'needs_attention', 'disabled')),
  last_error          jsonb,
  last_test_at        timestamptz,
  last_test_passed    boolean,
  disabled_at         timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((auth_kind = 'role') = (role_arn IS NOT NULL)),
  CHECK ((auth_kind = 'access_key') = (access_key_id IS NOT NULL AND secret_access_key IS NOT NULL))
);
CREATE INDEX destinations_recipient ON destinations (recipient_id);
CREATE INDEX destinations_role_arn ON destinations (role_arn) WHERE role_arn IS NOT NULL;

CREATE TABLE api_keys (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  -- SHA-256 of the whole key; the key itself is shown once, at creation.
  key_hash      bytea NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

-- The trust gate (src/transfer/delivery-gate.ts, docs/trust.md): a destination delivers only while its
-- latest connection test passed and nothing that test covered has changed since.

-- What a connection test covers, as one value: where Sluice writes (bucket, region, prefix, endpoint,
-- path style, KMS key) and as whom (audience, auth kind, role ARN or access key id and a digest of the
-- encrypted secret). The account id is left out on purpose: the test itself fills it in for access
-- keys. A passing test stores the fingerprint of the configuration it tested; the gate compares it
-- with the current one, so any change made during or after the test needs a new test.
CREATE FUNCTION trust_fingerprint(d destinations) RETURNS text
  LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(
      d.audience, d.bucket, d.region, d.prefix, d.endpoint, d.force_path_style, d.kms_key_arn,
      d.auth_kind, d.role_arn, d.access_key_id,
      CASE WHEN d.secret_access_key IS NULL THEN NULL ELSE encode(sha256(d.secret_access_key), 'hex') END
    )::text, 'UTF8')), 'hex')
  $$;

ALTER TABLE destinations
  -- trust_fingerprint() of the configuration the latest passing connection test tested; NULL when the
  -- latest test failed or none passed yet.
  ADD COLUMN tested_fingerprint text,
  -- The role as IAM identifies it: '<account id>:<role name, lower-cased>' (partition and path do not
  -- make a different role; IAM role names are unique regardless of case). One recipient per role.
  ADD COLUMN role_identity text,
  -- A deleted destination keeps its transfer history but is gone from views, schedules and the
  -- one-recipient-per-role rule.
  ADD COLUMN deleted_at timestamptz;

UPDATE destinations
   SET role_identity = m[1] || ':' || lower(m[2])
  FROM (SELECT id, regexp_match(role_arn, '^arn:[a-z-]+:iam::([0-9]*):role/(?:.*/)?([^/]+)$') AS m
          FROM destinations WHERE role_arn IS NOT NULL) parsed
 WHERE parsed.id = destinations.id AND parsed.m IS NOT NULL;

-- Destinations tested before the gate existed keep delivering when their last test passed: that test
-- covered the settings they have now (any change since reset last_test_passed).
UPDATE destinations d SET tested_fingerprint = trust_fingerprint(d) WHERE d.last_test_passed;

CREATE INDEX destinations_role_identity ON destinations (role_identity) WHERE role_identity IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX destinations_access_key_id ON destinations (access_key_id) WHERE access_key_id IS NOT NULL AND deleted_at IS NULL;

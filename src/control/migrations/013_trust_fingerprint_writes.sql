-- The connection test writes its object as transfers write theirs: a conditional create
-- (If-None-Match: *) when conditional_writes is on, with request checksums when request_checksums is.
-- A test passed under one of these settings says nothing about the other (a store may refuse either),
-- so both join the trust fingerprint (006) and changing them asks for a new test.
-- Destinations whose passing test covered the settings they have now keep delivering.
CREATE TEMP TABLE fingerprint_current ON COMMIT DROP AS
  SELECT d.id FROM destinations d WHERE d.tested_fingerprint = trust_fingerprint(d);

CREATE OR REPLACE FUNCTION trust_fingerprint(d destinations) RETURNS text
  LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(
      d.audience, d.bucket, d.region, d.prefix, d.endpoint, d.force_path_style, d.kms_key_arn,
      d.auth_kind, d.role_arn, d.access_key_id,
      CASE WHEN d.secret_access_key IS NULL THEN NULL ELSE encode(sha256(d.secret_access_key), 'hex') END,
      d.conditional_writes, d.request_checksums
    )::text, 'UTF8')), 'hex')
  $$;

UPDATE destinations d SET tested_fingerprint = trust_fingerprint(d) WHERE d.id IN (SELECT id FROM fingerprint_current);

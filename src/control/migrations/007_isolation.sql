-- API key scopes. A key is an operator key (everything), a read-only key (every GET, nothing that
-- changes state), or a recipient key (only that recipient's destinations, transfers and setup links).
-- Keys made before scopes existed keep working as operator keys: the default.
ALTER TABLE api_keys
  ADD COLUMN scope text NOT NULL DEFAULT 'operator' CHECK (scope IN ('operator', 'read_only', 'recipient')),
  ADD COLUMN recipient_id text REFERENCES recipients(id),
  ADD CONSTRAINT api_keys_scope_recipient CHECK ((scope = 'recipient') = (recipient_id IS NOT NULL));
CREATE INDEX api_keys_recipient ON api_keys (recipient_id) WHERE recipient_id IS NOT NULL;

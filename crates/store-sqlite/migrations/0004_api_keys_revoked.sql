-- Replicas poll for recently revoked keys (`api_keys_revoked_since`) to drop them from their
-- caches of verified credentials; only revoked rows are indexed.
CREATE INDEX api_keys_revoked ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;

-- API keys and service tokens: long-lived credentials that act for a subject. Only the SHA-256 of
-- each secret is stored (the secrets carry 256 random bits, so a plain hash is enough); rows are
-- revoked, never deleted, so an audit can still name the key that made a request.
--
-- A service token is the only kind with a client id, and it always has one. `scopes` holds
-- space-separated scope tokens. Timestamps are INTEGER microseconds since the Unix epoch (UTC), as
-- in 0001.
CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    secret_hash  BLOB    NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    subject      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('api_key', 'service_token')),
    client_id    TEXT    UNIQUE,
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    CHECK ((kind = 'service_token') = (client_id IS NOT NULL))
) STRICT;

-- Listing a subject's keys, oldest first.
CREATE INDEX api_keys_subject ON api_keys (subject, created_at, id);

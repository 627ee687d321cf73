-- The authorization server: grants (a user's authorization of a client for one resource, and
-- the refresh-token family that carries it), authorization codes, refresh tokens, revoked access
-- tokens, and remembered consents. Codes and refresh tokens are stored only as SHA-256 hashes.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC), as in 0001.
CREATE TABLE oauth_grants (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    amr        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX oauth_grants_subject ON oauth_grants (subject, created_at);
-- Replicas poll for recently revoked grants.
CREATE INDEX oauth_grants_revoked ON oauth_grants (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX oauth_grants_expires ON oauth_grants (expires_at);

CREATE TABLE oauth_codes (
    code_hash      BLOB    NOT NULL PRIMARY KEY CHECK (length(code_hash) = 32),
    client_id      TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    nonce          TEXT,
    auth_time      INTEGER NOT NULL,
    amr            TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    consumed_at    INTEGER,
    grant_id       TEXT
) STRICT;

CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

CREATE TABLE oauth_refresh_tokens (
    token_hash     BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id       TEXT    NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    successor_hash BLOB CHECK (successor_hash IS NULL OR length(successor_hash) = 32),
    retried_at     INTEGER
) STRICT;

CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_expires ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_revoked_access_tokens (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
) STRICT;

CREATE INDEX oauth_revoked_access_tokens_revoked ON oauth_revoked_access_tokens (revoked_at);

CREATE TABLE oauth_consents (
    subject      TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    redirect_uri TEXT    NOT NULL,
    resource     TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id, redirect_uri, resource)
) STRICT;

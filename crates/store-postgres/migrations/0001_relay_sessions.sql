-- Relay sessions: the Mcp-Session-Id values clients hold for a 2025-era upstream, keyed by upstream
-- and the SHA-256 of the id (never the id itself).
CREATE TABLE relay_sessions (
    upstream         TEXT        NOT NULL,
    id_hash          BYTEA       NOT NULL CHECK (octet_length(id_hash) = 32),
    protocol_version TEXT,
    principal        TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    last_seen_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (upstream, id_hash)
);

-- The janitor purges by idle time.
CREATE INDEX relay_sessions_last_seen_at ON relay_sessions (last_seen_at);

-- Relay sessions: the Mcp-Session-Id values clients hold for a 2025-era upstream, keyed by upstream
-- and the SHA-256 of the id (never the id itself).
--
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): they compare as instants, which
-- RFC 3339 text with variable fractions and offsets would not, and they keep the same resolution as
-- PostgreSQL's TIMESTAMPTZ.
CREATE TABLE relay_sessions (
    upstream         TEXT    NOT NULL,
    id_hash          BLOB    NOT NULL CHECK (length(id_hash) = 32),
    protocol_version TEXT,
    principal        TEXT,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    PRIMARY KEY (upstream, id_hash)
) STRICT, WITHOUT ROWID;

-- The janitor purges by idle time.
CREATE INDEX relay_sessions_last_seen_at ON relay_sessions (last_seen_at);

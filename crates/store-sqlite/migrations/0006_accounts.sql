-- Local accounts and the browser sessions of people signed in with them.
--
-- `username_key` is the username in lower case as Portcullis computes it (never SQLite's own
-- case folding, so every backend agrees); its uniqueness makes usernames unique without regard to
-- case. `password_hash` is an Argon2id PHC string, NULL for an account without a password.
-- Booleans are INTEGER 0 or 1 (STRICT tables have no BOOLEAN). Timestamps are INTEGER
-- microseconds since the Unix epoch (UTC), as in 0001.
CREATE TABLE users (
    id                   TEXT    NOT NULL PRIMARY KEY,
    username             TEXT    NOT NULL,
    username_key         TEXT    NOT NULL UNIQUE,
    email                TEXT    NOT NULL,
    email_verified       INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
    display_name         TEXT,
    tenant               TEXT,
    status               TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash        TEXT,
    must_change_password INTEGER NOT NULL CHECK (must_change_password IN (0, 1)),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 of each session's secret is stored. `amr` holds space-separated RFC 8176
-- method references. A user's sessions go with the user.
CREATE TABLE browser_sessions (
    id_hash             BLOB    NOT NULL PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id             TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    auth_time           INTEGER NOT NULL,
    amr                 TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- Ending every session of a user; purging expired sessions.
CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);
CREATE INDEX browser_sessions_idle_expires_at ON browser_sessions (idle_expires_at);
CREATE INDEX browser_sessions_absolute_expires_at ON browser_sessions (absolute_expires_at);

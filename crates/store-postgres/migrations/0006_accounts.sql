-- Local accounts and the browser sessions of people signed in with them.
--
-- `username_key` is the username in lower case as Portcullis computes it (never PostgreSQL's
-- `lower()`, whose result depends on the database's locale, so every backend agrees); its
-- uniqueness makes usernames unique without regard to case. `password_hash` is an Argon2id PHC
-- string, NULL for an account without a password.
CREATE TABLE users (
    id                   TEXT        NOT NULL PRIMARY KEY,
    username             TEXT        NOT NULL,
    username_key         TEXT        NOT NULL UNIQUE,
    email                TEXT        NOT NULL,
    email_verified       BOOLEAN     NOT NULL,
    display_name         TEXT,
    tenant               TEXT,
    status               TEXT        NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash        TEXT,
    must_change_password BOOLEAN     NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);

-- Listing users by username, compared byte-wise as in every backend.
CREATE INDEX users_username_key ON users (username_key COLLATE "C");

-- Only the SHA-256 of each session's secret is stored. `amr` holds space-separated RFC 8176
-- method references. A user's sessions go with the user.
CREATE TABLE browser_sessions (
    id_hash             BYTEA       NOT NULL PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    user_id             TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          TIMESTAMPTZ NOT NULL,
    last_seen_at        TIMESTAMPTZ NOT NULL,
    idle_expires_at     TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    auth_time           TIMESTAMPTZ NOT NULL,
    amr                 TEXT        NOT NULL
);

-- Ending every session of a user; purging expired sessions.
CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);
CREATE INDEX browser_sessions_idle_expires_at ON browser_sessions (idle_expires_at);
CREATE INDEX browser_sessions_absolute_expires_at ON browser_sessions (absolute_expires_at);

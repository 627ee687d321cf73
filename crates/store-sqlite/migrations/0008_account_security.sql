-- What protects a local account beyond its password: second factors, recovery codes and the
-- failure counters that slow down guessing. Timestamps are INTEGER microseconds since the Unix
-- epoch (UTC), as in 0001.

-- A TOTP factor's `data` is its secret sealed under the encryption keys; a passkey's is its
-- public credential. `last_step` is the last TOTP time step accepted (replays are refused).
CREATE TABLE mfa_factors (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name         TEXT    NOT NULL,
    data         BLOB    NOT NULL,
    last_step    INTEGER,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;

CREATE INDEX mfa_factors_user_id ON mfa_factors (user_id, created_at);

-- Only the SHA-256 of each recovery code is stored.
CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL CHECK (length(code_hash) = 32),
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT, WITHOUT ROWID;

-- Failure counters by key (`user:<username key>`, `addr:<address>`).
CREATE TABLE auth_throttles (
    key             TEXT    NOT NULL PRIMARY KEY,
    failures        INTEGER NOT NULL CHECK (failures > 0),
    last_failure_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX auth_throttles_last_failure_at ON auth_throttles (last_failure_at);

-- A user's sessions, newest first, for the account page.
CREATE INDEX browser_sessions_user_created ON browser_sessions (user_id, created_at);

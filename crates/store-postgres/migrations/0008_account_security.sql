-- What protects a local account beyond its password: second factors, recovery codes and the
-- failure counters that slow down guessing.

-- A TOTP factor's `data` is its secret sealed under the encryption keys; a passkey's is its
-- public credential. `last_step` is the last TOTP time step accepted (replays are refused).
CREATE TABLE mfa_factors (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name         TEXT    NOT NULL,
    data         BYTEA   NOT NULL,
    last_step    BIGINT,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);

CREATE INDEX mfa_factors_user_id ON mfa_factors (user_id, created_at);

-- Only the SHA-256 of each recovery code is stored.
CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA   NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- Failure counters by key (`user:<username key>`, `addr:<address>`).
CREATE TABLE auth_throttles (
    key             TEXT    NOT NULL PRIMARY KEY,
    failures        INTEGER NOT NULL CHECK (failures > 0),
    last_failure_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX auth_throttles_last_failure_at ON auth_throttles (last_failure_at);

-- A user's sessions, newest first, for the account page.
CREATE INDEX browser_sessions_user_created ON browser_sessions (user_id, created_at);

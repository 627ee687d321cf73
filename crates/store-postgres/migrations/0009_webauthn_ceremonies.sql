-- WebAuthn ceremonies in progress: the server's half of a passkey registration or sign-in (the
-- challenge and what the answer must match), kept here rather than in the browser, which could
-- replay it. Each is bound to the browser session that started it (the SHA-256 of the session
-- id), taken once (deleted as it is read), and short-lived.
CREATE TABLE webauthn_ceremonies (
    id           TEXT    NOT NULL PRIMARY KEY,
    session_hash BYTEA   NOT NULL CHECK (octet_length(session_hash) = 32),
    kind         TEXT    NOT NULL CHECK (kind IN ('registration', 'authentication')),
    state        BYTEA   NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);

-- One ceremony of each kind per session: a new one replaces the old.
CREATE UNIQUE INDEX webauthn_ceremonies_session_kind ON webauthn_ceremonies (session_hash, kind);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);

-- Signing in through identity providers: identities linked to accounts, sign-ins waiting for a
-- provider's callback, and the providers' tokens kept for upstreams.

-- An identity is named by (provider, subject), the provider's stable id for the person, and
-- goes with its account.
CREATE TABLE external_identities (
    provider        TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email           TEXT,
    email_verified  BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_sign_in_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE INDEX external_identities_user_id ON external_identities (user_id, created_at);

-- Only the SHA-256 of each state is stored; the PKCE verifier is sealed.
CREATE TABLE federation_states (
    state_hash    BYTEA   NOT NULL PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    provider      TEXT    NOT NULL,
    browser_hash  BYTEA   NOT NULL CHECK (octet_length(browser_hash) = 32),
    nonce         TEXT    NOT NULL,
    code_verifier BYTEA   NOT NULL,
    return_to     TEXT,
    link_user_id  TEXT    REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX federation_states_expires_at ON federation_states (expires_at);

-- `sealed` holds the access and refresh token sealed under the encryption keys.
CREATE TABLE provider_tokens (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT    NOT NULL,
    sealed     BYTEA   NOT NULL,
    expires_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, provider)
);

-- Linking by email address.
CREATE INDEX users_email ON users (lower(email));

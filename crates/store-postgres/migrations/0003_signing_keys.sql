-- Portcullis's own signing keys: the keys its tokens are signed with and its JWKS publishes.
-- The private key is stored sealed (AES-256-GCM under a key the database never sees, bound to the
-- row's kid); the public JWK is JSON text, kept in clear so keys can be listed and published.
--
-- `not_before` is the earliest instant a key may sign; `retire_after`, NULL while the key is
-- current, is when it leaves the JWKS.
CREATE TABLE signing_keys (
    kid                TEXT        NOT NULL PRIMARY KEY,
    alg                TEXT        NOT NULL,
    public_jwk         TEXT        NOT NULL,
    private_key_sealed BYTEA       NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    not_before         TIMESTAMPTZ NOT NULL,
    retire_after       TIMESTAMPTZ
);

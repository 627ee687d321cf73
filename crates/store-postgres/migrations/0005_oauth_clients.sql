-- OAuth clients of Portcullis's authorization server: pre-registered by an operator (`admin`) or
-- registered by the client itself (`dynamic`, RFC 7591). Clients of the configuration file and
-- clients identified by the URL of their metadata document are not normally stored; the source
-- column can still name them. Only SHA-256 hashes of secrets are kept: the client secret of a
-- confidential client and the registration access token (RFC 7592) of a dynamic one.
--
-- `jwks` is the client's key set as JSON text (TEXT, not JSONB: it reads back byte for byte).
-- `expires_at` is when a dynamic registration that was never used (`last_used_at` unset) is
-- purged.
CREATE TABLE oauth_clients (
    client_id                      TEXT        NOT NULL PRIMARY KEY,
    source                         TEXT        NOT NULL
        CHECK (source IN ('config', 'admin', 'dynamic', 'metadata_document')),
    name                           TEXT        NOT NULL,
    redirect_uris                  TEXT[]      NOT NULL,
    grant_types                    TEXT[]      NOT NULL,
    response_types                 TEXT[]      NOT NULL,
    token_endpoint_auth_method     TEXT        NOT NULL
        CHECK (token_endpoint_auth_method IN
               ('none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt')),
    secret_hash                    BYTEA       CHECK (octet_length(secret_hash) = 32),
    secret_expires_at              TIMESTAMPTZ,
    jwks                           TEXT,
    jwks_uri                       TEXT,
    scope                          TEXT,
    application_type               TEXT        NOT NULL CHECK (application_type IN ('native', 'web')),
    client_uri                     TEXT,
    logo_uri                       TEXT,
    registration_access_token_hash BYTEA       CHECK (octet_length(registration_access_token_hash) = 32),
    created_at                     TIMESTAMPTZ NOT NULL,
    expires_at                     TIMESTAMPTZ,
    last_used_at                   TIMESTAMPTZ
);

-- Listing clients, oldest first (ids compare byte-wise, as in every backend).
CREATE INDEX oauth_clients_created ON oauth_clients (created_at, client_id COLLATE "C");
-- The janitor deletes unused dynamic registrations past their expiry; only those rows are indexed.
CREATE INDEX oauth_clients_unused ON oauth_clients (expires_at)
    WHERE last_used_at IS NULL AND expires_at IS NOT NULL;

-- OAuth clients of Portcullis's authorization server: pre-registered by an operator (`admin`) or
-- registered by the client itself (`dynamic`, RFC 7591). Clients of the configuration file and
-- clients identified by the URL of their metadata document are not normally stored; the source
-- column can still name them. Only SHA-256 hashes of secrets are kept: the client secret of a
-- confidential client and the registration access token (RFC 7592) of a dynamic one.
--
-- `redirect_uris`, `grant_types` and `response_types` are JSON arrays of strings; `jwks` is the
-- client's key set as JSON text. `expires_at` is when a dynamic registration that was never used
-- (`last_used_at` unset) is purged. Timestamps are INTEGER microseconds since the Unix epoch
-- (UTC), as in 0001.
CREATE TABLE oauth_clients (
    client_id                      TEXT    NOT NULL PRIMARY KEY,
    source                         TEXT    NOT NULL
        CHECK (source IN ('config', 'admin', 'dynamic', 'metadata_document')),
    name                           TEXT    NOT NULL,
    redirect_uris                  TEXT    NOT NULL,
    grant_types                    TEXT    NOT NULL,
    response_types                 TEXT    NOT NULL,
    token_endpoint_auth_method     TEXT    NOT NULL
        CHECK (token_endpoint_auth_method IN
               ('none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt')),
    secret_hash                    BLOB    CHECK (length(secret_hash) = 32),
    secret_expires_at              INTEGER,
    jwks                           TEXT,
    jwks_uri                       TEXT,
    scope                          TEXT,
    application_type               TEXT    NOT NULL CHECK (application_type IN ('native', 'web')),
    client_uri                     TEXT,
    logo_uri                       TEXT,
    registration_access_token_hash BLOB    CHECK (length(registration_access_token_hash) = 32),
    created_at                     INTEGER NOT NULL,
    expires_at                     INTEGER,
    last_used_at                   INTEGER
) STRICT;

-- Listing clients, oldest first.
CREATE INDEX oauth_clients_created ON oauth_clients (created_at, client_id);
-- The janitor deletes unused dynamic registrations past their expiry; only those rows are indexed.
CREATE INDEX oauth_clients_unused ON oauth_clients (expires_at)
    WHERE last_used_at IS NULL AND expires_at IS NOT NULL;

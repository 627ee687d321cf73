//! PostgreSQL implementation of the Store trait, with its migrations: the store for several
//! replicas behind a load balancer.
//!
//! Timestamps are `TIMESTAMPTZ` (microsecond resolution), hashes `BYTEA`. Each write is a single
//! statement, which PostgreSQL runs as its own transaction; methods that will need several
//! statements open an explicit transaction. Migrations take sqlx's session-level advisory lock
//! (keyed by the database name), so replicas that start together migrate one at a time.

mod account_security;
mod audit;
mod authorization;
mod authorization_model;
mod changes;
mod error;
mod federation;
mod migrations;
#[cfg(test)]
mod tests;
mod webauthn;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_store::columns::{
    BROWSER_SESSION_COLUMNS, BrowserSessionColumns, USER_COLUMNS, UserColumns,
    browser_session_from_columns, user_from_columns,
};
use portcullis_store::{
    Announce, ApiKey, ApiKeyKind, ApplicationType, AuditEvent, AuditOutcome, AuditQuery,
    AuditRecord, AuthorizationCode, BrowserSession, CeremonyKind, Change, ChangeSignals, Client,
    ClientSource, CodeRedemption, Consent, ExternalIdentity, Factor, FactorUse, FederationState,
    Grant, ProviderToken, RefreshRotation, RefreshToken, RelaySession, RevokedAccessToken,
    SessionKey, SigningKey, Store, StoreError, StoredRole, StoredRoleGrant, Throttle,
    TokenEndpointAuthMethod, User, UserStatus, WebauthnCeremony, username_key,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};
use time::OffsetDateTime;

use crate::error::{from_migrate, from_sqlx};

/// How long a call waits for a pooled connection (or a new one) before failing with `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per replica.
const MAX_CONNECTIONS: u32 = 10;

/// A [`Store`] in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Told after each commit of a [`Change`] (the Redis fan-out), besides NOTIFY.
    announce: Option<Arc<dyn Announce>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://` or `postgresql://`, with the usual libpq-style parameters
    /// such as `sslmode` and `options`), opening one connection to check that the server answers.
    ///
    /// Does not migrate; call [`PostgresStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Config(
                "a PostgreSQL store URL starts with `postgres://` or `postgresql://`".to_owned(),
            ));
        }
        // The error says what is wrong with the URL without repeating it: it may hold a password.
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|err| StoreError::Config(format!("invalid PostgreSQL store URL: {err}")))?;
        if options.get_application_name().is_none() {
            options = options.application_name("portcullis");
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(from_sqlx)?;
        tracing::debug!("opened postgres store");
        Ok(Self {
            pool,
            announce: None,
        })
    }

    /// Applies the migrations this binary carries that the database lacks.
    ///
    /// Idempotent and safe to run from several processes at once: sqlx's migrator holds
    /// `pg_advisory_lock` for the whole run, so the others wait and then find nothing to do. A
    /// database that holds a migration this binary does not know (a newer binary migrated it) is
    /// refused with [`StoreError::Migration`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(from_sqlx)?;
        // The advisory lock belongs to the session and sqlx only unlocks it on success, so the
        // connection must not go back to the pool (still holding the lock) after a failure or a
        // cancelled call. Closing it after every run ends the session and releases the lock.
        conn.close_on_drop();
        // `run_direct` rather than `run`: `run`'s `Acquire` bound makes this future impossible to
        // `tokio::spawn` ("implementation of `Acquire` is not general enough").
        migrations::migrator()
            .run_direct(None, &mut *conn, false)
            .await
            .map_err(from_migrate)
    }

    /// Tells `announce` after each commit of a role, grant or revocation change, besides the
    /// NOTIFY every such commit sends (see [`changes`]).
    pub fn with_announcer(mut self, announce: Arc<dyn Announce>) -> Self {
        self.announce = Some(announce);
        self
    }

    async fn announced<T>(
        &self,
        change: Change,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if result.is_ok()
            && let Some(announce) = &self.announce
        {
            announce.announce(change).await;
        }
        result
    }

    /// Closes every connection, waiting for calls in flight; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `at` rounded up to the microsecond: the purge cut-off that, compared with stored values (kept to
/// the microsecond), selects exactly the rows stored from instants before `at`.
fn ceil_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let sub_micros = at.nanosecond() % 1_000;
    if sub_micros == 0 {
        return at;
    }
    at.checked_add(time::Duration::nanoseconds(i64::from(1_000 - sub_micros)))
        .unwrap_or(at)
}

/// The columns of `api_keys` in the order [`ApiKeyRow`] reads them.
const API_KEY_COLUMNS: &str = "id, secret_hash, subject, name, kind, client_id, scopes, \
                               created_at, expires_at, last_used_at, revoked_at";

/// The order of [`Store::api_key_list`]. Ids compare byte-wise (`COLLATE "C"`), as they do in
/// every other backend, whatever the database's collation.
const API_KEY_ORDER: &str = "ORDER BY created_at, id COLLATE \"C\"";

/// One `api_keys` row as PostgreSQL returns it.
type ApiKeyRow = (
    String,
    Vec<u8>,
    String,
    String,
    String,
    Option<String>,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
    Option<OffsetDateTime>,
);

fn api_key_from_row(row: ApiKeyRow) -> Result<ApiKey, StoreError> {
    let (
        id,
        secret_hash,
        subject,
        name,
        kind,
        client_id,
        scopes,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    ) = row;
    // The table's CHECK constraints rule both of these out; a failure means a damaged database.
    let secret_hash = <[u8; 32]>::try_from(secret_hash)
        .map_err(|_| StoreError::Backend(format!("api key {id:?}: secret hash is not 32 bytes")))?;
    let kind = ApiKeyKind::from_columns(&kind, client_id).ok_or_else(|| {
        StoreError::Backend(format!(
            "api key {id:?}: kind {kind:?} and client id disagree"
        ))
    })?;
    Ok(ApiKey {
        id,
        secret_hash,
        subject,
        name,
        kind,
        scopes,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    })
}

/// One `signing_keys` row as PostgreSQL returns it, in the order of `signing_key_list`'s SELECT.
type SigningKeyRow = (
    String,
    String,
    String,
    Vec<u8>,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
);

/// The columns of `oauth_clients` in the order [`client_from_row`] reads them.
const CLIENT_COLUMNS: &str = "client_id, source, name, redirect_uris, grant_types, response_types, \
     token_endpoint_auth_method, secret_hash, secret_expires_at, jwks, jwks_uri, scope, \
     application_type, client_uri, logo_uri, registration_access_token_hash, created_at, \
     expires_at, last_used_at";

fn optional_hash(
    bytes: Option<Vec<u8>>,
    id: &str,
    column: &str,
) -> Result<Option<[u8; 32]>, StoreError> {
    // The table's CHECK constraints rule this out; a failure means a damaged database.
    bytes
        .map(|b| {
            <[u8; 32]>::try_from(b).map_err(|_| {
                StoreError::Backend(format!("client {id:?}: {column} is not 32 bytes"))
            })
        })
        .transpose()
}

/// The columns an update replaces (all but the identity, the creation time and the last use),
/// in the order [`bind_replaceable`] binds them.
const CLIENT_REPLACEABLE_COLUMNS: &str = "name, redirect_uris, grant_types, response_types, \
     token_endpoint_auth_method, secret_hash, secret_expires_at, jwks, jwks_uri, scope, \
     application_type, client_uri, logo_uri, registration_access_token_hash, expires_at";
/// Placeholders for [`CLIENT_REPLACEABLE_COLUMNS`] after four others (an insert) or one (an
/// update).
const CLIENT_REPLACEABLE_VALUES_FROM_5: &str =
    "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19";
const CLIENT_REPLACEABLE_VALUES_FROM_2: &str =
    "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16";

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds the [`CLIENT_REPLACEABLE_COLUMNS`] of `client`.
fn bind_replaceable<'q>(query: PgQuery<'q>, client: &'q Client) -> PgQuery<'q> {
    query
        .bind(&client.name)
        .bind(&client.redirect_uris)
        .bind(&client.grant_types)
        .bind(&client.response_types)
        .bind(client.token_endpoint_auth_method.as_str())
        .bind(client.secret_hash.as_ref().map(|h| h.as_slice()))
        .bind(client.secret_expires_at)
        .bind(client.jwks.as_deref())
        .bind(client.jwks_uri.as_deref())
        .bind(client.scope.as_deref())
        .bind(client.application_type.as_str())
        .bind(client.client_uri.as_deref())
        .bind(client.logo_uri.as_deref())
        .bind(
            client
                .registration_access_token_hash
                .as_ref()
                .map(|h| h.as_slice()),
        )
        .bind(client.expires_at)
}

/// One `oauth_clients` row, read by position (the row has more columns than sqlx's tuples take).
fn client_from_row(row: &PgRow) -> Result<Client, StoreError> {
    fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
        row: &'r PgRow,
        i: usize,
    ) -> Result<T, StoreError> {
        row.try_get(i).map_err(from_sqlx)
    }
    let id: String = get(row, 0)?;
    let bad = |column: &str, value: &str| {
        StoreError::Backend(format!("client {id:?}: unknown {column} {value:?}"))
    };
    let source: String = get(row, 1)?;
    let method: String = get(row, 6)?;
    let application_type: String = get(row, 12)?;
    Ok(Client {
        source: ClientSource::parse(&source).ok_or_else(|| bad("source", &source))?,
        name: get(row, 2)?,
        redirect_uris: get(row, 3)?,
        grant_types: get(row, 4)?,
        response_types: get(row, 5)?,
        token_endpoint_auth_method: TokenEndpointAuthMethod::parse(&method)
            .ok_or_else(|| bad("token_endpoint_auth_method", &method))?,
        secret_hash: optional_hash(get(row, 7)?, &id, "secret_hash")?,
        secret_expires_at: get(row, 8)?,
        jwks: get(row, 9)?,
        jwks_uri: get(row, 10)?,
        scope: get(row, 11)?,
        application_type: ApplicationType::parse(&application_type)
            .ok_or_else(|| bad("application_type", &application_type))?,
        client_uri: get(row, 13)?,
        logo_uri: get(row, 14)?,
        registration_access_token_hash: optional_hash(
            get(row, 15)?,
            &id,
            "registration_access_token_hash",
        )?,
        created_at: get(row, 16)?,
        expires_at: get(row, 17)?,
        last_used_at: get(row, 18)?,
        client_id: id,
    })
}

/// PostgreSQL's timestamps come back as instants already.
fn as_is(at: OffsetDateTime, _column: &str) -> Result<OffsetDateTime, StoreError> {
    Ok(at)
}

impl PostgresStore {
    /// The one `users` row whose `column` equals `value`.
    async fn user_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
        let row: Option<UserColumns<OffsetDateTime>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.map(|row| user_from_columns(row, as_is)).transpose()
    }

    /// Runs one writing statement (its own transaction); returns the rows it changed.
    async fn write(
        &self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<u64, StoreError> {
        let result = query.execute(&self.pool).await.map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }

    /// [`PostgresStore::write`], appending `audit` (when given) in the same transaction.
    async fn write_audited(
        &self,
        query: sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments>,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let Some(audit) = audit else {
            return self.write(query).await;
        };
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let result = query.execute(&mut *tx).await.map_err(from_sqlx)?;
        audit::commit(tx, Some(audit)).await?;
        Ok(result.rows_affected())
    }

    /// The one `api_keys` row whose `column` equals `value`.
    async fn api_key_where<'a, T>(
        &self,
        column: &'static str,
        value: T,
    ) -> Result<Option<ApiKey>, StoreError>
    where
        T: sqlx::Encode<'a, Postgres> + sqlx::Type<Postgres> + Send + 'a,
    {
        let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE {column} = $1");
        let row: Option<ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.map(api_key_from_row).transpose()
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        // `to_regclass` resolves through `search_path`, as the migrator does.
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(from_sqlx)?;
        if !has_table {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)
    }

    async fn relay_session_insert(&self, session: &RelaySession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO relay_sessions \
             (upstream, id_hash, protocol_version, principal, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.key.upstream)
        .bind(session.key.id_hash.as_slice())
        .bind(session.protocol_version.as_deref())
        .bind(session.principal.as_deref())
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    async fn relay_session_get(
        &self,
        key: &SessionKey,
    ) -> Result<Option<RelaySession>, StoreError> {
        let row: Option<(
            Option<String>,
            Option<String>,
            OffsetDateTime,
            OffsetDateTime,
        )> = sqlx::query_as(
            "SELECT protocol_version, principal, created_at, last_seen_at \
                 FROM relay_sessions WHERE upstream = $1 AND id_hash = $2",
        )
        .bind(&key.upstream)
        .bind(key.id_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(row.map(
            |(protocol_version, principal, created_at, last_seen_at)| RelaySession {
                key: key.clone(),
                protocol_version,
                principal,
                created_at,
                last_seen_at,
            },
        ))
    }

    async fn relay_session_touch(
        &self,
        key: &SessionKey,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE relay_sessions SET last_seen_at = $3 WHERE upstream = $1 AND id_hash = $2",
        )
        .bind(&key.upstream)
        .bind(key.id_hash.as_slice())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn relay_session_delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM relay_sessions WHERE upstream = $1 AND id_hash = $2")
            .bind(&key.upstream)
            .bind(key.id_hash.as_slice())
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn relay_sessions_purge(&self, idle_before: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM relay_sessions WHERE last_seen_at < $1")
            .bind(ceil_to_micros(idle_before))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }

    async fn api_key_insert_audited(
        &self,
        key: &ApiKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        sqlx::query(
            "INSERT INTO api_keys \
             (id, secret_hash, subject, name, kind, client_id, scopes, \
              created_at, expires_at, last_used_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&key.id)
        .bind(key.secret_hash.as_slice())
        .bind(&key.subject)
        .bind(&key.name)
        .bind(key.kind.as_str())
        .bind(key.kind.client_id())
        .bind(&key.scopes)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.last_used_at)
        .bind(key.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        crate::audit::commit(tx, audit).await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        self.api_key_where("secret_hash", secret_hash.as_slice())
            .await
    }

    async fn api_key_by_client_id(&self, client_id: &str) -> Result<Option<ApiKey>, StoreError> {
        self.api_key_where("client_id", client_id).await
    }

    async fn api_key_get(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        self.api_key_where("id", id).await
    }

    async fn api_key_list(&self, subject: Option<&str>) -> Result<Vec<ApiKey>, StoreError> {
        let rows: Vec<ApiKeyRow> = match subject {
            Some(subject) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE subject = $1 {API_KEY_ORDER}"
                )))
                .bind(subject)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys {API_KEY_ORDER}"
                )))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(from_sqlx)?;
        rows.into_iter().map(api_key_from_row).collect()
    }

    async fn api_keys_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE revoked_at >= $1 ORDER BY revoked_at, id"
        )))
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter().map(api_key_from_row).collect()
    }

    async fn api_key_touch(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        // GREATEST ignores NULLs, so a first touch sets the time.
        let result = sqlx::query(
            "UPDATE api_keys SET last_used_at = GREATEST(last_used_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn api_key_revoke_audited(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
        let revoked = result.rows_affected() > 0;
        if revoked {
            changes::notify(&mut tx, Change::Revocation).await?;
        }
        crate::audit::commit(tx, audit).await?;
        self.announced(Change::Revocation, Ok(revoked)).await
    }

    async fn listen_changes(&self, signals: Arc<ChangeSignals>) -> Result<bool, StoreError> {
        changes::listen(&self.pool, signals).await?;
        Ok(true)
    }

    async fn signing_key_insert_audited(
        &self,
        key: &SigningKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        sqlx::query(
            "INSERT INTO signing_keys \
             (kid, alg, public_jwk, private_key_sealed, created_at, not_before, retire_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.public_jwk)
        .bind(key.private_key_sealed.as_slice())
        .bind(key.created_at)
        .bind(key.not_before)
        .bind(key.retire_after)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        crate::audit::commit(tx, audit).await?;
        Ok(())
    }

    async fn signing_key_list(&self) -> Result<Vec<SigningKey>, StoreError> {
        // Kids compare byte-wise (`COLLATE "C"`), as in every other backend.
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, alg, public_jwk, private_key_sealed, created_at, not_before, retire_after \
             FROM signing_keys ORDER BY created_at, kid COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    kid,
                    alg,
                    public_jwk,
                    private_key_sealed,
                    created_at,
                    not_before,
                    retire_after,
                )| {
                    SigningKey {
                        kid,
                        alg,
                        public_jwk,
                        private_key_sealed,
                        created_at,
                        not_before,
                        retire_after,
                    }
                },
            )
            .collect())
    }

    async fn signing_key_retire_audited(
        &self,
        kid: &str,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        // LEAST ignores NULLs, so a first retirement sets the time.
        let result = sqlx::query(
            "UPDATE signing_keys SET retire_after = LEAST(retire_after, $2) WHERE kid = $1",
        )
        .bind(kid)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        crate::audit::commit(tx, audit).await?;
        Ok(result.rows_affected() > 0)
    }

    async fn signing_keys_purge(&self, retired_before: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM signing_keys WHERE retire_after < $1")
            .bind(ceil_to_micros(retired_before))
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }

    async fn code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.authorization_code_insert(code).await
    }

    async fn code_get(
        &self,
        code_hash: &[u8; 32],
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        self.authorization_code_get(code_hash).await
    }

    async fn code_redeem_audited(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
        audit: AuditOutcome<'_, CodeRedemption>,
    ) -> Result<CodeRedemption, StoreError> {
        self.authorization_code_redeem(code_hash, now, grant, refresh, audit)
            .await
    }

    async fn grant_get(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        self.authorization_grant_get(id).await
    }

    async fn grant_revoke_audited(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.announced(
            Change::Revocation,
            self.authorization_grant_revoke(id, now, audit).await,
        )
        .await
    }

    async fn grants_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<Grant>, StoreError> {
        self.authorization_grants_revoked_since(since).await
    }

    async fn refresh_get(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(RefreshToken, Grant)>, StoreError> {
        self.authorization_refresh_get(token_hash).await
    }

    async fn refresh_rotate_audited(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        successor: &RefreshToken,
        retry_grace: time::Duration,
        audit: AuditOutcome<'_, RefreshRotation>,
    ) -> Result<RefreshRotation, StoreError> {
        let rotation = self
            .authorization_refresh_rotate(token_hash, now, successor, retry_grace, audit)
            .await?;
        if matches!(rotation, RefreshRotation::Reused { .. }) {
            // The reuse revoked the grant.
            return self.announced(Change::Revocation, Ok(rotation)).await;
        }
        Ok(rotation)
    }

    async fn access_token_revoke_audited(
        &self,
        token: &RevokedAccessToken,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.announced(
            Change::Revocation,
            self.authorization_access_token_revoke(token, audit).await,
        )
        .await
    }

    async fn access_tokens_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedAccessToken>, StoreError> {
        self.authorization_access_tokens_revoked_since(since).await
    }

    async fn consent_put_audited(
        &self,
        consent: &Consent,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.authorization_consent_put(consent, audit).await
    }

    async fn consent_get(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
    ) -> Result<Option<Consent>, StoreError> {
        self.authorization_consent_get(subject, client_id, redirect_uri, resource)
            .await
    }

    async fn authorization_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.purge_authorization(now).await
    }

    async fn user_insert_audited(
        &self,
        user: &User,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO users \
             (id, username, username_key, email, email_verified, display_name, tenant, status, \
              password_hash, must_change_password, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(username_key(&user.username))
        .bind(&user.email)
        .bind(user.email_verified)
        .bind(user.display_name.as_deref())
        .bind(user.tenant.as_deref())
        .bind(user.status.as_str())
        .bind(user.password_hash.as_deref())
        .bind(user.must_change_password)
        .bind(user.created_at)
        .bind(user.updated_at);
        self.write_audited(query, audit).await.map(|_| ())
    }

    async fn user_get(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.user_where("id", id).await
    }

    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_where("username_key", &username_key(username))
            .await
    }

    async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        // Keys compare byte-wise (`COLLATE "C"`), as in every other backend.
        let rows: Vec<UserColumns<OffsetDateTime>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username_key COLLATE \"C\""
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| user_from_columns(row, as_is))
            .collect()
    }

    async fn user_set_status_audited(
        &self,
        id: &str,
        status: UserStatus,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query("UPDATE users SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status.as_str())
            .bind(now);
        Ok(self.write_audited(query, audit).await? > 0)
    }

    async fn user_set_password_audited(
        &self,
        id: &str,
        password_hash: &str,
        must_change_password: bool,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .bind(must_change_password)
        .bind(now);
        Ok(self.write_audited(query, audit).await? > 0)
    }

    async fn browser_session_insert_audited(
        &self,
        session: &BrowserSession,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO browser_sessions \
             (id_hash, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, \
              auth_time, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(session.id_hash.as_slice())
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.idle_expires_at)
        .bind(session.absolute_expires_at)
        .bind(session.auth_time)
        .bind(session.amr_column());
        self.write_audited(query, audit).await.map(|_| ())
    }

    async fn browser_session_get(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<BrowserSession>, StoreError> {
        let row: Option<BrowserSessionColumns<OffsetDateTime>> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {BROWSER_SESSION_COLUMNS} FROM browser_sessions WHERE id_hash = $1"
            )))
            .bind(id_hash.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.map(|row| browser_session_from_columns(row, as_is))
            .transpose()
    }

    async fn browser_session_touch(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE browser_sessions SET last_seen_at = GREATEST(last_seen_at, $2), \
             idle_expires_at = GREATEST(idle_expires_at, $3) WHERE id_hash = $1",
        )
        .bind(id_hash.as_slice())
        .bind(now)
        .bind(idle_expires_at);
        Ok(self.write(query).await? > 0)
    }

    async fn browser_session_delete(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let query =
            sqlx::query("DELETE FROM browser_sessions WHERE id_hash = $1").bind(id_hash.as_slice());
        Ok(self.write(query).await? > 0)
    }

    async fn browser_sessions_delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let query = sqlx::query("DELETE FROM browser_sessions WHERE user_id = $1").bind(user_id);
        self.write(query).await
    }

    async fn browser_sessions_purge(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let query = sqlx::query(
            "DELETE FROM browser_sessions WHERE idle_expires_at < $1 OR absolute_expires_at < $1",
        )
        .bind(ceil_to_micros(expired_before));
        self.write(query).await
    }

    async fn client_insert_audited(
        &self,
        client: &Client,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO oauth_clients \
             (client_id, source, created_at, last_used_at, {CLIENT_REPLACEABLE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, {CLIENT_REPLACEABLE_VALUES_FROM_5})"
        )))
        .bind(&client.client_id)
        .bind(client.source.as_str())
        .bind(client.created_at)
        .bind(client.last_used_at);
        bind_replaceable(query, client)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        crate::audit::commit(tx, audit).await?;
        Ok(())
    }

    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"
        )))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn client_update_audited(
        &self,
        client: &Client,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE oauth_clients SET ({CLIENT_REPLACEABLE_COLUMNS}) = \
             ({CLIENT_REPLACEABLE_VALUES_FROM_2}) WHERE client_id = $1"
        )))
        .bind(&client.client_id);
        let result = bind_replaceable(query, client)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        crate::audit::commit(tx, audit).await?;
        Ok(result.rows_affected() > 0)
    }

    async fn client_delete_audited(
        &self,
        client_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let result = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        crate::audit::commit(tx, audit).await?;
        Ok(result.rows_affected() > 0)
    }

    async fn client_list(&self) -> Result<Vec<Client>, StoreError> {
        // Ids compare byte-wise (`COLLATE "C"`), as in every other backend.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, client_id COLLATE \"C\""
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn client_touch(&self, client_id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        // GREATEST ignores NULLs, so a first touch sets the time.
        let result = sqlx::query(
            "UPDATE oauth_clients SET last_used_at = GREATEST(last_used_at, $2) \
             WHERE client_id = $1",
        )
        .bind(client_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn clients_purge_unused(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM oauth_clients \
             WHERE last_used_at IS NULL AND expires_at IS NOT NULL AND expires_at < $1",
        )
        .bind(ceil_to_micros(expired_before))
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }

    async fn user_delete_audited(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.delete_user(id, audit).await
    }

    async fn browser_sessions_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        self.sessions_of_user(user_id).await
    }

    async fn grants_of_subject(&self, subject: &str) -> Result<Vec<Grant>, StoreError> {
        self.authorization_grants_of_subject(subject).await
    }

    async fn grants_of_client(&self, client_id: &str) -> Result<Vec<Grant>, StoreError> {
        self.authorization_grants_of_client(client_id).await
    }

    async fn factor_insert_audited(
        &self,
        factor: &Factor,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.insert_factor(factor, audit).await
    }

    async fn factors_of_user(&self, user_id: &str) -> Result<Vec<Factor>, StoreError> {
        self.factors_of(user_id).await
    }

    async fn factor_delete_audited(
        &self,
        user_id: &str,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.delete_factor(user_id, id, audit).await
    }

    async fn factor_use(
        &self,
        user_id: &str,
        id: &str,
        step: Option<i64>,
        data: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<FactorUse, StoreError> {
        self.use_factor(user_id, id, step, data, now).await
    }

    async fn recovery_codes_set_audited(
        &self,
        user_id: &str,
        code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.set_recovery_codes(user_id, code_hashes, now, audit)
            .await
    }

    async fn recovery_code_use(
        &self,
        user_id: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.use_recovery_code(user_id, code_hash, now).await
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<u32, StoreError> {
        self.recovery_codes_unused(user_id).await
    }

    async fn mfa_reset_audited(
        &self,
        user_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        self.reset_mfa(user_id, audit).await
    }

    async fn throttle_get(&self, key: &str) -> Result<Option<Throttle>, StoreError> {
        self.get_throttle(key).await
    }

    async fn throttle_fail(
        &self,
        key: &str,
        now: OffsetDateTime,
        reset_before: OffsetDateTime,
    ) -> Result<Throttle, StoreError> {
        self.count_failure(key, now, reset_before).await
    }

    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        self.clear_throttle(key).await
    }

    async fn throttle_purge(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.purge_throttles(before).await
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        self.users_with_email(email).await
    }

    async fn external_identity_get(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalIdentity>, StoreError> {
        self.identity(provider, subject).await
    }

    async fn external_identities_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<ExternalIdentity>, StoreError> {
        self.identities_of(user_id).await
    }

    async fn external_identity_insert_audited(
        &self,
        identity: &ExternalIdentity,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.link_identity(identity, audit).await
    }

    async fn user_insert_with_identity_audited(
        &self,
        user: &User,
        identity: &ExternalIdentity,
        grants: &[StoredRoleGrant],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.announced(
            Change::Authorization,
            self.insert_user_with_identity(user, identity, grants, audit)
                .await,
        )
        .await
    }

    async fn external_identity_signed_in(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.identity_signed_in(provider, subject, email, email_verified, now)
            .await
    }

    async fn external_identities_delete_audited(
        &self,
        user_id: &str,
        provider: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        self.unlink_identities(user_id, provider, audit).await
    }

    async fn federation_state_insert(&self, state: &FederationState) -> Result<(), StoreError> {
        self.insert_federation_state(state).await
    }

    async fn federation_state_take(
        &self,
        state_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<FederationState>, StoreError> {
        self.take_federation_state(state_hash, now).await
    }

    async fn federation_states_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.purge_federation_states(now).await
    }

    async fn provider_token_put(&self, token: &ProviderToken) -> Result<(), StoreError> {
        self.put_provider_token(token).await
    }

    async fn provider_token_get(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<ProviderToken>, StoreError> {
        self.provider_token(user_id, provider).await
    }

    async fn provider_tokens_delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.delete_provider_tokens(user_id).await
    }

    async fn webauthn_ceremony_put(&self, ceremony: &WebauthnCeremony) -> Result<(), StoreError> {
        self.put_ceremony(ceremony).await
    }

    async fn webauthn_ceremony_take(
        &self,
        id: &str,
        session_hash: &[u8; 32],
        kind: CeremonyKind,
    ) -> Result<Option<WebauthnCeremony>, StoreError> {
        self.take_ceremony(id, session_hash, kind).await
    }

    async fn webauthn_ceremonies_purge(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.purge_ceremonies(expired_before).await
    }

    async fn role_put_audited(
        &self,
        role: &StoredRole,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.announced(Change::Authorization, self.put_role(role, audit).await)
            .await
    }

    async fn role_delete_audited(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.announced(Change::Authorization, self.delete_role(name, audit).await)
            .await
    }

    async fn role_list(&self) -> Result<Vec<StoredRole>, StoreError> {
        self.roles().await
    }

    async fn role_grant_insert_audited(
        &self,
        grant: &StoredRoleGrant,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.announced(
            Change::Authorization,
            self.insert_role_grant(grant, audit).await,
        )
        .await
    }

    async fn role_grant_delete_audited(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.announced(
            Change::Authorization,
            self.delete_role_grant(id, audit).await,
        )
        .await
    }

    async fn role_grant_list(&self) -> Result<Vec<StoredRoleGrant>, StoreError> {
        self.role_grants().await
    }

    async fn group_insert_audited(
        &self,
        group: &portcullis_store::StoredGroup,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.announced(Change::Authorization, self.insert_group(group, audit).await)
            .await
    }

    async fn group_delete_audited(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.announced(Change::Authorization, self.delete_group(name, audit).await)
            .await
    }

    async fn group_list(&self) -> Result<Vec<portcullis_store::StoredGroup>, StoreError> {
        self.groups().await
    }

    async fn group_member_add_audited(
        &self,
        member: &portcullis_store::GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.announced(
            Change::Authorization,
            self.insert_group_member(member, audit).await,
        )
        .await
    }

    async fn group_member_remove_audited(
        &self,
        member: &portcullis_store::GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.announced(
            Change::Authorization,
            self.delete_group_member(member, audit).await,
        )
        .await
    }

    async fn group_members(&self) -> Result<Vec<portcullis_store::GroupMember>, StoreError> {
        self.group_memberships().await
    }

    async fn authorization_version(&self) -> Result<i64, StoreError> {
        self.read_authorization_version().await
    }

    async fn audit_append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.append_audit_events(events).await
    }

    async fn audit_list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.list_audit(query).await
    }
}

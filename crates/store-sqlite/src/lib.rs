//! SQLite implementation of the Store trait, with its migrations: the embedded default store.
//!
//! Durability settings follow `security-and-reliability.md` §4.2: every connection runs in WAL mode
//! with `synchronous=FULL` (with `NORMAL`, a commit may roll back after a power loss, which could
//! resurrect a rotated refresh token), `foreign_keys=ON` and a 5 s `busy_timeout`. Every write is a
//! transaction started with `BEGIN IMMEDIATE`, which takes the write lock up front: a deferred
//! transaction that reads and then writes can fail with `SQLITE_BUSY` without waiting, when two of
//! them try to upgrade at once. Timestamps are stored as INTEGER microseconds since the Unix epoch,
//! so they compare as instants.
//!
//! SQLite has one writer at a time. Writers of this process take turns on a fair lock before
//! `BEGIN IMMEDIATE` ([`WriteTransaction`]), so they wait in line rather than in SQLite's busy
//! handler, which polls with sleeps of up to 100 ms; the busy timeout is left to arbitrate with
//! other processes (`portcullis admin` beside `serve`).
//!
//! The pool is small (WAL lets readers proceed beside the one writer); an in-memory database
//! (`sqlite::memory:`) uses a single connection that lives as long as the store, since SQLite
//! forgets an in-memory database when its last connection closes.

mod account_security;
mod audit;
mod authorization;
mod authorization_model;
mod error;
mod federation;
mod migrations;
#[cfg(test)]
mod tests;
mod webauthn;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
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
    AuditRecord, AuthorizationCode, BrowserSession, CeremonyKind, Change, Client, ClientSource,
    CodeRedemption, Consent, ExternalIdentity, Factor, FactorUse, FederationState, Grant,
    ProviderToken, RefreshRotation, RefreshToken, RelaySession, RevokedAccessToken, SessionKey,
    SigningKey, Store, StoreError, StoredRole, StoredRoleGrant, Throttle, TokenEndpointAuthMethod,
    User, UserStatus, WebauthnCeremony, username_key,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::{from_migrate, from_sqlx, timestamp_out_of_range};

/// How long a statement waits for another connection's lock before failing with `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a free pooled connection, and a writer for its turn; longer than
/// [`BUSY_TIMEOUT`], since a connection may itself be waiting that long for the write lock.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections to a database file.
const MAX_CONNECTIONS: u32 = 4;

/// A [`Store`] in a SQLite database file (or in memory).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// This process's turn to write: see [`WriteTransaction`].
    writer: Arc<Mutex<()>>,
    /// Told after each commit of a [`Change`] (the Redis fan-out): SQLite cannot tell other
    /// processes itself.
    announce: Option<Arc<dyn Announce>>,
}

/// A write transaction, begun in this process's turn to write.
///
/// Connections of the pool that ask for SQLite's one write lock together with `BEGIN IMMEDIATE`
/// do not wait in line: all but one get `SQLITE_BUSY`, and the busy handler retries each after a
/// sleep that grows from 1 ms to 100 ms. Under concurrent writes much of the time went to those
/// sleeps: with four concurrent refresh grants the p99 was 55 ms, against 10 ms in line, and a
/// fifth fewer grants were served (`bench/grants`). So writers first take the turn, a fair (FIFO)
/// lock held until the transaction ends, and `BEGIN IMMEDIATE` waits only for other processes.
pub(crate) struct WriteTransaction {
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl WriteTransaction {
    /// Commits, then gives the turn to the next writer. (Dropped without a commit, the
    /// transaction rolls back and the turn passes on as well.)
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Appends `audit`, when given, to the audit log, then commits: the change and its record
    /// are committed together or not at all.
    pub(crate) async fn commit_audited(
        mut self,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        if let Some(event) = audit {
            audit::append(&mut self, event).await?;
        }
        self.commit().await.map_err(from_sqlx)
    }

    /// Commits a change whose record depends on its `outcome` (see [`AuditOutcome`]), and returns
    /// the outcome.
    pub(crate) async fn commit_with<T>(
        self,
        outcome: T,
        audit: AuditOutcome<'_, T>,
    ) -> Result<T, StoreError> {
        let event = audit.and_then(|audit| audit(&outcome));
        self.commit_audited(event.as_ref()).await?;
        Ok(outcome)
    }
}

impl Deref for WriteTransaction {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

impl SqliteStore {
    /// Opens the database at `url`: `sqlite://path/to/file.db` (relative to the working directory;
    /// `sqlite:///abs/path.db` for an absolute path), created with its parent directories if missing,
    /// or `sqlite::memory:` for a private in-memory database.
    ///
    /// Does not migrate; call [`SqliteStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let (options, in_memory) = parse_url(url)?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            create_parent_dir(options.get_filename())?;
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool = pool_options
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(from_sqlx)?;
        tracing::debug!(in_memory, "opened sqlite store");
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(())),
            announce: None,
        })
    }

    /// Tells `announce` after each commit of a role, grant or revocation change.
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

    /// Applies the migrations this binary carries that the database lacks.
    ///
    /// Idempotent. The whole run is one `BEGIN IMMEDIATE` transaction, so two processes migrating
    /// the same file at once take turns and the second finds nothing to do; a database that holds a
    /// migration this binary does not know (a newer binary migrated it) is refused with
    /// [`StoreError::Migration`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The migrator's per-migration transactions become savepoints inside this one. `run_direct`
        // rather than `run`: `run`'s `Acquire` bound makes this future impossible to `tokio::spawn`
        // ("implementation of `Acquire` is not general enough"), which sqlx documents as the reason
        // `run_direct` exists.
        migrations::migrator()
            .run_direct(None, &mut *tx, false)
            .await
            .map_err(from_migrate)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(())
    }

    /// Closes every connection, waiting for calls in flight; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let turn = tokio::time::timeout(ACQUIRE_TIMEOUT, Arc::clone(&self.writer).lock_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable("timed out waiting for the turn to write".to_owned())
            })?;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(from_sqlx)?;
        Ok(WriteTransaction { tx, _turn: turn })
    }
}

/// The database file a store URL names (as [`SqliteStore::connect`] would open it), or `None` for
/// an in-memory database. Portcullis keeps the embedded store's encryption key file beside it.
pub fn database_file(url: &str) -> Result<Option<PathBuf>, StoreError> {
    let (options, in_memory) = parse_url(url)?;
    Ok((!in_memory).then(|| options.get_filename().to_path_buf()))
}

/// The connect options of a store URL, and whether it names an in-memory database.
fn parse_url(url: &str) -> Result<(SqliteConnectOptions, bool), StoreError> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(StoreError::Config(
            "a SQLite store URL starts with `sqlite:`".to_owned(),
        ));
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(StoreError::Config(
            "a SQLite store URL needs a file path or `:memory:`".to_owned(),
        ));
    }
    let in_memory = path == ":memory:" || rest.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url).map_err(from_sqlx)?;
    Ok((options, in_memory))
}

/// Creates the directory that will hold the database file. This blocks, but runs once at startup.
fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|err| {
                StoreError::Config(format!(
                    "cannot create the directory {} for the SQLite database: {err}",
                    parent.display()
                ))
            })
        }
        _ => Ok(()),
    }
}

/// Microseconds since the Unix epoch, rounded down.
fn to_micros(at: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000))
        .map_err(|_| timestamp_out_of_range("a"))
}

/// Microseconds since the Unix epoch, rounded up: the cut-off that, compared with rounded-down stored
/// values, selects exactly the rows stored from instants before `at`.
fn to_micros_ceil(at: OffsetDateTime) -> Result<i64, StoreError> {
    let nanos = at.unix_timestamp_nanos();
    let micros = nanos.div_euclid(1_000) + i128::from(nanos.rem_euclid(1_000) != 0);
    i64::try_from(micros).map_err(|_| timestamp_out_of_range("a"))
}

fn from_micros(micros: i64, column: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| timestamp_out_of_range(column))
}

fn from_optional_micros(
    micros: Option<i64>,
    column: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    micros.map(|micros| from_micros(micros, column)).transpose()
}

/// The columns of `api_keys` in the order [`ApiKeyRow`] reads them.
const API_KEY_COLUMNS: &str = "id, secret_hash, subject, name, kind, client_id, scopes, \
                               created_at, expires_at, last_used_at, revoked_at";

/// One `api_keys` row as SQLite returns it.
type ApiKeyRow = (
    String,
    Vec<u8>,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
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
        secret_hash,
        subject,
        name,
        kind,
        scopes,
        created_at: from_micros(created_at, "created_at")?,
        expires_at: from_optional_micros(expires_at, "expires_at")?,
        last_used_at: from_optional_micros(last_used_at, "last_used_at")?,
        revoked_at: from_optional_micros(revoked_at, "revoked_at")?,
        id,
    })
}

/// One `signing_keys` row as SQLite returns it, in the order of `signing_key_list`'s SELECT.
type SigningKeyRow = (String, String, String, Vec<u8>, i64, i64, Option<i64>);

fn signing_key_from_row(row: SigningKeyRow) -> Result<SigningKey, StoreError> {
    let (kid, alg, public_jwk, private_key_sealed, created_at, not_before, retire_after) = row;
    Ok(SigningKey {
        kid,
        alg,
        public_jwk,
        private_key_sealed,
        created_at: from_micros(created_at, "created_at")?,
        not_before: from_micros(not_before, "not_before")?,
        retire_after: from_optional_micros(retire_after, "retire_after")?,
    })
}

/// The columns of `oauth_clients` in the order [`client_from_row`] reads them.
const CLIENT_COLUMNS: &str = "client_id, source, name, redirect_uris, grant_types, response_types, \
     token_endpoint_auth_method, secret_hash, secret_expires_at, jwks, jwks_uri, scope, \
     application_type, client_uri, logo_uri, registration_access_token_hash, created_at, \
     expires_at, last_used_at";

/// A list column's JSON text.
fn to_json_list(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Backend(format!("encoding a list: {e}")))
}

fn from_json_list(text: &str, id: &str, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| {
        StoreError::Backend(format!(
            "client {id:?}: {column} is not a JSON array of strings"
        ))
    })
}

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

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds the [`CLIENT_REPLACEABLE_COLUMNS`] of `client`.
fn bind_replaceable<'q>(
    query: SqliteQuery<'q>,
    client: &'q Client,
) -> Result<SqliteQuery<'q>, StoreError> {
    Ok(query
        .bind(&client.name)
        .bind(to_json_list(&client.redirect_uris)?)
        .bind(to_json_list(&client.grant_types)?)
        .bind(to_json_list(&client.response_types)?)
        .bind(client.token_endpoint_auth_method.as_str())
        .bind(client.secret_hash.as_ref().map(|h| h.as_slice()))
        .bind(client.secret_expires_at.map(to_micros).transpose()?)
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
        .bind(client.expires_at.map(to_micros).transpose()?))
}

/// One `oauth_clients` row, read by position (the row has more columns than sqlx's tuples take).
fn client_from_row(row: &SqliteRow) -> Result<Client, StoreError> {
    let id: String = row.try_get(0).map_err(from_sqlx)?;
    let text = |i: usize| -> Result<String, StoreError> { row.try_get(i).map_err(from_sqlx) };
    let optional_text =
        |i: usize| -> Result<Option<String>, StoreError> { row.try_get(i).map_err(from_sqlx) };
    let optional_micros =
        |i: usize| -> Result<Option<i64>, StoreError> { row.try_get(i).map_err(from_sqlx) };
    let optional_bytes =
        |i: usize| -> Result<Option<Vec<u8>>, StoreError> { row.try_get(i).map_err(from_sqlx) };
    let bad = |column: &str, value: &str| {
        StoreError::Backend(format!("client {id:?}: unknown {column} {value:?}"))
    };
    let source = text(1)?;
    let method = text(6)?;
    let application_type = text(12)?;
    Ok(Client {
        source: ClientSource::parse(&source).ok_or_else(|| bad("source", &source))?,
        name: text(2)?,
        redirect_uris: from_json_list(&text(3)?, &id, "redirect_uris")?,
        grant_types: from_json_list(&text(4)?, &id, "grant_types")?,
        response_types: from_json_list(&text(5)?, &id, "response_types")?,
        token_endpoint_auth_method: TokenEndpointAuthMethod::parse(&method)
            .ok_or_else(|| bad("token_endpoint_auth_method", &method))?,
        secret_hash: optional_hash(optional_bytes(7)?, &id, "secret_hash")?,
        secret_expires_at: from_optional_micros(optional_micros(8)?, "secret_expires_at")?,
        jwks: optional_text(9)?,
        jwks_uri: optional_text(10)?,
        scope: optional_text(11)?,
        application_type: ApplicationType::parse(&application_type)
            .ok_or_else(|| bad("application_type", &application_type))?,
        client_uri: optional_text(13)?,
        logo_uri: optional_text(14)?,
        registration_access_token_hash: optional_hash(
            optional_bytes(15)?,
            &id,
            "registration_access_token_hash",
        )?,
        created_at: from_micros(row.try_get(16).map_err(from_sqlx)?, "created_at")?,
        expires_at: from_optional_micros(optional_micros(17)?, "expires_at")?,
        last_used_at: from_optional_micros(optional_micros(18)?, "last_used_at")?,
        client_id: id,
    })
}

impl SqliteStore {
    /// The one `users` row whose `column` equals `value`.
    async fn user_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
        let row: Option<UserColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.map(|row| user_from_columns(row, from_micros))
            .transpose()
    }

    /// Runs one writing statement in a `BEGIN IMMEDIATE` transaction; returns the rows it
    /// changed.
    async fn write(
        &self,
        query: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = query.execute(&mut *tx).await.map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }

    /// [`SqliteStore::write`], appending `audit` (when given) in the same transaction.
    async fn write_audited(
        &self,
        query: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = query.execute(&mut *tx).await.map_err(from_sqlx)?;
        tx.commit_audited(audit).await?;
        Ok(result.rows_affected())
    }

    /// The one `api_keys` row whose `column` equals `value`.
    async fn api_key_where<'a, T>(
        &self,
        column: &'static str,
        value: T,
    ) -> Result<Option<ApiKey>, StoreError>
    where
        T: sqlx::Encode<'a, Sqlite> + sqlx::Type<Sqlite> + Send + 'a,
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
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let (has_table,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
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
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO relay_sessions \
             (upstream, id_hash, protocol_version, principal, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.key.upstream)
        .bind(session.key.id_hash.as_slice())
        .bind(session.protocol_version.as_deref())
        .bind(session.principal.as_deref())
        .bind(to_micros(session.created_at)?)
        .bind(to_micros(session.last_seen_at)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)
    }

    async fn relay_session_get(
        &self,
        key: &SessionKey,
    ) -> Result<Option<RelaySession>, StoreError> {
        let row: Option<(Option<String>, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT protocol_version, principal, created_at, last_seen_at \
             FROM relay_sessions WHERE upstream = $1 AND id_hash = $2",
        )
        .bind(&key.upstream)
        .bind(key.id_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.map(|(protocol_version, principal, created_at, last_seen_at)| {
            Ok(RelaySession {
                key: key.clone(),
                protocol_version,
                principal,
                created_at: from_micros(created_at, "created_at")?,
                last_seen_at: from_micros(last_seen_at, "last_seen_at")?,
            })
        })
        .transpose()
    }

    async fn relay_session_touch(
        &self,
        key: &SessionKey,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE relay_sessions SET last_seen_at = $3 WHERE upstream = $1 AND id_hash = $2",
        )
        .bind(&key.upstream)
        .bind(key.id_hash.as_slice())
        .bind(to_micros(now)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn relay_session_delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM relay_sessions WHERE upstream = $1 AND id_hash = $2")
            .bind(&key.upstream)
            .bind(key.id_hash.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn relay_sessions_purge(&self, idle_before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM relay_sessions WHERE last_seen_at < $1")
            .bind(to_micros_ceil(idle_before)?)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(result.rows_affected())
    }

    async fn api_key_insert_audited(
        &self,
        key: &ApiKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
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
        .bind(to_micros(key.created_at)?)
        .bind(key.expires_at.map(to_micros).transpose()?)
        .bind(key.last_used_at.map(to_micros).transpose()?)
        .bind(key.revoked_at.map(to_micros).transpose()?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit_audited(audit).await
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
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE subject = $1 \
                 ORDER BY created_at, id"
                )))
                .bind(subject)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
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
        .bind(to_micros(since)?)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter().map(api_key_from_row).collect()
    }

    async fn api_key_touch(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // SQLite's two-argument MAX is NULL if either is, hence the COALESCE.
        let result = sqlx::query(
            "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, $2), $2) WHERE id = $1",
        )
        .bind(id)
        .bind(to_micros(now)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn api_key_revoke_audited(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(to_micros(now)?)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
        tx.commit_audited(audit).await?;
        self.announced(Change::Revocation, Ok(result.rows_affected() > 0))
            .await
    }

    async fn signing_key_insert_audited(
        &self,
        key: &SigningKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO signing_keys \
             (kid, alg, public_jwk, private_key_sealed, created_at, not_before, retire_after) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.public_jwk)
        .bind(key.private_key_sealed.as_slice())
        .bind(to_micros(key.created_at)?)
        .bind(to_micros(key.not_before)?)
        .bind(key.retire_after.map(to_micros).transpose()?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit_audited(audit).await
    }

    async fn signing_key_list(&self) -> Result<Vec<SigningKey>, StoreError> {
        // SQLite compares TEXT byte-wise (BINARY collation) unless told otherwise.
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, alg, public_jwk, private_key_sealed, created_at, not_before, retire_after \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter().map(signing_key_from_row).collect()
    }

    async fn signing_key_retire_audited(
        &self,
        kid: &str,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // SQLite's two-argument MIN is NULL if either is, hence the COALESCE.
        let result = sqlx::query(
            "UPDATE signing_keys SET retire_after = MIN(COALESCE(retire_after, $2), $2) \
             WHERE kid = $1",
        )
        .bind(kid)
        .bind(to_micros(at)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit_audited(audit).await?;
        Ok(result.rows_affected() > 0)
    }

    async fn signing_keys_purge(&self, retired_before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM signing_keys WHERE retire_after < $1")
            .bind(to_micros_ceil(retired_before)?)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
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
        .bind(to_micros(user.created_at)?)
        .bind(to_micros(user.updated_at)?);
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
        // SQLite compares TEXT byte-wise (BINARY collation) unless told otherwise.
        let rows: Vec<UserColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username_key"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| user_from_columns(row, from_micros))
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
            .bind(to_micros(now)?);
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
        .bind(to_micros(now)?);
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
        .bind(to_micros(session.created_at)?)
        .bind(to_micros(session.last_seen_at)?)
        .bind(to_micros(session.idle_expires_at)?)
        .bind(to_micros(session.absolute_expires_at)?)
        .bind(to_micros(session.auth_time)?)
        .bind(session.amr_column());
        self.write_audited(query, audit).await.map(|_| ())
    }

    async fn browser_session_get(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<BrowserSession>, StoreError> {
        let row: Option<BrowserSessionColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {BROWSER_SESSION_COLUMNS} FROM browser_sessions WHERE id_hash = $1"
        )))
        .bind(id_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.map(|row| browser_session_from_columns(row, from_micros))
            .transpose()
    }

    async fn browser_session_touch(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE browser_sessions SET last_seen_at = MAX(last_seen_at, $2), \
             idle_expires_at = MAX(idle_expires_at, $3) WHERE id_hash = $1",
        )
        .bind(id_hash.as_slice())
        .bind(to_micros(now)?)
        .bind(to_micros(idle_expires_at)?);
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
        .bind(to_micros_ceil(expired_before)?);
        self.write(query).await
    }

    async fn client_insert_audited(
        &self,
        client: &Client,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO oauth_clients \
             (client_id, source, created_at, last_used_at, {CLIENT_REPLACEABLE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, {CLIENT_REPLACEABLE_VALUES_FROM_5})"
        )))
        .bind(&client.client_id)
        .bind(client.source.as_str())
        .bind(to_micros(client.created_at)?)
        .bind(client.last_used_at.map(to_micros).transpose()?);
        bind_replaceable(query, client)?
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit_audited(audit).await
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
        let mut tx = self.begin_write().await?;
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE oauth_clients SET ({CLIENT_REPLACEABLE_COLUMNS}) = \
             ({CLIENT_REPLACEABLE_VALUES_FROM_2}) WHERE client_id = $1"
        )))
        .bind(&client.client_id);
        let result = bind_replaceable(query, client)?
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit_audited(audit).await?;
        Ok(result.rows_affected() > 0)
    }

    async fn client_delete_audited(
        &self,
        client_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit_audited(audit).await?;
        Ok(result.rows_affected() > 0)
    }

    async fn client_list(&self) -> Result<Vec<Client>, StoreError> {
        // SQLite compares TEXT byte-wise (BINARY collation) unless told otherwise.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, client_id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn client_touch(&self, client_id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // SQLite's two-argument MAX is NULL if either is, hence the COALESCE.
        let result = sqlx::query(
            "UPDATE oauth_clients SET last_used_at = MAX(COALESCE(last_used_at, $2), $2) \
             WHERE client_id = $1",
        )
        .bind(client_id)
        .bind(to_micros(now)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(result.rows_affected() > 0)
    }

    async fn clients_purge_unused(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "DELETE FROM oauth_clients \
             WHERE last_used_at IS NULL AND expires_at IS NOT NULL AND expires_at < $1",
        )
        .bind(to_micros_ceil(expired_before)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
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

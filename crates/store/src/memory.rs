//! `MemoryStore`: the `Store` kept in a mutex-guarded map, for tests and for `cargo test` without a
//! database.
//!
//! It is held to the same conformance suite as the SQL backends and mirrors their observable
//! behaviour where that matters to callers: timestamps come back in UTC, truncated to the microsecond
//! (PostgreSQL's `TIMESTAMPTZ` resolution), and nothing is ever read from the clock. It has no
//! migrations, so `applied_migrations` is always empty.

mod authorization;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::{
    ApiKey, AuthorizationCode, BrowserSession, CeremonyKind, Client, CodeRedemption, Consent,
    Factor, FactorUse, Grant, RecoveryCode, RefreshRotation, RefreshToken, RelaySession,
    RevokedAccessToken, SessionKey, SigningKey, Store, StoreError, Throttle, User, UserStatus,
    WebauthnCeremony, username_key,
};
use crate::{AuditEvent, AuditOutcome, AuditQuery, AuditRecord};
use crate::{ExternalIdentity, FederationState, ProviderToken, StoredRole, StoredRoleGrant};

/// An in-memory [`Store`]; cheap to create, forgotten on drop.
#[derive(Default)]
pub struct MemoryStore {
    relay_sessions: Mutex<HashMap<SessionKey, RelaySession>>,
    /// By id. Lookups by hash and client id scan: this store holds a test's handful of keys.
    api_keys: Mutex<HashMap<String, ApiKey>>,
    /// By kid.
    signing_keys: Mutex<HashMap<String, SigningKey>>,
    /// Codes, grants, refresh tokens, revoked access tokens and consents, under one lock.
    authorization: Mutex<authorization::AuthorizationTables>,
    /// Users by id and browser sessions by id hash, under one lock so that a session can only be
    /// inserted for a user that exists (the SQL backends' foreign key).
    accounts: Mutex<Accounts>,
    /// OAuth clients by client id.
    clients: Mutex<HashMap<String, Client>>,
    /// Custom roles by name and role grants, under one lock (a role in use cannot be deleted).
    authorization_model: Mutex<(HashMap<String, StoredRole>, Vec<StoredRoleGrant>)>,
    /// Moves with every write to `authorization_model`.
    authorization_version: std::sync::atomic::AtomicI64,
    /// The audit log, oldest first. A change and its record take separate locks here (the SQL
    /// backends write both in one transaction); the record is appended only once the change is
    /// made.
    audit: Mutex<Vec<AuditRecord>>,
}

#[derive(Default)]
struct Accounts {
    users: HashMap<String, User>,
    sessions: HashMap<[u8; 32], BrowserSession>,
    /// Second factors by id.
    factors: HashMap<String, Factor>,
    recovery_codes: Vec<RecoveryCode>,
    /// Failure counters by key.
    throttles: HashMap<String, Throttle>,
    /// Identities at providers by (provider, subject).
    identities: HashMap<(String, String), ExternalIdentity>,
    /// Pending sign-ins at providers by state hash.
    federation_states: HashMap<[u8; 32], FederationState>,
    /// Provider tokens by (user id, provider).
    provider_tokens: HashMap<(String, String), ProviderToken>,
    /// WebAuthn ceremonies in progress, by id.
    ceremonies: HashMap<String, WebauthnCeremony>,
    /// Local groups by name, and their memberships (here, beside the users they name).
    groups: std::collections::BTreeMap<String, crate::StoredGroup>,
    members: std::collections::BTreeSet<crate::GroupMember>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn relay_sessions(&self) -> MutexGuard<'_, HashMap<SessionKey, RelaySession>> {
        // A panic while the lock was held cannot leave a half-written row: every method replaces whole
        // values, so the map is still consistent and the poison flag carries no information.
        self.relay_sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn api_keys(&self) -> MutexGuard<'_, HashMap<String, ApiKey>> {
        // As for relay sessions: rows are replaced or updated field by field without any step
        // that can panic half-way.
        self.api_keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn authorization(&self) -> MutexGuard<'_, authorization::AuthorizationTables> {
        // Each operation checks everything it needs before its first write, so a panic cannot
        // leave a half-done redemption or rotation behind.
        self.authorization
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn signing_keys(&self) -> MutexGuard<'_, HashMap<String, SigningKey>> {
        // As for relay sessions: rows are inserted, removed or have one field set.
        self.signing_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<String, Client>> {
        // As for relay sessions: rows are inserted, removed, replaced whole or have one field set.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `client` as a SQL backend would give it back.
fn client_as_stored(client: &Client) -> Client {
    Client {
        secret_expires_at: client.secret_expires_at.map(as_stored),
        created_at: as_stored(client.created_at),
        expires_at: client.expires_at.map(as_stored),
        last_used_at: client.last_used_at.map(as_stored),
        ..client.clone()
    }
}

/// Every row of the authorization server's tables and every client, in a stable order: what a
/// test compares before and after a request to show that a refused request stored nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizationSnapshot {
    pub codes: Vec<AuthorizationCode>,
    pub grants: Vec<Grant>,
    pub refresh_tokens: Vec<RefreshToken>,
    pub revoked_access_tokens: Vec<RevokedAccessToken>,
    pub consents: Vec<Consent>,
    pub clients: Vec<Client>,
}

impl MemoryStore {
    /// A copy of the authorization server's rows (codes, grants, refresh tokens, revoked access
    /// tokens, consents) and the clients, sorted.
    pub fn authorization_snapshot(&self) -> AuthorizationSnapshot {
        let mut snapshot = self.authorization().snapshot();
        let mut clients: Vec<Client> = self.clients().values().cloned().collect();
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        snapshot.clients = clients;
        snapshot
    }
}

impl MemoryStore {
    /// Records that the authorization model changed.
    fn model_changed(&self) {
        self.authorization_version
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn model(&self) -> MutexGuard<'_, (HashMap<String, StoredRole>, Vec<StoredRoleGrant>)> {
        // Rows are inserted or removed whole.
        self.authorization_model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `event`, if any, to the audit log.
    fn audit_push(&self, event: Option<&AuditEvent>) {
        if let Some(event) = event {
            let mut log = self.audit.lock().unwrap_or_else(PoisonError::into_inner);
            let last = log.last().map(|last| (last.seq, last.hash));
            log.push(AuditRecord::chain(last, event));
        }
    }

    /// `result` of a change, after appending `audit` to the audit log if the change was made.
    fn audited<T>(
        &self,
        result: Result<T, StoreError>,
        audit: Option<&AuditEvent>,
    ) -> Result<T, StoreError> {
        if result.is_ok() {
            self.audit_push(audit);
        }
        result
    }

    /// The audit log as stored, for tests that tamper with it (there are no triggers to bypass).
    pub fn audit_log_mut(&self) -> MutexGuard<'_, Vec<AuditRecord>> {
        self.audit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn accounts(&self) -> MutexGuard<'_, Accounts> {
        // As for relay sessions: rows are inserted, removed or have fields set without any step
        // that can panic half-way.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("relay_sessions", &self.relay_sessions().len())
            .field("api_keys", &self.api_keys().len())
            .field("signing_keys", &self.signing_keys().len())
            .field("users", &self.accounts().users.len())
            .field("browser_sessions", &self.accounts().sessions.len())
            .field("clients", &self.clients().len())
            .finish()
    }
}

/// What a SQL backend would give back for `at`: the same instant in UTC, to the microsecond.
fn as_stored(at: OffsetDateTime) -> OffsetDateTime {
    let sub_micros = Duration::nanoseconds(i64::from(at.nanosecond() % 1_000));
    let truncated = at.checked_sub(sub_micros).unwrap_or(at);
    truncated
        .checked_to_offset(UtcOffset::UTC)
        .unwrap_or(truncated)
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        Ok(Vec::new())
    }

    async fn relay_session_insert(&self, session: &RelaySession) -> Result<(), StoreError> {
        let mut sessions = self.relay_sessions();
        if sessions.contains_key(&session.key) {
            return Err(StoreError::Conflict(format!(
                "relay session {:?} already exists",
                session.key
            )));
        }
        let stored = RelaySession {
            created_at: as_stored(session.created_at),
            last_seen_at: as_stored(session.last_seen_at),
            ..session.clone()
        };
        sessions.insert(session.key.clone(), stored);
        Ok(())
    }

    async fn relay_session_get(
        &self,
        key: &SessionKey,
    ) -> Result<Option<RelaySession>, StoreError> {
        Ok(self.relay_sessions().get(key).cloned())
    }

    async fn relay_session_touch(
        &self,
        key: &SessionKey,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(match self.relay_sessions().get_mut(key) {
            Some(session) => {
                session.last_seen_at = as_stored(now);
                true
            }
            None => false,
        })
    }

    async fn relay_session_delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.relay_sessions().remove(key).is_some())
    }

    async fn relay_sessions_purge(&self, idle_before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut sessions = self.relay_sessions();
        let before = sessions.len();
        sessions.retain(|_, session| session.last_seen_at >= idle_before);
        // usize always fits in u64 on the platforms we build for.
        Ok(u64::try_from(before - sessions.len()).unwrap_or(u64::MAX))
    }

    async fn api_key_insert_audited(
        &self,
        key: &ApiKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut keys = self.api_keys();
                let client_id = key.kind.client_id();
                if keys.contains_key(&key.id) {
                    return Err(StoreError::Conflict(format!(
                        "api key {:?} already exists",
                        key.id
                    )));
                }
                if keys
                    .values()
                    .any(|other| other.secret_hash == key.secret_hash)
                {
                    return Err(StoreError::Conflict(
                        "an api key with this secret hash already exists".to_owned(),
                    ));
                }
                if client_id.is_some()
                    && keys
                        .values()
                        .any(|other| other.kind.client_id() == client_id)
                {
                    return Err(StoreError::Conflict(format!(
                        "a service token with client id {client_id:?} already exists"
                    )));
                }
                let stored = ApiKey {
                    created_at: as_stored(key.created_at),
                    expires_at: key.expires_at.map(as_stored),
                    last_used_at: key.last_used_at.map(as_stored),
                    revoked_at: key.revoked_at.map(as_stored),
                    ..key.clone()
                };
                keys.insert(key.id.clone(), stored);
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn api_key_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .api_keys()
            .values()
            .find(|key| &key.secret_hash == secret_hash)
            .cloned())
    }

    async fn api_key_by_client_id(&self, client_id: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self
            .api_keys()
            .values()
            .find(|key| key.kind.client_id() == Some(client_id))
            .cloned())
    }

    async fn api_key_get(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.api_keys().get(id).cloned())
    }

    async fn api_key_list(&self, subject: Option<&str>) -> Result<Vec<ApiKey>, StoreError> {
        let mut listed: Vec<ApiKey> = self
            .api_keys()
            .values()
            .filter(|key| subject.is_none_or(|subject| key.subject == subject))
            .cloned()
            .collect();
        listed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(listed)
    }

    async fn api_keys_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let mut revoked: Vec<ApiKey> = self
            .api_keys()
            .values()
            .filter(|key| key.revoked_at.is_some_and(|at| at >= since))
            .cloned()
            .collect();
        revoked.sort_by(|a, b| (a.revoked_at, &a.id).cmp(&(b.revoked_at, &b.id)));
        Ok(revoked)
    }

    async fn api_key_touch(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(match self.api_keys().get_mut(id) {
            Some(key) => {
                let now = as_stored(now);
                if key.last_used_at.is_none_or(|last| last < now) {
                    key.last_used_at = Some(now);
                }
                true
            }
            None => false,
        })
    }

    async fn api_key_revoke_audited(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                Ok(match self.api_keys().get_mut(id) {
                    Some(key) if key.revoked_at.is_none() => {
                        key.revoked_at = Some(as_stored(now));
                        true
                    }
                    _ => false,
                })
            }
            .await,
            audit,
        )
    }

    async fn signing_key_insert_audited(
        &self,
        key: &SigningKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut keys = self.signing_keys();
                if keys.contains_key(&key.kid) {
                    return Err(StoreError::Conflict(format!(
                        "signing key {:?} already exists",
                        key.kid
                    )));
                }
                let stored = SigningKey {
                    created_at: as_stored(key.created_at),
                    not_before: as_stored(key.not_before),
                    retire_after: key.retire_after.map(as_stored),
                    ..key.clone()
                };
                keys.insert(key.kid.clone(), stored);
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn signing_key_list(&self) -> Result<Vec<SigningKey>, StoreError> {
        let mut listed: Vec<SigningKey> = self.signing_keys().values().cloned().collect();
        listed.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(listed)
    }

    async fn signing_key_retire_audited(
        &self,
        kid: &str,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                Ok(match self.signing_keys().get_mut(kid) {
                    Some(key) => {
                        let at = as_stored(at);
                        if key.retire_after.is_none_or(|current| at < current) {
                            key.retire_after = Some(at);
                        }
                        true
                    }
                    None => false,
                })
            }
            .await,
            audit,
        )
    }

    async fn signing_keys_purge(&self, retired_before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut keys = self.signing_keys();
        let before = keys.len();
        keys.retain(|_, key| key.retire_after.is_none_or(|at| at >= retired_before));
        // usize always fits in u64 on the platforms we build for.
        Ok(u64::try_from(before - keys.len()).unwrap_or(u64::MAX))
    }

    async fn code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.authorization().code_insert(code)
    }

    async fn code_get(
        &self,
        code_hash: &[u8; 32],
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        Ok(self.authorization().code_get(code_hash))
    }

    async fn code_redeem_audited(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
        audit: AuditOutcome<'_, CodeRedemption>,
    ) -> Result<CodeRedemption, StoreError> {
        let result: Result<CodeRedemption, StoreError> = async {
            self.authorization()
                .code_redeem(code_hash, now, grant, refresh)
        }
        .await;
        if let (Ok(outcome), Some(audit)) = (&result, audit)
            && outcome.changed()
        {
            self.audit_push(audit(outcome).as_ref());
        }
        result
    }

    async fn grant_get(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        Ok(self.authorization().grant_get(id))
    }

    async fn grant_revoke_audited(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async { Ok(self.authorization().grant_revoke(id, now)) }.await,
            audit,
        )
    }

    async fn grants_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<Grant>, StoreError> {
        Ok(self.authorization().grants_revoked_since(since))
    }

    async fn refresh_get(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(RefreshToken, Grant)>, StoreError> {
        Ok(self.authorization().refresh_get(token_hash))
    }

    async fn refresh_rotate_audited(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        successor: &RefreshToken,
        retry_grace: time::Duration,
        audit: AuditOutcome<'_, RefreshRotation>,
    ) -> Result<RefreshRotation, StoreError> {
        let result: Result<RefreshRotation, StoreError> = async {
            self.authorization()
                .refresh_rotate(token_hash, now, successor, retry_grace)
        }
        .await;
        if let (Ok(outcome), Some(audit)) = (&result, audit)
            && outcome.changed()
        {
            self.audit_push(audit(outcome).as_ref());
        }
        result
    }

    async fn access_token_revoke_audited(
        &self,
        token: &RevokedAccessToken,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                self.authorization().access_token_revoke(token);
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn access_tokens_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedAccessToken>, StoreError> {
        Ok(self.authorization().access_tokens_revoked_since(since))
    }

    async fn consent_put_audited(
        &self,
        consent: &Consent,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                self.authorization().consent_put(consent);
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn consent_get(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
    ) -> Result<Option<Consent>, StoreError> {
        Ok(self
            .authorization()
            .consent_get(subject, client_id, redirect_uri, resource))
    }

    async fn authorization_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(self.authorization().purge(now))
    }

    async fn user_insert_audited(
        &self,
        user: &User,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if accounts.users.contains_key(&user.id) {
                    return Err(StoreError::Conflict(format!(
                        "user {:?} already exists",
                        user.id
                    )));
                }
                let key = username_key(&user.username);
                if accounts
                    .users
                    .values()
                    .any(|other| username_key(&other.username) == key)
                {
                    return Err(StoreError::Conflict(format!(
                        "the username {:?} is taken",
                        user.username
                    )));
                }
                let stored = User {
                    created_at: as_stored(user.created_at),
                    updated_at: as_stored(user.updated_at),
                    ..user.clone()
                };
                accounts.users.insert(user.id.clone(), stored);
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn user_get(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.accounts().users.get(id).cloned())
    }

    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let key = username_key(username);
        Ok(self
            .accounts()
            .users
            .values()
            .find(|user| username_key(&user.username) == key)
            .cloned())
    }

    async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        let mut listed: Vec<User> = self.accounts().users.values().cloned().collect();
        listed.sort_by_cached_key(|user| username_key(&user.username));
        Ok(listed)
    }

    async fn user_set_status_audited(
        &self,
        id: &str,
        status: UserStatus,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                Ok(match self.accounts().users.get_mut(id) {
                    Some(user) => {
                        user.status = status;
                        user.updated_at = as_stored(now);
                        true
                    }
                    None => false,
                })
            }
            .await,
            audit,
        )
    }

    async fn client_insert_audited(
        &self,
        client: &Client,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut clients = self.clients();
                if clients.contains_key(&client.client_id) {
                    return Err(StoreError::Conflict(format!(
                        "client {:?} already exists",
                        client.client_id
                    )));
                }
                clients.insert(client.client_id.clone(), client_as_stored(client));
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.clients().get(client_id).cloned())
    }

    async fn client_update_audited(
        &self,
        client: &Client,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                Ok(match self.clients().get_mut(&client.client_id) {
                    Some(stored) => {
                        *stored = Client {
                            source: stored.source,
                            created_at: stored.created_at,
                            last_used_at: stored.last_used_at,
                            ..client_as_stored(client)
                        };
                        true
                    }
                    None => false,
                })
            }
            .await,
            audit,
        )
    }

    async fn client_delete_audited(
        &self,
        client_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async { Ok(self.clients().remove(client_id).is_some()) }.await,
            audit,
        )
    }

    async fn client_list(&self) -> Result<Vec<Client>, StoreError> {
        let mut listed: Vec<Client> = self.clients().values().cloned().collect();
        listed.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        Ok(listed)
    }

    async fn client_touch(&self, client_id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(match self.clients().get_mut(client_id) {
            Some(client) => {
                let now = as_stored(now);
                if client.last_used_at.is_none_or(|last| last < now) {
                    client.last_used_at = Some(now);
                }
                true
            }
            None => false,
        })
    }

    async fn user_set_password_audited(
        &self,
        id: &str,
        password_hash: &str,
        must_change_password: bool,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                Ok(match self.accounts().users.get_mut(id) {
                    Some(user) => {
                        user.password_hash = Some(password_hash.to_owned());
                        user.must_change_password = must_change_password;
                        user.updated_at = as_stored(now);
                        true
                    }
                    None => false,
                })
            }
            .await,
            audit,
        )
    }

    async fn browser_session_insert_audited(
        &self,
        session: &BrowserSession,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if accounts.sessions.contains_key(&session.id_hash) {
                    return Err(StoreError::Conflict(
                        "a browser session with this id hash already exists".to_owned(),
                    ));
                }
                if !accounts.users.contains_key(&session.user_id) {
                    return Err(StoreError::Backend(format!(
                        "no user {:?} for the browser session",
                        session.user_id
                    )));
                }
                let stored = BrowserSession {
                    created_at: as_stored(session.created_at),
                    last_seen_at: as_stored(session.last_seen_at),
                    idle_expires_at: as_stored(session.idle_expires_at),
                    absolute_expires_at: as_stored(session.absolute_expires_at),
                    auth_time: as_stored(session.auth_time),
                    ..session.clone()
                };
                accounts.sessions.insert(session.id_hash, stored);
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn browser_session_get(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<BrowserSession>, StoreError> {
        Ok(self.accounts().sessions.get(id_hash).cloned())
    }

    async fn browser_session_touch(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(match self.accounts().sessions.get_mut(id_hash) {
            Some(session) => {
                session.last_seen_at = session.last_seen_at.max(as_stored(now));
                session.idle_expires_at = session.idle_expires_at.max(as_stored(idle_expires_at));
                true
            }
            None => false,
        })
    }

    async fn browser_session_delete(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.accounts().sessions.remove(id_hash).is_some())
    }

    async fn browser_sessions_delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let mut accounts = self.accounts();
        let before = accounts.sessions.len();
        accounts
            .sessions
            .retain(|_, session| session.user_id != user_id);
        // usize always fits in u64 on the platforms we build for.
        Ok(u64::try_from(before - accounts.sessions.len()).unwrap_or(u64::MAX))
    }

    async fn browser_sessions_purge(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut accounts = self.accounts();
        let before = accounts.sessions.len();
        accounts.sessions.retain(|_, session| {
            session.idle_expires_at >= expired_before
                && session.absolute_expires_at >= expired_before
        });
        // usize always fits in u64 on the platforms we build for.
        Ok(u64::try_from(before - accounts.sessions.len()).unwrap_or(u64::MAX))
    }

    async fn clients_purge_unused(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut clients = self.clients();
        let before = clients.len();
        clients.retain(|_, client| {
            client.last_used_at.is_some() || client.expires_at.is_none_or(|at| at >= expired_before)
        });
        // usize always fits in u64 on the platforms we build for.
        Ok(u64::try_from(before - clients.len()).unwrap_or(u64::MAX))
    }

    async fn user_delete_audited(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if accounts.users.remove(id).is_none() {
                    return Ok(false);
                }
                accounts.sessions.retain(|_, session| session.user_id != id);
                accounts.factors.retain(|_, factor| factor.user_id != id);
                accounts.recovery_codes.retain(|code| code.user_id != id);
                accounts
                    .identities
                    .retain(|_, identity| identity.user_id != id);
                accounts.provider_tokens.retain(|(user, _), _| user != id);
                let before = accounts.members.len();
                accounts.members.retain(|m| m.user_id != id);
                if accounts.members.len() != before {
                    self.model_changed();
                }
                Ok(true)
            }
            .await,
            audit,
        )
    }

    async fn browser_sessions_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        let mut sessions: Vec<BrowserSession> = self
            .accounts()
            .sessions
            .values()
            .filter(|session| session.user_id == user_id)
            .cloned()
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id_hash)));
        Ok(sessions)
    }

    async fn grants_of_subject(&self, subject: &str) -> Result<Vec<Grant>, StoreError> {
        Ok(self.authorization().grants_of_subject(subject))
    }

    async fn grants_of_client(&self, client_id: &str) -> Result<Vec<Grant>, StoreError> {
        Ok(self.authorization().grants_of_client(client_id))
    }

    async fn factor_insert_audited(
        &self,
        factor: &Factor,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if accounts.factors.contains_key(&factor.id) {
                    return Err(StoreError::Conflict(format!(
                        "factor {:?} already exists",
                        factor.id
                    )));
                }
                if !accounts.users.contains_key(&factor.user_id) {
                    return Err(StoreError::Backend(format!(
                        "no user {:?} for the factor",
                        factor.user_id
                    )));
                }
                let stored = Factor {
                    created_at: as_stored(factor.created_at),
                    last_used_at: factor.last_used_at.map(as_stored),
                    ..factor.clone()
                };
                accounts.factors.insert(factor.id.clone(), stored);
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn factors_of_user(&self, user_id: &str) -> Result<Vec<Factor>, StoreError> {
        let mut factors: Vec<Factor> = self
            .accounts()
            .factors
            .values()
            .filter(|factor| factor.user_id == user_id)
            .cloned()
            .collect();
        factors.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(factors)
    }

    async fn factor_delete_audited(
        &self,
        user_id: &str,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if accounts
                    .factors
                    .get(id)
                    .is_some_and(|factor| factor.user_id == user_id)
                {
                    accounts.factors.remove(id);
                    return Ok(true);
                }
                Ok(false)
            }
            .await,
            audit,
        )
    }

    async fn factor_use(
        &self,
        user_id: &str,
        id: &str,
        step: Option<i64>,
        data: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<FactorUse, StoreError> {
        let mut accounts = self.accounts();
        let Some(factor) = accounts
            .factors
            .get_mut(id)
            .filter(|factor| factor.user_id == user_id)
        else {
            return Ok(FactorUse::Unknown);
        };
        if let Some(step) = step {
            if factor.last_step.is_some_and(|last| last >= step) {
                return Ok(FactorUse::Replayed);
            }
            factor.last_step = Some(step);
        }
        if let Some(data) = data {
            factor.data = data.to_vec();
        }
        factor.last_used_at = Some(as_stored(now));
        Ok(FactorUse::Used)
    }

    async fn recovery_codes_set_audited(
        &self,
        user_id: &str,
        code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut accounts = self.accounts();
            if !accounts.users.contains_key(user_id) {
                return Err(StoreError::Backend(format!(
                    "no user {user_id:?} for the recovery codes"
                )));
            }
            accounts
                .recovery_codes
                .retain(|code| code.user_id != user_id);
            for hash in code_hashes {
                accounts.recovery_codes.push(RecoveryCode {
                    user_id: user_id.to_owned(),
                    code_hash: *hash,
                    created_at: as_stored(now),
                    used_at: None,
                });
            }
            Ok(())
        }
        .await;
        if result.is_ok() {
            self.audit_push(audit);
        }
        result
    }

    async fn recovery_code_use(
        &self,
        user_id: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut accounts = self.accounts();
        match accounts.recovery_codes.iter_mut().find(|code| {
            code.user_id == user_id && code.code_hash == *code_hash && code.used_at.is_none()
        }) {
            Some(code) => {
                code.used_at = Some(as_stored(now));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<u32, StoreError> {
        let left = self
            .accounts()
            .recovery_codes
            .iter()
            .filter(|code| code.user_id == user_id && code.used_at.is_none())
            .count();
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    async fn mfa_reset_audited(
        &self,
        user_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                let before = accounts.factors.len();
                accounts
                    .factors
                    .retain(|_, factor| factor.user_id != user_id);
                let removed = before - accounts.factors.len();
                accounts
                    .recovery_codes
                    .retain(|code| code.user_id != user_id);
                Ok(u64::try_from(removed).unwrap_or(u64::MAX))
            }
            .await,
            audit,
        )
    }

    async fn throttle_get(&self, key: &str) -> Result<Option<Throttle>, StoreError> {
        Ok(self.accounts().throttles.get(key).copied())
    }

    async fn throttle_fail(
        &self,
        key: &str,
        now: OffsetDateTime,
        reset_before: OffsetDateTime,
    ) -> Result<Throttle, StoreError> {
        let mut accounts = self.accounts();
        let now = as_stored(now);
        let counted = match accounts.throttles.get(key) {
            Some(t) if t.last_failure_at >= reset_before => Throttle {
                failures: t.failures.saturating_add(1),
                last_failure_at: now.max(t.last_failure_at),
            },
            _ => Throttle {
                failures: 1,
                last_failure_at: now,
            },
        };
        accounts.throttles.insert(key.to_owned(), counted);
        Ok(counted)
    }

    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        self.accounts().throttles.remove(key);
        Ok(())
    }

    async fn throttle_purge(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut accounts = self.accounts();
        let count = accounts.throttles.len();
        accounts
            .throttles
            .retain(|_, throttle| throttle.last_failure_at >= before);
        Ok(u64::try_from(count - accounts.throttles.len()).unwrap_or(u64::MAX))
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        let wanted = email.to_lowercase();
        let mut users: Vec<User> = self
            .accounts()
            .users
            .values()
            .filter(|user| user.email.to_lowercase() == wanted)
            .cloned()
            .collect();
        users.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(users)
    }

    async fn external_identity_get(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalIdentity>, StoreError> {
        Ok(self
            .accounts()
            .identities
            .get(&(provider.to_owned(), subject.to_owned()))
            .cloned())
    }

    async fn external_identities_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<ExternalIdentity>, StoreError> {
        let mut identities: Vec<ExternalIdentity> = self
            .accounts()
            .identities
            .values()
            .filter(|identity| identity.user_id == user_id)
            .cloned()
            .collect();
        identities.sort_by(|a, b| {
            (a.created_at, &a.provider, &a.subject).cmp(&(b.created_at, &b.provider, &b.subject))
        });
        Ok(identities)
    }

    async fn external_identity_insert_audited(
        &self,
        identity: &ExternalIdentity,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            let mut accounts = self.accounts();
            if !accounts.users.contains_key(&identity.user_id) {
                return Err(StoreError::Backend(format!(
                    "no user {:?} for the identity",
                    identity.user_id
                )));
            }
            link(&mut accounts, identity)
        }
        .await;
        if result.is_ok() {
            self.audit_push(audit);
        }
        result
    }

    async fn user_insert_with_identity_audited(
        &self,
        user: &User,
        identity: &ExternalIdentity,
        grants: &[StoredRoleGrant],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let result: Result<(), StoreError> = async {
            // Lock order: the authorization model, then accounts (nothing takes them the other way).
            let mut model = self.model();
            if grants
                .iter()
                .any(|g| model.1.iter().any(|other| other.id == g.id))
            {
                return Err(StoreError::Conflict("a grant id is taken".to_owned()));
            }
            let mut accounts = self.accounts();
            let key = (identity.provider.clone(), identity.subject.clone());
            if accounts.identities.contains_key(&key) {
                return Err(StoreError::Conflict(format!(
                    "the identity {}:{} is linked already",
                    identity.provider, identity.subject
                )));
            }
            let username = username_key(&user.username);
            if accounts.users.contains_key(&user.id)
                || accounts
                    .users
                    .values()
                    .any(|other| username_key(&other.username) == username)
            {
                return Err(StoreError::Conflict(format!(
                    "the username {:?} is taken",
                    user.username
                )));
            }
            let stored = User {
                created_at: as_stored(user.created_at),
                updated_at: as_stored(user.updated_at),
                ..user.clone()
            };
            accounts.users.insert(user.id.clone(), stored);
            link(&mut accounts, identity)?;
            model.1.extend(grants.iter().map(|g| StoredRoleGrant {
                created_at: as_stored(g.created_at),
                ..g.clone()
            }));
            if !grants.is_empty() {
                self.model_changed();
            }
            Ok(())
        }
        .await;
        if result.is_ok() {
            self.audit_push(audit);
        }
        result
    }

    async fn external_identity_signed_in(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut accounts = self.accounts();
        let Some(identity) = accounts
            .identities
            .get_mut(&(provider.to_owned(), subject.to_owned()))
        else {
            return Ok(false);
        };
        identity.email = email.map(str::to_owned);
        identity.email_verified = email_verified;
        identity.last_sign_in_at = as_stored(now);
        Ok(true)
    }

    async fn external_identities_delete_audited(
        &self,
        user_id: &str,
        provider: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let result: Result<u64, StoreError> = async {
            let mut accounts = self.accounts();
            let before = accounts.identities.len();
            accounts
                .identities
                .retain(|_, i| !(i.user_id == user_id && i.provider == provider));
            accounts
                .provider_tokens
                .remove(&(user_id.to_owned(), provider.to_owned()));
            Ok(u64::try_from(before - accounts.identities.len()).unwrap_or(u64::MAX))
        }
        .await;
        if result.is_ok() {
            self.audit_push(audit);
        }
        result
    }

    async fn federation_state_insert(&self, state: &FederationState) -> Result<(), StoreError> {
        let mut accounts = self.accounts();
        if accounts.federation_states.contains_key(&state.state_hash) {
            return Err(StoreError::Conflict("the state exists already".to_owned()));
        }
        let stored = FederationState {
            created_at: as_stored(state.created_at),
            expires_at: as_stored(state.expires_at),
            ..state.clone()
        };
        accounts.federation_states.insert(state.state_hash, stored);
        Ok(())
    }

    async fn federation_state_take(
        &self,
        state_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<FederationState>, StoreError> {
        let taken = self.accounts().federation_states.remove(state_hash);
        Ok(taken.filter(|state| now < state.expires_at))
    }

    async fn federation_states_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut accounts = self.accounts();
        let before = accounts.federation_states.len();
        accounts
            .federation_states
            .retain(|_, state| state.expires_at > now);
        Ok(u64::try_from(before - accounts.federation_states.len()).unwrap_or(u64::MAX))
    }

    async fn provider_token_put(&self, token: &ProviderToken) -> Result<(), StoreError> {
        let mut accounts = self.accounts();
        if !accounts.users.contains_key(&token.user_id) {
            return Err(StoreError::Backend(format!(
                "no user {:?} for the provider token",
                token.user_id
            )));
        }
        let stored = ProviderToken {
            expires_at: token.expires_at.map(as_stored),
            updated_at: as_stored(token.updated_at),
            ..token.clone()
        };
        accounts
            .provider_tokens
            .insert((token.user_id.clone(), token.provider.clone()), stored);
        Ok(())
    }

    async fn provider_token_get(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<ProviderToken>, StoreError> {
        Ok(self
            .accounts()
            .provider_tokens
            .get(&(user_id.to_owned(), provider.to_owned()))
            .cloned())
    }

    async fn provider_tokens_delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let mut accounts = self.accounts();
        let before = accounts.provider_tokens.len();
        accounts
            .provider_tokens
            .retain(|(user, _), _| user != user_id);
        Ok(u64::try_from(before - accounts.provider_tokens.len()).unwrap_or(u64::MAX))
    }

    async fn webauthn_ceremony_put(&self, ceremony: &WebauthnCeremony) -> Result<(), StoreError> {
        let mut accounts = self.accounts();
        if accounts.ceremonies.contains_key(&ceremony.id) {
            return Err(StoreError::Conflict(format!(
                "ceremony {:?} already exists",
                ceremony.id
            )));
        }
        accounts.ceremonies.retain(|_, other| {
            other.session_hash != ceremony.session_hash || other.kind != ceremony.kind
        });
        let stored = WebauthnCeremony {
            expires_at: as_stored(ceremony.expires_at),
            ..ceremony.clone()
        };
        accounts.ceremonies.insert(ceremony.id.clone(), stored);
        Ok(())
    }

    async fn webauthn_ceremony_take(
        &self,
        id: &str,
        session_hash: &[u8; 32],
        kind: CeremonyKind,
    ) -> Result<Option<WebauthnCeremony>, StoreError> {
        let mut accounts = self.accounts();
        let matches = accounts
            .ceremonies
            .get(id)
            .is_some_and(|c| &c.session_hash == session_hash && c.kind == kind);
        Ok(if matches {
            accounts.ceremonies.remove(id)
        } else {
            None
        })
    }

    async fn webauthn_ceremonies_purge(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut accounts = self.accounts();
        let count = accounts.ceremonies.len();
        accounts
            .ceremonies
            .retain(|_, ceremony| ceremony.expires_at >= expired_before);
        Ok(u64::try_from(count - accounts.ceremonies.len()).unwrap_or(u64::MAX))
    }

    async fn role_put_audited(
        &self,
        role: &StoredRole,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut model = self.model();
                let created_at = model
                    .0
                    .get(&role.name)
                    .map_or(as_stored(role.created_at), |old| old.created_at);
                model.0.insert(
                    role.name.clone(),
                    StoredRole {
                        created_at,
                        updated_at: as_stored(role.updated_at),
                        ..role.clone()
                    },
                );
                self.model_changed();
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn role_delete_audited(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                let mut model = self.model();
                if model.1.iter().any(|g| g.role == name) {
                    return Err(StoreError::Conflict(format!(
                        "the role {name:?} is granted; revoke its grants first"
                    )));
                }
                let removed = model.0.remove(name).is_some();
                if removed {
                    self.model_changed();
                }
                Ok(removed)
            }
            .await,
            audit,
        )
    }

    async fn role_list(&self) -> Result<Vec<StoredRole>, StoreError> {
        let mut roles: Vec<StoredRole> = self.model().0.values().cloned().collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    async fn role_grant_insert_audited(
        &self,
        grant: &StoredRoleGrant,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut model = self.model();
                let same = |g: &StoredRoleGrant| {
                    g.id == grant.id
                        || (g.grantee_kind == grant.grantee_kind
                            && g.grantee == grant.grantee
                            && g.role == grant.role
                            && g.scope_kind == grant.scope_kind
                            && g.scope == grant.scope)
                };
                if model.1.iter().any(same) {
                    return Err(StoreError::Conflict(
                        "the role is granted so already".to_owned(),
                    ));
                }
                model.1.push(StoredRoleGrant {
                    created_at: as_stored(grant.created_at),
                    ..grant.clone()
                });
                self.model_changed();
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn role_grant_delete_audited(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                let mut model = self.model();
                let before = model.1.len();
                model.1.retain(|g| g.id != id);
                if model.1.len() != before {
                    self.model_changed();
                }
                Ok(model.1.len() != before)
            }
            .await,
            audit,
        )
    }

    async fn role_grant_list(&self) -> Result<Vec<StoredRoleGrant>, StoreError> {
        let mut grants = self.model().1.clone();
        grants.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(grants)
    }

    async fn group_insert_audited(
        &self,
        group: &crate::StoredGroup,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if accounts.groups.contains_key(&group.name) {
                    return Err(StoreError::Conflict(format!(
                        "a group is named {:?} already",
                        group.name
                    )));
                }
                accounts.groups.insert(
                    group.name.clone(),
                    crate::StoredGroup {
                        created_at: as_stored(group.created_at),
                        ..group.clone()
                    },
                );
                self.model_changed();
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn group_delete_audited(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if accounts.groups.remove(name).is_none() {
                    return Ok(false);
                }
                accounts.members.retain(|m| m.group != name);
                self.model_changed();
                Ok(true)
            }
            .await,
            audit,
        )
    }

    async fn group_list(&self) -> Result<Vec<crate::StoredGroup>, StoreError> {
        Ok(self.accounts().groups.values().cloned().collect())
    }

    async fn group_member_add_audited(
        &self,
        member: &crate::GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.audited(
            async {
                let mut accounts = self.accounts();
                if !accounts.groups.contains_key(&member.group)
                    || !accounts.users.contains_key(&member.user_id)
                {
                    return Err(StoreError::Backend(
                        "a membership names a group and an account that exist".to_owned(),
                    ));
                }
                if !accounts.members.insert(member.clone()) {
                    return Err(StoreError::Conflict(
                        "the account is a member already".to_owned(),
                    ));
                }
                self.model_changed();
                Ok(())
            }
            .await,
            audit,
        )
    }

    async fn group_member_remove_audited(
        &self,
        member: &crate::GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        self.audited(
            async {
                let removed = self.accounts().members.remove(member);
                if removed {
                    self.model_changed();
                }
                Ok(removed)
            }
            .await,
            audit,
        )
    }

    async fn group_members(&self) -> Result<Vec<crate::GroupMember>, StoreError> {
        Ok(self.accounts().members.iter().cloned().collect())
    }

    async fn authorization_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .authorization_version
            .load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn audit_append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut log = self.audit.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            let last = log.last().map(|last| (last.seq, last.hash));
            log.push(AuditRecord::chain(last, event));
        }
        Ok(())
    }

    async fn audit_list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let log = self.audit.lock().unwrap_or_else(PoisonError::into_inner);
        let matching = log
            .iter()
            .filter(|r| r.seq > query.after_seq && query.since.is_none_or(|s| r.event.time >= s));
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let mut records: Vec<AuditRecord> = if query.newest {
            matching.rev().take(limit).cloned().collect()
        } else {
            matching.take(limit).cloned().collect()
        };
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }
}

/// Links `identity` (whose user exists), refusing one that is linked already.
fn link(accounts: &mut Accounts, identity: &ExternalIdentity) -> Result<(), StoreError> {
    let key = (identity.provider.clone(), identity.subject.clone());
    if accounts.identities.contains_key(&key) {
        return Err(StoreError::Conflict(format!(
            "the identity {}:{} is linked already",
            identity.provider, identity.subject
        )));
    }
    let stored = ExternalIdentity {
        created_at: as_stored(identity.created_at),
        last_sign_in_at: as_stored(identity.last_sign_in_at),
        ..identity.clone()
    };
    accounts.identities.insert(key, stored);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timestamps_are_kept_to_the_microsecond_in_utc() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_777_777_777_123_456_789)
            .unwrap()
            .to_offset(UtcOffset::from_hms(2, 0, 0).unwrap());
        let stored = as_stored(at);
        assert_eq!(stored.offset(), UtcOffset::UTC);
        assert_eq!(stored.unix_timestamp_nanos(), 1_777_777_777_123_456_000);
    }

    #[tokio::test]
    async fn conformance() {
        crate::conformance::run_all(&MemoryStore::new()).await;
    }
}

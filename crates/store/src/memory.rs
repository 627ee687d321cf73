//! `MemoryStore`: the `Store` kept in a mutex-guarded map, for tests and for `cargo test` without a
//! database.
//!
//! It is held to the same conformance suite as the SQL backends and mirrors their observable
//! behaviour where that matters to callers: timestamps come back in UTC, truncated to the microsecond
//! (PostgreSQL's `TIMESTAMPTZ` resolution), and nothing is ever read from the clock. It has no
//! migrations, so `applied_migrations` is always empty.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::{ApiKey, Client, RelaySession, SessionKey, SigningKey, Store, StoreError};

/// An in-memory [`Store`]; cheap to create, forgotten on drop.
#[derive(Default)]
pub struct MemoryStore {
    relay_sessions: Mutex<HashMap<SessionKey, RelaySession>>,
    /// By id. Lookups by hash and client id scan: this store holds a test's handful of keys.
    api_keys: Mutex<HashMap<String, ApiKey>>,
    /// By kid.
    signing_keys: Mutex<HashMap<String, SigningKey>>,
    /// OAuth clients by client id.
    clients: Mutex<HashMap<String, Client>>,
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

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("relay_sessions", &self.relay_sessions().len())
            .field("api_keys", &self.api_keys().len())
            .field("signing_keys", &self.signing_keys().len())
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

    async fn api_key_insert(&self, key: &ApiKey) -> Result<(), StoreError> {
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

    async fn api_key_revoke(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(match self.api_keys().get_mut(id) {
            Some(key) if key.revoked_at.is_none() => {
                key.revoked_at = Some(as_stored(now));
                true
            }
            _ => false,
        })
    }

    async fn signing_key_insert(&self, key: &SigningKey) -> Result<(), StoreError> {
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

    async fn signing_key_list(&self) -> Result<Vec<SigningKey>, StoreError> {
        let mut listed: Vec<SigningKey> = self.signing_keys().values().cloned().collect();
        listed.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(listed)
    }

    async fn signing_key_retire(&self, kid: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
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

    async fn signing_keys_purge(&self, retired_before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut keys = self.signing_keys();
        let before = keys.len();
        keys.retain(|_, key| key.retire_after.is_none_or(|at| at >= retired_before));
        // usize always fits in u64 on the platforms we build for.
        Ok(u64::try_from(before - keys.len()).unwrap_or(u64::MAX))
    }

    async fn client_insert(&self, client: &Client) -> Result<(), StoreError> {
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

    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.clients().get(client_id).cloned())
    }

    async fn client_update(&self, client: &Client) -> Result<bool, StoreError> {
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

    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.clients().remove(client_id).is_some())
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

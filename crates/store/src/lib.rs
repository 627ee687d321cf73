//! The `Store` trait, its row models and `StoreError`, plus an in-memory implementation for tests.
//!
//! Every piece of state that must survive a restart or be shared between replicas lives behind this
//! trait: one implementation per backend crate (`portcullis-store-sqlite`, `portcullis-store-postgres`),
//! each owning its migrations, and one conformance suite (`conformance`, behind the feature of the same
//! name) that every backend runs. Time is always a parameter: the store never reads the clock.

mod api_key;
mod error;
mod memory;
mod relay_session;

// Also compiled for this crate's own tests, so that `cargo test -p portcullis-store` runs the suite
// against `MemoryStore` without naming the feature.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use api_key::{ApiKey, ApiKeyKind};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use relay_session::{RelaySession, SessionKey};

use async_trait::async_trait;
use time::OffsetDateTime;

/// Everything Portcullis persists.
///
/// Implementations must make each method atomic; methods that write are single transactions.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// A short name for logs and `/readyz`: `sqlite`, `postgres` or `memory`.
    fn backend(&self) -> &'static str;

    /// Checks that the store answers (used by `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The migration versions applied so far, oldest first.
    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError>;

    /// Records a relay session that an upstream (or the gateway's bridge) created.
    ///
    /// Fails with [`StoreError::Conflict`] if a session with the same key already exists.
    async fn relay_session_insert(&self, session: &RelaySession) -> Result<(), StoreError>;

    /// Looks a relay session up by upstream and session-id hash.
    async fn relay_session_get(&self, key: &SessionKey)
    -> Result<Option<RelaySession>, StoreError>;

    /// Marks a session as used at `now`; returns `false` if it does not exist.
    async fn relay_session_touch(
        &self,
        key: &SessionKey,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Forgets a session; returns `false` if it did not exist.
    async fn relay_session_delete(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Deletes every session last used before `idle_before`; returns how many were deleted.
    async fn relay_sessions_purge(&self, idle_before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Records a new API key or service token.
    ///
    /// Fails with [`StoreError::Conflict`] if another key has the same `id`, `secret_hash` or
    /// service-token client id; nothing is written then.
    async fn api_key_insert(&self, key: &ApiKey) -> Result<(), StoreError>;

    /// Looks a key up by the SHA-256 of its secret.
    ///
    /// Revoked and expired keys are returned too: whether a key is still good is the caller's
    /// decision, made against its own clock.
    async fn api_key_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError>;

    /// Looks a service token up by its client id; API keys have none and are never found here.
    async fn api_key_by_client_id(&self, client_id: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Looks a key up by its public id.
    async fn api_key_get(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;

    /// The keys of `subject`, or of every subject when `None`, oldest first (by `created_at`,
    /// then `id`), revoked and expired ones included.
    ///
    /// Rows hold only the hash of each secret, so a listing can never reveal a key.
    async fn api_key_list(&self, subject: Option<&str>) -> Result<Vec<ApiKey>, StoreError>;

    /// Records that the key was used at `now`; returns `false` if no key has that id.
    ///
    /// `last_used_at` never moves backwards: a touch older than the recorded one (a slower replica)
    /// leaves it as it is. Callers may throttle these writes; the store does not.
    async fn api_key_touch(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Revokes the key at `now`.
    ///
    /// Idempotent: returns `true` if this call revoked it, `false` if no key has that id or it was
    /// already revoked (the first revocation time is kept). An expired key can still be revoked.
    async fn api_key_revoke(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// The keys revoked at or after `since`, by `revoked_at` (then `id`).
    ///
    /// Every replica polls this to drop revoked keys from its cache of verified credentials.
    async fn api_keys_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<ApiKey>, StoreError>;
}

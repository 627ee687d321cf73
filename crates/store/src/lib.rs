//! The `Store` trait, its row models and `StoreError`, plus an in-memory implementation for tests.
//!
//! Every piece of state that must survive a restart or be shared between replicas lives behind this
//! trait: one implementation per backend crate (`portcullis-store-sqlite`, `portcullis-store-postgres`),
//! each owning its migrations, and one conformance suite (`conformance`, behind the feature of the same
//! name) that every backend runs. Time is always a parameter: the store never reads the clock.

mod api_key;
mod client;
mod error;
mod memory;
mod relay_session;
mod signing_key;

// Also compiled for this crate's own tests, so that `cargo test -p portcullis-store` runs the suite
// against `MemoryStore` without naming the feature.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use api_key::{ApiKey, ApiKeyKind};
pub use client::{ApplicationType, Client, ClientSource, TokenEndpointAuthMethod};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use relay_session::{RelaySession, SessionKey};
pub use signing_key::SigningKey;

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

    /// Records a new signing key.
    ///
    /// Fails with [`StoreError::Conflict`] if a key with the same `kid` exists; nothing is
    /// written then.
    async fn signing_key_insert(&self, key: &SigningKey) -> Result<(), StoreError>;

    /// Every signing key, retired ones included, oldest first (by `created_at`, then `kid`
    /// compared byte-wise).
    ///
    /// There are only ever a handful: the current key, one pre-published for a rotation, and the
    /// retired ones not yet purged.
    async fn signing_key_list(&self) -> Result<Vec<SigningKey>, StoreError>;

    /// Schedules the key's retirement: `retire_after` becomes `at`, unless it is already set to
    /// an earlier instant, which is kept (a retirement is only ever brought forward, so two
    /// rotations racing each other, or an emergency retirement racing a rotation, end with the
    /// earliest time). Returns `false` if no key has that `kid`.
    async fn signing_key_retire(&self, kid: &str, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Deletes every key whose `retire_after` is strictly before `retired_before`; returns how
    /// many were deleted. Current keys (no `retire_after`) are never deleted.
    async fn signing_keys_purge(&self, retired_before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Records a new OAuth client.
    ///
    /// Fails with [`StoreError::Conflict`] if a client with the same `client_id` exists; nothing is
    /// written then.
    async fn client_insert(&self, client: &Client) -> Result<(), StoreError>;

    /// Looks a client up by its `client_id`.
    ///
    /// Unused dynamic registrations past `expires_at` are returned too: whether a client is still
    /// good is the caller's decision, made against its own clock.
    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError>;

    /// Replaces a client's registered metadata and credentials (an RFC 7592 update, a secret
    /// rotation) with those of `client`: every field but `client_id`, `source`, `created_at` and
    /// `last_used_at`, which keep their stored values. Returns `false` if no client has that id.
    async fn client_update(&self, client: &Client) -> Result<bool, StoreError>;

    /// Deletes a client; returns `false` if it did not exist.
    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Every stored client, oldest first (by `created_at`, then `client_id` compared byte-wise).
    ///
    /// Rows hold only hashes of secrets, so a listing can never reveal one.
    async fn client_list(&self) -> Result<Vec<Client>, StoreError>;

    /// Records that the client was used at `now`; returns `false` if no client has that id.
    ///
    /// `last_used_at` never moves backwards. A client that has been used is never purged by
    /// [`Store::clients_purge_unused`].
    async fn client_touch(&self, client_id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Deletes every client that was never used (`last_used_at` unset) and whose `expires_at` is
    /// strictly before `expired_before`; returns how many were deleted. Clients without
    /// `expires_at` are never deleted.
    async fn clients_purge_unused(&self, expired_before: OffsetDateTime)
    -> Result<u64, StoreError>;
}

//! The `Store` trait, its row models and `StoreError`, plus an in-memory implementation for tests.
//!
//! Every piece of state that must survive a restart or be shared between replicas lives behind this
//! trait: one implementation per backend crate (`portcullis-store-sqlite`, `portcullis-store-postgres`),
//! each owning its migrations, and one conformance suite (`conformance`, behind the feature of the same
//! name) that every backend runs. Time is always a parameter: the store never reads the clock.

mod error;
mod memory;
mod relay_session;

// Also compiled for this crate's own tests, so that `cargo test -p portcullis-store` runs the suite
// against `MemoryStore` without naming the feature.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

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
}

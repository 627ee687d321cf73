//! The one error type of the store layer.

/// What can go wrong in a store call. Backends map their driver errors onto these variants.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to insert already exists (a unique key was violated).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend could not be reached or timed out; the caller should answer 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A migration failed or the schema is newer than this binary knows.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The store URL or options are invalid.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// Any other backend error.
    #[error("store error: {0}")]
    Backend(String),
}

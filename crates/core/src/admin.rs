//! Administrative operations, one function each, shared by every way of invoking them (the
//! `portcullis admin` CLI now, the admin REST API later), so both check and do the same thing.
//! Time and randomness are parameters, like everywhere in `core`.

pub mod api_keys;
pub mod audit;
pub mod clients;
pub mod roles;
pub mod users;

use portcullis_store::StoreError;

/// Why an administrative operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request is malformed (a bad name, subject or scope): nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// The thing to act on does not exist.
    #[error("{0}")]
    NotFound(String),
    /// What would be created exists already (a taken username): nothing was changed.
    #[error("{0}")]
    Conflict(String),
    /// The store failed: nothing was changed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

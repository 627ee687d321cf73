//! Administrative operations, one function each, shared by every way of invoking them (the
//! `portcullis admin` CLI and the admin REST API), so both check and do the same thing and
//! answer in the same JSON shapes (`views`). Who may do what through the API is `access`.
//! Time and randomness are parameters, like everywhere in `core`.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod clients;
pub mod groups;
pub mod keys;
pub mod roles;
pub mod users;
pub mod views;

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
    /// The caller's grants do not allow it: nothing was changed.
    #[error("{0}")]
    Forbidden(String),
    /// Something Portcullis needs is broken (a signing key that does not open): nothing was
    /// changed, and the operator must look.
    #[error("{0}")]
    Internal(String),
    /// The store failed: nothing was changed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

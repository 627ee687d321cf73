//! OAuth wire formats: the Bearer challenge and protected resource metadata of the resource
//! server (`challenge`), and the error responses every OAuth endpoint shares (`error`).

mod challenge;
mod error;

pub use challenge::{BearerChallenge, BearerError, ProtectedResourceMetadata};
pub use error::{ErrorCode, OAuthError};

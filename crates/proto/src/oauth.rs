//! OAuth wire formats: the Bearer challenge and protected resource metadata of the resource
//! server (`challenge`), the error responses every OAuth endpoint shares (`error`), and the client
//! information of dynamic client registration (`registration`).

mod challenge;
mod error;
mod registration;

pub use challenge::{BearerChallenge, BearerError, ProtectedResourceMetadata};
pub use error::{ErrorCode, OAuthError};
pub use registration::ClientInformation;

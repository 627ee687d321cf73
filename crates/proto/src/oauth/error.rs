//! OAuth error responses: the `error` codes of RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2,
//! RFC 8707 §2 and RFC 9700's additions, and the JSON body they travel in.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// An OAuth `error` code. `Display` is the wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: "The request is missing a required parameter, includes an unsupported
    /// parameter value (other than grant type), repeats a parameter, includes multiple
    /// credentials, utilizes more than one mechanism for authenticating the client, or is
    /// otherwise malformed."
    InvalidRequest,
    /// RFC 6749 §5.2: "Client authentication failed (e.g., unknown client, no client
    /// authentication included, or unsupported authentication method)." HTTP 401.
    InvalidClient,
    /// RFC 6749 §5.2: "The provided authorization grant (e.g., authorization code, resource
    /// owner credentials) or refresh token is invalid, expired, revoked, does not match the
    /// redirection URI used in the authorization request, or was issued to another client."
    InvalidGrant,
    /// RFC 6749 §5.2: "The authenticated client is not authorized to use this authorization
    /// grant type."
    UnauthorizedClient,
    /// RFC 6749 §5.2: "The authorization grant type is not supported by the authorization
    /// server."
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1: "The authorization server does not support obtaining an authorization
    /// code using this method."
    UnsupportedResponseType,
    /// RFC 6749 §5.2: "The requested scope is invalid, unknown, malformed, or exceeds the scope
    /// granted by the resource owner."
    InvalidScope,
    /// RFC 8707 §2: "The requested resource is invalid, missing, unknown, or malformed."
    InvalidTarget,
    /// RFC 6749 §4.1.2.1: "The resource owner or authorization server denied the request."
    AccessDenied,
    /// RFC 6749 §4.1.2.1: "The authorization server encountered an unexpected condition that
    /// prevented it from fulfilling the request."
    ServerError,
    /// RFC 6749 §4.1.2.1: "The authorization server is currently unable to handle the request
    /// due to a temporary overloading or maintenance of the server."
    TemporarilyUnavailable,
    /// RFC 7591 §3.2.2: "The value of one or more redirection URIs is invalid."
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: "The value of one of the client metadata fields is invalid and the
    /// server has rejected this request."
    InvalidClientMetadata,
    /// RFC 6750 §3.1, for endpoints protected by a bearer token (RFC 7592 management):
    /// "The access token provided is expired, revoked, malformed, or invalid."
    InvalidToken,
    /// RFC 7009 §2.2.1: "The authorization server does not support the revocation of the
    /// presented token type."
    UnsupportedTokenType,
    /// OpenID Connect Core §3.1.2.6: "The Authorization Server requires End-User
    /// authentication" (with `prompt=none`).
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: "The Authorization Server requires End-User consent" (with
    /// `prompt=none`).
    ConsentRequired,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
        }
    }

    /// The HTTP status of a JSON error response with this code (RFC 6749 §5.2: 400, or 401 for
    /// `invalid_client`; 503/500 for the server's own trouble).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An OAuth error: the code and a sentence for the developer (never a secret, never a token).
/// Serialized as the RFC 6749 §5.2 body, `{"error": …, "error_description": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}: {}", error_description.as_deref().unwrap_or(""))]
pub struct OAuthError {
    pub error: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<Cow<'static, str>>,
}

impl OAuthError {
    pub fn new(error: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            error,
            error_description: Some(description.into()),
        }
    }

    pub fn bare(error: ErrorCode) -> Self {
        OAuthError {
            error,
            error_description: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_rfc_names() {
        let body = serde_json::to_value(OAuthError::new(
            ErrorCode::InvalidTarget,
            "unknown resource",
        ))
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "invalid_target", "error_description": "unknown resource"})
        );
        let bare = serde_json::to_value(OAuthError::bare(ErrorCode::InvalidClient)).unwrap();
        assert_eq!(bare, serde_json::json!({"error": "invalid_client"}));
        assert_eq!(ErrorCode::InvalidClient.http_status(), 401);
        assert_eq!(ErrorCode::InvalidGrant.http_status(), 400);
    }
}

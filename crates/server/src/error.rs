//! The one place errors become HTTP responses.
//!
//! MCP endpoints answer in JSON-RPC's shape: a JSON-RPC error object (with the request's id when
//! it is known) and the HTTP status the MCP transport and our fail-closed rules call for.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use portcullis_core::admin::AdminError;
use portcullis_gateway::{AuthFailure, RelayError, ResourceChallenge};
use portcullis_proto::jsonrpc::error_body;
use portcullis_proto::mcp::{self, code};
use portcullis_proto::oauth::{BearerChallenge, BearerError, ErrorCode, OAuthError};
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    /// On an MCP endpoint: a JSON-RPC error body.
    Relay(RelayError),
    /// Nothing here: 404 with `{"error":"not_found"}`.
    NotFound(&'static str),
    /// Refused outright (ForwardAuth for an unknown or disallowed resource): 403.
    Forbidden(&'static str),
    /// On an OAuth endpoint (token, registration, revocation, introspection): the RFC 6749 §5.2
    /// JSON body with the status its code calls for, never cached.
    OAuth(OAuthError),
    /// For a browser: an HTML error page (status and a sentence, never a secret) with the pages'
    /// security headers.
    Page(crate::pages::PageError),
    /// The request body is larger than the endpoint accepts: 413.
    TooLarge(&'static str),
    /// The request body is not in a media type the endpoint reads: 415.
    UnsupportedMediaType(&'static str),
    /// Too many requests from this client: 429 with `Retry-After` (seconds).
    RateLimited { retry_after_secs: u64 },
    /// On the admin REST API: `{"error", "error_description"}` with the status the error calls
    /// for.
    Admin(AdminError),
    /// On the admin REST API, the caller is not authenticated (401 with the Bearer challenge,
    /// or 503 when the check itself is unavailable), rate limited (429), or the store failed:
    /// the relay's error in the API's plain shape.
    AdminRelay(RelayError),
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        ApiError::Admin(e)
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError::OAuth(e)
    }
}

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> Self {
        ApiError::Relay(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Relay(e) => relay_error(e),
            ApiError::NotFound(why) => plain_error(StatusCode::NOT_FOUND, "not_found", why),
            ApiError::Forbidden(why) => plain_error(StatusCode::FORBIDDEN, "forbidden", why),
            ApiError::OAuth(e) => oauth_error(&e),
            ApiError::Page(e) => crate::pages::error_page(&e),
            ApiError::TooLarge(why) => {
                plain_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", why)
            }
            ApiError::UnsupportedMediaType(why) => plain_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                why,
            ),
            ApiError::Admin(e) => admin_error(&e),
            ApiError::AdminRelay(e) => admin_relay_error(e),
            ApiError::RateLimited { retry_after_secs } => {
                let mut response = plain_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "too many requests from this address; try again later",
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
                response
            }
        }
    }
}

/// An admin operation's refusal, in the admin API's shape. A store failure is logged here and
/// answered without its detail.
fn admin_error(e: &AdminError) -> Response {
    let (status, code) = match e {
        AdminError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        AdminError::Internal(why) => {
            tracing::error!(error = %why, "admin API operation failed");
            return plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Portcullis could not do this; the operator finds why in its logs",
            );
        }
        AdminError::Store(err) => {
            tracing::error!(error = %err, "store failure on the admin API");
            let mut response = plain_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the store is unavailable; try again",
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    };
    let mut response = plain_error(status, code, &e.to_string());
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Authentication of an admin API caller failed (or could not be done).
fn admin_relay_error(e: RelayError) -> Response {
    match &e {
        RelayError::Unauthenticated {
            failure: AuthFailure::Unavailable,
            ..
        }
        | RelayError::Store(_) => {
            let mut response = plain_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the credential cannot be checked now; try again",
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        RelayError::Unauthenticated { failure, challenge } => {
            let (code, why) = match failure {
                AuthFailure::Missing => (
                    "unauthorized",
                    "this needs a Portcullis access token or API key",
                ),
                AuthFailure::BadRequest(why) => ("invalid_request", *why),
                _ => (
                    "invalid_token",
                    "the access token is invalid, expired or not meant for this API",
                ),
            };
            let mut response = plain_error(StatusCode::UNAUTHORIZED, code, why);
            if let Some(value) = unauthenticated_challenge(failure, challenge) {
                response.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
            response
        }
        RelayError::RateLimited {
            retry_after_secs, ..
        } => ApiError::RateLimited {
            retry_after_secs: *retry_after_secs,
        }
        .into_response(),
        other => {
            tracing::error!(error = %other, "admin API authentication failed unexpectedly");
            plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the request could not be authenticated",
            )
        }
    }
}

/// A JSON error body outside JSON-RPC: `{"error": code, "error_description": why}`.
fn plain_error(status: StatusCode, code: &str, why: &str) -> Response {
    let mut response = Response::new(Body::from(
        json!({ "error": code, "error_description": why }).to_string(),
    ));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An OAuth error response (RFC 6749 §5.2): JSON, `Cache-Control: no-store`, 400 or the code's
/// own status; `invalid_client` carries a Basic challenge, as §5.2 asks when the client tried
/// HTTP authentication (and is harmless when it did not), and `invalid_token` (a bearer token
/// such as RFC 7592's registration access token) a Bearer one (RFC 6750 §3).
fn oauth_error(e: &OAuthError) -> Response {
    let body = serde_json::to_vec(e).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(e.error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    if e.error == ErrorCode::InvalidClient {
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\""),
        );
    }
    if e.error == ErrorCode::InvalidToken {
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
    }
    response
}

fn relay_error(e: RelayError) -> Response {
    let message = e.to_string();
    let (status, code, data) = match &e {
        RelayError::UnknownUpstream(_) => (StatusCode::NOT_FOUND, code::INVALID_REQUEST, None),
        RelayError::ForbiddenOrigin(_) => (StatusCode::FORBIDDEN, code::INVALID_REQUEST, None),
        RelayError::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, code::INVALID_REQUEST, None),
        RelayError::BodyUnreadable => (StatusCode::BAD_REQUEST, code::PARSE_ERROR, None),
        RelayError::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::INVALID_REQUEST,
            None,
        ),
        RelayError::BadMessage { code, .. } => (StatusCode::BAD_REQUEST, *code, None),
        RelayError::HeaderMismatch { .. } => (StatusCode::BAD_REQUEST, code::HEADER_MISMATCH, None),
        RelayError::UnsupportedVersion {
            version, supported, ..
        } => (
            StatusCode::BAD_REQUEST,
            code::UNSUPPORTED_PROTOCOL_VERSION,
            Some(match supported {
                Some(list) => json!({ "supported": list, "requested": version }),
                None => json!({ "supported": mcp::PROTOCOL_VERSIONS, "requested": version }),
            }),
        ),
        RelayError::SessionNotFound { .. } => {
            (StatusCode::NOT_FOUND, code::SESSION_NOT_FOUND, None)
        }
        RelayError::SessionRequired { .. } => {
            (StatusCode::BAD_REQUEST, code::INVALID_REQUEST, None)
        }
        RelayError::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, code::INVALID_REQUEST, None)
        }
        RelayError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, code::INVALID_REQUEST, None),
        RelayError::Busy { upstream, .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            code::INTERNAL_ERROR,
            Some(json!({ "upstream": upstream, "reason": "busy" })),
        ),
        RelayError::Unavailable {
            upstream, reason, ..
        } => (
            StatusCode::BAD_GATEWAY,
            code::INTERNAL_ERROR,
            Some(json!({ "upstream": upstream, "reason": reason })),
        ),
        RelayError::Timeout { upstream, .. } => (
            StatusCode::GATEWAY_TIMEOUT,
            code::INTERNAL_ERROR,
            Some(json!({ "upstream": upstream, "reason": "timeout" })),
        ),
        RelayError::Unauthenticated {
            failure: AuthFailure::Unavailable,
            ..
        } => (
            StatusCode::SERVICE_UNAVAILABLE,
            code::INTERNAL_ERROR,
            Some(json!({ "reason": "credential check unavailable" })),
        ),
        RelayError::Unauthenticated { .. } => {
            (StatusCode::UNAUTHORIZED, code::INVALID_REQUEST, None)
        }
        RelayError::Refused { code, id, .. } => (
            if id.is_some() {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            },
            *code,
            None,
        ),
        RelayError::InsufficientScope { scopes, .. } => (
            StatusCode::FORBIDDEN,
            code::INVALID_REQUEST,
            Some(json!({ "required_scopes": scopes })),
        ),
        RelayError::ProviderToken {
            upstream,
            provider,
            unavailable: true,
            ..
        } => (
            StatusCode::SERVICE_UNAVAILABLE,
            code::INTERNAL_ERROR,
            Some(
                json!({ "upstream": upstream, "provider": provider, "reason": "provider unavailable" }),
            ),
        ),
        RelayError::ProviderToken {
            upstream, provider, ..
        } => (
            StatusCode::FORBIDDEN,
            code::INVALID_REQUEST,
            Some(
                json!({ "upstream": upstream, "provider": provider, "reason": "provider token missing" }),
            ),
        ),
        RelayError::RateLimited {
            limit,
            retry_after_secs,
            ..
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            Some(json!({ "limit": limit, "retry_after": retry_after_secs })),
        ),
        RelayError::Signing { upstream } => (
            StatusCode::SERVICE_UNAVAILABLE,
            code::INTERNAL_ERROR,
            Some(json!({ "upstream": upstream, "reason": "signing unavailable" })),
        ),
        RelayError::Store(err) => {
            tracing::error!(error = %err, "store failure on the MCP path");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                code::INTERNAL_ERROR,
                Some(json!({ "reason": "store unavailable" })),
            )
        }
    };
    let body = error_body(e.request_id(), code, &message, data);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match &e {
        RelayError::Busy { .. }
        | RelayError::Store(_)
        | RelayError::Signing { .. }
        | RelayError::ProviderToken {
            unavailable: true, ..
        }
        | RelayError::Unauthenticated {
            failure: AuthFailure::Unavailable,
            ..
        } => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        RelayError::MethodNotAllowed => {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        RelayError::RateLimited {
            retry_after_secs, ..
        } => {
            headers.insert(RETRY_AFTER, HeaderValue::from((*retry_after_secs).max(1)));
        }
        RelayError::Unauthenticated { failure, challenge } => {
            if let Some(value) = unauthenticated_challenge(failure, challenge) {
                headers.insert(WWW_AUTHENTICATE, value);
            }
        }
        RelayError::InsufficientScope {
            scopes, challenge, ..
        } => {
            let value = BearerChallenge {
                resource_metadata: &challenge.resource_metadata,
                scopes,
                error: Some(BearerError::InsufficientScope),
                error_description: Some("the access token lacks a scope this operation needs"),
            };
            if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
                headers.insert(WWW_AUTHENTICATE, value);
            }
        }
        _ => {}
    }
    response
}

/// The `WWW-Authenticate` value of a 401 (RFC 6750 §3, RFC 9728 §5.1); `None` for a 503.
pub(crate) fn unauthenticated_challenge(
    failure: &AuthFailure,
    challenge: &ResourceChallenge,
) -> Option<HeaderValue> {
    let (error, description) = match failure {
        AuthFailure::Missing => (None, None),
        AuthFailure::BadRequest(why) => (Some(BearerError::InvalidRequest), Some(*why)),
        AuthFailure::Invalid => (
            Some(BearerError::InvalidToken),
            Some("the access token is invalid, expired or not meant for this server"),
        ),
        AuthFailure::Unavailable => return None,
    };
    let value = BearerChallenge {
        resource_metadata: &challenge.resource_metadata,
        scopes: &challenge.scopes,
        error,
        error_description: description,
    };
    HeaderValue::from_str(&value.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn challenge() -> Arc<ResourceChallenge> {
        Arc::new(ResourceChallenge {
            resource_metadata:
                "https://gw.example/.well-known/oauth-protected-resource/servers/files/mcp"
                    .to_owned(),
            scopes: vec!["files:read".to_owned()],
        })
    }

    fn www_authenticate(response: &Response) -> Option<&str> {
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap_or_default())
    }

    #[test]
    fn authentication_failures_become_401_with_a_challenge_or_503() {
        let cases = [
            (
                AuthFailure::Missing,
                401,
                Some("Bearer scope=\"files:read\", resource_metadata="),
            ),
            (
                AuthFailure::Invalid,
                401,
                Some("Bearer error=\"invalid_token\""),
            ),
            (
                AuthFailure::BadRequest("more than one Authorization header"),
                401,
                Some(
                    "Bearer error=\"invalid_request\", error_description=\"more than one Authorization header\"",
                ),
            ),
            (AuthFailure::Unavailable, 503, None),
        ];
        for (failure, status, prefix) in cases {
            let response = relay_error(RelayError::Unauthenticated {
                failure: failure.clone(),
                challenge: challenge(),
            });
            assert_eq!(response.status().as_u16(), status, "{failure:?}");
            match prefix {
                Some(prefix) => assert!(
                    www_authenticate(&response).is_some_and(|v| v.starts_with(prefix)),
                    "{failure:?}: {:?}",
                    www_authenticate(&response)
                ),
                None => {
                    assert_eq!(www_authenticate(&response), None);
                    assert_eq!(response.headers()[RETRY_AFTER], "1");
                }
            }
        }
    }

    #[test]
    fn oauth_errors_are_uncached_json_with_their_status() {
        let response = ApiError::from(OAuthError::new(
            ErrorCode::InvalidGrant,
            "the code was used",
        ))
        .into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let client = ApiError::from(OAuthError::bare(ErrorCode::InvalidClient)).into_response();
        assert_eq!(client.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            client.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"portcullis\""
        );
    }

    #[test]
    fn limits_become_413_and_429_with_retry_after() {
        let large = ApiError::TooLarge("the body is larger than 64 KiB").into_response();
        assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let limited = ApiError::RateLimited {
            retry_after_secs: 6,
        }
        .into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[RETRY_AFTER], "6");
        let token = ApiError::from(OAuthError::bare(ErrorCode::InvalidToken)).into_response();
        assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            token.headers()[WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
    }

    #[test]
    fn insufficient_scope_is_a_403_listing_every_scope_needed() {
        let response = relay_error(RelayError::InsufficientScope {
            scopes: vec!["files:read".to_owned(), "files:write".to_owned()],
            challenge: challenge(),
            id: None,
        });
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let value = www_authenticate(&response).unwrap();
        assert!(
            value.starts_with("Bearer error=\"insufficient_scope\""),
            "{value}"
        );
        assert!(
            value.contains("scope=\"files:read files:write\""),
            "{value}"
        );
        assert!(
            value.contains("resource_metadata=\"https://gw.example/"),
            "{value}"
        );
    }
}

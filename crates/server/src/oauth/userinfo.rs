//! `GET|POST /userinfo` (OpenID Connect Core §5.3): the signed-in user's claims, for an access
//! token Portcullis issued with the `openid` scope. The token's audience is the MCP server it was
//! issued for; the issuer's own userinfo endpoint accepts it for any of its resources, as the
//! issuer of all of them.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::HeaderMap;
use http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use portcullis_core::oauth::access_token;
use portcullis_core::oauth::scope::{EMAIL, OPENID, PROFILE};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::{authorization, server};
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/userinfo", get(userinfo).post(userinfo))
}

fn refused(error: &'static str) -> Response {
    (
        http::StatusCode::UNAUTHORIZED,
        [(WWW_AUTHENTICATE, format!("Bearer error=\"{error}\""))],
        Json(json!({ "error": error })),
    )
        .into_response()
}

async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let server = server(&state)?;
    let Some(token) = authorization(&headers).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }) else {
        return Ok(refused("invalid_request"));
    };
    let audiences: Vec<&str> = server.resources().iter().map(|r| r.url.as_str()).collect();
    let Ok(claims) = access_token::verify(
        &server.keys(),
        token,
        server.issuer(),
        &audiences,
        OffsetDateTime::now_utc(),
    ) else {
        return Ok(refused("invalid_token"));
    };
    // Revoked tokens and grants are refused here as at the gateway.
    if state.gateway.is_revoked(
        claims.string("jti").ok().flatten(),
        claims.string(access_token::GRANT_CLAIM).ok().flatten(),
    ) {
        return Ok(refused("invalid_token"));
    }
    let scopes: Vec<&str> = claims
        .string("scope")
        .ok()
        .flatten()
        .unwrap_or_default()
        .split_ascii_whitespace()
        .collect();
    if !scopes.contains(&OPENID) || claims.get("gty").is_some() {
        return Ok(refused("insufficient_scope"));
    }
    let mut body = Map::new();
    let copy = |body: &mut Map<String, Value>, names: &[&str]| {
        for name in names {
            if let Some(value) = claims.get(name) {
                body.insert((*name).to_owned(), value.clone());
            }
        }
    };
    copy(&mut body, &["sub"]);
    if scopes.contains(&EMAIL) {
        copy(&mut body, &["email", "email_verified"]);
    }
    if scopes.contains(&PROFILE) {
        copy(&mut body, &["name", "preferred_username"]);
    }
    Ok(([(CACHE_CONTROL, "no-store")], Json(Value::Object(body))).into_response())
}

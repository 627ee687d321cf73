//! The admin REST API under `/admin/api/v1`: what `portcullis admin …` does, over HTTP, for
//! callers holding administrative permissions — described by `/admin/api/v1/openapi.json`.
//!
//! Every route authenticates its caller as a protected resource of its own (a Portcullis access
//! token issued for `{public_url}/admin/api/v1`, or a Portcullis API key or service token), asks
//! the policy whether the caller may do this in the tenant it acts in
//! (`portcullis_core::admin::access`), then calls the same `portcullis_core::admin` function as
//! the CLI, with the caller as the audit record's actor, and answers in the same JSON shape
//! (`portcullis_core::admin::views`). Errors are `{"error", "error_description"}` with the
//! status their kind calls for (`crate::error`); nothing is written when a request is refused.

mod audit;
mod clients;
mod groups;
mod keys;
mod openapi;
mod roles;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use http_body_util::BodyExt;
use portcullis_core::accounts::PasswordHashing;
use portcullis_core::admin::AdminError;
use portcullis_core::admin::access::Actor;
use portcullis_core::audit::AuditContext;
use portcullis_core::auth::Principal;
use portcullis_core::config::Config;
use portcullis_core::crypto::Sealer;
use portcullis_policy::Policy;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{ApiError, AppState};

/// Where the API lives.
pub(crate) const BASE: &str = portcullis_gateway::ADMIN_API_PATH;
/// The API's RFC 9728 metadata.
pub(crate) const METADATA_ROUTE: &str = "/.well-known/oauth-protected-resource/admin/api/v1";
/// The largest request body: every request is a small JSON object.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the API needs beyond [`AppState`]: the configuration (configured roles and clients,
/// default roles, password policy) and the key that seals signing keys (for rotations).
#[derive(Debug)]
pub struct AdminApi {
    pub(crate) config: Arc<Config>,
    pub(crate) sealer: Arc<Sealer>,
    /// Password hashing off the request threads, bounded (the pages' kind).
    pub(crate) hashing: Arc<dyn PasswordHashing>,
    openapi: Value,
}

impl AdminApi {
    pub fn new(config: Arc<Config>, sealer: Arc<Sealer>) -> Self {
        let openapi = openapi::document(&format!(
            "{}{BASE}",
            config.server.public_url.trim_end_matches('/')
        ));
        AdminApi {
            config,
            sealer,
            hashing: Arc::new(crate::pages::BoundedHashing::for_this_machine()),
            openapi,
        }
    }
}

/// Every route of the API (answering 404 until [`AppState::set_admin_api`] is called).
pub(crate) fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/openapi.json", get(openapi_get))
        .route("/whoami", get(whoami_get))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{username}", get(users::show).delete(users::delete))
        .route("/users/{username}/disable", post(users::disable))
        .route("/users/{username}/enable", post(users::enable))
        .route(
            "/users/{username}/reset-password",
            post(users::reset_password),
        )
        .route("/users/{username}/reset-mfa", post(users::reset_mfa))
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{name}", get(groups::show).delete(groups::delete))
        .route("/groups/{name}/members", post(groups::add_member))
        .route(
            "/groups/{name}/members/{username}",
            axum::routing::delete(groups::remove_member),
        )
        .route("/roles", get(roles::list))
        .route(
            "/roles/{name}",
            axum::routing::put(roles::put).delete(roles::delete),
        )
        .route("/grants", get(roles::grants).post(roles::grant))
        .route("/grants/{id}", axum::routing::delete(roles::revoke))
        .route("/authz/explain", post(roles::explain))
        .route("/clients", get(clients::list).post(clients::create))
        .route(
            "/clients/{client_id}",
            get(clients::show).delete(clients::delete),
        )
        .route(
            "/clients/{client_id}/rotate-secret",
            post(clients::rotate_secret),
        )
        .route(
            "/api-keys",
            get(keys::api_key_list).post(keys::api_key_create),
        )
        .route("/api-keys/{id}/revoke", post(keys::api_key_revoke))
        .route("/keys", get(keys::signing_key_list))
        .route("/keys/rotate", post(keys::signing_key_rotate))
        .route("/audit", get(audit::list))
        .route("/audit/export", get(audit::export))
        .route("/audit/verify", get(audit::verify))
        .fallback(not_found)
        .layer(axum::middleware::map_response(no_store));
    Router::new().nest(BASE, api).route(
        METADATA_ROUTE,
        get(metadata_get).layer(crate::public_document_cors()),
    )
}

/// Answers of the API hold accounts, secrets shown once and audit records: never cached.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such admin API route")
}

fn api(state: &AppState) -> Result<&AdminApi, ApiError> {
    state
        .admin_api()
        .ok_or(ApiError::NotFound("the admin API is not served here"))
}

/// The OpenAPI 3.1 document of the API (public: it describes, it holds nothing).
async fn openapi_get(State(state): State<AppState>) -> Result<Response, ApiError> {
    let api = api(&state)?;
    Ok(axum::Json(api.openapi.clone()).into_response())
}

/// The RFC 9728 metadata of the API as a protected resource.
async fn metadata_get(State(state): State<AppState>) -> Result<Response, ApiError> {
    api(&state)?;
    Ok((
        [(CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.gateway.admin_resource_metadata()),
    )
        .into_response())
}

/// Who the API takes the caller for, and the administrative permissions it holds everywhere
/// and in its own tenant.
async fn whoami_get(caller: Caller) -> Response {
    let actor = caller.actor();
    let facts = actor.facts;
    let held = |tenant: Option<&str>| -> Vec<&'static str> {
        portcullis_policy::PERMISSIONS
            .iter()
            .filter(|p| p.kind == portcullis_policy::PermissionKind::Admin)
            .filter(|p| actor.may(p.name, tenant))
            .map(|p| p.name)
            .collect()
    };
    let everywhere = held(None);
    let in_tenant = facts
        .tenant
        .map(|t| held(Some(t)))
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !everywhere.contains(p))
        .collect::<Vec<_>>();
    axum::Json(json!({
        "subject": facts.subject,
        "service": facts.service,
        "tenant": facts.tenant,
        "validator": caller.principal.validator,
        "client_id": caller.principal.client_id,
        "permissions": everywhere,
        "tenant_permissions": in_tenant,
    }))
    .into_response()
}

/// An authenticated caller of the API, with the policy in force when its request arrived and
/// the audit context naming it.
pub(crate) struct Caller {
    pub principal: Arc<Principal>,
    policy: Arc<Policy>,
    pub audit: AuditContext,
}

impl Caller {
    pub fn actor(&self) -> Actor<'_> {
        Actor::new(&self.policy, portcullis_gateway::facts(&self.principal))
    }

    /// The audit context of an action in `tenant` (the target account's, the grant's): its
    /// records belong to that tenant, where its managers read them.
    pub fn audit_in(&self, tenant: Option<&str>) -> AuditContext {
        AuditContext {
            tenant: tenant.map(str::to_owned),
            ..self.audit.clone()
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        api(state)?;
        let address = parts
            .extensions
            .get::<portcullis_gateway::audit::RequestOrigin>()
            .and_then(|o| o.source);
        let principal = state
            .gateway
            .authenticate_admin(&parts.headers, parts.uri.query(), address)
            .await
            .map_err(ApiError::AdminRelay)?;
        let facts = portcullis_gateway::facts(&principal);
        let mut audit = crate::audit::context(state, &parts.extensions)
            .acting(&principal.subject, facts.tenant);
        if let Some(client) = &principal.client_id {
            audit = audit.through(client);
        }
        Ok(Caller {
            policy: state.gateway.policy().current(),
            principal,
            audit,
        })
    }
}

/// A JSON request body of type `T`: `application/json`, at most 64 KiB, every field known.
pub(crate) struct JsonBody<T>(pub T);

/// [`JsonBody`] that may be left out: an empty body reads as `T::default()`.
pub(crate) struct MaybeJsonBody<T>(pub T);

/// The body's bytes, or `None` when there are none (white space aside).
async fn body_bytes(request: Request) -> Result<Option<bytes::Bytes>, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| ApiError::TooLarge("the request body is larger than 64 KiB"))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "the request body must be application/json",
        ));
    }
    Ok(Some(bytes))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AdminError::Invalid(format!("the request body: {e}")).into())
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &AppState) -> Result<Self, ApiError> {
        match body_bytes(request).await? {
            Some(bytes) => parse(&bytes).map(JsonBody),
            None => Err(AdminError::Invalid("a JSON request body is needed".to_owned()).into()),
        }
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for MaybeJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &AppState) -> Result<Self, ApiError> {
        match body_bytes(request).await? {
            Some(bytes) => parse(&bytes).map(MaybeJsonBody),
            None => Ok(MaybeJsonBody(T::default())),
        }
    }
}

/// `value` as a field of 1 to `max` characters, or a 400 naming `field`.
pub(crate) fn bounded<'v>(field: &str, value: &'v str, max: usize) -> Result<&'v str, ApiError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(AdminError::Invalid(format!("{field}: 1 to {max} characters")).into());
    }
    Ok(value)
}

/// A generator of secrets that may live across an `.await` (the thread's own may not).
pub(crate) fn rng() -> rand::rngs::StdRng {
    rand::SeedableRng::from_os_rng()
}

/// 200 with `value`.
pub(crate) fn ok(value: Value) -> Response {
    axum::Json(value).into_response()
}

/// 201 with `value`: something was created.
pub(crate) fn created(value: Value) -> Response {
    (StatusCode::CREATED, axum::Json(value)).into_response()
}

/// The parameters of a query string, decoded; a parameter twice is refused (which one would
/// count is ambiguous).
pub(crate) fn query_params(
    query: Option<&str>,
    known: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if !known.contains(&name.as_ref()) {
            return Err(AdminError::Invalid(format!("unknown query parameter {name:?}")).into());
        }
        if value.is_empty() || value.chars().count() > 255 {
            return Err(AdminError::Invalid(format!(
                "the query parameter {name:?} must have 1 to 255 characters"
            ))
            .into());
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(
                AdminError::Invalid(format!("the query parameter {name:?} is repeated")).into(),
            );
        }
        out.push((name.into_owned(), value.into_owned()));
    }
    Ok(out)
}

/// A response body of JSON lines, streamed.
pub(crate) fn json_lines(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

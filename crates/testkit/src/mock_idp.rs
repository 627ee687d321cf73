//! A mock identity provider on loopback: an OpenID Connect provider (discovery, authorization
//! with PKCE, token, JWKS, userinfo) and a GitHub-shaped OAuth app with its user API, both
//! signing in whichever person the test sets and misbehaving on request.
//!
//! The authorization endpoint signs the current person in without a page: it checks the
//! request (client id, redirect URI, PKCE S256) and redirects straight back to the redirect
//! URI with a code, the `state` and `iss`. The token endpoint checks the client's secret, the
//! code (once), the redirect URI and the PKCE verifier, and answers tokens; ID tokens are
//! ES256-signed with a key whose public half is at `/jwks`. [`Mischief`] bends one rule at a
//! time, for attack tests.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::serve::Server;

/// The person the provider signs in.
#[derive(Debug, Clone)]
pub struct IdpUser {
    pub sub: String,
    pub email: Option<String>,
    /// As sent: `json!(true)`, or `json!("true")` to test string booleans.
    pub email_verified: Value,
    pub name: Option<String>,
    pub amr: Vec<String>,
    /// GitHub: the numeric id, login, organisations and teams (`org/team`).
    pub github_id: u64,
    pub login: String,
    pub orgs: Vec<String>,
    pub teams: Vec<String>,
}

impl IdpUser {
    pub fn new(sub: &str, email: &str) -> Self {
        IdpUser {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            email_verified: json!(true),
            name: Some(format!("User {sub}")),
            amr: vec!["pwd".to_owned()],
            github_id: 4242,
            login: sub.to_owned(),
            orgs: Vec::new(),
            teams: Vec::new(),
        }
    }
}

/// One rule the provider breaks, for attack tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mischief {
    /// The ID token carries this nonce instead of the one sent.
    pub nonce: Option<String>,
    /// The authorization response's `iss` is this (or absent with `Some("")`).
    pub iss_param: Option<String>,
    /// The ID token's `aud` is this.
    pub audience: Option<String>,
    /// The ID token's `iss` is this.
    pub id_token_issuer: Option<String>,
    /// The ID token expired this many seconds ago.
    pub expired: bool,
    /// The ID token is signed with another key than the one published.
    pub foreign_key: bool,
    /// The authorization endpoint answers `?error=access_denied`.
    pub deny: bool,
    /// The token endpoint answers 500.
    pub token_endpoint_down: bool,
}

/// What the provider was asked to authorize.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub query: HashMap<String, String>,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
}

struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    user: Mutex<IdpUser>,
    mischief: Mutex<Mischief>,
    codes: Mutex<HashMap<String, Code>>,
    /// Refresh token → the access token it gives next.
    refresh: Mutex<HashMap<String, u32>>,
    authorize_requests: Mutex<Vec<AuthorizeRequest>>,
    token_requests: Mutex<Vec<HashMap<String, String>>>,
    /// Access tokens given, and to whom.
    access: Mutex<HashMap<String, String>>,
    counter: Mutex<u64>,
    key: EcdsaKeyPair,
    other_key: EcdsaKeyPair,
    /// How many seconds access tokens last (`expires_in`).
    access_ttl: Mutex<i64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn new_key() -> io::Result<EcdsaKeyPair> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| io::Error::other("key generation"))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| io::Error::other("key parsing"))
}

/// A running mock provider.
pub struct MockIdp {
    server: Server,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MockIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockIdp")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl MockIdp {
    /// Starts a provider that knows one client, signing `user` in.
    pub async fn start(client_id: &str, client_secret: &str, user: IdpUser) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let shared = Arc::new(Shared {
            issuer: format!("http://{}", listener.local_addr()?),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            user: Mutex::new(user),
            mischief: Mutex::new(Mischief::default()),
            codes: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
            authorize_requests: Mutex::new(Vec::new()),
            token_requests: Mutex::new(Vec::new()),
            access: Mutex::new(HashMap::new()),
            counter: Mutex::new(0),
            key: new_key()?,
            other_key: new_key()?,
            access_ttl: Mutex::new(3600),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/login/oauth/authorize", get(authorize))
            .route("/token", post(token))
            .route("/login/oauth/access_token", post(token))
            .route("/jwks", get(jwks))
            .route("/userinfo", get(userinfo))
            .route("/api/v3/user", get(github_user))
            .route("/api/v3/user/emails", get(github_emails))
            .route("/api/v3/user/orgs", get(github_orgs))
            .route("/api/v3/user/teams", get(github_teams))
            .with_state(Arc::clone(&shared));
        let server = Server::start_on(listener, router)?;
        Ok(MockIdp { server, shared })
    }

    /// `http://127.0.0.1:<port>`: the issuer, and GitHub's `base_url`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// Signs in `user` from now on.
    pub fn set_user(&self, user: IdpUser) {
        *lock(&self.shared.user) = user;
    }

    pub fn set_mischief(&self, mischief: Mischief) {
        *lock(&self.shared.mischief) = mischief;
    }

    /// Access tokens last this many seconds from now on.
    pub fn set_access_ttl(&self, seconds: i64) {
        *lock(&self.shared.access_ttl) = seconds;
    }

    pub fn authorize_requests(&self) -> Vec<AuthorizeRequest> {
        lock(&self.shared.authorize_requests).clone()
    }

    /// The form of every token request, oldest first.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        lock(&self.shared.token_requests).clone()
    }

    /// Stops the provider: every later request fails to connect.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

type Cell = Arc<Shared>;

fn shared(cell: &Cell) -> Arc<Shared> {
    Arc::clone(cell)
}

fn next(shared: &Shared, prefix: &str) -> String {
    let mut counter = lock(&shared.counter);
    *counter += 1;
    // Letters and digits only: GitHub tokens are `[A-Za-z0-9_]`, and checks rely on it.
    let random: String = rand_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{:08}{random}", *counter)
}

fn rand_bytes() -> [u8; 12] {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).unwrap_or_default();
    bytes
}

async fn discovery(State(cell): State<Cell>) -> Response {
    let s = shared(&cell);
    let issuer = &s.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn authorize(
    State(cell): State<Cell>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let s = shared(&cell);
    lock(&s.authorize_requests).push(AuthorizeRequest {
        query: query.clone(),
    });
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    if field("client_id") != s.client_id
        || field("code_challenge_method") != "S256"
        || field("code_challenge").len() != 43
        || field("response_type") != "code"
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let redirect_uri = field("redirect_uri");
    let mischief = lock(&s.mischief).clone();
    let mut target = url_with(&redirect_uri);
    {
        let mut pairs = target.query_pairs_mut();
        if mischief.deny {
            pairs.append_pair("error", "access_denied");
        } else {
            let code = next(&s, "code-");
            lock(&s.codes).insert(
                code.clone(),
                Code {
                    client_id: field("client_id"),
                    redirect_uri: redirect_uri.clone(),
                    challenge: field("code_challenge"),
                    nonce: query.get("nonce").cloned(),
                },
            );
            pairs.append_pair("code", &code);
        }
        if let Some(state) = query.get("state") {
            pairs.append_pair("state", state);
        }
        match mischief.iss_param.as_deref() {
            None => {
                pairs.append_pair("iss", &s.issuer);
            }
            Some("") => {}
            Some(other) => {
                pairs.append_pair("iss", other);
            }
        }
    }
    Redirect::to(target.as_str()).into_response()
}

fn url_with(raw: &str) -> url::Url {
    url::Url::parse(raw).unwrap_or_else(|_| {
        url::Url::parse("http://invalid.invalid/").unwrap_or_else(|_| unreachable!())
    })
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({"error": error}))).into_response()
}

fn client_authenticated(s: &Shared, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(pair) = basic {
        return pair == format!("{}:{}", s.client_id, s.client_secret);
    }
    form.get("client_id") == Some(&s.client_id)
        && form.get("client_secret") == Some(&s.client_secret)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn sign(key: &EcdsaKeyPair, claims: &Value) -> String {
    let header = json!({"alg": "ES256", "kid": "mock-1", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key
        .sign(&SystemRandom::new(), input.as_bytes())
        .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
        .unwrap_or_default();
    format!("{input}.{signature}")
}

async fn token(State(cell): State<Cell>, headers: HeaderMap, body: bytes::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let s = shared(&cell);
    lock(&s.token_requests).push(form.clone());
    let mischief = lock(&s.mischief).clone();
    if mischief.token_endpoint_down {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    if !client_authenticated(&s, &headers, &form) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let user = lock(&s.user).clone();
    let ttl = *lock(&s.access_ttl);
    let access = next(&s, "gho_mock");
    lock(&s.access).insert(access.clone(), user.sub.clone());
    let refresh = next(&s, "refresh-");
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").and_then(|c| lock(&s.codes).remove(c));
            let Some(code) = code else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if challenge != code.challenge
                || form.get("redirect_uri") != Some(&code.redirect_uri)
                || code.client_id != s.client_id
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            lock(&s.refresh).insert(refresh.clone(), 0);
            let iat = now();
            let mut claims = json!({
                "iss": mischief.id_token_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
                "sub": user.sub,
                "aud": mischief.audience.clone().unwrap_or_else(|| s.client_id.clone()),
                "iat": iat,
                "exp": if mischief.expired { iat - 600 } else { iat + 300 },
                "amr": user.amr,
                "email_verified": user.email_verified,
            });
            if let Some(map) = claims.as_object_mut() {
                if let Some(nonce) = mischief.nonce.clone().or(code.nonce) {
                    map.insert("nonce".to_owned(), json!(nonce));
                }
                if let Some(email) = &user.email {
                    map.insert("email".to_owned(), json!(email));
                }
                if let Some(name) = &user.name {
                    map.insert("name".to_owned(), json!(name));
                }
            }
            let key = if mischief.foreign_key {
                &s.other_key
            } else {
                &s.key
            };
            axum::Json(json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ttl,
                "refresh_token": refresh,
                "id_token": sign(key, &claims),
                "scope": "openid email profile",
            }))
            .into_response()
        }
        Some("refresh_token") => {
            let known = form
                .get("refresh_token")
                .and_then(|r| lock(&s.refresh).remove(r));
            if known.is_none() {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            lock(&s.refresh).insert(refresh.clone(), 0);
            axum::Json(json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ttl,
                "refresh_token": refresh,
            }))
            .into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn jwks(State(cell): State<Cell>) -> Response {
    let s = shared(&cell);
    let point = s.key.public_key().as_ref().to_vec();
    let (x, y) = point.get(1..).unwrap_or_default().split_at(32);
    axum::Json(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "mock-1",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    }]}))
    .into_response()
}

/// The person an access token was given to, when it is one of ours.
fn bearer_user(s: &Shared, headers: &HeaderMap) -> Option<IdpUser> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())?
        .strip_prefix("Bearer ")?
        .to_owned();
    lock(&s.access).get(&token)?;
    Some(lock(&s.user).clone())
}

async fn userinfo(State(cell): State<Cell>, headers: HeaderMap) -> Response {
    let s = shared(&cell);
    match bearer_user(&s, &headers) {
        Some(user) => axum::Json(json!({
            "sub": user.sub, "email": user.email, "email_verified": user.email_verified,
            "name": user.name,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_user(State(cell): State<Cell>, headers: HeaderMap) -> Response {
    let s = shared(&cell);
    match bearer_user(&s, &headers) {
        Some(user) => axum::Json(json!({
            "id": user.github_id, "login": user.login, "name": user.name, "email": user.email,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_emails(State(cell): State<Cell>, headers: HeaderMap) -> Response {
    let s = shared(&cell);
    match bearer_user(&s, &headers) {
        Some(user) => axum::Json(json!([{
            "email": user.email, "primary": true,
            "verified": user.email_verified == json!(true),
        }]))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_orgs(State(cell): State<Cell>, headers: HeaderMap) -> Response {
    let s = shared(&cell);
    match bearer_user(&s, &headers) {
        Some(user) => axum::Json(
            user.orgs
                .iter()
                .map(|o| json!({"login": o}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_teams(State(cell): State<Cell>, headers: HeaderMap) -> Response {
    let s = shared(&cell);
    match bearer_user(&s, &headers) {
        Some(user) => axum::Json(
            user.teams
                .iter()
                .filter_map(|t| t.split_once('/'))
                .map(|(org, slug)| json!({"slug": slug, "organization": {"login": org}}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

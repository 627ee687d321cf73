//! The authorization server's flows against a memory store, a fixed client directory and user
//! list, and a real key ring: each rule of the reference's §2.1–§2.5 and §2.9 that lives in core,
//! with the exact error and what the store holds afterwards.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use portcullis_proto::oauth::{ErrorCode, OAuthError};
use portcullis_store::{MemoryStore, Store, StoreError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::access_token::{ACCESS_TOKEN_TYP, GRANT_CLAIM};
use super::metadata::RegistrationOptions;
use super::*;
use crate::audit::AuditContext;
use crate::config::{SigningAlg, TokensConfig};
use crate::crypto::Sealer;
use crate::signing::KeyRing;

const ISSUER: &str = "https://gw.example";
const FILES: &str = "https://gw.example/servers/files/mcp";
const MAIL: &str = "https://gw.example/servers/mail/mcp";
const REDIRECT: &str = "http://127.0.0.1:43117/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

/// A client directory over a fixed map; confidential clients authenticate with
/// `client_secret_post` and the secret `s3cret`.
#[derive(Debug)]
struct Clients(HashMap<String, ClientInfo>);

#[async_trait]
impl ClientDirectory for Clients {
    async fn client(&self, client_id: &str, _: OffsetDateTime) -> Result<ClientInfo, OAuthError> {
        self.0
            .get(client_id)
            .cloned()
            .ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, "unknown client"))
    }

    async fn authenticate(
        &self,
        credentials: ClientCredentials<'_>,
        now: OffsetDateTime,
    ) -> Result<ClientInfo, OAuthError> {
        let id = credentials.form.required("client_id")?;
        let client = self.client(id, now).await?;
        let secret = credentials.form.get("client_secret");
        match (client.public, secret) {
            (true, None) | (false, Some("s3cret")) => Ok(client),
            _ => Err(OAuthError::bare(ErrorCode::InvalidClient)),
        }
    }
}

#[derive(Debug, Default)]
struct Users(std::sync::Mutex<HashMap<String, Profile>>);

#[async_trait]
impl Profiles for Users {
    async fn profile(&self, user_id: &str) -> Result<Option<Profile>, StoreError> {
        Ok(self.0.lock().unwrap().get(user_id).cloned())
    }
}

fn client(id: &str, public: bool, grant_types: &[&str]) -> ClientInfo {
    ClientInfo {
        client_id: id.to_owned(),
        name: format!("{id} app"),
        public,
        grant_types: grant_types.iter().map(|s| s.to_string()).collect(),
        allowed_scope: None,
        redirect_uris: vec![REDIRECT.to_owned()],
        document_host: None,
        first_party: false,
    }
}

struct Setup {
    server: AuthorizationServer,
    store: Arc<MemoryStore>,
    users: Arc<Users>,
    rng: StdRng,
}

async fn setup() -> Setup {
    crate::auth::install_crypto_provider();
    let store = Arc::new(MemoryStore::new());
    let mut rng = StdRng::seed_from_u64(11);
    let sealer = Sealer::generate(&mut rng).unwrap();
    let keys = KeyRing::ensure(
        store.as_ref(),
        &sealer,
        SigningAlg::Es256,
        now() - Duration::hours(1),
        &mut rng,
    )
    .await
    .unwrap();
    let clients = Clients(
        [
            client("app", true, &["authorization_code", "refresh_token"]),
            client("other", true, &["authorization_code", "refresh_token"]),
            client("no-refresh", true, &["authorization_code"]),
            // Client credentials are for clients the operator registered.
            ClientInfo {
                first_party: true,
                ..client("service", false, &["client_credentials"])
            },
            client(
                "confidential",
                false,
                &["authorization_code", "refresh_token"],
            ),
        ]
        .into_iter()
        .map(|c| (c.client_id.clone(), c))
        .collect(),
    );
    let users = Arc::new(Users::default());
    users.0.lock().unwrap().insert(
        "u1".to_owned(),
        Profile {
            id: "u1".to_owned(),
            username: Some("alice".to_owned()),
            email: Some("alice@acme.com".to_owned()),
            email_verified: true,
            name: Some("Alice".to_owned()),
            tenant: Some("acme".to_owned()),
            groups: vec!["eng".to_owned()],
            active: true,
        },
    );
    let resources = vec![
        ProtectedResource {
            name: "files".to_owned(),
            url: FILES.to_owned(),
            scopes: scope::Scopes::parse("files:read files:write").unwrap(),
        },
        ProtectedResource {
            name: "mail".to_owned(),
            url: MAIL.to_owned(),
            scopes: scope::Scopes::parse("mail:read").unwrap(),
        },
    ];
    let server = AuthorizationServer::new(
        ISSUER,
        TokensConfig::default(),
        resources,
        store.clone(),
        Arc::new(clients),
        users.clone(),
        Arc::new(crate::signing::LiveKeys::new(keys)),
    );
    Setup {
        server,
        store,
        users,
        rng,
    }
}

fn authorize_params(extra: &[(&str, &str)], without: &[&str]) -> Params {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("resource", FILES),
        ("scope", "files:read"),
        ("state", "xyz"),
    ];
    pairs.retain(|(k, _)| !without.contains(k) && !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    Params::from_pairs(pairs)
}

fn user() -> SignedInUser {
    SignedInUser {
        user_id: "u1".to_owned(),
        auth_time: now() - Duration::seconds(30),
        amr: vec!["pwd".to_owned()],
    }
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Runs /authorize for `params` and approves with the requested scopes; returns the code.
async fn code_for(s: &mut Setup, params: &Params) -> String {
    let request = s.server.authorization_request(params, now()).await.unwrap();
    let consented = Consented {
        scopes: request.scopes.clone(),
    };
    let redirect = s
        .server
        .approve(
            &request,
            &user(),
            &consented,
            &AuditContext::off(),
            now(),
            &mut s.rng,
        )
        .await
        .unwrap();
    let q = query(&redirect);
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["iss"], ISSUER);
    q["code"].clone()
}

fn token_params(code: &str, extra: &[(&str, &str)]) -> Params {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", "app"),
        ("resource", FILES),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend(extra.iter().filter(|(_, v)| !v.is_empty()).copied());
    Params::from_pairs(pairs)
}

async fn token(
    s: &mut Setup,
    params: &Params,
    at: OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    s.server
        .token(params, &[], &AuditContext::off(), at, &mut s.rng)
        .await
}

fn verified(s: &Setup, access_token: &str, audience: &str) -> Value {
    let claims = access_token::verify(&s.server.keys(), access_token, ISSUER, &[audience], now())
        .expect("the access token verifies");
    serde_json::to_value(
        [
            "iss",
            "aud",
            "sub",
            "client_id",
            "scope",
            "jti",
            "exp",
            "iat",
            "email",
            "tenant",
            "gty",
            GRANT_CLAIM,
        ]
        .iter()
        .filter_map(|n| claims.get(n).map(|v| (n.to_string(), v.clone())))
        .collect::<serde_json::Map<_, _>>(),
    )
    .unwrap()
}

#[track_caller]
fn assert_error<T: std::fmt::Debug>(result: Result<T, OAuthError>, code: ErrorCode) {
    match result {
        Err(e) => assert_eq!(e.error, code, "{e:?}"),
        Ok(v) => panic!("expected {code}, got {v:?}"),
    }
}

#[tokio::test]
async fn requests_without_a_trusted_client_and_redirect_uri_get_a_page() {
    let s = setup().await;
    for (extra, without) in [
        (vec![], vec!["client_id"]),
        (vec![("client_id", "nobody")], vec![]),
        (vec![("redirect_uri", "https://evil.example/cb")], vec![]),
        (
            vec![("redirect_uri", "http://127.0.0.1:43117/callback/")],
            vec![],
        ),
        (vec![("request", "eyJhbGciOiJub25lIn0.e30.")], vec![]),
    ] {
        let params = authorize_params(&extra, &without);
        match s.server.authorization_request(&params, now()).await {
            Err(AuthorizeError::Page(_)) => {}
            other => panic!("{extra:?} {without:?}: {other:?}"),
        }
    }
    // A loopback redirect URI needs its port from the request: leaving it out is refused.
    match s
        .server
        .authorization_request(&authorize_params(&[], &["redirect_uri"]), now())
        .await
    {
        Err(AuthorizeError::Page(_)) => {}
        other => panic!("no redirect_uri: {other:?}"),
    }
}

#[tokio::test]
async fn other_bad_requests_go_back_to_the_client_with_state_and_iss() {
    let s = setup().await;
    // (parameters to set, parameters to leave out, the error)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("response_type", "token")],
            vec![],
            "unsupported_response_type",
        ),
        (vec![], vec!["response_type"], "invalid_request"),
        (vec![], vec!["code_challenge"], "invalid_request"),
        (vec![], vec!["code_challenge_method"], "invalid_request"),
        (
            vec![("code_challenge_method", "plain")],
            vec![],
            "invalid_request",
        ),
        (vec![("code_challenge", "short")], vec![], "invalid_request"),
        (vec![], vec!["resource"], "invalid_target"),
        (
            vec![("resource", "https://gw.example/servers/nope/mcp")],
            vec![],
            "invalid_target",
        ),
        (vec![("scope", "mail:read")], vec![], "invalid_scope"),
        (vec![("scope", "bad\"scope")], vec![], "invalid_scope"),
        (
            vec![("response_mode", "fragment")],
            vec![],
            "invalid_request",
        ),
        (
            vec![("prompt", "select_account")],
            vec![],
            "invalid_request",
        ),
    ];
    for (extra, without, code) in cases {
        let params = authorize_params(&extra, &without);
        match s.server.authorization_request(&params, now()).await {
            // The test client registered itself: its redirect waits for the person's sign-in.
            Err(AuthorizeError::RedirectOnceSignedIn(url)) => {
                assert!(url.starts_with(REDIRECT), "{url}");
                let q = query(&url);
                assert_eq!(q["error"], code, "{extra:?} {without:?}");
                assert_eq!(q["state"], "xyz");
                assert_eq!(q["iss"], ISSUER);
            }
            other => panic!("{extra:?} {without:?}: {other:?}"),
        }
    }
    assert!(
        s.store
            .access_tokens_revoked_since(now() - Duration::DAY)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_code_becomes_an_audience_bound_access_token_once() {
    let mut s = setup().await;
    let code = code_for(
        &mut s,
        &authorize_params(&[("scope", "files:read openid email")], &[]),
    )
    .await;
    let response = token(&mut s, &token_params(&code, &[]), now())
        .await
        .unwrap();
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(response.expires_in, 600);
    assert_eq!(response.scope, "email files:read openid");
    assert!(response.refresh_token.is_some());
    let claims = verified(&s, &response.access_token, FILES);
    assert_eq!(claims["aud"], FILES);
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["client_id"], "app");
    assert_eq!(claims["email"], "alice@acme.com");
    assert_eq!(claims["tenant"], "acme");
    let header = jsonwebtoken::decode_header(&response.access_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some(ACCESS_TOKEN_TYP));
    // The token is for FILES only.
    assert!(
        access_token::verify(
            &s.server.keys(),
            &response.access_token,
            ISSUER,
            &[MAIL],
            now()
        )
        .is_err()
    );
    // An ID token for `openid`, audience the client.
    let id_token = response.id_token.clone().unwrap();
    let id = s
        .server
        .keys()
        .verify_for(&id_token, "JWT", ISSUER, &["app"], now())
        .unwrap();
    assert_eq!(id.get("sub").unwrap(), "u1");
    assert_eq!(id.get("email").unwrap(), "alice@acme.com");

    // A second valid redemption: refused, and the grant of the first is revoked.
    assert_error(
        token(&mut s, &token_params(&code, &[]), now()).await,
        ErrorCode::InvalidGrant,
    );
    let grant_id = claims[GRANT_CLAIM].as_str().unwrap();
    assert!(
        s.store
            .grant_get(grant_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let refresh = Params::from_pairs([
        ("grant_type", "refresh_token"),
        ("refresh_token", response.refresh_token.as_deref().unwrap()),
        ("client_id", "app"),
    ]);
    assert_error(
        token(&mut s, &refresh, now()).await,
        ErrorCode::InvalidGrant,
    );
}

#[tokio::test]
async fn invalid_presentations_of_a_code_are_refused_and_revoke_nothing() {
    let mut s = setup().await;
    let code = code_for(&mut s, &authorize_params(&[], &[])).await;
    let wrong_verifier = "a".repeat(43);
    let cases: Vec<(Vec<(&str, &str)>, ErrorCode)> = vec![
        (
            vec![("code_verifier", &wrong_verifier)],
            ErrorCode::InvalidGrant,
        ),
        (vec![("code_verifier", "")], ErrorCode::InvalidRequest),
        (
            vec![("redirect_uri", "http://127.0.0.1:43117/other")],
            ErrorCode::InvalidGrant,
        ),
        (vec![("client_id", "other")], ErrorCode::InvalidGrant),
        (vec![("resource", MAIL)], ErrorCode::InvalidTarget),
        (vec![("code", "not-a-code")], ErrorCode::InvalidGrant),
        (vec![("client_id", "nobody")], ErrorCode::InvalidClient),
        (
            vec![("grant_type", "password")],
            ErrorCode::UnsupportedGrantType,
        ),
        (
            vec![("client_id", "service"), ("client_secret", "s3cret")],
            ErrorCode::UnauthorizedClient,
        ),
    ];
    for (extra, expected) in cases {
        assert_error(
            token(&mut s, &token_params(&code, &extra), now()).await,
            expected,
        );
    }
    // None of those consumed the code or revoked anything: it still works, once.
    let response = token(&mut s, &token_params(&code, &[]), now())
        .await
        .unwrap();
    let claims = verified(&s, &response.access_token, FILES);
    let grant = s
        .store
        .grant_get(claims[GRANT_CLAIM].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.revoked_at, None);
}

#[tokio::test]
async fn codes_expire_after_a_minute() {
    let mut s = setup().await;
    let code = code_for(&mut s, &authorize_params(&[], &[])).await;
    assert_error(
        token(
            &mut s,
            &token_params(&code, &[]),
            now() + Duration::seconds(60),
        )
        .await,
        ErrorCode::InvalidGrant,
    );
}

#[tokio::test]
async fn refresh_rotates_narrows_and_detects_reuse() {
    let mut s = setup().await;
    let code = code_for(
        &mut s,
        &authorize_params(&[("scope", "files:read files:write")], &[]),
    )
    .await;
    let first = token(&mut s, &token_params(&code, &[]), now())
        .await
        .unwrap();
    let refresh = |rt: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "app"),
        ];
        pairs.extend_from_slice(extra);
        Params::from_pairs(pairs)
    };
    let rt0 = first.refresh_token.clone().unwrap();
    // Widening and another resource are refused without using the token.
    assert_error(
        token(
            &mut s,
            &refresh(&rt0, &[("scope", "files:read mail:read")]),
            now(),
        )
        .await,
        ErrorCode::InvalidScope,
    );
    assert_error(
        token(&mut s, &refresh(&rt0, &[("resource", MAIL)]), now()).await,
        ErrorCode::InvalidTarget,
    );
    assert_error(
        token(
            &mut s,
            &Params::from_pairs([
                ("grant_type", "refresh_token"),
                ("refresh_token", rt0.as_str()),
                ("client_id", "other"),
            ]),
            now(),
        )
        .await,
        ErrorCode::InvalidGrant,
    );
    // Narrowing works and rotates.
    let later = now() + Duration::minutes(5);
    let second = token(&mut s, &refresh(&rt0, &[("scope", "files:read")]), later)
        .await
        .unwrap();
    assert_eq!(second.scope, "files:read");
    let rt1 = second.refresh_token.clone().unwrap();
    assert_ne!(rt1, rt0);
    // The lost-response retry: rt0 once more within the grace, rt1 never used.
    let retried = token(&mut s, &refresh(&rt0, &[]), later + Duration::seconds(20))
        .await
        .unwrap();
    let rt2 = retried.refresh_token.clone().unwrap();
    // rt1 was withdrawn; using it now is an unknown token, not a reuse.
    assert_error(
        token(&mut s, &refresh(&rt1, &[]), later + Duration::seconds(25)).await,
        ErrorCode::InvalidGrant,
    );
    let third = token(&mut s, &refresh(&rt2, &[]), later + Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(third.scope, "files:read files:write");
    let fourth = token(
        &mut s,
        &refresh(third.refresh_token.as_deref().unwrap(), &[]),
        later + Duration::seconds(35),
    )
    .await
    .unwrap();
    // rt2 again, its successor already used: reuse, and the whole family dies.
    assert_error(
        token(&mut s, &refresh(&rt2, &[]), later + Duration::seconds(40)).await,
        ErrorCode::InvalidGrant,
    );
    assert_error(
        token(
            &mut s,
            &refresh(fourth.refresh_token.as_deref().unwrap(), &[]),
            later + Duration::seconds(41),
        )
        .await,
        ErrorCode::InvalidGrant,
    );
}

#[tokio::test]
async fn clients_without_refresh_get_no_refresh_token_and_disabled_users_lose_their_grants() {
    let mut s = setup().await;
    let params = authorize_params(&[("client_id", "no-refresh")], &[]);
    let code = code_for(&mut s, &params).await;
    let response = token(
        &mut s,
        &token_params(&code, &[("client_id", "no-refresh")]),
        now(),
    )
    .await
    .unwrap();
    assert!(response.refresh_token.is_none());

    let code = code_for(&mut s, &authorize_params(&[], &[])).await;
    let response = token(&mut s, &token_params(&code, &[]), now())
        .await
        .unwrap();
    s.users.0.lock().unwrap().get_mut("u1").unwrap().active = false;
    let refresh = Params::from_pairs([
        ("grant_type", "refresh_token"),
        ("refresh_token", response.refresh_token.as_deref().unwrap()),
        ("client_id", "app"),
    ]);
    assert_error(
        token(&mut s, &refresh, now()).await,
        ErrorCode::InvalidGrant,
    );
    let claims = verified(&s, &response.access_token, FILES);
    let grant = s
        .store
        .grant_get(claims[GRANT_CLAIM].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        grant.revoked_at.is_some(),
        "a disabled user's grant is revoked"
    );
    // And no new code is redeemable for them.
    let code = code_for(&mut s, &authorize_params(&[], &[])).await;
    assert_error(
        token(&mut s, &token_params(&code, &[]), now()).await,
        ErrorCode::InvalidGrant,
    );
}

#[tokio::test]
async fn client_credentials_is_for_confidential_clients_and_one_resource() {
    let mut s = setup().await;
    let good = Params::from_pairs([
        ("grant_type", "client_credentials"),
        ("client_id", "service"),
        ("client_secret", "s3cret"),
        ("resource", MAIL),
        ("scope", "mail:read"),
    ]);
    let response = token(&mut s, &good, now()).await.unwrap();
    let claims = verified(&s, &response.access_token, MAIL);
    assert_eq!(claims["sub"], "service");
    assert_eq!(claims["gty"], "client_credentials");
    assert!(response.refresh_token.is_none());
    let cases: Vec<(Vec<(&str, &str)>, ErrorCode)> = vec![
        (vec![("client_secret", "wrong")], ErrorCode::InvalidClient),
        (vec![("resource", "")], ErrorCode::InvalidRequest),
        (
            vec![("resource", "https://evil.example/mcp")],
            ErrorCode::InvalidTarget,
        ),
        (vec![("scope", "files:read")], ErrorCode::InvalidScope),
        (
            vec![("client_id", "app"), ("client_secret", "")],
            ErrorCode::UnauthorizedClient,
        ),
    ];
    for (extra, expected) in cases {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", "service"),
            ("client_secret", "s3cret"),
            ("resource", MAIL),
        ];
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend(extra.iter().filter(|(_, v)| !v.is_empty()).copied());
        assert_error(
            token(&mut s, &Params::from_pairs(pairs), now()).await,
            expected,
        );
    }
}

#[tokio::test]
async fn revocation_and_introspection_answer_only_for_the_owner() {
    let mut s = setup().await;
    let params = authorize_params(&[("client_id", "confidential")], &[]);
    let code = code_for(&mut s, &params).await;
    let issued = token(
        &mut s,
        &token_params(
            &code,
            &[("client_id", "confidential"), ("client_secret", "s3cret")],
        ),
        now(),
    )
    .await
    .unwrap();
    let confidential = |token: &str| {
        Params::from_pairs([
            ("token", token),
            ("client_id", "confidential"),
            ("client_secret", "s3cret"),
        ])
    };
    // Introspection: active, with the claims; public clients may not ask.
    let active = s
        .server
        .introspect(&confidential(&issued.access_token), &[], now())
        .await
        .unwrap();
    assert_eq!(active["active"], true);
    assert_eq!(active["aud"], FILES);
    assert_eq!(active["client_id"], "confidential");
    let refresh_active = s
        .server
        .introspect(
            &confidential(issued.refresh_token.as_deref().unwrap()),
            &[],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(refresh_active["active"], true);
    assert_error(
        s.server
            .introspect(
                &Params::from_pairs([
                    ("token", issued.access_token.as_str()),
                    ("client_id", "app"),
                ]),
                &[],
                now(),
            )
            .await,
        ErrorCode::InvalidClient,
    );
    let garbage = s
        .server
        .introspect(&confidential("garbage"), &[], now())
        .await
        .unwrap();
    assert_eq!(garbage, serde_json::json!({"active": false}));

    // Another client revoking: 200, nothing happens.
    let foreign = Params::from_pairs([
        ("token", issued.access_token.as_str()),
        ("client_id", "app"),
    ]);
    assert_eq!(
        s.server
            .revoke(&foreign, &[], &AuditContext::off(), now())
            .await
            .unwrap(),
        Revoked::default()
    );
    // The owner revokes the access token: on the list, and inactive.
    let revoked = s
        .server
        .revoke(
            &confidential(&issued.access_token),
            &[],
            &AuditContext::off(),
            now(),
        )
        .await
        .unwrap();
    assert!(revoked.jti.is_some());
    let after = s
        .server
        .introspect(&confidential(&issued.access_token), &[], now())
        .await
        .unwrap();
    assert_eq!(after["active"], false);
    // Revoking the refresh token ends the grant.
    let revoked = s
        .server
        .revoke(
            &confidential(issued.refresh_token.as_deref().unwrap()),
            &[],
            &AuditContext::off(),
            now(),
        )
        .await
        .unwrap();
    let grant = s
        .store
        .grant_get(revoked.grant_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(grant.revoked_at.is_some());
    // Unknown tokens are fine too (RFC 7009 §2.2).
    assert_eq!(
        s.server
            .revoke(&confidential("nothing"), &[], &AuditContext::off(), now())
            .await
            .unwrap(),
        Revoked::default()
    );
}

#[tokio::test]
async fn metadata_advertises_what_mcp_clients_require() {
    let s = setup().await;
    let metadata = s.server.metadata(RegistrationOptions {
        dynamic_client_registration: true,
        client_id_metadata_documents: true,
    });
    assert_eq!(metadata["issuer"], ISSUER);
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert_eq!(
        metadata["registration_endpoint"],
        "https://gw.example/register"
    );
    assert_eq!(metadata["token_endpoint"], "https://gw.example/token");
    let scopes = metadata["scopes_supported"].as_array().unwrap();
    for scope in [
        "files:read",
        "files:write",
        "mail:read",
        "openid",
        "offline_access",
    ] {
        assert!(scopes.iter().any(|s| s == scope), "{scope}");
    }
    let without = s.server.metadata(RegistrationOptions {
        dynamic_client_registration: false,
        client_id_metadata_documents: false,
    });
    assert!(without.get("registration_endpoint").is_none());
}

#[test]
fn the_acr_says_whether_a_second_factor_was_used() {
    use super::access_token::{ACR_MFA, ACR_PASSWORD, acr_of};
    assert_eq!(acr_of("pwd"), Some(ACR_PASSWORD));
    assert_eq!(acr_of("pwd otp mfa"), Some(ACR_MFA));
    assert_eq!(acr_of("hwk user mfa pwd"), Some(ACR_MFA));
    assert_eq!(acr_of(""), None);
    assert_eq!(acr_of("fed"), None);
    // Whole values only.
    assert_eq!(acr_of("pwdx mfax"), None);
}

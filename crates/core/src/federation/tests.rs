//! Tests of signing in through a provider, against a fake provider answering through
//! [`FakeFetch`]: the checks of the callback, the account found or made, and provider tokens.

use std::sync::Arc;

use portcullis_store::{MemoryStore, Store, User, UserStatus};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::flow::state_hash;
use super::*;
use crate::auth::testing::{FakeFetch, NOW, TestKey, Token, jwks};
use crate::config::Config;
use crate::crypto::Sealer;

const ISSUER: &str = "https://idp.example";
const REDIRECT: &str = "https://gate.example/auth/callback/corp";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap()
}

struct Idp {
    fetch: Arc<FakeFetch>,
    key: TestKey,
    providers: Providers,
    sealer: Sealer,
}

fn config(extra: &str) -> Config {
    let text = format!(
        "version = 1\n[tenants]\nby_email_domain = {{ \"acme.com\" = \"acme\" }}\n\
         [[identity_providers]]\nid = \"corp\"\nkind = \"oidc\"\nissuer = \"{ISSUER}\"\n\
         client_id = \"portcullis\"\nclient_secret_env = \"CORP_SECRET\"\n{extra}\n"
    );
    Config::load(&text, std::iter::empty::<(&str, &str)>()).unwrap()
}

fn discovery(fetch: &FakeFetch, issuer: &str, extra: Value) {
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": "https://idp.example/authorize",
        "token_endpoint": "https://idp.example/token",
        "userinfo_endpoint": "https://idp.example/userinfo",
        "jwks_uri": "https://idp.example/jwks",
        "authorization_response_iss_parameter_supported": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    fetch.answer(
        &format!("{ISSUER}/.well-known/openid-configuration"),
        200,
        doc.to_string(),
    );
}

fn idp(extra: &str) -> Idp {
    let fetch = FakeFetch::new();
    let key = TestKey::new("ES256", "k1");
    discovery(&fetch, ISSUER, json!({}));
    fetch.answer("https://idp.example/jwks", 200, jwks(&[&key]));
    let env = |name: &str| (name == "CORP_SECRET").then(|| b"s3cret".to_vec());
    let providers = Providers::build(&config(extra), fetch.clone(), &env).unwrap();
    let sealer = Sealer::generate(&mut rand::rng()).unwrap();
    Idp {
        fetch,
        key,
        providers,
        sealer,
    }
}

impl Idp {
    fn provider(&self) -> &Provider {
        self.providers.get("corp").unwrap()
    }

    async fn begin(&self) -> (Started, String) {
        let started = begin(
            self.provider(),
            &self.sealer,
            REDIRECT,
            [7; 32],
            Some("/authorize?x=1".into()),
            None,
            now(),
            &mut rand::rng(),
        )
        .await
        .unwrap();
        let url = url::Url::parse(&started.authorization_url).unwrap();
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        (started, state)
    }

    fn id_token(&self, nonce: &str) -> Token {
        Token::valid(&self.key, ISSUER, "portcullis")
            .header("typ", json!("JWT"))
            .claim("nonce", json!(nonce))
            .claim("sub", json!("corp-alice"))
            .claim("email", json!("alice@acme.com"))
            .claim("preferred_username", json!("alice"))
    }

    fn token_answer(&self, id_token: &str) {
        self.fetch.answer(
            "https://idp.example/token",
            200,
            json!({
                "access_token": "provider-access",
                "refresh_token": "provider-refresh",
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
            })
            .to_string(),
        );
    }

    async fn complete_with(
        &self,
        token: Token,
        params: CallbackParams,
    ) -> Result<ProviderIdentity, FederationError> {
        let (started, _) = self.begin().await;
        let signed = token
            .clone()
            .claim("nonce", json!(started.state.nonce))
            .sign(&self.key);
        self.token_answer(&signed);
        complete(
            self.provider(),
            &self.sealer,
            &started.state,
            &params,
            REDIRECT,
            now(),
        )
        .await
    }
}

fn ok_params() -> CallbackParams {
    CallbackParams {
        code: Some("the-code".into()),
        state: Some("ignored-here".into()),
        iss: Some(ISSUER.into()),
        ..CallbackParams::default()
    }
}

#[tokio::test]
async fn begin_sends_pkce_state_and_nonce_and_keeps_only_hashes_and_sealed_secrets() {
    let idp = idp("");
    let (started, state) = idp.begin().await;
    let url = url::Url::parse(&started.authorization_url).unwrap();
    assert!(
        started
            .authorization_url
            .starts_with("https://idp.example/authorize?")
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "portcullis");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["nonce"], started.state.nonce);
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(state.len(), 43);
    assert_eq!(started.state.state_hash, state_hash(&state));
    assert_eq!(started.state.browser_hash, [7; 32]);
    assert_eq!(
        started.state.expires_at,
        now() + time::Duration::minutes(10)
    );
    assert!(
        !started
            .state
            .code_verifier
            .windows(43)
            .any(|w| w == q["code_challenge"].as_bytes())
    );
}

#[tokio::test]
async fn a_good_answer_gives_the_identity_and_redeems_the_code_with_the_verifier() {
    let idp = idp("");
    let identity = idp
        .complete_with(idp.id_token(""), ok_params())
        .await
        .unwrap();
    assert_eq!(identity.subject, "corp-alice");
    assert_eq!(identity.email.as_deref(), Some("alice@acme.com"));
    assert!(identity.email_verified);
    assert_eq!(identity.login.as_deref(), Some("alice"));
    assert_eq!(identity.amr, ["pwd", "mfa"]);
    assert_eq!(identity.tokens.access_token, "provider-access");
    assert_eq!(identity.tokens.expires_at, Some(NOW + 3600));
    let call = idp
        .fetch
        .calls()
        .into_iter()
        .find(|c| c.url == "https://idp.example/token")
        .unwrap();
    assert_eq!(call.form("grant_type"), Some("authorization_code"));
    assert_eq!(call.form("code"), Some("the-code"));
    assert_eq!(call.form("redirect_uri"), Some(REDIRECT));
    assert_eq!(call.form("code_verifier").map(str::len), Some(43));
    // client_secret_basic by default, the secret never in the form.
    assert!(call.header("authorization").unwrap().starts_with("Basic "));
    assert_eq!(call.form("client_secret"), None);
}

async fn refused(idp: &Idp, token: Token, params: CallbackParams) -> String {
    match idp.complete_with(token, params).await {
        Err(e) => e.to_string(),
        Ok(identity) => panic!("accepted: {identity:?}"),
    }
}

#[tokio::test]
async fn answers_that_break_the_protocol_are_refused() {
    let idp = idp("");
    let good = idp.id_token("");
    let cases: Vec<(&str, Token, CallbackParams)> = vec![
        (
            "mix-up",
            good.clone(),
            CallbackParams {
                iss: Some("https://evil.example".into()),
                ..ok_params()
            },
        ),
        (
            "no iss",
            good.clone(),
            CallbackParams {
                iss: None,
                ..ok_params()
            },
        ),
        (
            "aud",
            good.clone().claim("aud", json!("someone-else")),
            ok_params(),
        ),
        (
            "iss",
            good.clone().claim("iss", json!("https://evil.example")),
            ok_params(),
        ),
        (
            "exp",
            good.clone().claim("exp", json!(NOW - 3600)),
            ok_params(),
        ),
        (
            "azp",
            good.clone().claim("azp", json!("other-client")),
            ok_params(),
        ),
        (
            "azp",
            good.clone().claim("aud", json!(["portcullis", "other"])),
            ok_params(),
        ),
        ("sub", good.clone().claim("sub", Value::Null), ok_params()),
        (
            "typ",
            good.clone().header("typ", json!("at+jwt")),
            ok_params(),
        ),
        (
            "no code",
            good.clone(),
            CallbackParams {
                code: None,
                ..ok_params()
            },
        ),
    ];
    for (what, token, params) in cases {
        let error = refused(&idp, token, params).await;
        assert!(error.contains("not acceptable"), "{what}: {error}");
    }
}

#[tokio::test]
async fn a_nonce_from_another_sign_in_is_refused() {
    let idp = idp("");
    let (started, _) = idp.begin().await;
    let signed = idp.id_token("another-sign-ins-nonce").sign(&idp.key);
    idp.token_answer(&signed);
    let error = complete(
        idp.provider(),
        &idp.sealer,
        &started.state,
        &ok_params(),
        REDIRECT,
        now(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("nonce"), "{error}");
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let idp = idp("");
    let (started, _) = idp.begin().await;
    let other = TestKey::with_slot("ES256", "k1", 1);
    let signed = idp.id_token(&started.state.nonce).sign(&other);
    idp.token_answer(&signed);
    let error = complete(
        idp.provider(),
        &idp.sealer,
        &started.state,
        &ok_params(),
        REDIRECT,
        now(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("ID token"), "{error}");
}

#[tokio::test]
async fn email_verified_as_a_string_is_not_verified() {
    let idp = idp("");
    let token = idp.id_token("").claim("email_verified", json!("true"));
    let identity = idp.complete_with(token, ok_params()).await.unwrap();
    assert!(!identity.email_verified);
}

#[tokio::test]
async fn the_providers_error_is_reported_and_no_code_is_redeemed() {
    let idp = idp("");
    let params = CallbackParams {
        code: None,
        error: Some("access_denied".into()),
        error_description: Some("The user said no\u{7}".into()),
        ..ok_params()
    };
    let error = refused(&idp, idp.id_token(""), params).await;
    assert_eq!(
        error,
        "the provider answered access_denied: The user said no"
    );
    assert_eq!(idp.fetch.calls_to("https://idp.example/token"), 0);
}

#[tokio::test]
async fn allowed_email_domains_need_a_verified_address_in_them() {
    let idp = idp("allowed_email_domains = [\"acme.com\"]");
    assert!(
        idp.complete_with(idp.id_token(""), ok_params())
            .await
            .is_ok()
    );
    let other = idp
        .id_token("")
        .claim("email", json!("mallory@evil.example"));
    assert!(
        refused(&idp, other, ok_params())
            .await
            .contains("allowed domain")
    );
    let unverified = idp.id_token("").claim("email_verified", json!(false));
    assert!(
        refused(&idp, unverified, ok_params())
            .await
            .contains("allowed domain")
    );
}

#[tokio::test]
async fn userinfo_of_someone_else_is_refused() {
    let idp = idp("userinfo = true");
    idp.fetch.answer(
        "https://idp.example/userinfo",
        200,
        json!({"sub": "corp-mallory", "email": "m@x.example"}).to_string(),
    );
    let error = refused(&idp, idp.id_token(""), ok_params()).await;
    assert!(error.contains("userinfo sub"), "{error}");
    idp.fetch.answer(
        "https://idp.example/userinfo",
        200,
        json!({"sub": "corp-alice", "name": "Alice A."}).to_string(),
    );
    let identity = idp
        .complete_with(idp.id_token("").claim("name", Value::Null), ok_params())
        .await
        .unwrap();
    assert_eq!(identity.name.as_deref(), Some("Alice A."));
}

#[tokio::test]
async fn a_discovery_document_of_another_issuer_is_refused() {
    let idp = idp("");
    discovery(&idp.fetch, "https://evil.example", json!({}));
    let error = begin(
        idp.provider(),
        &idp.sealer,
        REDIRECT,
        [0; 32],
        None,
        None,
        now(),
        &mut rand::rng(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("issuer"), "{error}");
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    let idp = idp("");
    idp.fetch.fail(
        &format!("{ISSUER}/.well-known/openid-configuration"),
        crate::auth::FetchError::Timeout,
    );
    let error = begin(
        idp.provider(),
        &idp.sealer,
        REDIRECT,
        [0; 32],
        None,
        None,
        now(),
        &mut rand::rng(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, FederationError::Unavailable(_)), "{error}");
}

fn identity(subject: &str, email: &str, verified: bool) -> ProviderIdentity {
    ProviderIdentity {
        provider: "corp".into(),
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: verified,
        name: Some("Someone".into()),
        login: Some("someone".into()),
        groups: Vec::new(),
        tenant: None,
        amr: Vec::new(),
        tokens: ProviderTokens {
            access_token: "a".into(),
            refresh_token: None,
            expires_at: None,
        },
    }
}

fn local_user(id: &str, username: &str, email: &str, verified: bool) -> User {
    User {
        id: id.into(),
        username: username.into(),
        email: email.into(),
        email_verified: verified,
        display_name: None,
        tenant: None,
        status: UserStatus::Active,
        password_hash: Some("$argon2id$x".into()),
        must_change_password: false,
        created_at: now(),
        updated_at: now(),
    }
}

async fn outcome(
    idp: &Idp,
    store: &MemoryStore,
    who: &ProviderIdentity,
) -> Result<AccountOutcome, FederationError> {
    account_for(
        store,
        &crate::audit::AuditContext::off(),
        idp.provider(),
        idp.providers.tenants(),
        who,
        None,
        now(),
        &mut rand::rng(),
    )
    .await
}

#[tokio::test]
async fn a_new_identity_gets_a_new_account_placed_in_its_tenant_and_signs_in_to_it_again() {
    let idp = idp("");
    let store = MemoryStore::new();
    let who = identity("s1", "bob@acme.com", true);
    let AccountOutcome::Created(user) = outcome(&idp, &store, &who).await.unwrap() else {
        panic!("created");
    };
    assert_eq!(user.username, "someone");
    assert_eq!(user.tenant.as_deref(), Some("acme"));
    assert!(user.password_hash.is_none());
    let again = outcome(&idp, &store, &who).await.unwrap();
    assert_eq!(again, AccountOutcome::Existing(user.clone()));
    // Another identity with the same login gets another username.
    let other = identity("s2", "carol@else.example", false);
    let created = outcome(&idp, &store, &other).await.unwrap();
    assert_eq!(created.user().username, "someone-2");
    assert_eq!(created.user().tenant, None);
}

#[tokio::test]
async fn linking_by_email_needs_both_sides_verified() {
    let idp = idp("");
    let store = MemoryStore::new();
    // An account someone registered with the victim's address, never verified: not taken over.
    store
        .user_insert(&local_user(
            "u-squatter",
            "squatter",
            "victim@acme.com",
            false,
        ))
        .await
        .unwrap();
    let victim = identity("victim-sub", "victim@acme.com", true);
    let made = outcome(&idp, &store, &victim).await.unwrap();
    assert!(matches!(made, AccountOutcome::Created(ref u) if u.id != "u-squatter"));

    // The provider does not vouch for the address: no link to a verified account either.
    store
        .user_insert(&local_user("u-dana", "dana", "dana@acme.com", true))
        .await
        .unwrap();
    let unverified = identity("dana-sub", "Dana@acme.com", false);
    assert!(matches!(
        outcome(&idp, &store, &unverified).await.unwrap(),
        AccountOutcome::Created(_)
    ));
    let verified = identity("dana-sub-2", "Dana@ACME.com", true);
    assert!(matches!(
        outcome(&idp, &store, &verified).await.unwrap(),
        AccountOutcome::Linked(ref u) if u.id == "u-dana"
    ));
}

#[tokio::test]
async fn explicit_and_never_linking_refuse_a_taken_address_and_disabled_accounts_stay_out() {
    let idp = idp("linking = \"explicit\"");
    let store = MemoryStore::new();
    store
        .user_insert(&local_user("u-erin", "erin", "erin@acme.com", true))
        .await
        .unwrap();
    let who = identity("erin-sub", "erin@acme.com", true);
    let error = outcome(&idp, &store, &who).await.unwrap_err();
    assert!(error.to_string().contains("link this provider"), "{error}");
    assert!(
        store
            .external_identity_get("corp", "erin-sub")
            .await
            .unwrap()
            .is_none()
    );

    // The owner links it while signed in; then the identity signs in to that account.
    let erin = store.user_get("u-erin").await.unwrap().unwrap();
    let linked = account_for(
        &store,
        &crate::audit::AuditContext::off(),
        idp.provider(),
        idp.providers.tenants(),
        &who,
        Some(&erin),
        now(),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    assert!(matches!(linked, AccountOutcome::Linked(_)));
    store
        .user_set_status("u-erin", UserStatus::Disabled, now())
        .await
        .unwrap();
    let error = outcome(&idp, &store, &who).await.unwrap_err();
    assert!(error.to_string().contains("disabled"), "{error}");
}

#[tokio::test]
async fn provider_tokens_are_sealed_refreshed_when_expired_and_dropped_when_refused() {
    let idp = idp("");
    let store = MemoryStore::new();
    store
        .user_insert(&local_user("u-f", "f", "f@acme.com", true))
        .await
        .unwrap();
    let tokens = ProviderTokens {
        access_token: "first-access".into(),
        refresh_token: Some("first-refresh".into()),
        expires_at: Some(NOW + 60),
    };
    tokens::keep(
        &store,
        &idp.sealer,
        "u-f",
        "corp",
        tokens,
        now(),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    let row = store
        .provider_token_get("u-f", "corp")
        .await
        .unwrap()
        .unwrap();
    assert!(!row.sealed.windows(12).any(|w| w == b"first-access"));
    let current = |at: i64| {
        let store = &store;
        let idp = &idp;
        async move {
            tokens::access_token(
                store,
                &idp.sealer,
                idp.provider(),
                "u-f",
                OffsetDateTime::from_unix_timestamp(at).unwrap(),
                &mut rand::rng(),
            )
            .await
            .unwrap()
            .map(|t| t.to_string())
        }
    };
    assert_eq!(current(NOW).await.as_deref(), Some("first-access"));
    idp.fetch.answer(
        "https://idp.example/token",
        200,
        json!({"access_token": "second-access", "token_type": "bearer", "expires_in": 600})
            .to_string(),
    );
    assert_eq!(current(NOW + 120).await.as_deref(), Some("second-access"));
    let call = idp.fetch.calls().into_iter().last().unwrap();
    assert_eq!(call.form("grant_type"), Some("refresh_token"));
    assert_eq!(call.form("refresh_token"), Some("first-refresh"));
    // The refresh token was kept (the answer had none); a refusal spends it.
    idp.fetch.answer(
        "https://idp.example/token",
        400,
        json!({"error": "invalid_grant"}).to_string(),
    );
    assert_eq!(current(NOW + 2000).await, None);
    assert_eq!(current(NOW + 2000).await, None);
    // A sealed row copied to another user does not open.
    store
        .user_insert(&local_user("u-g", "g", "g@acme.com", true))
        .await
        .unwrap();
    let mut copied = store
        .provider_token_get("u-f", "corp")
        .await
        .unwrap()
        .unwrap();
    copied.user_id = "u-g".into();
    store.provider_token_put(&copied).await.unwrap();
    let opened = tokens::access_token(
        &store,
        &idp.sealer,
        idp.provider(),
        "u-g",
        now(),
        &mut rand::rng(),
    )
    .await;
    assert!(matches!(opened, Err(FederationError::Sealing(_))));
}

#[tokio::test]
async fn entra_multi_tenant_issuers_are_checked_against_the_tokens_directory() {
    let fetch = FakeFetch::new();
    let key = TestKey::new("RS256", "ms1");
    let base = "https://login.microsoftonline.com/organizations/v2.0";
    fetch.answer(
        &format!("{base}/.well-known/openid-configuration"),
        200,
        json!({
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "authorization_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
            "jwks_uri": "https://login.microsoftonline.com/organizations/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        })
        .to_string(),
    );
    fetch.answer(
        "https://login.microsoftonline.com/organizations/discovery/v2.0/keys",
        200,
        jwks(&[&key]),
    );
    let text = "version = 1\n[[identity_providers]]\nid = \"ms\"\nkind = \"entra\"\ntenant = \"organizations\"\nclient_id = \"app-id\"\nclient_secret_env = \"MS\"\n";
    let config = Config::load(text, std::iter::empty::<(&str, &str)>()).unwrap();
    let env = |_: &str| Some(b"secret".to_vec());
    let providers = Providers::build(&config, fetch.clone(), &env).unwrap();
    let provider = providers.get("ms").unwrap();
    let sealer = Sealer::generate(&mut rand::rng()).unwrap();
    let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let iss = format!("https://login.microsoftonline.com/{tid}/v2.0");
    let run = |token: Token| {
        let fetch = fetch.clone();
        let sealer = &sealer;
        let key = &key;
        async move {
            let started = begin(
                provider,
                sealer,
                "https://g/cb",
                [1; 32],
                None,
                None,
                now(),
                &mut rand::rng(),
            )
            .await
            .unwrap();
            let signed = token.claim("nonce", json!(started.state.nonce)).sign(key);
            fetch.answer(
                "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
                200,
                json!({"access_token": "ms-access", "token_type": "Bearer", "id_token": signed})
                    .to_string(),
            );
            complete(
                provider,
                sealer,
                &started.state,
                &CallbackParams {
                    code: Some("c".into()),
                    ..CallbackParams::default()
                },
                "https://g/cb",
                now(),
            )
            .await
        }
    };
    let token = Token::valid(&key, &iss, "app-id")
        .header("typ", json!("JWT"))
        .claim("tid", json!(tid))
        .claim("email", json!("someone@contoso.com"));
    let identity = run(token.clone()).await.unwrap();
    // Entra's email is not verified without xms_edov.
    assert!(!identity.email_verified);
    assert!(
        run(token.clone().claim("xms_edov", json!(true)))
            .await
            .unwrap()
            .email_verified
    );
    // client_secret_post, as the document asks.
    let call = fetch
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.url.ends_with("/token"))
        .unwrap();
    assert_eq!(call.form("client_secret"), Some("secret"));
    // A tid that is not the directory in iss, or an iss outside the template, is refused.
    let other = "00000000-0000-0000-0000-000000000000";
    assert!(run(token.clone().claim("tid", json!(other))).await.is_err());
    assert!(
        run(token.claim("iss", json!("https://login.evil.example/x/v2.0")))
            .await
            .is_err()
    );
}

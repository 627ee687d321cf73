//! Each validator kind end to end: built from configuration text with a fake `Fetch` and a fake
//! environment, then fed credentials.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::auth::testing::{FakeFetch, NOW, TestKey, Token, jwks};
use crate::auth::{Credential, FetchMethod, Principal};

const RESOURCE: &str = "https://mcp.example.com/servers/files/mcp";
const ISSUER: &str = "https://login.example.com";
const JWKS_URI: &str = "https://login.example.com/keys";
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn context() -> Context<'static> {
    Context {
        resource: RESOURCE,
        now: NOW,
    }
}

/// Builds the validators of a configuration (`version = 1` and `[tenants]` added).
fn build_from(
    entries: &str,
    fake: &Arc<FakeFetch>,
    env: &[(&str, &[u8])],
) -> Result<HashMap<String, Arc<dyn Validator>>, ConfigError> {
    let text = format!(
        "version = 1\n[tenants]\nby_email_domain = {{ \"acme.com\" = \"acme\" }}\n{entries}"
    );
    let config = Config::load(&text, [("", "")]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let env: HashMap<String, Vec<u8>> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
        .collect();
    let lookup = move |name: &str| env.get(name).cloned();
    let built = build_validators(&config, fake.clone(), &lookup)?;
    Ok(built.into_iter().map(|v| (v.id().to_owned(), v)).collect())
}

fn one(entries: &str, fake: &Arc<FakeFetch>) -> Arc<dyn Validator> {
    let mut all = build_from(
        entries,
        fake,
        &[
            ("HS_SECRET", HS_SECRET),
            ("INTROSPECTION_SECRET", b"s3cr:t&x y"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 1);
    all.drain().next().unwrap().1
}

async fn bearer(v: &Arc<dyn Validator>, token: &str) -> Result<Principal, Rejection> {
    v.validate(Credential::Bearer(token), context()).await
}

#[track_caller]
fn assert_invalid(result: &Result<Principal, Rejection>, needle: &str) {
    match result {
        Err(Rejection::Invalid(why)) if why.contains(needle) => {}
        other => panic!("expected Invalid(…{needle}…), got {other:?}"),
    }
}

#[track_caller]
fn assert_unavailable(result: &Result<Principal, Rejection>) {
    assert!(
        matches!(result, Err(Rejection::Unavailable(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// jwt

const JWT: &str = r#"
[[validators]]
id = "corp"
kind = "jwt"
issuer = "https://login.example.com"
jwks_uri = "https://login.example.com/keys"
"#;

fn jwt_setup(entries: &str) -> (Arc<FakeFetch>, Arc<dyn Validator>, TestKey) {
    let fake = FakeFetch::new();
    let key = TestKey::new("ES256", "k1");
    fake.answer(JWKS_URI, 200, jwks(&[&key]));
    let v = one(entries, &fake);
    (fake, v, key)
}

#[tokio::test]
async fn jwt_maps_every_claim_to_the_principal() {
    let (_, v, key) = jwt_setup(JWT);
    let token = Token::valid(&key, ISSUER, RESOURCE).sign(&key);
    let p = bearer(&v, &token).await.unwrap();
    assert_eq!(
        p,
        Principal {
            subject: "corp:user-1".into(),
            validator: "corp".into(),
            email: Some("alice@acme.com".into()),
            email_verified: true,
            name: Some("Alice".into()),
            login: None,
            tenant: Some("acme".into()),
            groups: vec!["eng".into(), "ops".into()],
            scopes: vec!["files:read".into(), "files:write".into()],
            auth_methods: vec!["pwd".into(), "mfa".into()],
            expires_at: Some(NOW + 600),
            token_id: None,
            grant_id: None,
            client_id: None,
        }
    );
    assert_eq!(v.cache_ttl(), std::time::Duration::from_secs(300));
}

#[tokio::test]
async fn jwt_claim_mapping_cases() {
    let (_, v, key) = jwt_setup(JWT);
    let t = || Token::valid(&key, ISSUER, RESOURCE);
    // (what, token, check)
    let unverified = bearer(&v, &t().claim("email_verified", json!(false)).sign(&key))
        .await
        .unwrap();
    assert!(!unverified.email_verified);
    assert_eq!(
        unverified.tenant, None,
        "an unverified email places nobody in a tenant"
    );
    let string_verified = bearer(&v, &t().claim("email_verified", json!("true")).sign(&key))
        .await
        .unwrap();
    assert!(!string_verified.email_verified);
    let scp = bearer(
        &v,
        &t().claim("scope", json!(null))
            .claim("scp", json!(["a", "b"]))
            .sign(&key),
    )
    .await
    .unwrap();
    assert_eq!(scp.scopes, ["a", "b"]);
    let scp_string = bearer(
        &v,
        &t().claim("scope", json!(null))
            .claim("scp", json!("a b"))
            .sign(&key),
    )
    .await
    .unwrap();
    assert_eq!(scp_string.scopes, ["a", "b"]);
    let none = bearer(
        &v,
        &t().claim("groups", json!(null))
            .claim("amr", json!(null))
            .claim("scope", json!(null))
            .sign(&key),
    )
    .await
    .unwrap();
    assert!(none.groups.is_empty() && none.auth_methods.is_empty() && none.scopes.is_empty());

    for (what, token, needle) in [
        (
            "groups as a string",
            t().claim("groups", json!("eng")),
            "claim groups",
        ),
        (
            "groups with a number",
            t().claim("groups", json!(["eng", 1])),
            "claim groups",
        ),
        (
            "amr as a string",
            t().claim("amr", json!("pwd")),
            "claim amr",
        ),
        (
            "scope as an array",
            t().claim("scope", json!(["a"])),
            "claim scope",
        ),
        (
            "email as a number",
            t().claim("email", json!(1)),
            "claim email",
        ),
        ("sub missing", t().claim("sub", json!(null)), "claim sub"),
        ("sub empty", t().claim("sub", json!("")), "claim sub"),
    ] {
        let result = bearer(&v, &token.sign(&key)).await;
        assert!(
            matches!(&result, Err(Rejection::Invalid(why)) if why.contains(needle)),
            "{what}: {result:?}"
        );
    }
}

#[tokio::test]
async fn jwt_tenant_claim_and_custom_claims() {
    let entries = format!(
        "{JWT}subject_claim = \"oid\"\ngroups_claim = \"roles\"\nscope_claim = \"permissions\"\ntenant_claim = \"org\"\nname_claim = \"preferred_username\"\n"
    );
    let (_, v, key) = jwt_setup(&entries);
    let token = Token::valid(&key, ISSUER, RESOURCE)
        .claim("oid", json!("object-7"))
        .claim("roles", json!(["admin"]))
        .claim("permissions", json!("tools:call"))
        .claim("org", json!("globex"))
        .claim("preferred_username", json!("alice.a"))
        .sign(&key);
    let p = bearer(&v, &token).await.unwrap();
    assert_eq!(p.subject, "corp:object-7");
    assert_eq!(p.groups, ["admin"]);
    assert_eq!(p.scopes, ["tools:call"]);
    assert_eq!(
        p.tenant.as_deref(),
        Some("globex"),
        "the claim wins over the email domain"
    );
    assert_eq!(p.name.as_deref(), Some("alice.a"));
    // Without the claim, the email domain decides.
    let token = Token::valid(&key, ISSUER, RESOURCE)
        .claim("oid", json!("o"))
        .sign(&key);
    assert_eq!(
        bearer(&v, &token).await.unwrap().tenant.as_deref(),
        Some("acme")
    );
    let token = Token::valid(&key, ISSUER, RESOURCE)
        .claim("oid", json!("o"))
        .claim("org", json!(5))
        .sign(&key);
    assert_invalid(&bearer(&v, &token).await, "claim org");
}

#[tokio::test]
async fn jwt_default_tenant_claim_comes_from_tenants_section() {
    let fake = FakeFetch::new();
    let key = TestKey::new("ES256", "k1");
    fake.answer(JWKS_URI, 200, jwks(&[&key]));
    let config = Config::load(
        &format!("version = 1\n[tenants]\nclaim = \"tid\"\n{JWT}"),
        [("", "")],
    )
    .unwrap();
    let v = build_validators(&config, fake.clone(), &|_| None)
        .unwrap()
        .remove(0);
    let token = Token::valid(&key, ISSUER, RESOURCE)
        .claim("tid", json!("t-9"))
        .sign(&key);
    assert_eq!(
        bearer(&v, &token).await.unwrap().tenant.as_deref(),
        Some("t-9")
    );
}

#[tokio::test]
async fn jwt_tokens_for_another_upstream_or_issuer_are_refused() {
    let (fake, v, key) = jwt_setup(JWT);
    let other_upstream =
        Token::valid(&key, ISSUER, "https://mcp.example.com/servers/other/mcp").sign(&key);
    assert_invalid(&bearer(&v, &other_upstream).await, "audience");
    // Another issuer's token is not this validator's: the gateway tries the next one.
    let other_issuer = Token::valid(&key, "https://other.example", RESOURCE).sign(&key);
    assert_eq!(
        bearer(&v, &other_issuer).await,
        Err(Rejection::NotApplicable)
    );
    // An attacker who claims our issuer with their own key fails the signature.
    let attacker = TestKey::new("ES256", "k1");
    let forged = Token::valid(&attacker, ISSUER, RESOURCE).sign(&attacker);
    assert_invalid(&bearer(&v, &forged).await, "signature");
    for not_jwt in ["opaque-token", "ghp_abc", "a.b", "a.b.c.d", ""] {
        assert_eq!(
            bearer(&v, not_jwt).await,
            Err(Rejection::NotApplicable),
            "{not_jwt}"
        );
    }
    let assertion = Token::valid(&key, ISSUER, RESOURCE).sign(&key);
    assert_eq!(
        v.validate(Credential::CfAccessAssertion(&assertion), context())
            .await,
        Err(Rejection::NotApplicable)
    );
    let oversized = format!("{}x", "a.".repeat(MAX_TOKEN_BYTES_FOR_TESTS));
    assert_invalid(&bearer(&v, &oversized).await, "larger than");
    assert!(fake.calls().iter().all(|c| c.url == JWKS_URI));
}

const MAX_TOKEN_BYTES_FOR_TESTS: usize = crate::auth::jwt::MAX_TOKEN_BYTES;

#[tokio::test]
async fn jwt_configured_audiences_replace_the_resource() {
    let (_, v, key) = jwt_setup(&format!("{JWT}audiences = [\"api://files\"]\n"));
    let for_resource = Token::valid(&key, ISSUER, RESOURCE).sign(&key);
    assert_invalid(&bearer(&v, &for_resource).await, "audience");
    let for_api = Token::valid(&key, ISSUER, "api://files").sign(&key);
    bearer(&v, &for_api).await.unwrap();
}

#[tokio::test]
async fn jwt_token_types_and_algorithms_are_enforced() {
    let (_, v, key) = jwt_setup(&format!("{JWT}token_types = [\"at+jwt\"]\n"));
    let id_token = Token::valid(&key, ISSUER, RESOURCE)
        .header("typ", json!("JWT"))
        .sign(&key);
    assert_invalid(&bearer(&v, &id_token).await, "typ");

    let fake = FakeFetch::new();
    let ec = TestKey::new("ES256", "ec");
    let rsa = TestKey::new("RS256", "rsa");
    fake.answer(JWKS_URI, 200, jwks(&[&ec, &rsa]));
    let v = one(&format!("{JWT}algorithms = [\"ES256\"]\n"), &fake);
    bearer(&v, &Token::valid(&ec, ISSUER, RESOURCE).sign(&ec))
        .await
        .unwrap();
    assert_invalid(
        &bearer(&v, &Token::valid(&rsa, ISSUER, RESOURCE).sign(&rsa)).await,
        "kid",
    );
}

#[tokio::test]
async fn jwt_discovery_end_to_end() {
    let fake = FakeFetch::new();
    let key = TestKey::new("PS256", "k1");
    fake.answer(
        "https://login.example.com/.well-known/openid-configuration",
        200,
        json!({"issuer": ISSUER, "jwks_uri": JWKS_URI}).to_string(),
    );
    fake.answer(JWKS_URI, 200, jwks(&[&key]));
    let v = one(
        "[[validators]]\nid = \"corp\"\nkind = \"jwt\"\nissuer = \"https://login.example.com\"\n",
        &fake,
    );
    bearer(&v, &Token::valid(&key, ISSUER, RESOURCE).sign(&key))
        .await
        .unwrap();
}

#[tokio::test]
async fn jwt_keys_unavailable_is_unavailable_not_invalid() {
    let fake = FakeFetch::new();
    fake.fail(JWKS_URI, crate::auth::FetchError::Timeout);
    let v = one(JWT, &fake);
    let key = TestKey::new("ES256", "k1");
    assert_unavailable(&bearer(&v, &Token::valid(&key, ISSUER, RESOURCE).sign(&key)).await);
}

#[tokio::test]
async fn jwt_private_network_permission_reaches_every_fetch() {
    let fake = FakeFetch::new();
    let key = TestKey::new("ES256", "k1");
    fake.answer("http://127.0.0.1:9000/keys", 200, jwks(&[&key]));
    let v = one(
        "[[validators]]\nid = \"local\"\nkind = \"jwt\"\nissuer = \"http://127.0.0.1:9000\"\njwks_uri = \"http://127.0.0.1:9000/keys\"\nallow_private_network = true\n",
        &fake,
    );
    bearer(
        &v,
        &Token::valid(&key, "http://127.0.0.1:9000", RESOURCE).sign(&key),
    )
    .await
    .unwrap();
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].allow_private_network);
    assert_eq!(calls[0].method, FetchMethod::Get);
}

// ---------------------------------------------------------------------------------------------
// hs256

const HS256: &str = r#"
[[validators]]
id = "shared"
kind = "hs256"
issuer = "ci-runner"
secret_env = "HS_SECRET"
"#;

#[tokio::test]
async fn hs256_accepts_tokens_of_its_secret_only() {
    let fake = FakeFetch::new();
    let v = one(HS256, &fake);
    let key = TestKey::new("ES256", "ignored");
    let t = || {
        Token::valid(&key, "ci-runner", RESOURCE)
            .header("alg", json!("HS256"))
            .header("kid", json!(null))
    };
    let p = bearer(&v, &t().sign_hs256(HS_SECRET)).await.unwrap();
    assert_eq!(p.subject, "shared:user-1");
    assert_invalid(
        &bearer(&v, &t().sign_hs256(b"another secret, also 32 bytes long")).await,
        "signature",
    );
    assert_invalid(
        &bearer(&v, &t().header("alg", json!("HS384")).sign_hs256(HS_SECRET)).await,
        "HS256",
    );
    assert_invalid(
        &bearer(&v, &Token::valid(&key, "ci-runner", RESOURCE).sign(&key)).await,
        "HS256",
    );
    assert_invalid(
        &bearer(
            &v,
            &t().claim("aud", json!("elsewhere")).sign_hs256(HS_SECRET),
        )
        .await,
        "audience",
    );
    assert_invalid(
        &bearer(&v, &t().header("alg", json!("none")).sign_hs256(b"")).await,
        "none",
    );
    assert_eq!(
        bearer(
            &v,
            &Token::valid(&key, "other", RESOURCE)
                .header("alg", json!("HS256"))
                .sign_hs256(HS_SECRET)
        )
        .await,
        Err(Rejection::NotApplicable)
    );
    assert!(fake.calls().is_empty(), "a shared secret needs no fetch");
}

#[test]
fn hs256_secrets_are_checked_when_built() {
    let fake = FakeFetch::new();
    let short = build_from(
        HS256,
        &fake,
        &[("HS_SECRET", b"only 31 bytes long............")],
    )
    .unwrap_err();
    assert_eq!(short.problems.len(), 1);
    assert_eq!(short.problems[0].key, "validators[shared].secret_env");
    assert!(
        short.problems[0].problem.contains("at least 32 bytes"),
        "{short}"
    );
    let missing = build_from(HS256, &fake, &[]).unwrap_err();
    assert_eq!(missing.problems[0].key, "validators[shared].secret_env");
    assert!(
        missing.problems[0].problem.contains("HS_SECRET is not set"),
        "{missing}"
    );
    let empty = build_from(HS256, &fake, &[("HS_SECRET", b"")]).unwrap_err();
    assert!(empty.problems[0].problem.contains("not set"));
    // Exactly 32 bytes is enough; the secret never appears in any message or Debug output.
    let built = build_from(HS256, &fake, &[("HS_SECRET", HS_SECRET)]).unwrap();
    let debug = format!("{built:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// introspection

const INTROSPECT_URL: &str = "https://login.example.com/introspect";
const INTROSPECTION: &str = r#"
[[validators]]
id = "opaque"
kind = "introspection"
introspection_endpoint = "https://login.example.com/introspect"
client_id = "portcullis gw"
client_secret_env = "INTROSPECTION_SECRET"
issuer = "https://login.example.com"
"#;

fn introspection_setup(answer: serde_json::Value) -> (Arc<FakeFetch>, Arc<dyn Validator>) {
    let fake = FakeFetch::new();
    fake.answer(INTROSPECT_URL, 200, answer.to_string());
    let v = one(INTROSPECTION, &fake);
    (fake, v)
}

fn active() -> serde_json::Value {
    json!({
        "active": true,
        "sub": "u-42",
        "aud": RESOURCE,
        "scope": "files:read",
        "exp": NOW + 120,
        "iss": ISSUER,
        "email": "bob@acme.com",
        "email_verified": true,
    })
}

fn with(mut value: serde_json::Value, key: &str, member: serde_json::Value) -> serde_json::Value {
    if member.is_null() {
        value.as_object_mut().unwrap().remove(key);
    } else {
        value[key] = member;
    }
    value
}

#[tokio::test]
async fn introspection_sends_the_token_with_client_authentication() {
    let (fake, v) = introspection_setup(active());
    let p = bearer(&v, "opaque-token-1").await.unwrap();
    assert_eq!(p.subject, "opaque:u-42");
    assert_eq!(p.scopes, ["files:read"]);
    assert_eq!(p.expires_at, Some(NOW + 120));
    assert_eq!(p.tenant.as_deref(), Some("acme"));
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, FetchMethod::PostForm);
    assert_eq!(call.url, INTROSPECT_URL);
    assert_eq!(call.form("token"), Some("opaque-token-1"));
    assert_eq!(call.form("token_type_hint"), Some("access_token"));
    // RFC 6749 §2.3.1: "portcullis gw" and "s3cr:t&x y" are form-urlencoded before base64.
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode("portcullis+gw:s3cr%3At%26x+y");
    assert_eq!(
        call.header("authorization"),
        Some(format!("Basic {expected}").as_str())
    );
    assert!(!call.allow_private_network);
}

#[tokio::test]
async fn introspection_answers_that_do_not_count() {
    let cases = [
        (
            "inactive",
            with(active(), "active", json!(false)),
            "not active",
        ),
        (
            "active as a string",
            with(active(), "active", json!("true")),
            "not active",
        ),
        (
            "active missing",
            with(active(), "active", json!(null)),
            "not active",
        ),
        ("aud missing", with(active(), "aud", json!(null)), "no aud"),
        (
            "aud another upstream",
            with(
                active(),
                "aud",
                json!("https://mcp.example.com/servers/x/mcp"),
            ),
            "audience",
        ),
        (
            "aud array without us",
            with(active(), "aud", json!(["a", "b"])),
            "audience",
        ),
        ("aud a number", with(active(), "aud", json!(3)), "claim aud"),
        ("expired", with(active(), "exp", json!(NOW - 60)), "expired"),
        (
            "exp a string",
            with(active(), "exp", json!("soon")),
            "claim exp",
        ),
        (
            "another issuer",
            with(active(), "iss", json!("https://evil.example")),
            "issuer",
        ),
        (
            "no subject",
            with(with(active(), "sub", json!(null)), "username", json!(null)),
            "no subject",
        ),
    ];
    for (what, answer, needle) in cases {
        let (_, v) = introspection_setup(answer);
        let result = bearer(&v, "opaque-token-1").await;
        assert!(
            matches!(&result, Err(Rejection::Invalid(why)) if why.contains(needle)),
            "{what}: {result:?}"
        );
    }
    // aud as an array with us, and `username` when there is no `sub`.
    let (_, v) = introspection_setup(
        with(
            with(active(), "aud", json!(["x", RESOURCE])),
            "sub",
            json!(null),
        )
        .tap_username(),
    );
    assert_eq!(bearer(&v, "t").await.unwrap().subject, "opaque:bob");
}

trait TapUsername {
    fn tap_username(self) -> Self;
}
impl TapUsername for serde_json::Value {
    fn tap_username(mut self) -> Self {
        self["username"] = json!("bob");
        self
    }
}

#[tokio::test]
async fn introspection_endpoint_failures_are_unavailable() {
    for (status, body) in [(401, "{}"), (403, "{}"), (500, "{}"), (200, "not json")] {
        let fake = FakeFetch::new();
        fake.answer(INTROSPECT_URL, status, body);
        let v = one(INTROSPECTION, &fake);
        assert_unavailable(&bearer(&v, "opaque-token-1").await);
    }
    let fake = FakeFetch::new();
    fake.fail(INTROSPECT_URL, crate::auth::FetchError::Timeout);
    let v = one(INTROSPECTION, &fake);
    let result = bearer(&v, "opaque-token-1").await;
    assert_unavailable(&result);
    assert!(!format!("{result:?}").contains("opaque-token-1"));
}

#[tokio::test]
async fn introspection_leaves_other_kinds_of_token_alone() {
    let (fake, v) = introspection_setup(active());
    let key = TestKey::new("ES256", "k1");
    let jwt = Token::valid(&key, ISSUER, RESOURCE).sign(&key);
    for token in [
        jwt.as_str(),
        "ghp_abcdef",
        "github_pat_x",
        "gho_y",
        "ya29.a0Af",
        "",
    ] {
        assert_eq!(
            bearer(&v, token).await,
            Err(Rejection::NotApplicable),
            "{token}"
        );
    }
    assert!(
        fake.calls().is_empty(),
        "no foreign token may reach the endpoint"
    );
}

// ---------------------------------------------------------------------------------------------
// github

const GH: &str = "https://api.github.com";
const GH_TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";

fn github(
    entries: &str,
    user: serde_json::Value,
    orgs: &[&str],
    teams: &[(&str, &str)],
) -> (Arc<FakeFetch>, Arc<dyn Validator>) {
    let fake = FakeFetch::new();
    fake.answer(&format!("{GH}/user"), 200, user.to_string());
    fake.answer(
        &format!("{GH}/user/orgs?per_page=100"),
        200,
        json!(orgs.iter().map(|o| json!({"login": o})).collect::<Vec<_>>()).to_string(),
    );
    fake.answer(
        &format!("{GH}/user/teams?per_page=100"),
        200,
        json!(
            teams
                .iter()
                .map(|(org, slug)| json!({"slug": slug, "organization": {"login": org}}))
                .collect::<Vec<_>>()
        )
        .to_string(),
    );
    let v = one(
        &format!("[[validators]]\nid = \"gh\"\nkind = \"github\"\n{entries}"),
        &fake,
    );
    (fake, v)
}

fn octocat() -> serde_json::Value {
    json!({"id": 583231, "login": "octocat", "name": "The Octocat", "email": "octocat@acme.com"})
}

#[tokio::test]
async fn github_allowlists() {
    /// (config, orgs, teams as (org, slug), admitted)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let cases: &[Case] = &[
        ("allowed_users = [\"OctoCat\"]", &[], &[], true),
        ("allowed_users = [\"someone\"]", &[], &[], false),
        ("allowed_orgs = [\"acme\"]", &["Acme"], &[], true),
        ("allowed_orgs = [\"acme\"]", &["globex"], &[], false),
        (
            "allowed_teams = [\"acme/platform\"]",
            &["acme"],
            &[("acme", "platform")],
            true,
        ),
        (
            "allowed_teams = [\"acme/platform\"]",
            &["acme"],
            &[("acme", "sales")],
            false,
        ),
        (
            "allowed_teams = [\"acme/platform\"]",
            &["globex"],
            &[("globex", "platform")],
            false,
        ),
        (
            "allowed_users = [\"x\"]\nallowed_orgs = [\"y\"]\nallowed_teams = [\"acme/platform\"]",
            &[],
            &[("acme", "platform")],
            true,
        ),
        ("allow_any_user = true", &[], &[], true),
    ];
    for (entries, orgs, teams, admitted) in cases {
        let (_, v) = github(entries, octocat(), orgs, teams);
        let result = bearer(&v, GH_TOKEN).await;
        assert_eq!(
            result.is_ok(),
            *admitted,
            "{entries} {orgs:?} {teams:?}: {result:?}"
        );
        if !admitted {
            assert_invalid(&result, "allowlists");
        }
    }
}

#[tokio::test]
async fn github_principal_uses_the_numeric_id() {
    let (fake, v) = github(
        "allowed_orgs = [\"acme\"]",
        octocat(),
        &["acme"],
        &[("acme", "platform")],
    );
    fake.answer(
        &format!("{GH}/user/emails"),
        200,
        json!([
            {"email": "old@globex.com", "primary": false, "verified": true},
            {"email": "octocat@acme.com", "primary": true, "verified": true},
        ])
        .to_string(),
    );
    let p = bearer(&v, GH_TOKEN).await.unwrap();
    assert_eq!(p.subject, "gh:583231");
    assert_eq!(p.name.as_deref(), Some("The Octocat"));
    assert_eq!(p.login.as_deref(), Some("octocat"));
    assert_eq!(p.email.as_deref(), Some("octocat@acme.com"));
    assert!(p.email_verified);
    assert_eq!(p.tenant.as_deref(), Some("acme"));
    assert_eq!(p.groups, ["acme", "acme/platform"]);
    let user_call = fake
        .calls()
        .into_iter()
        .find(|c| c.url == format!("{GH}/user"))
        .unwrap();
    assert_eq!(
        user_call.header("authorization"),
        Some(format!("Bearer {GH_TOKEN}").as_str())
    );
    assert_eq!(
        user_call.header("accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(user_call.header("x-github-api-version"), Some("2022-11-28"));
}

#[tokio::test]
async fn github_email_is_unverified_without_the_emails_permission() {
    // The fake answers 404 for /user/emails: the profile email stays, unverified, no tenant.
    let (_, v) = github("allowed_users = [\"octocat\"]", octocat(), &[], &[]);
    let p = bearer(&v, GH_TOKEN).await.unwrap();
    assert_eq!(p.email.as_deref(), Some("octocat@acme.com"));
    assert!(!p.email_verified);
    assert_eq!(p.tenant, None);
    // A login-only profile: the login is the name.
    let (_, v) = github(
        "allowed_users = [\"octocat\"]",
        json!({"id": 1, "login": "octocat", "name": null}),
        &[],
        &[],
    );
    assert_eq!(
        bearer(&v, GH_TOKEN).await.unwrap().name.as_deref(),
        Some("octocat")
    );
}

#[tokio::test]
async fn github_errors() {
    let (fake, v) = github("allow_any_user = true", octocat(), &[], &[]);
    fake.answer(
        &format!("{GH}/user"),
        401,
        "{\"message\":\"Bad credentials\"}",
    );
    assert_invalid(&bearer(&v, GH_TOKEN).await, "401");
    fake.answer(&format!("{GH}/user"), 500, "{}");
    assert_unavailable(&bearer(&v, GH_TOKEN).await);
    fake.answer(&format!("{GH}/user"), 403, "{}");
    assert_unavailable(&bearer(&v, GH_TOKEN).await);
    fake.fail(&format!("{GH}/user"), crate::auth::FetchError::Timeout);
    assert_unavailable(&bearer(&v, GH_TOKEN).await);
    fake.answer(
        &format!("{GH}/user"),
        200,
        json!({"login": "no-id"}).to_string(),
    );
    assert_unavailable(&bearer(&v, GH_TOKEN).await);
    fake.answer(&format!("{GH}/user"), 200, octocat().to_string());
    fake.answer(&format!("{GH}/user/orgs?per_page=100"), 502, "{}");
    assert_unavailable(&bearer(&v, GH_TOKEN).await);
    // Not GitHub tokens: not asked.
    let before = fake.calls().len();
    for token in [
        "ya29.x",
        "opaque",
        "ghr_refresh",
        "ghp_has space",
        "eyJ.a.b",
    ] {
        assert_eq!(
            bearer(&v, token).await,
            Err(Rejection::NotApplicable),
            "{token}"
        );
    }
    assert_eq!(fake.calls().len(), before);
}

#[tokio::test]
async fn github_enterprise_base_url() {
    let fake = FakeFetch::new();
    let base = "https://ghe.example/api/v3";
    fake.answer(&format!("{base}/user"), 200, octocat().to_string());
    let v = one(
        &format!(
            "[[validators]]\nid = \"ghe\"\nkind = \"github\"\nbase_url = \"{base}\"\nallowed_users = [\"octocat\"]\n"
        ),
        &fake,
    );
    assert_eq!(bearer(&v, GH_TOKEN).await.unwrap().subject, "ghe:583231");
    assert!(fake.calls().iter().all(|c| c.url.starts_with(base)));
}

// ---------------------------------------------------------------------------------------------
// google

const GOOGLE_CERTS: &str = "https://www.googleapis.com/oauth2/v3/certs";
const TOKENINFO: &str = "https://oauth2.googleapis.com/tokeninfo";
const USERINFO: &str = "https://openidconnect.googleapis.com/v1/userinfo";
const CLIENT: &str = "123.apps.googleusercontent.com";

fn google(extra: &str) -> (Arc<FakeFetch>, Arc<dyn Validator>, TestKey) {
    let fake = FakeFetch::new();
    let key = TestKey::new("RS256", "g1");
    fake.answer(GOOGLE_CERTS, 200, jwks(&[&key]));
    let v = one(
        &format!(
            "[[validators]]\nid = \"google\"\nkind = \"google\"\naudiences = [\"{CLIENT}\"]\n{extra}"
        ),
        &fake,
    );
    (fake, v, key)
}

fn id_token(key: &TestKey) -> Token {
    Token::valid(key, "https://accounts.google.com", CLIENT)
        .header("typ", json!("JWT"))
        .claim("hd", json!("acme.com"))
}

#[tokio::test]
async fn google_id_tokens() {
    let (_, v, key) = google("hosted_domains = [\"acme.com\"]");
    let p = bearer(&v, &id_token(&key).sign(&key)).await.unwrap();
    assert_eq!(p.subject, "google:user-1");
    assert!(p.email_verified);
    assert_eq!(p.tenant.as_deref(), Some("acme"));
    // Both spellings of Google's issuer.
    bearer(
        &v,
        &id_token(&key)
            .claim("iss", json!("accounts.google.com"))
            .sign(&key),
    )
    .await
    .unwrap();
    for (what, token, needle) in [
        (
            "another client",
            id_token(&key).claim("aud", json!("999.apps.googleusercontent.com")),
            "audience",
        ),
        (
            "the resource as audience",
            id_token(&key).claim("aud", json!(RESOURCE)),
            "audience",
        ),
        (
            "another hosted domain",
            id_token(&key).claim("hd", json!("globex.com")),
            "hosted domain",
        ),
        (
            "a personal account",
            id_token(&key).claim("hd", json!(null)),
            "hosted domain",
        ),
        (
            "expired",
            id_token(&key).claim("exp", json!(NOW - 100)),
            "expired",
        ),
    ] {
        let result = bearer(&v, &token.sign(&key)).await;
        assert!(
            matches!(&result, Err(Rejection::Invalid(why)) if why.contains(needle)),
            "{what}: {result:?}"
        );
    }
    let unverified = bearer(
        &v,
        &id_token(&key)
            .claim("email_verified", json!(false))
            .sign(&key),
    )
    .await
    .unwrap();
    assert!(!unverified.email_verified);
    assert_eq!(unverified.tenant, None);
    // Without hosted_domains, any account.
    let (_, v, key) = google("");
    bearer(&v, &id_token(&key).claim("hd", json!(null)).sign(&key))
        .await
        .unwrap();
    assert_eq!(
        bearer(
            &v,
            &id_token(&key)
                .claim("iss", json!("https://evil.example"))
                .sign(&key)
        )
        .await,
        Err(Rejection::NotApplicable)
    );
}

const GOOGLE_ACCESS: &str = "ya29.a0AfB_byC-example";

fn tokeninfo(aud: &str) -> serde_json::Value {
    json!({
        "azp": aud, "aud": aud, "sub": "1098", "scope": "openid email",
        "exp": (NOW + 3000).to_string(), "expires_in": "3000",
        "email": "carol@acme.com", "email_verified": "true",
    })
}

fn userinfo(hd: Option<&str>, verified: bool) -> serde_json::Value {
    let mut v = json!({"sub": "1098", "name": "Carol", "email": "carol@acme.com", "email_verified": verified});
    if let Some(hd) = hd {
        v["hd"] = json!(hd);
    }
    v
}

#[tokio::test]
async fn google_access_tokens() {
    let (fake, v, _) = google("hosted_domains = [\"acme.com\"]");
    fake.answer(TOKENINFO, 200, tokeninfo(CLIENT).to_string());
    fake.answer(USERINFO, 200, userinfo(Some("acme.com"), true).to_string());
    let p = bearer(&v, GOOGLE_ACCESS).await.unwrap();
    assert_eq!(p.subject, "google:1098");
    assert_eq!(p.name.as_deref(), Some("Carol"));
    assert!(p.email_verified);
    assert_eq!(p.tenant.as_deref(), Some("acme"));
    assert_eq!(p.scopes, ["openid", "email"]);
    assert_eq!(p.expires_at, Some(NOW + 3000));
    let calls = fake.calls();
    let info = calls.iter().find(|c| c.url == TOKENINFO).unwrap();
    assert_eq!(info.method, FetchMethod::PostForm);
    assert_eq!(info.form("access_token"), Some(GOOGLE_ACCESS));
    let user = calls.iter().find(|c| c.url == USERINFO).unwrap();
    assert_eq!(
        user.header("authorization"),
        Some(format!("Bearer {GOOGLE_ACCESS}").as_str())
    );

    fake.answer(
        USERINFO,
        200,
        userinfo(Some("globex.com"), true).to_string(),
    );
    assert_invalid(&bearer(&v, GOOGLE_ACCESS).await, "hosted domain");
    fake.answer(USERINFO, 200, userinfo(None, true).to_string());
    assert_invalid(&bearer(&v, GOOGLE_ACCESS).await, "hosted domain");
    fake.answer(
        USERINFO,
        200,
        with(userinfo(Some("acme.com"), true), "sub", json!("other")).to_string(),
    );
    assert_invalid(&bearer(&v, GOOGLE_ACCESS).await, "different users");
    fake.answer(USERINFO, 200, userinfo(Some("acme.com"), false).to_string());
    let p = bearer(&v, GOOGLE_ACCESS).await.unwrap();
    assert!(!p.email_verified);
    assert_eq!(p.tenant, None);

    fake.answer(USERINFO, 200, userinfo(Some("acme.com"), true).to_string());
    fake.answer(
        TOKENINFO,
        200,
        tokeninfo("999.apps.googleusercontent.com").to_string(),
    );
    assert_invalid(&bearer(&v, GOOGLE_ACCESS).await, "another client");
    fake.answer(
        TOKENINFO,
        200,
        with(
            with(tokeninfo(CLIENT), "exp", json!(null)),
            "expires_in",
            json!("0"),
        )
        .to_string(),
    );
    assert_invalid(&bearer(&v, GOOGLE_ACCESS).await, "expired");
    fake.answer(
        TOKENINFO,
        200,
        with(tokeninfo(CLIENT), "exp", json!((NOW - 100).to_string())).to_string(),
    );
    assert_invalid(&bearer(&v, GOOGLE_ACCESS).await, "expired");
    fake.answer(
        TOKENINFO,
        400,
        json!({"error": "invalid_token"}).to_string(),
    );
    assert_invalid(&bearer(&v, GOOGLE_ACCESS).await, "HTTP 400");
    fake.answer(TOKENINFO, 503, "{}");
    assert_unavailable(&bearer(&v, GOOGLE_ACCESS).await);
}

// ---------------------------------------------------------------------------------------------
// cloudflare_access

const TEAM: &str = "https://acme.cloudflareaccess.com";
const CF_CERTS: &str = "https://acme.cloudflareaccess.com/cdn-cgi/access/certs";
const AUD_TAG: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

fn cloudflare() -> (Arc<FakeFetch>, Arc<dyn Validator>, TestKey) {
    let fake = FakeFetch::new();
    let key = TestKey::new("RS256", "cf1");
    fake.answer(CF_CERTS, 200, jwks(&[&key]));
    let v = one(
        &format!(
            "[[validators]]\nid = \"cf\"\nkind = \"cloudflare_access\"\nteam_domain = \"{TEAM}\"\naudiences = [\"{AUD_TAG}\"]\n"
        ),
        &fake,
    );
    (fake, v, key)
}

async fn assertion(v: &Arc<dyn Validator>, token: &str) -> Result<Principal, Rejection> {
    v.validate(Credential::CfAccessAssertion(token), context())
        .await
}

#[tokio::test]
async fn cloudflare_access_assertions() {
    let (_, v, key) = cloudflare();
    let user = Token::valid(&key, TEAM, AUD_TAG)
        .header("typ", json!(null))
        .claim("aud", json!([AUD_TAG]))
        .claim("type", json!("app"))
        .claim("sub", json!("7335d417-61da-459d-899c-0a01c76a2f94"));
    let p = assertion(&v, &user.sign(&key)).await.unwrap();
    assert_eq!(p.subject, "cf:7335d417-61da-459d-899c-0a01c76a2f94");
    assert_eq!(p.email.as_deref(), Some("alice@acme.com"));
    assert!(p.email_verified);
    assert_eq!(p.tenant.as_deref(), Some("acme"));

    let service = Token::valid(&key, TEAM, AUD_TAG)
        .claim("aud", json!([AUD_TAG]))
        .claim("sub", json!(""))
        .claim("email", json!(null))
        .claim("common_name", json!("a1b2c3.access"));
    let p = assertion(&v, &service.sign(&key)).await.unwrap();
    assert_eq!(p.subject, "cf:a1b2c3.access");
    assert_eq!(p.email, None);
    assert_eq!(p.tenant, None);

    assert_invalid(
        &assertion(
            &v,
            &user.clone().claim("aud", json!(["other-tag"])).sign(&key),
        )
        .await,
        "audience",
    );
    assert_invalid(
        &assertion(
            &v,
            &user
                .clone()
                .claim("email", json!(null))
                .claim("sub", json!(""))
                .sign(&key),
        )
        .await,
        "names no user",
    );
    assert_eq!(
        assertion(
            &v,
            &user
                .clone()
                .claim("iss", json!("https://globex.cloudflareaccess.com"))
                .sign(&key)
        )
        .await,
        Err(Rejection::NotApplicable)
    );
    // The same token as a bearer credential is not this validator's.
    assert_eq!(
        bearer(&v, &user.sign(&key)).await,
        Err(Rejection::NotApplicable)
    );
}

// ---------------------------------------------------------------------------------------------
// building

#[test]
fn every_kind_builds_without_a_request() {
    let fake = FakeFetch::new();
    let entries = [JWT, HS256, INTROSPECTION, "[[validators]]\nid = \"gh\"\nkind = \"github\"\nallowed_orgs = [\"acme\"]\n", &format!("[[validators]]\nid = \"google\"\nkind = \"google\"\naudiences = [\"{CLIENT}\"]\n"), &format!("[[validators]]\nid = \"cf\"\nkind = \"cloudflare_access\"\nteam_domain = \"{TEAM}\"\naudiences = [\"{AUD_TAG}\"]\ncache_ttl = \"30s\"\n")].concat();
    let built = build_from(
        &entries,
        &fake,
        &[("HS_SECRET", HS_SECRET), ("INTROSPECTION_SECRET", b"x")],
    )
    .unwrap();
    let mut ids: Vec<&str> = built.keys().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["cf", "corp", "gh", "google", "opaque", "shared"]);
    assert_eq!(built["cf"].cache_ttl(), std::time::Duration::from_secs(30));
    assert!(fake.calls().is_empty());
    // Every missing secret is reported at once, each naming its key.
    let err = build_from(&entries, &fake, &[]).unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "validators[shared].secret_env",
            "validators[opaque].client_secret_env"
        ]
    );
}

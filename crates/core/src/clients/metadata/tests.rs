//! Client metadata, one table per concern, through one `check` helper.

use serde_json::{Value, json};

use super::*;
use crate::auth::testing::{TestKey, jwks as test_jwks};

/// What a check expects: accepted (and then a property of the result), or refused with the
/// error's variant and a part of its reason.
enum Expect {
    Ok(fn(&ClientMetadata) -> bool),
    RedirectUri(&'static str),
    Metadata(&'static str),
}

fn check(source: MetadataSource, document: Value, expect: Expect) {
    let rules = MetadataRules {
        source,
        allow_loopback_jwks_uri: false,
    };
    let Value::Object(object) = &document else {
        panic!("test documents are objects");
    };
    let got = parse(object, rules);
    let fine = match (&expect, &got) {
        (Expect::Ok(property), Ok(metadata)) => property(metadata),
        (Expect::RedirectUri(needle), Err(ClientError::InvalidRedirectUri(reason))) => {
            reason.contains(needle)
        }
        (Expect::Metadata(needle), Err(ClientError::InvalidMetadata(reason))) => {
            reason.contains(needle)
        }
        _ => false,
    };
    assert!(fine, "{source:?} {document}: got {got:?}");
}

use MetadataSource::{Document, Registration};

#[test]
fn registration_defaults_follow_rfc_7591() {
    check(
        Registration,
        json!({"redirect_uris": ["https://app.example/cb"]}),
        Expect::Ok(|m| {
            m.token_endpoint_auth_method == TokenEndpointAuthMethod::ClientSecretBasic
                && m.grant_types == ["authorization_code"]
                && m.response_types == ["code"]
                && m.application_type == ApplicationType::Web
                && m.client_name.is_none()
        }),
    );
    check(
        Document,
        json!({"client_name": "Tool", "redirect_uris": ["https://app.example/cb"]}),
        Expect::Ok(|m| m.token_endpoint_auth_method == TokenEndpointAuthMethod::None),
    );
    check(
        Registration,
        json!({
            "client_name": "  Inspector  ",
            "redirect_uris": ["http://localhost:6274/oauth/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "files:read mcp",
            "client_uri": "https://inspector.example/",
            "logo_uri": "https://inspector.example/logo.png",
            "contacts": ["ops@example.com"],
            "software_statement": "ignored.jwt.value",
            "unknown_member": {"nested": true},
        }),
        Expect::Ok(|m| {
            m.client_name.as_deref() == Some("Inspector")
                && m.scope.as_deref() == Some("files:read mcp")
                && m.grant_types.len() == 2
        }),
    );
}

#[test]
fn redirect_uris_are_checked_with_the_application_type() {
    let cases = [
        (json!({}), Expect::RedirectUri("required")),
        (
            json!({"redirect_uris": []}),
            Expect::RedirectUri("required"),
        ),
        (
            json!({"redirect_uris": "https://app.example/cb"}),
            Expect::RedirectUri("array"),
        ),
        (json!({"redirect_uris": [1]}), Expect::RedirectUri("array")),
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            Expect::RedirectUri("redirect_uris[0]"),
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb", "https://app.example/cb#x"]}),
            Expect::RedirectUri("redirect_uris[1]: must not contain a fragment"),
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            Expect::RedirectUri("never allowed"),
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"]}),
            Expect::RedirectUri("application_type native"),
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"], "application_type": "native"}),
            Expect::Ok(|m| m.application_type == ApplicationType::Native),
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "application_type": "desktop"}),
            Expect::Metadata("application_type"),
        ),
        (
            json!({"redirect_uris": (0..21).map(|i| format!("https://app.example/{i}")).collect::<Vec<_>>()}),
            Expect::RedirectUri("at most 20"),
        ),
    ];
    for (document, expect) in cases {
        check(Registration, document, expect);
    }
}

#[test]
fn grants_responses_and_methods() {
    let uris = |extra: Value| {
        let mut object = json!({"redirect_uris": ["https://app.example/cb"]});
        for (k, v) in extra.as_object().unwrap() {
            object[k] = v.clone();
        }
        object
    };
    let cases = [
        (
            uris(json!({"grant_types": ["implicit"]})),
            Expect::Metadata("not supported"),
        ),
        (
            uris(json!({"grant_types": ["password"]})),
            Expect::Metadata("not supported"),
        ),
        (
            uris(json!({"grant_types": []})),
            Expect::Metadata("must not be empty"),
        ),
        (
            uris(json!({"grant_types": ["authorization_code", "authorization_code"]})),
            Expect::Metadata("twice"),
        ),
        (
            uris(
                json!({"grant_types": ["authorization_code", "client_credentials"], "token_endpoint_auth_method": "none"}),
            ),
            Expect::Metadata("client_credentials is only"),
        ),
        // Self-registered clients never get client credentials (reference H5).
        (
            uris(json!({"grant_types": ["authorization_code", "client_credentials"]})),
            Expect::Metadata("only for clients the operator registers"),
        ),
        (
            json!({"grant_types": ["client_credentials"], "response_types": []}),
            Expect::Metadata("only for clients the operator registers"),
        ),
        (
            uris(json!({"grant_types": ["authorization_code", "refresh_token"]})),
            Expect::Ok(|m| m.grant_types.len() == 2),
        ),
        (
            uris(json!({"response_types": ["token"]})),
            Expect::Metadata("only \"code\""),
        ),
        (
            uris(json!({"response_types": ["code", "id_token"]})),
            Expect::Metadata("only \"code\""),
        ),
        (
            uris(json!({"response_types": []})),
            Expect::Metadata("disagree"),
        ),
        (
            json!({"grant_types": ["refresh_token"], "response_types": ["code"]}),
            Expect::Metadata("disagree"),
        ),
        (
            uris(json!({"grant_types": "authorization_code"})),
            Expect::Metadata("array of strings"),
        ),
        (
            uris(json!({"token_endpoint_auth_method": "client_secret_jwt"})),
            Expect::Metadata("not supported"),
        ),
        (
            uris(json!({"token_endpoint_auth_method": "tls_client_auth"})),
            Expect::Metadata("not supported"),
        ),
        (
            uris(json!({"token_endpoint_auth_method": 1})),
            Expect::Metadata("must be a string"),
        ),
        (
            uris(json!({"token_endpoint_auth_method": "client_secret_post"})),
            Expect::Ok(|m| {
                m.token_endpoint_auth_method == TokenEndpointAuthMethod::ClientSecretPost
            }),
        ),
    ];
    for (document, expect) in cases {
        check(Registration, document, expect);
    }
}

#[test]
fn names_scopes_and_informational_uris() {
    let with = |member: &str, value: Value| {
        let mut object = json!({"redirect_uris": ["https://app.example/cb"]});
        object[member] = value;
        object
    };
    let cases = [
        (
            with("client_name", json!("")),
            Expect::Metadata("client_name"),
        ),
        (
            with("client_name", json!("   ")),
            Expect::Metadata("client_name"),
        ),
        (
            with("client_name", json!("a\u{7}b")),
            Expect::Metadata("control"),
        ),
        (
            with("client_name", json!("x".repeat(201))),
            Expect::Metadata("client_name"),
        ),
        (
            with("client_name", json!(["x"])),
            Expect::Metadata("must be a string"),
        ),
        (
            with("client_name", Value::Null),
            Expect::Ok(|m| m.client_name.is_none()),
        ),
        (with("scope", json!("")), Expect::Ok(|m| m.scope.is_none())),
        (with("scope", json!(" ")), Expect::Metadata("scope")),
        (with("scope", json!("a  b")), Expect::Metadata("scope")),
        (with("scope", json!("a \"b\"")), Expect::Metadata("scope")),
        (
            with("client_uri", json!("javascript:alert(1)")),
            Expect::Metadata("client_uri must be an https URL"),
        ),
        (
            with("client_uri", json!("http://app.example/")),
            Expect::Metadata("client_uri must be an https URL"),
        ),
        (
            with("logo_uri", json!("https://user@app.example/l.png")),
            Expect::Metadata("logo_uri must not contain userinfo"),
        ),
        (
            with("logo_uri", json!("data:image/png;base64,AAAA")),
            Expect::Metadata("logo_uri"),
        ),
        (
            with("client_uri", json!("http://localhost:3000/")),
            Expect::Ok(|m| m.client_uri.is_some()),
        ),
    ];
    for (document, expect) in cases {
        check(Registration, document, expect);
    }
}

#[test]
fn keys_for_private_key_jwt() {
    let key = TestKey::new("ES256", "k1");
    let keys: Value = serde_json::from_str(&test_jwks(&[&key])).unwrap();
    let with = |extra: Value| {
        let mut object = json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
        });
        for (k, v) in extra.as_object().unwrap() {
            object[k] = v.clone();
        }
        object
    };
    let cases = [
        (with(json!({})), Expect::Metadata("needs jwks or jwks_uri")),
        (
            with(json!({"jwks": keys.clone()})),
            Expect::Ok(|m| m.jwks.is_some()),
        ),
        (
            with(json!({"jwks_uri": "https://app.example/jwks.json"})),
            Expect::Ok(|m| m.jwks_uri.is_some()),
        ),
        (
            with(json!({"jwks": keys.clone(), "jwks_uri": "https://app.example/jwks.json"})),
            Expect::Metadata("must not both"),
        ),
        (
            with(json!({"jwks": {"keys": []}})),
            Expect::Metadata("jwks:"),
        ),
        (
            with(json!({"jwks": "{}"})),
            Expect::Metadata("Key Set object"),
        ),
        (
            with(json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})),
            Expect::Metadata("no usable signing key"),
        ),
        (
            with(json!({"jwks_uri": "http://app.example/jwks.json"})),
            Expect::Metadata("jwks_uri must be an https URL"),
        ),
        // Loopback jwks_uri only with the test setting (off here).
        (
            with(json!({"jwks_uri": "http://127.0.0.1:9/jwks.json"})),
            Expect::Metadata("jwks_uri"),
        ),
    ];
    for (document, expect) in cases {
        check(Registration, document.clone(), expect);
    }
    // The same keys are fine in a metadata document.
    let mut document = with(json!({"jwks": keys}));
    document["client_name"] = json!("Signed");
    check(Document, document, Expect::Ok(|m| m.jwks.is_some()));
}

#[test]
fn documents_need_a_name_and_no_shared_secret() {
    let base = |extra: Value| {
        let mut object = json!({"redirect_uris": ["https://app.example/cb"]});
        for (k, v) in extra.as_object().unwrap() {
            object[k] = v.clone();
        }
        object
    };
    check(
        Document,
        base(json!({})),
        Expect::Metadata("client_name is required"),
    );
    for method in ["client_secret_basic", "client_secret_post"] {
        check(
            Document,
            base(json!({"client_name": "T", "token_endpoint_auth_method": method})),
            Expect::Metadata("shared secret"),
        );
    }
    check(
        Document,
        base(json!({"client_name": "T", "token_endpoint_auth_method": "client_secret_jwt"})),
        Expect::Metadata("not supported"),
    );
}

#[test]
fn metadata_becomes_a_client() {
    let object =
        json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"});
    let rules = MetadataRules {
        source: Registration,
        allow_loopback_jwks_uri: false,
    };
    let metadata = parse(object.as_object().unwrap(), rules).unwrap();
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let client = metadata.into_client("client_1".to_owned(), ClientSource::Dynamic, now);
    // Without a client_name, people see the client id.
    assert_eq!(client.name, "client_1");
    assert_eq!(client.created_at, now);
    assert_eq!(client.secret_hash, None);
}

//! Reading client credentials from a request, as a table.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::auth::testing::{TestKey, Token};

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// What reading should give: the presented credentials' kind, client id and secret, or an error
/// code.
enum Expect {
    Public(&'static str),
    Secret(TokenEndpointAuthMethod, &'static str, &'static str),
    Assertion(&'static str),
    Error(ErrorCode, &'static str),
}

/// One row: `Authorization` values, form fields, what reading them gives.
type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, Expect);

fn check(authorization: &[&str], form: &[(&str, &str)], expect: Expect) {
    let form: Vec<(String, String)> = form
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let request = ClientAuthRequest {
        authorization,
        form: &form,
    };
    let got = read_credentials(&request);
    let fine = match (&expect, &got) {
        (Expect::Public(id), Ok(Presented::Public { client_id })) => client_id == id,
        (
            Expect::Secret(method, id, secret),
            Ok(Presented::Secret {
                method: m,
                client_id,
                secret: s,
            }),
        ) => m == method && client_id == id && s == secret,
        (Expect::Assertion(id), Ok(Presented::Assertion { client_id, .. })) => client_id == id,
        (Expect::Error(code, needle), Err(e)) => {
            e.error == *code
                && e.error_description
                    .as_deref()
                    .is_some_and(|d| d.contains(needle))
        }
        _ => false,
    };
    assert!(fine, "{authorization:?} {form:?}: got {got:?}");
}

#[test]
fn each_method_is_read() {
    use TokenEndpointAuthMethod::{ClientSecretBasic, ClientSecretPost};
    let key = TestKey::new("ES256", "k");
    let assertion = Token::valid(&key, "client_a", "https://as.example/token").sign(&key);
    let basic_ab = basic("client_a", "s3cret");
    // RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined.
    let encoded = basic("client%3Aa+b", "p%40ss%3Aword+%2B");
    let padless = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode("client_a:s3cret")
    );
    check(
        &[],
        &[("client_id", "client_a")],
        Expect::Public("client_a"),
    );
    check(
        &[&basic_ab],
        &[],
        Expect::Secret(ClientSecretBasic, "client_a", "s3cret"),
    );
    check(
        &[&basic_ab],
        &[("client_id", "client_a")],
        Expect::Secret(ClientSecretBasic, "client_a", "s3cret"),
    );
    check(
        &[&encoded],
        &[],
        Expect::Secret(ClientSecretBasic, "client:a b", "p@ss:word +"),
    );
    check(
        &[&padless],
        &[],
        Expect::Secret(ClientSecretBasic, "client_a", "s3cret"),
    );
    check(
        &[],
        &[("client_id", "client_a"), ("client_secret", "s3cret")],
        Expect::Secret(ClientSecretPost, "client_a", "s3cret"),
    );
    check(
        &[],
        &[
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
        Expect::Assertion("client_a"),
    );
    check(
        &[],
        &[
            ("client_id", "client_a"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
        Expect::Assertion("client_a"),
    );
    // Other schemes are not client authentication.
    check(
        &["Bearer abc"],
        &[("client_id", "client_a")],
        Expect::Public("client_a"),
    );
}

#[test]
fn malformed_or_ambiguous_requests_are_refused() {
    use ErrorCode::{InvalidClient, InvalidRequest};
    let key = TestKey::new("ES256", "k");
    let assertion = Token::valid(&key, "client_a", "https://as.example/token").sign(&key);
    let basic_ab = basic("client_a", "s3cret");
    let basic_other = basic("client_b", "s3cret");
    let cases: Vec<Case> = vec![
        (
            vec![],
            vec![],
            Expect::Error(InvalidClient, "authentication failed"),
        ),
        (
            vec![basic_ab.clone()],
            vec![("client_secret", "s3cret")],
            Expect::Error(InvalidRequest, "more than one"),
        ),
        (
            vec![basic_ab.clone()],
            vec![
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
            Expect::Error(InvalidRequest, "more than one"),
        ),
        (
            vec![],
            vec![
                ("client_id", "client_a"),
                ("client_secret", "s3cret"),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
            Expect::Error(InvalidRequest, "more than one"),
        ),
        (
            vec![basic_ab.clone(), basic_ab.clone()],
            vec![],
            Expect::Error(InvalidRequest, "more than one Authorization"),
        ),
        (
            vec![],
            vec![("client_id", "client_a"), ("client_id", "client_a")],
            Expect::Error(InvalidRequest, "client_id parameter is repeated"),
        ),
        (
            vec![],
            vec![
                ("client_id", "a"),
                ("client_secret", "x"),
                ("client_secret", "y"),
            ],
            Expect::Error(InvalidRequest, "client_secret parameter is repeated"),
        ),
        (
            vec![basic_ab.clone()],
            vec![("client_id", "client_b")],
            Expect::Error(InvalidRequest, "differs"),
        ),
        (
            vec![basic_other.clone()],
            vec![("client_id", "client_a")],
            Expect::Error(InvalidRequest, "differs"),
        ),
        (
            vec![],
            vec![("client_secret", "s3cret")],
            Expect::Error(InvalidRequest, "without client_id"),
        ),
        (
            vec![],
            vec![("client_assertion", &assertion)],
            Expect::Error(InvalidRequest, "go together"),
        ),
        (
            vec![],
            vec![("client_assertion_type", CLIENT_ASSERTION_TYPE)],
            Expect::Error(InvalidRequest, "go together"),
        ),
        (
            vec![],
            vec![
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
                ("client_assertion", &assertion),
            ],
            Expect::Error(InvalidRequest, "jwt-bearer"),
        ),
        (
            vec![],
            vec![
                ("client_id", "client_b"),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
            Expect::Error(InvalidRequest, "differs"),
        ),
        (
            vec![],
            vec![
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", "not.a.jwt"),
            ],
            Expect::Error(InvalidClient, "authentication failed"),
        ),
        (
            vec!["Basic".to_owned()],
            vec![],
            Expect::Error(InvalidClient, "authentication failed"),
        ),
        (
            vec!["Basic !!!".to_owned()],
            vec![],
            Expect::Error(InvalidClient, "authentication failed"),
        ),
        (
            vec![format!("Basic {}", STANDARD.encode("no-colon"))],
            vec![],
            Expect::Error(InvalidClient, "authentication failed"),
        ),
        (
            vec![format!("Basic {}", STANDARD.encode(":secret"))],
            vec![],
            Expect::Error(InvalidClient, "authentication failed"),
        ),
        (
            vec![format!("Basic {}", STANDARD.encode([0xff, b':', b'x']))],
            vec![],
            Expect::Error(InvalidClient, "authentication failed"),
        ),
    ];
    for (authorization, form, expect) in cases {
        let authorization: Vec<&str> = authorization.iter().map(String::as_str).collect();
        check(&authorization, &form, expect);
    }
}

#[test]
fn secrets_compare_by_hash_and_expire() {
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let mut client = crate::clients::tests::client("c", &["https://app.example/cb"]);
    client.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
    client.secret_hash = Some(secret_hash("right"));
    assert!(secret_matches(Some(&client), "right", now));
    assert!(!secret_matches(Some(&client), "wrong", now));
    assert!(!secret_matches(Some(&client), "", now));
    assert!(!secret_matches(None, "right", now));
    client.secret_expires_at = Some(now);
    assert!(!secret_matches(Some(&client), "right", now));
    client.secret_expires_at = Some(now + time::Duration::seconds(1));
    assert!(secret_matches(Some(&client), "right", now));
    // A client without a secret matches nothing, not even the dummy's preimage search space.
    client.secret_hash = None;
    assert!(!secret_matches(Some(&client), "", now));
}

#[test]
fn debug_output_never_shows_secrets() {
    let form = vec![
        ("client_id".to_owned(), "client_a".to_owned()),
        ("client_secret".to_owned(), "hunter2-secret".to_owned()),
    ];
    let header = basic("client_a", "hunter2-secret");
    let request = ClientAuthRequest {
        authorization: &[&header],
        form: &form,
    };
    let presented = read_credentials(&ClientAuthRequest {
        authorization: &[],
        form: &form,
    })
    .unwrap();
    let debug = format!("{request:?} {presented:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("client_a"), "{debug}");
}

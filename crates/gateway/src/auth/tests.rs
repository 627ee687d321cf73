//! Credential extraction, validator order, failures and the verified-result cache.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};

use super::*;

const NOW: i64 = 1_800_000_000;
const RESOURCE: &str = "http://gw.test/servers/files/mcp";

/// A validator that answers from a table of tokens and counts its calls.
#[derive(Debug)]
struct Fake {
    id: &'static str,
    /// token → answer
    answers: Vec<(&'static str, Result<Principal, Rejection>)>,
    calls: AtomicUsize,
    seen: Mutex<Vec<String>>,
    ttl: Duration,
}

impl Fake {
    fn new(
        id: &'static str,
        answers: Vec<(&'static str, Result<Principal, Rejection>)>,
    ) -> Arc<Self> {
        Arc::new(Fake {
            id,
            answers,
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            ttl: Duration::from_secs(60),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Validator for Fake {
    fn id(&self) -> &str {
        self.id
    }
    fn cache_ttl(&self) -> Duration {
        self.ttl
    }
    async fn validate(
        &self,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(context.resource, RESOURCE);
        let token = match credential {
            Credential::Bearer(t) => t.to_owned(),
            Credential::CfAccessAssertion(a) => format!("cf:{a}"),
            Credential::ServiceToken {
                client_id,
                client_secret,
            } => format!("svc:{client_id}:{client_secret}"),
        };
        self.seen.lock().unwrap().push(token.clone());
        self.answers
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, a)| a.clone())
            .unwrap_or(Err(Rejection::NotApplicable))
    }
}

fn principal(sub: &str, expires_at: Option<i64>) -> Principal {
    Principal {
        expires_at,
        ..Principal::new("fake", sub)
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn as_dyn(fakes: &[&Arc<Fake>]) -> Vec<Arc<dyn Validator>> {
    fakes
        .iter()
        .map(|f| (*f).clone() as Arc<dyn Validator>)
        .collect()
}

async fn check(
    auth: &Authenticator,
    validators: &[Arc<dyn Validator>],
    pairs: &[(&str, &str)],
    query: Option<&str>,
    now: i64,
) -> Result<Arc<Principal>, AuthFailure> {
    auth.authenticate("files", RESOURCE, validators, &headers(pairs), query, now)
        .await
        .map(|caller| caller.principal().clone())
}

#[tokio::test]
async fn requests_without_a_usable_credential_are_refused_before_any_validator() {
    let fake = Fake::new("a", vec![("good", Ok(principal("u", None)))]);
    let v = as_dyn(&[&fake]);
    let auth = Authenticator::new();
    // (request headers, query, the failure)
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, AuthFailure);
    let cases: &[Case] = &[
        (&[], None, AuthFailure::Missing),
        (
            &[("authorization", "Basic dTpw")],
            None,
            AuthFailure::Missing,
        ),
        (
            &[("authorization", "Bearer good")],
            Some("access_token=good"),
            AuthFailure::BadRequest("access tokens are not accepted in the query string"),
        ),
        (
            &[],
            Some("x=1&ACCESS_TOKEN=good"),
            AuthFailure::BadRequest("access tokens are not accepted in the query string"),
        ),
        (
            &[],
            Some("access%5Ftoken=good"),
            AuthFailure::BadRequest("access tokens are not accepted in the query string"),
        ),
        (
            &[
                ("authorization", "Bearer good"),
                ("authorization", "Bearer good"),
            ],
            None,
            AuthFailure::BadRequest("more than one Authorization header"),
        ),
        (&[("authorization", "Bearer ")], None, AuthFailure::Invalid),
        (
            &[("authorization", "Bearer a b")],
            None,
            AuthFailure::Invalid,
        ),
        (
            &[("authorization", "Bearer a\"b")],
            None,
            AuthFailure::Invalid,
        ),
        (
            &[("portcullis-client-id", "pclc_x")],
            None,
            AuthFailure::BadRequest(
                "a service token needs both Portcullis-Client-Id and Portcullis-Client-Secret",
            ),
        ),
    ];
    for (pairs, query, expected) in cases {
        let result = check(&auth, &v, pairs, *query, NOW).await;
        assert_eq!(result.unwrap_err(), *expected, "{pairs:?} {query:?}");
    }
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn validators_are_tried_in_order_until_one_vouches() {
    let first = Fake::new(
        "first",
        vec![("tok", Err(Rejection::invalid("not mine after all")))],
    );
    let second = Fake::new("second", vec![("tok", Ok(principal("alice", None)))]);
    let third = Fake::new("third", vec![("tok", Ok(principal("mallory", None)))]);
    let v = as_dyn(&[&first, &second, &third]);
    let auth = Authenticator::new();
    let p = check(&auth, &v, &[("authorization", "bearer tok")], None, NOW)
        .await
        .unwrap();
    assert_eq!(p.subject, "fake:alice");
    assert_eq!((first.calls(), second.calls(), third.calls()), (1, 1, 0));
}

#[tokio::test]
async fn failures_say_invalid_unless_only_unavailability_stood_in_the_way() {
    let auth = Authenticator::new();
    let invalid = Fake::new("i", vec![("tok", Err(Rejection::invalid("bad")))]);
    let down = Fake::new(
        "d",
        vec![("tok", Err(Rejection::Unavailable("down".into())))],
    );
    let none = Fake::new("n", vec![]);
    let bearer = [("authorization", "Bearer tok")];
    assert_eq!(
        check(&auth, &as_dyn(&[&none]), &bearer, None, NOW)
            .await
            .unwrap_err(),
        AuthFailure::Invalid
    );
    assert_eq!(
        check(&auth, &as_dyn(&[&down]), &bearer, None, NOW)
            .await
            .unwrap_err(),
        AuthFailure::Unavailable
    );
    assert_eq!(
        check(&auth, &as_dyn(&[&invalid, &down]), &bearer, None, NOW)
            .await
            .unwrap_err(),
        AuthFailure::Unavailable
    );
    assert_eq!(
        check(&auth, &[], &bearer, None, NOW).await.unwrap_err(),
        AuthFailure::Invalid
    );
}

#[tokio::test]
async fn each_credential_kind_reaches_the_validators() {
    let fake = Fake::new(
        "f",
        vec![
            ("svc:pclc_1:s3cret", Ok(principal("svc", None))),
            ("cf:assertion", Ok(principal("cf", None))),
        ],
    );
    let v = as_dyn(&[&fake]);
    let auth = Authenticator::new();
    let p = check(
        &auth,
        &v,
        &[
            ("portcullis-client-id", "pclc_1"),
            ("portcullis-client-secret", "s3cret"),
        ],
        None,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(p.subject, "fake:svc");
    let p = check(
        &auth,
        &v,
        &[("cf-access-jwt-assertion", "assertion")],
        None,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(p.subject, "fake:cf");
    // A bad bearer next to a good assertion: the assertion is still tried.
    let p = check(
        &auth,
        &v,
        &[
            ("authorization", "Bearer junk"),
            ("cf-access-jwt-assertion", "assertion"),
        ],
        None,
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(p.subject, "fake:cf");
}

#[tokio::test]
async fn verified_results_are_cached_per_upstream_until_expiry_or_ttl() {
    let fake = Fake::new(
        "f",
        vec![
            ("long", Ok(principal("long", None))),
            ("short", Ok(principal("short", Some(NOW + 5)))),
        ],
    );
    let v = as_dyn(&[&fake]);
    let auth = Authenticator::new();
    let long = [("authorization", "Bearer long")];
    check(&auth, &v, &long, None, NOW).await.unwrap();
    check(&auth, &v, &long, None, NOW + 59).await.unwrap();
    assert_eq!(fake.calls(), 1, "cached within the validator's ttl");
    check(&auth, &v, &long, None, NOW + 60).await.unwrap();
    assert_eq!(fake.calls(), 2, "asked again once the ttl passed");
    // Another upstream is another audience: its own check.
    auth.authenticate("other", RESOURCE, &v, &headers(&long), None, NOW + 61)
        .await
        .unwrap();
    assert_eq!(fake.calls(), 3);

    let short = [("authorization", "Bearer short")];
    check(&auth, &v, &short, None, NOW).await.unwrap();
    check(&auth, &v, &short, None, NOW + 4).await.unwrap();
    assert_eq!(fake.calls(), 4);
    // Past the credential's own expiry the cache is not used, and an expired answer is refused.
    assert_eq!(
        check(&auth, &v, &short, None, NOW + 5).await.unwrap_err(),
        AuthFailure::Invalid
    );
    assert_eq!(fake.calls(), 5);
}

#[tokio::test]
async fn failures_are_not_cached_and_forgotten_credentials_are_checked_again() {
    let fake = Fake::new(
        "f",
        vec![
            ("bad", Err(Rejection::invalid("no"))),
            ("good", Ok(principal("u", None))),
        ],
    );
    let v = as_dyn(&[&fake]);
    let auth = Authenticator::new();
    for _ in 0..2 {
        check(&auth, &v, &[("authorization", "Bearer bad")], None, NOW)
            .await
            .unwrap_err();
    }
    assert_eq!(fake.calls(), 2);
    let good = [("authorization", "Bearer good")];
    check(&auth, &v, &good, None, NOW).await.unwrap();
    check(&auth, &v, &good, None, NOW).await.unwrap();
    assert_eq!(fake.calls(), 3);
    auth.forget(Sha256::digest(b"good").into());
    check(&auth, &v, &good, None, NOW).await.unwrap();
    assert_eq!(fake.calls(), 4);
}

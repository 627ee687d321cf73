//! Client ID metadata documents: URL rules, cache lifetimes and document rules as tables, and the
//! resolver against a fake fetcher (what is fetched, how, and what is cached).

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::auth::FetchMethod;
use crate::auth::testing::FakeFetch;

const URL: &str = "https://tools.example/mcp/client.json";

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Tools",
        "redirect_uris": ["http://127.0.0.1/callback", "https://tools.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

#[test]
fn client_id_urls() {
    let cases: &[(&str, bool, Option<&str>)] = &[
        (URL, false, None),
        ("https://tools.example/c", false, None),
        ("https://tools.example:8443/mcp/client.json", false, None),
        ("https://tools.example", false, Some("must contain a path")),
        ("https://tools.example/", false, Some("must contain a path")),
        (
            "http://tools.example/client.json",
            false,
            Some("must use https"),
        ),
        (
            "http://tools.example/client.json",
            true,
            Some("must use https"),
        ),
        (
            "ftp://tools.example/client.json",
            false,
            Some("must use https"),
        ),
        (
            "https://tools.example/a/../client.json",
            false,
            Some(". or .."),
        ),
        (
            "https://tools.example/./client.json",
            false,
            Some(". or .."),
        ),
        (
            "https://tools.example/a/%2E%2E/client.json",
            false,
            Some(". or .."),
        ),
        (
            "https://tools.example/client.json#x",
            false,
            Some("fragment"),
        ),
        (
            "https://user@tools.example/client.json",
            false,
            Some("username or password"),
        ),
        (
            "https://u:p@tools.example/client.json",
            false,
            Some("username or password"),
        ),
        (
            "https://tools.example/client.json?v=1",
            false,
            Some("query"),
        ),
        (
            "https://TOOLS.example/client.json",
            false,
            Some("canonical"),
        ),
        (
            "https://tools.example:443/client.json",
            false,
            Some("canonical"),
        ),
        (
            "https://tools.example/client json",
            false,
            Some("printable ASCII"),
        ),
        ("https://tools.example\\@evil/x", false, Some("backslash")),
        // Loopback: only with the test setting, and then over http too.
        ("https://127.0.0.1/client.json", false, Some("loopback")),
        ("https://localhost/client.json", false, Some("loopback")),
        ("https://[::1]/client.json", false, Some("loopback")),
        (
            "http://127.0.0.1:8123/client.json",
            false,
            Some("must use https"),
        ),
        ("http://127.0.0.1:8123/client.json", true, None),
        ("http://localhost:8123/client.json", true, None),
        ("https://127.0.0.1/client.json", true, None),
    ];
    for (url, allow_loopback, expect) in cases {
        let got = check_client_id_url(url, *allow_loopback);
        match (expect, &got) {
            (None, Ok(_)) => {}
            (Some(needle), Err(ClientError::InvalidClientId(reason)))
                if reason.contains(needle) => {}
            _ => panic!("{url} (loopback {allow_loopback}): expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn cache_lifetimes_stay_within_bounds() {
    let day = Duration::from_secs(86_400);
    let cases: &[(Option<&str>, Option<u64>)] = &[
        (None, Some(30)),
        (Some("max-age=600"), Some(600)),
        (Some("public, max-age=3600"), Some(3600)),
        (Some("Max-Age=\"120\""), Some(120)),
        (Some("max-age=5"), Some(30)),
        (Some("max-age=0"), Some(30)),
        (Some("max-age=99999999"), Some(86_400)),
        (Some("max-age=abc"), Some(30)),
        (Some("no-store"), None),
        (Some("max-age=600, no-store"), None),
        (Some("No-Cache"), None),
        (Some("private"), Some(30)),
    ];
    for (header, expect) in cases {
        assert_eq!(
            cache_lifetime(*header, day).map(|d| d.as_secs()),
            *expect,
            "{header:?}"
        );
    }
    assert_eq!(
        cache_lifetime(Some("max-age=7200"), Duration::from_secs(3600)),
        Some(Duration::from_secs(3600))
    );
}

#[test]
fn documents() {
    let with = |change: &dyn Fn(&mut Value)| {
        let mut doc = document(URL);
        change(&mut doc);
        doc.to_string()
    };
    let cases: Vec<(String, Option<&str>)> = vec![
        (with(&|_| {}), None),
        (
            with(&|d| d["client_id"] = json!(format!("{URL}/"))),
            Some("not the URL"),
        ),
        (
            with(&|d| d["client_id"] = json!(URL.to_uppercase())),
            Some("not the URL"),
        ),
        (
            with(&|d| d["client_id"] = json!("https://tools.example/mcp/Client.json")),
            Some("not the URL"),
        ),
        (
            with(&|d| d["client_id"] = json!(1)),
            Some("client_id is missing"),
        ),
        (
            with(&|d| {
                d.as_object_mut().unwrap().remove("client_id");
            }),
            Some("client_id is missing"),
        ),
        (
            with(&|d| d["client_secret"] = json!("s3cret")),
            Some("client_secret must not be used"),
        ),
        (
            with(&|d| d["client_secret_expires_at"] = json!(0)),
            Some("client_secret_expires_at"),
        ),
        (
            with(&|d| d["token_endpoint_auth_method"] = json!("client_secret_basic")),
            Some("shared secret"),
        ),
        (
            with(&|d| d["token_endpoint_auth_method"] = json!("client_secret_post")),
            Some("shared secret"),
        ),
        (
            with(&|d| {
                d.as_object_mut().unwrap().remove("client_name");
            }),
            Some("client_name is required"),
        ),
        (
            with(&|d| d["redirect_uris"] = json!(["https://tools.example/cb#f"])),
            Some("fragment"),
        ),
        (
            with(&|d| d["redirect_uris"] = json!([])),
            Some("redirect_uris is required"),
        ),
        ("[]".to_owned(), Some("not a JSON object")),
        ("not json".to_owned(), Some("not a JSON object")),
        (
            format!(
                r#"{{"client_id":"{URL}","client_id":"{URL}","client_name":"T","redirect_uris":["https://a.example/cb"]}}"#
            ),
            Some("not a JSON object"),
        ),
    ];
    for (body, expect) in cases {
        let got = parse_document(URL, body.as_bytes(), false, at(0));
        match (expect, &got) {
            (None, Ok(client)) => {
                assert_eq!(client.client_id, URL);
                assert_eq!(client.source, ClientSource::MetadataDocument);
                assert_eq!(client.name, "Tools");
            }
            (Some(needle), Err(ClientError::InvalidDocument(reason)))
                if reason.contains(needle) => {}
            _ => panic!("{body}: expected {expect:?}, got {got:?}"),
        }
    }
}

fn resolver(fetch: &Arc<FakeFetch>, allow_loopback: bool) -> CimdResolver {
    CimdResolver::new(
        fetch.clone(),
        CimdSettings {
            allow_loopback,
            cache_max: Duration::from_secs(86_400),
        },
    )
}

#[tokio::test]
async fn a_document_is_fetched_small_quick_and_without_redirects_then_cached() {
    let fetch = FakeFetch::new();
    fetch.answer_cached(URL, 200, "max-age=300", document(URL).to_string());
    let documents = resolver(&fetch, false);

    let client = documents.resolve(URL, at(0)).await.unwrap();
    assert_eq!(client.name, "Tools");
    let calls = fetch.calls();
    let [call] = calls.as_slice() else {
        panic!("one fetch: {calls:?}");
    };
    assert_eq!(call.method, FetchMethod::Get);
    assert_eq!(call.max_body_bytes, Some(MAX_DOCUMENT_BYTES));
    assert_eq!(call.timeout, Some(FETCH_TIMEOUT));
    assert_eq!(call.header("accept"), Some("application/json"));
    assert!(!call.allow_private_network);

    // Within max-age: no fetch. After it: fetched again.
    documents.resolve(URL, at(299)).await.unwrap();
    assert_eq!(fetch.calls_to(URL), 1);
    documents.resolve(URL, at(300)).await.unwrap();
    assert_eq!(fetch.calls_to(URL), 2);
}

#[tokio::test]
async fn failures_and_uncacheable_documents_are_fetched_every_time() {
    let fetch = FakeFetch::new();
    let documents = resolver(&fetch, false);
    let cases: Vec<(u16, Option<&str>, String, &str)> = vec![
        (404, None, document(URL).to_string(), "HTTP 404"),
        (
            500,
            Some("max-age=600"),
            document(URL).to_string(),
            "HTTP 500",
        ),
        (302, Some("max-age=600"), String::new(), "redirect"),
        (301, None, String::new(), "redirect"),
        (
            200,
            Some("max-age=600"),
            document(&format!("{URL}/")).to_string(),
            "not the URL",
        ),
        (
            200,
            Some("max-age=600"),
            "x".repeat(MAX_DOCUMENT_BYTES + 1),
            "larger than 5120",
        ),
    ];
    for (status, cache_control, body, needle) in cases {
        match cache_control {
            Some(header) => fetch.answer_cached(URL, status, header, body),
            None => fetch.answer(URL, status, body),
        }
        let before = fetch.calls_to(URL);
        for second in [0, 1] {
            let got = documents.resolve(URL, at(second)).await;
            assert!(
                got.as_ref().is_err_and(|e| e.to_string().contains(needle)),
                "HTTP {status}: {got:?}"
            );
        }
        assert_eq!(
            fetch.calls_to(URL),
            before + 2,
            "HTTP {status}: cached a failure"
        );
    }
    // A good document marked no-store is used, not kept.
    fetch.answer_cached(URL, 200, "no-store", document(URL).to_string());
    let before = fetch.calls_to(URL);
    documents.resolve(URL, at(0)).await.unwrap();
    documents.resolve(URL, at(1)).await.unwrap();
    assert_eq!(fetch.calls_to(URL), before + 2);
}

#[tokio::test]
async fn fetch_errors_say_why_and_are_not_cached() {
    let fetch = FakeFetch::new();
    let documents = resolver(&fetch, false);
    for (error, needle) in [
        (
            FetchError::Forbidden(
                "tools.example resolves to 10.0.0.1, which is not a public address".into(),
            ),
            "not a public address",
        ),
        (FetchError::Timeout, "timed out"),
        (FetchError::TooLarge(MAX_DOCUMENT_BYTES), "larger than"),
        (
            FetchError::Failed("connection refused".into()),
            "connection refused",
        ),
    ] {
        fetch.fail(URL, error);
        let got = documents.resolve(URL, at(0)).await;
        assert!(
            got.as_ref().is_err_and(|e| e.to_string().contains(needle)),
            "{got:?}"
        );
    }
}

#[tokio::test]
async fn loopback_documents_need_the_test_setting_and_only_loopback_bypasses_the_guard() {
    let loopback = "http://127.0.0.1:8123/client.json";
    let fetch = FakeFetch::new();
    fetch.answer(loopback, 200, document(loopback).to_string());
    fetch.answer(URL, 200, document(URL).to_string());

    let strict = resolver(&fetch, false);
    let refused = strict.resolve(loopback, at(0)).await;
    assert!(
        matches!(refused, Err(ClientError::InvalidClientId(_))),
        "{refused:?}"
    );
    assert_eq!(
        fetch.calls_to(loopback),
        0,
        "fetched before the URL was checked"
    );

    let testing = resolver(&fetch, true);
    testing.resolve(loopback, at(0)).await.unwrap();
    testing.resolve(URL, at(0)).await.unwrap();
    let calls = fetch.calls();
    let private: Vec<(&str, bool)> = calls
        .iter()
        .map(|c| (c.url.as_str(), c.allow_private_network))
        .collect();
    assert_eq!(private, vec![(loopback, true), (URL, false)]);
}

/// Resolves `URL` `n` times at once while the fetcher holds requests back, then lets them go.
async fn resolve_together(
    documents: &Arc<CimdResolver>,
    fetch: &FakeFetch,
    n: usize,
) -> Vec<Result<Client, ClientError>> {
    fetch.hold();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let documents = documents.clone();
            tokio::spawn(async move { documents.resolve(URL, at(0)).await })
        })
        .collect();
    while fetch.started() < 1 {
        tokio::task::yield_now().await;
    }
    // Lets every task reach the flight before the fetch ends.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    fetch.release();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn concurrent_resolutions_share_one_fetch() {
    let fetch = FakeFetch::new();
    fetch.answer_cached(URL, 200, "max-age=60", document(URL).to_string());
    let documents = Arc::new(resolver(&fetch, false));
    let results = resolve_together(&documents, &fetch, 5).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fetch.started(), 1);
    assert_eq!(fetch.calls_to(URL), 1);
}

#[tokio::test]
async fn concurrent_failures_are_shared_too_but_not_kept() {
    let fetch = FakeFetch::new();
    fetch.answer(URL, 503, "");
    let documents = Arc::new(resolver(&fetch, false));
    let results = resolve_together(&documents, &fetch, 3).await;
    assert!(results.iter().all(Result::is_err), "{results:?}");
    assert_eq!(fetch.calls_to(URL), 1);
    assert!(documents.resolve(URL, at(1)).await.is_err());
    assert_eq!(fetch.calls_to(URL), 2);
}

#[test]
fn document_hosts() {
    assert_eq!(document_host(URL).as_deref(), Some("tools.example"));
    assert_eq!(document_host("not a url"), None);
}

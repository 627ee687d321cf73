//! The SSRF classifier, URL rules and limits of [`HttpFetch`], against servers on loopback.

use std::net::IpAddr;
use std::time::Duration;

use portcullis_core::auth::{Fetch, FetchError, FetchMethod, FetchRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{HttpFetch, HttpFetchSettings, checked_url, is_public};

#[track_caller]
fn check_public(ip: &str, expected: bool) {
    let addr: IpAddr = ip.parse().unwrap();
    assert_eq!(is_public(addr), expected, "{ip}");
}

#[test]
fn special_addresses_are_not_public() {
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "198.18.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd12::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "2001:db8::1",
        "ff02::1",
    ] {
        check_public(ip, false);
    }
    for ip in [
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ] {
        check_public(ip, true);
    }
}

#[test]
fn url_rules_apply_before_any_connection() {
    let refused = |url: &str| match checked_url(url, false) {
        Err(FetchError::Forbidden(_)) => {}
        other => panic!("{url}: {other:?}"),
    };
    refused("file:///etc/passwd");
    refused("gopher://example.com/");
    refused("https://user:pw@example.com/jwks");
    refused("http://127.0.0.1/jwks");
    refused("http://2130706433/");
    refused("http://0177.0.0.1/");
    refused("http://0x7f.1/");
    refused("http://[::1]/");
    refused("http://[::ffff:127.0.0.1]/");
    refused("http://169.254.169.254/latest/meta-data/");
    refused("not a url");
    assert!(checked_url("https://example.com/jwks", false).is_ok());
    assert!(checked_url("http://127.0.0.1:9/jwks", true).is_ok());
}

/// Serves one canned HTTP answer per connection, for `connections` connections.
async fn canned(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}/doc")
}

fn fetch(settings: HttpFetchSettings) -> HttpFetch {
    HttpFetch::new(settings).unwrap()
}

#[tokio::test]
async fn loopback_needs_allow_private_network() {
    let url = canned(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
    let http = fetch(HttpFetchSettings::default());
    let refused = http.fetch(FetchRequest::get(&url, false)).await;
    assert!(
        matches!(refused, Err(FetchError::Forbidden(_))),
        "{refused:?}"
    );
    let allowed = http.fetch(FetchRequest::get(&url, true)).await.unwrap();
    assert_eq!(allowed.status, 200);
    assert_eq!(&allowed.body[..], b"{}");
}

#[tokio::test]
async fn names_resolving_to_loopback_are_refused_at_dial_time() {
    let url = canned(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .replace("127.0.0.1", "localhost");
    let refused = fetch(HttpFetchSettings::default())
        .fetch(FetchRequest::get(&url, false))
        .await;
    assert!(
        matches!(refused, Err(FetchError::Forbidden(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let url =
        canned(b"HTTP/1.1 302 Found\r\nlocation: http://10.0.0.1/\r\ncontent-length: 0\r\n\r\n")
            .await;
    let answer = fetch(HttpFetchSettings::default())
        .fetch(FetchRequest::get(&url, true))
        .await
        .unwrap();
    assert_eq!(answer.status, 302);
}

#[tokio::test]
async fn bodies_over_the_cap_fail() {
    let settings = HttpFetchSettings {
        max_body_bytes: 8,
        ..HttpFetchSettings::default()
    };
    // Declared too large.
    let declared =
        canned(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789").await;
    let result = fetch(settings)
        .fetch(FetchRequest::get(&declared, true))
        .await;
    assert_eq!(result.unwrap_err(), FetchError::TooLarge(8));
    // Streamed without a length.
    let streamed =
        canned(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n01234567890123456789").await;
    let result = fetch(settings)
        .fetch(FetchRequest::get(&streamed, true))
        .await;
    assert_eq!(result.unwrap_err(), FetchError::TooLarge(8));
}

#[tokio::test]
async fn slow_servers_time_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let settings = HttpFetchSettings {
        timeout: Duration::from_millis(300),
        ..HttpFetchSettings::default()
    };
    let result = fetch(settings).fetch(FetchRequest::get(&url, true)).await;
    assert_eq!(result.unwrap_err(), FetchError::Timeout);
}

#[tokio::test]
async fn form_posts_carry_the_fields_and_headers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    let seen = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if text.contains("\r\n\r\n") && text.ends_with("token=abc") {
                break;
            }
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        String::from_utf8(request).unwrap()
    });
    let request = FetchRequest {
        method: FetchMethod::PostForm,
        url: &url,
        headers: vec![("authorization", "Basic Y2xpZW50OnNlY3JldA==".to_owned())],
        form: vec![("token", "abc".to_owned())],
        allow_private_network: true,
        max_body_bytes: None,
        timeout: None,
    };
    let answer = fetch(HttpFetchSettings::default())
        .fetch(request)
        .await
        .unwrap();
    assert_eq!(&answer.body[..], b"ok");
    let request = seen.await.unwrap().to_ascii_lowercase();
    assert!(request.starts_with("post /introspect"), "{request}");
    assert!(
        request.contains("authorization: basic y2xpzw50onnly3jlda=="),
        "{request}"
    );
    assert!(request.contains("content-type: application/x-www-form-urlencoded"));
    assert!(request.contains("user-agent: portcullis/"));
}

#[tokio::test]
async fn a_request_can_tighten_the_size_and_time_limits_never_loosen_them() {
    let url = canned(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n01234567890123456789").await;
    let http = fetch(HttpFetchSettings::default());
    let mut small = FetchRequest::get(&url, true);
    small.max_body_bytes = Some(10);
    assert_eq!(
        http.fetch(small).await.unwrap_err(),
        FetchError::TooLarge(10)
    );
    // Asking for more than the fetcher allows gets the fetcher's limit.
    let tight = fetch(HttpFetchSettings {
        max_body_bytes: 8,
        ..HttpFetchSettings::default()
    });
    let mut large = FetchRequest::get(&url, true);
    large.max_body_bytes = Some(1 << 20);
    assert_eq!(
        tight.fetch(large).await.unwrap_err(),
        FetchError::TooLarge(8)
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut quick = FetchRequest::get(&slow, true);
    quick.timeout = Some(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(http.fetch(quick).await.unwrap_err(), FetchError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn cache_control_comes_back_with_the_answer() {
    let url = canned(
        b"HTTP/1.1 200 OK\r\ncache-control: public\r\ncache-control: max-age=60\r\ncontent-length: 2\r\n\r\n{}",
    )
    .await;
    let answer = fetch(HttpFetchSettings::default())
        .fetch(FetchRequest::get(&url, true))
        .await
        .unwrap();
    assert_eq!(answer.cache_control.as_deref(), Some("public, max-age=60"));
    let bare = canned(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
    let answer = fetch(HttpFetchSettings::default())
        .fetch(FetchRequest::get(&bare, true))
        .await
        .unwrap();
    assert_eq!(answer.cache_control, None);
}

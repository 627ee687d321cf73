//! Registration rules and matching, table by table.

use super::*;
use crate::clients::ApplicationType::{Native, Web};

/// Checks registration: `None` means accepted, `Some(needle)` refused with a reason containing
/// `needle`.
fn check(uri: &str, application_type: ApplicationType, expect: Option<&str>) {
    let got = validate(uri, application_type);
    match (expect, &got) {
        (None, Ok(())) => {}
        (Some(needle), Err(ClientError::InvalidRedirectUri(reason))) if reason.contains(needle) => {
        }
        _ => panic!("{uri:?} ({application_type:?}): expected {expect:?}, got {got:?}"),
    }
}

#[test]
fn https_and_loopback_http_are_accepted() {
    for uri in [
        "https://app.example/callback",
        "https://app.example/cb?x=1&y=2",
        "https://app.example:8443/cb",
        "https://app.example",
        "https://localhost/cb",
        "https://xn--bcher-kva.example/cb",
        "https://app.example/a%20b",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:33418",
        "http://127.0.0.1:33418/",
        "http://[::1]:8080/cb",
        "http://localhost:6274/oauth/callback",
        "http://localhost/cb?client=cli",
    ] {
        check(uri, Web, None);
        check(uri, Native, None);
    }
}

#[test]
fn plain_http_elsewhere_is_refused() {
    for uri in [
        "http://app.example/cb",
        "http://127.0.0.2/cb",
        "http://10.0.0.1/cb",
        "http://[::2]/cb",
        "http://[0:0:0:0:0:0:0:1]/cb",
        "http://127.1/cb",
        "http://2130706433/cb",
        "http://LOCALHOST/cb",
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "http://localhost:0/cb",
        "http://localhost:/cb",
    ] {
        check(uri, Native, Some("plain http is only allowed for loopback"));
    }
    // Not even a URL.
    check("http://localhost:65536/cb", Native, Some("absolute URI"));
}

#[test]
fn dangerous_schemes_are_refused_however_they_are_spelled() {
    for uri in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\u{0}javascript:alert(1)",
        "jAvAsCrIpT\r:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DATA:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "blob:https://app.example/uuid",
    ] {
        let got = validate(uri, Native);
        assert!(
            matches!(&got, Err(ClientError::InvalidRedirectUri(r)) if r.contains("scheme is never allowed")),
            "{uri:?}: {got:?}"
        );
    }
}

#[test]
fn fragments_userinfo_dot_segments_and_odd_characters_are_refused() {
    let cases = [
        ("https://app.example/cb#frag", "fragment"),
        ("https://app.example/cb#", "fragment"),
        ("https://user@app.example/cb", "userinfo"),
        ("https://user:pass@app.example/cb", "userinfo"),
        ("https://app.example@evil.example/cb", "userinfo"),
        ("http://localhost@evil.example/cb", "userinfo"),
        ("https://app.example/a/../cb", ". or .."),
        ("https://app.example/./cb", ". or .."),
        ("https://app.example/a/%2e%2e/cb", ". or .."),
        ("https://app.example/a/.%2E/cb", ". or .."),
        ("https://app.example/cb/..", ". or .."),
        ("https://app.example/cb back", "spaces"),
        ("https://app.example/cb\t", "spaces"),
        ("https://app.example/cb\n", "spaces"),
        ("https://app.example/callbäck", "non-ASCII"),
        ("https://app.example\\@evil.example/cb", "backslash"),
        ("https://app.example/cb\\..\\x", "backslash"),
        ("HTTPS://app.example/cb", "lower case"),
        ("Http://localhost/cb", "lower case"),
        ("/relative/cb", "absolute URI"),
        ("app.example/cb", "absolute URI"),
        ("", "1 to"),
        ("https:///cb", "absolute URI"),
        ("https:/app.example/cb", "absolute URI"),
        ("https:app.example/cb", "absolute URI"),
        ("1com.example:/cb", "absolute URI"),
    ];
    for (uri, needle) in cases {
        check(uri, Native, Some(needle));
    }
    check(
        &format!("https://app.example/{}", "a".repeat(MAX_LENGTH)),
        Web,
        Some("1 to"),
    );
}

#[test]
fn private_use_schemes_are_for_native_apps_in_reverse_domain_form() {
    for uri in [
        "com.example.app:/oauth2redirect",
        "com.example.app:/cb?x=1",
        "com.example.app://callback",
        "io.github.user-app.cli:/cb",
    ] {
        check(uri, Native, None);
        check(uri, Web, Some("application_type native"));
    }
    for uri in [
        "myapp:/cb",
        "myapp://cb",
        "com..example:/cb",
        "com.example.:/cb",
        "ftp://files.example/cb",
        "ws://127.0.0.1/cb",
    ] {
        check(uri, Native, Some("reverse domain name"));
    }
}

/// Checks matching: whether `presented` is accepted for `registered`.
fn check_match(registered: &str, presented: &str, expect: bool) {
    assert_eq!(
        matches(registered, presented),
        expect,
        "registered {registered:?}, presented {presented:?}"
    );
}

#[test]
fn matching_is_exact_for_everything_but_loopback_ports() {
    let cases = [
        // Exact.
        ("https://app.example/cb", "https://app.example/cb", true),
        ("https://app.example/cb", "https://app.example/cb/", false),
        ("https://app.example/cb", "https://app.example/CB", false),
        ("https://app.example/cb", "https://APP.example/cb", false),
        (
            "https://app.example/cb",
            "https://app.example/cb?x=1",
            false,
        ),
        ("https://app.example/cb", "https://app.example/cb#x", false),
        (
            "https://app.example/cb",
            "https://app.example:443/cb",
            false,
        ),
        (
            "https://app.example/cb",
            "https://app.example/cb/../cb",
            false,
        ),
        ("https://app.example/cb", "https://evil.example/cb", false),
        (
            "https://app.example/cb",
            "https://app.example.evil.example/cb",
            false,
        ),
        (
            "https://app.example:8443/cb",
            "https://app.example:9443/cb",
            false,
        ),
        (
            "https://app.example/cb?a=1",
            "https://app.example/cb?a=1",
            true,
        ),
        (
            "https://app.example/cb?a=1",
            "https://app.example/cb?a=2",
            false,
        ),
        ("com.example.app:/cb", "com.example.app:/cb", true),
        ("com.example.app:/cb", "com.example.app:/cb2", false),
        // Loopback: any port, the rest exact.
        ("http://127.0.0.1/cb", "http://127.0.0.1:49152/cb", true),
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:49152/cb",
            true,
        ),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1/cb", true),
        ("http://[::1]:8080/cb", "http://[::1]:1234/cb", true),
        (
            "http://localhost:3000/callback",
            "http://localhost:51234/callback",
            true,
        ),
        ("http://127.0.0.1:33418", "http://127.0.0.1:5000", true),
        ("http://127.0.0.1:33418", "http://127.0.0.1:5000/", false),
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:8080/cb2",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:9090/CB",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb?a=1",
            "http://127.0.0.1:9090/cb?a=1",
            true,
        ),
        (
            "http://127.0.0.1:8080/cb?a=1",
            "http://127.0.0.1:9090/cb?a=2",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:9090/cb?a=1",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:9090/cb#x",
            false,
        ),
        // Never across loopback hosts.
        (
            "http://localhost:8080/cb",
            "http://127.0.0.1:8080/cb",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb",
            "http://localhost:8080/cb",
            false,
        ),
        ("http://127.0.0.1:8080/cb", "http://[::1]:8080/cb", false),
        // Not loopback after all, or not a port.
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:80@evil.example/cb",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1.evil.example:8080/cb",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:99999/cb",
            false,
        ),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:0/cb", false),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:+80/cb", false),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:/cb", false),
        (
            "http://127.0.0.1:8080/cb",
            "https://127.0.0.1:8080/cb",
            false,
        ),
        (
            "http://127.0.0.1:8080/cb",
            "HTTP://127.0.0.1:9090/cb",
            false,
        ),
        (
            "https://127.0.0.1:8080/cb",
            "https://127.0.0.1:9090/cb",
            false,
        ),
        (
            "https://localhost:8080/cb",
            "https://localhost:9090/cb",
            false,
        ),
    ];
    for (registered, presented, expect) in cases {
        check_match(registered, presented, expect);
    }
}

#[test]
fn display_hosts() {
    for (uri, host) in [
        ("https://app.example/cb", "app.example"),
        ("http://127.0.0.1:9000/cb", "127.0.0.1"),
        ("http://[::1]/cb", "[::1]"),
        ("com.example.app:/cb", "com.example.app:"),
    ] {
        assert_eq!(display_host(uri), host, "{uri}");
    }
}

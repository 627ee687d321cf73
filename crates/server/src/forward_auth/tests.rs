use http::{HeaderName, HeaderValue};

use super::*;

#[track_caller]
fn check_path(input: &str, expected: Option<&str>) {
    assert_eq!(normalize_path(input).as_deref(), expected, "{input}");
}

#[test]
fn paths_are_normalised_before_matching() {
    check_path("/servers/files/mcp", Some("/servers/files/mcp"));
    check_path("/servers/other/../files/mcp", Some("/servers/files/mcp"));
    check_path(
        "/servers/other/%2e%2E/files/mcp",
        Some("/servers/files/mcp"),
    );
    check_path("/servers/./files/./mcp", Some("/servers/files/mcp"));
    check_path("/servers/%66iles/mcp", Some("/servers/files/mcp"));
    check_path("/servers/files%2fmcp", Some("/servers/files%2Fmcp"));
    check_path("/../../servers/files/mcp", Some("/servers/files/mcp"));
    check_path("/servers/files/mcp/..", Some("/servers/files/"));
    check_path("/servers/files/mcp/.", Some("/servers/files/mcp/"));
    check_path("/servers//files/mcp", Some("/servers//files/mcp"));
    check_path("servers/files/mcp", None);
    check_path("/servers/%zz/mcp", None);
    check_path("/servers/%2", None);
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

#[test]
fn forwarded_resource_is_built_from_the_three_headers() {
    let h = headers(&[
        ("x-forwarded-proto", "HTTPS"),
        ("x-forwarded-host", "GW.example:443"),
        ("x-forwarded-uri", "/servers/x/../files/mcp?access=1"),
    ]);
    assert_eq!(
        forwarded_resource(&h).as_deref(),
        Some("https://gw.example/servers/files/mcp")
    );
    let h = headers(&[
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "127.0.0.1:8080"),
        ("x-forwarded-uri", "/servers/files/mcp"),
    ]);
    assert_eq!(
        forwarded_resource(&h).as_deref(),
        Some("http://127.0.0.1:8080/servers/files/mcp")
    );
    for bad in [
        headers(&[("x-forwarded-proto", "https"), ("x-forwarded-host", "gw")]),
        headers(&[
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "gw"),
            ("x-forwarded-uri", "/servers/files/mcp"),
        ]),
        headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gw"),
            ("x-forwarded-host", "evil"),
            ("x-forwarded-uri", "/servers/files/mcp"),
        ]),
        headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil@gw"),
            ("x-forwarded-uri", "/servers/files/mcp"),
        ]),
    ] {
        assert_eq!(forwarded_resource(&bad), None, "{bad:?}");
    }
}

#[test]
fn only_listed_networks_are_trusted() {
    let trusted = TrustedProxies::new(&[
        "127.0.0.1/32".to_owned(),
        "10.0.0.0/8".to_owned(),
        "::1".to_owned(),
    ]);
    assert!(trusted.trusts("127.0.0.1".parse().unwrap()));
    assert!(trusted.trusts("10.9.8.7".parse().unwrap()));
    assert!(trusted.trusts("::ffff:10.1.1.1".parse().unwrap()));
    assert!(trusted.trusts("::1".parse().unwrap()));
    assert!(!trusted.trusts("127.0.0.2".parse().unwrap()));
    assert!(!TrustedProxies::default().trusts("127.0.0.1".parse().unwrap()));
}

#[test]
fn the_upstream_parameter_is_read_from_the_query() {
    assert_eq!(
        upstream_param(Some("upstream=files")).as_deref(),
        Some("files")
    );
    assert_eq!(
        upstream_param(Some("a=b&upstream=files")).as_deref(),
        Some("files")
    );
    assert_eq!(upstream_param(Some("upstream=")), None);
    assert_eq!(upstream_param(None), None);
}

#[test]
fn the_client_address_is_the_nearest_untrusted_hop() {
    let proxies = TrustedProxies::new(&["10.0.0.0/8".to_owned()]);
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let cases = [
        // Untrusted peers speak for themselves, whatever they claim.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        // The client wrote the leftmost entries; the proxies appended the rest.
        (
            "10.0.0.2",
            "1.2.3.4, 198.51.100.1, 10.0.0.3",
            "198.51.100.1",
        ),
        ("10.0.0.2", "10.0.0.5, 10.0.0.3", "10.0.0.5"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "garbage", "10.0.0.2"),
    ];
    for (peer, forwarded, expected) in cases {
        let headers = headers(&[("x-forwarded-for", forwarded)]);
        assert_eq!(
            proxies.client_address(ip(peer), &headers),
            ip(expected),
            "{peer} {forwarded}"
        );
    }
}

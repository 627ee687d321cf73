//! The small rules of the module root: URL client ids, operator-chosen ids, the redirect URI of an
//! authorization request, consent facts, and how errors become OAuth errors.

use time::OffsetDateTime;

use super::*;

/// A public client registered with `redirect_uris`.
pub(crate) fn client(client_id: &str, redirect_uris: &[&str]) -> Client {
    Client {
        client_id: client_id.to_owned(),
        source: ClientSource::Admin,
        name: "Test client".to_owned(),
        redirect_uris: redirect_uris.iter().map(|u| (*u).to_owned()).collect(),
        grant_types: vec!["authorization_code".to_owned()],
        response_types: vec!["code".to_owned()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        secret_hash: None,
        secret_expires_at: None,
        jwks: None,
        jwks_uri: None,
        scope: None,
        application_type: ApplicationType::Native,
        client_uri: None,
        logo_uri: None,
        registration_access_token_hash: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: None,
        last_used_at: None,
    }
}

#[test]
fn url_client_ids_are_recognised_in_any_case() {
    for (id, url) in [
        ("https://app.example/client.json", true),
        ("HTTPS://app.example/client.json", true),
        ("http://127.0.0.1/c.json", true),
        ("Http://x", true),
        ("client_abc", false),
        ("https:", false),
        ("httpsfoo", false),
        ("", false),
        ("ünïcode", false),
    ] {
        assert_eq!(is_url_client_id(id), url, "{id}");
    }
}

#[test]
fn operator_client_ids() {
    for (id, ok) in [
        ("ci-bot", true),
        ("a", true),
        ("urn:example:client", true),
        ("", false),
        ("has space", false),
        ("tab\t", false),
        ("ünïcode", false),
        ("https://app.example/c.json", false),
        ("HTTP://app.example/c.json", false),
    ] {
        assert_eq!(check_client_id(id).is_ok(), ok, "{id:?}");
    }
    assert!(check_client_id(&"x".repeat(256)).is_err());
}

#[test]
fn the_redirect_uri_of_a_request_must_be_registered() {
    let web = client("c", &["https://app.example/cb"]);
    let loopback = client("c", &["http://127.0.0.1/cb"]);
    let two = client(
        "c",
        &["https://app.example/cb", "https://app.example/other"],
    );
    let cases: [(&Client, Option<&str>, Option<&str>); 8] = [
        (
            &web,
            Some("https://app.example/cb"),
            Some("https://app.example/cb"),
        ),
        (&web, None, Some("https://app.example/cb")),
        (&web, Some("https://app.example/cb2"), None),
        (&web, Some("https://evil.example/cb"), None),
        (
            &loopback,
            Some("http://127.0.0.1:5000/cb"),
            Some("http://127.0.0.1:5000/cb"),
        ),
        // The port is the request's to give.
        (&loopback, None, None),
        (&two, None, None),
        (
            &two,
            Some("https://app.example/other"),
            Some("https://app.example/other"),
        ),
    ];
    for (client, presented, expect) in cases {
        let got = check_redirect_uri(client, presented);
        match (expect, &got) {
            (Some(uri), Ok(chosen)) => assert_eq!(chosen, uri),
            (None, Err(e)) => assert_eq!(e.error, ErrorCode::InvalidRequest),
            _ => panic!("{presented:?} for {:?}: {got:?}", client.redirect_uris),
        }
    }
}

#[test]
fn consent_facts_name_the_hosts_and_warn_about_loopback() {
    let mut document = client(
        "https://tools.example/mcp/client.json",
        &["http://127.0.0.1/cb", "http://localhost/cb"],
    );
    document.source = ClientSource::MetadataDocument;
    document.name = "Tools".to_owned();
    let facts = consent_facts(&document, "http://127.0.0.1:4567/cb");
    assert_eq!(facts.client_name, "Tools");
    assert_eq!(facts.redirect_uri_host, "127.0.0.1");
    assert_eq!(
        facts.client_id_document_host.as_deref(),
        Some("tools.example")
    );
    assert!(facts.loopback_redirect && facts.loopback_only);

    let registered = client(
        "client_x",
        &["https://app.example/cb", "http://127.0.0.1/cb"],
    );
    let facts = consent_facts(&registered, "https://app.example/cb");
    assert_eq!(facts.redirect_uri_host, "app.example");
    assert_eq!(facts.client_id_document_host, None);
    assert!(!facts.loopback_redirect && !facts.loopback_only);
}

#[test]
fn client_errors_become_their_oauth_codes() {
    let cases = [
        (
            ClientError::InvalidRedirectUri("x".into()),
            ErrorCode::InvalidRedirectUri,
        ),
        (
            ClientError::InvalidMetadata("x".into()),
            ErrorCode::InvalidClientMetadata,
        ),
        (
            ClientError::InvalidClientId("x".into()),
            ErrorCode::InvalidClient,
        ),
        (
            ClientError::InvalidDocument("x".into()),
            ErrorCode::InvalidClient,
        ),
        (
            ClientError::DocumentUnavailable("x".into()),
            ErrorCode::InvalidClient,
        ),
        (ClientError::Unavailable, ErrorCode::TemporarilyUnavailable),
    ];
    for (error, code) in cases {
        assert_eq!(OAuthError::from(error).error, code);
    }
}

#[test]
fn grants_and_scopes_are_the_registered_ones() {
    let mut c = client("c", &["https://app.example/cb"]);
    assert!(allows_grant_type(&c, "authorization_code"));
    assert!(!allows_grant_type(&c, "refresh_token"));
    assert!(!allows_grant_type(&c, "authorization_cod"));
    assert!(allows_scopes(&c, "anything at all"));
    c.scope = Some("files:read files:write".to_owned());
    for (requested, allowed) in [
        ("files:read", true),
        ("files:write  files:read", true),
        ("", true),
        ("files:admin", false),
        ("files:read files:admin", false),
        ("files", false),
    ] {
        assert_eq!(allows_scopes(&c, requested), allowed, "{requested:?}");
    }
}

//! Tests of the identity token: its exact claims, and that upstreams can verify it (with our
//! verifier and independently with jsonwebtoken and the published JWKS) and must refuse it when it
//! is not for them or has expired.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_store::MemoryStore;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::Duration;

use super::*;
use crate::config::SigningAlg;
use crate::crypto::Sealer;
use crate::signing::tests::decode_with_jwks;

const ISSUER: &str = "https://mcp.example.com";
const FILES: &str = "https://mcp.example.com/servers/files/mcp";
const NOW: i64 = 1_788_220_800;

fn alice() -> Principal {
    Principal {
        subject: "corp-sso:alice".to_owned(),
        validator: "corp-sso".to_owned(),
        email: Some("alice@acme.com".to_owned()),
        email_verified: true,
        name: Some("Alice Ünïcode".to_owned()),
        tenant: Some("acme".to_owned()),
        groups: vec!["eng".to_owned(), "admins".to_owned()],
        scopes: vec!["files:read".to_owned(), "files:write".to_owned()],
        auth_methods: vec!["pwd".to_owned(), "otp".to_owned()],
        expires_at: Some(NOW + 3_600),
        ..Principal::default()
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap()
}

async fn ring(alg: SigningAlg) -> KeyRing {
    let sealer = Sealer::from_keys(&[[9; 32]]).unwrap();
    KeyRing::ensure(
        &MemoryStore::new(),
        &sealer,
        alg,
        now(),
        &mut StdRng::seed_from_u64(1),
    )
    .await
    .unwrap()
}

#[test]
fn the_claims_are_exactly_these() {
    assert_eq!(
        identity_claims(
            &alice(),
            ISSUER,
            FILES,
            NOW,
            IDENTITY_TOKEN_TTL_SECS,
            "jti-1"
        ),
        json!({
            "iss": "https://mcp.example.com",
            "aud": "https://mcp.example.com/servers/files/mcp",
            "sub": "corp-sso:alice",
            "iat": 1_788_220_800,
            "nbf": 1_788_220_800,
            "exp": 1_788_220_860,
            "jti": "jti-1",
            "email": "alice@acme.com",
            "email_verified": true,
            "name": "Alice Ünïcode",
            "tenant": "acme",
            "groups": ["eng", "admins"],
            "scope": "files:read files:write",
            "amr": ["pwd", "otp"],
            "portcullis_validator": "corp-sso",
        })
    );
}

#[test]
fn absent_facts_are_absent_claims() {
    let bare = Principal {
        expires_at: None,
        ..Principal::new("api_key", "ci")
    };
    assert_eq!(
        identity_claims(&bare, ISSUER, FILES, NOW, 30, "jti-2"),
        json!({
            "iss": ISSUER,
            "aud": FILES,
            "sub": "api_key:ci",
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 30,
            "jti": "jti-2",
            "portcullis_validator": "api_key",
        })
    );
    // An unverified address is passed on as such.
    let unverified = Principal {
        email: Some("bob@example.com".to_owned()),
        email_verified: false,
        ..bare
    };
    let claims = identity_claims(&unverified, ISSUER, FILES, NOW, 30, "j");
    assert_eq!(claims["email_verified"], json!(false));
}

#[test]
fn the_token_never_outlives_the_credential_it_stands_for() {
    let soon = Principal {
        expires_at: Some(NOW + 10),
        ..alice()
    };
    assert_eq!(
        identity_claims(&soon, ISSUER, FILES, NOW, 60, "j")["exp"],
        json!(NOW + 10)
    );
}

#[test]
fn jtis_are_128_random_bits() {
    let mut rng = StdRng::seed_from_u64(3);
    let a = new_jti(&mut rng);
    assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 16);
    assert_ne!(a, new_jti(&mut rng));
}

#[tokio::test]
async fn a_minted_token_verifies_with_the_published_jwks() {
    for alg in SigningAlg::ALL {
        let ring = ring(alg).await;
        let token = mint_identity_token(
            &ring,
            &alice(),
            ISSUER,
            FILES,
            now(),
            IDENTITY_TOKEN_TTL_SECS,
            &mut StdRng::seed_from_u64(4),
        )
        .unwrap();

        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("portcullis-identity+jwt"));
        assert_eq!(header.kid.as_deref(), Some(ring.keys()[0].kid()));

        let claims = verify_identity_token(&ring, &token, ISSUER, FILES, now()).unwrap();
        assert_eq!(claims.string("sub").unwrap(), Some("corp-sso:alice"));
        assert_eq!(claims.number("exp").unwrap(), Some(NOW + 60));

        // What an upstream with nothing but jsonwebtoken and our JWKS would do.
        let jwks = ring.jwks(now());
        let decoded = decode_with_jwks(&jwks, &token, alg, ISSUER, FILES).unwrap();
        assert_eq!(decoded["email"], "alice@acme.com");
        assert_eq!(decoded["aud"], FILES);
        // The same library refuses it for another audience.
        let err = decode_with_jwks(
            &jwks,
            &token,
            alg,
            ISSUER,
            "https://mcp.example.com/servers/other/mcp",
        )
        .unwrap_err();
        assert_eq!(
            err.kind(),
            &jsonwebtoken::errors::ErrorKind::InvalidAudience
        );
    }
}

#[tokio::test]
async fn another_audience_an_expired_token_or_another_type_is_refused() {
    let ring = ring(SigningAlg::Es256).await;
    let mut rng = StdRng::seed_from_u64(5);
    let token = mint_identity_token(&ring, &alice(), ISSUER, FILES, now(), 60, &mut rng).unwrap();

    let other = "https://mcp.example.com/servers/other/mcp";
    assert_eq!(
        verify_identity_token(&ring, &token, ISSUER, other, now()).unwrap_err(),
        JwtError::WrongAudience
    );
    assert_eq!(
        verify_identity_token(&ring, &token, "https://evil.example", FILES, now()).unwrap_err(),
        JwtError::WrongIssuer
    );
    // Valid through its minute and the leeway, then refused.
    let last = now() + Duration::seconds(60 + 29);
    verify_identity_token(&ring, &token, ISSUER, FILES, last).unwrap();
    assert_eq!(
        verify_identity_token(&ring, &token, ISSUER, FILES, last + Duration::seconds(1))
            .unwrap_err(),
        JwtError::Expired
    );

    // Same key, same claims, another type (an access token): not an identity token.
    let claims = identity_claims(&alice(), ISSUER, FILES, NOW, 60, "j");
    let access = ring.sign(&claims, "at+jwt", now()).unwrap();
    assert_eq!(
        verify_identity_token(&ring, &access, ISSUER, FILES, now()).unwrap_err(),
        JwtError::TokenType("at+jwt".to_owned())
    );
}

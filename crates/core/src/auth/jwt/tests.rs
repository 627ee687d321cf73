//! The verifier against every algorithm and every attack of RFC 8725 and the MCP token rules:
//! one `check(token, keys, expected)` per case.

use serde_json::json;

use super::*;
use crate::auth::jwks::parse_jwks;
use crate::auth::testing::{NOW, TestKey, Token, b64, jwks};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "https://mcp.example.com/servers/files/mcp";

fn all_algorithms() -> Vec<Algorithm> {
    crate::config::JWT_ALGORITHMS
        .iter()
        .filter_map(|n| asymmetric_algorithm(n))
        .collect()
}

fn keyset(keys: &[&TestKey]) -> KeySet {
    install_crypto_provider();
    parse_jwks(jwks(keys).as_bytes(), &all_algorithms()).unwrap()
}

fn verify_with(token: &str, keys: &KeySet, types: &TokenTypes) -> Result<Claims, JwtError> {
    let expected = Expected {
        issuers: &[ISSUER],
        audiences: &[AUDIENCE],
        token_types: types,
        now: NOW,
    };
    Jws::parse(token)?.verify(keys, &expected)
}

#[track_caller]
fn check(token: &str, keys: &KeySet, expected: Result<(), JwtError>) {
    let got = verify_with(token, keys, &TokenTypes::AnyButOtherKinds).map(|_| ());
    assert_eq!(got, expected);
}

fn claim(name: &str, problem: &'static str) -> JwtError {
    JwtError::claim(name, problem)
}

#[test]
fn valid_tokens_of_every_algorithm_verify() {
    for alg in crate::config::JWT_ALGORITHMS {
        let key = TestKey::new(alg, "k1");
        let token = Token::valid(&key, ISSUER, AUDIENCE).sign(&key);
        let claims = verify_with(&token, &keyset(&[&key]), &TokenTypes::AnyButOtherKinds)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.string("sub").unwrap(), Some("user-1"));
        assert_eq!(claims.expires_at(), Some(NOW + 600));
    }
}

#[test]
fn keys_without_alg_take_it_from_their_type_and_curve() {
    for alg in ["RS256", "ES256", "ES384", "EdDSA"] {
        let key = TestKey::new(alg, "k1");
        let doc = json!({"keys": [key.jwk_without_alg()]}).to_string();
        let keys = parse_jwks(doc.as_bytes(), &all_algorithms()).unwrap();
        install_crypto_provider();
        check(
            &Token::valid(&key, ISSUER, AUDIENCE).sign(&key),
            &keys,
            Ok(()),
        );
    }
    // An RSA key without alg is RS256 only: a PS256 token signed by it is refused.
    let rsa = TestKey::new("RS256", "k1");
    let doc = json!({"keys": [rsa.jwk_without_alg()]}).to_string();
    let keys = parse_jwks(doc.as_bytes(), &all_algorithms()).unwrap();
    let pss = rsa.relabel("PS256", "k1");
    check(
        &Token::valid(&pss, ISSUER, AUDIENCE).sign(&pss),
        &keys,
        Err(JwtError::AlgorithmMismatch("RS256")),
    );
}

#[test]
fn the_header_never_chooses_the_algorithm_or_the_key() {
    let ec = TestKey::new("ES256", "ec");
    let rsa = TestKey::new("RS256", "rsa");
    let ed = TestKey::new("EdDSA", "ed");
    let keys = keyset(&[&ec, &rsa, &ed]);
    let attacker = TestKey::new("ES256", "ec");
    let base = |key: &TestKey| Token::valid(key, ISSUER, AUDIENCE);

    let unsigned = format!(
        "{}.",
        base(&ec).header("alg", json!("none")).signing_input()
    );
    let cases: Vec<(&str, String, Result<(), JwtError>)> = vec![
        (
            "alg none, no signature",
            unsigned.clone(),
            Err(JwtError::ForbiddenAlgorithm("none")),
        ),
        (
            "alg none with a signature",
            base(&ec).header("alg", json!("none")).sign(&ec),
            Err(JwtError::ForbiddenAlgorithm("none")),
        ),
        (
            "alg None (case)",
            base(&ec).header("alg", json!("None")).sign(&ec),
            Err(JwtError::AlgorithmMismatch("ES256")),
        ),
        (
            "HS256 keyed with the RSA public key (key confusion)",
            base(&rsa)
                .header("alg", json!("HS256"))
                .sign_hs256(&rsa.public_bytes()),
            Err(JwtError::AlgorithmMismatch("RS256")),
        ),
        (
            "HS256 keyed with the RSA modulus",
            base(&rsa)
                .header("alg", json!("HS256"))
                .sign_hs256(rsa.jwk()["n"].as_str().unwrap().as_bytes()),
            Err(JwtError::AlgorithmMismatch("RS256")),
        ),
        (
            "HS256 keyed with the EC public key",
            base(&ec)
                .header("alg", json!("HS256"))
                .sign_hs256(&ec.public_bytes()),
            Err(JwtError::AlgorithmMismatch("ES256")),
        ),
        (
            "HS256 keyed with the Ed25519 public key",
            base(&ed)
                .header("alg", json!("HS256"))
                .sign_hs256(&ed.public_bytes()),
            Err(JwtError::AlgorithmMismatch("EdDSA")),
        ),
        (
            "header alg ES384 on an ES256 key",
            base(&ec).header("alg", json!("ES384")).sign(&ec),
            Err(JwtError::AlgorithmMismatch("ES256")),
        ),
        (
            "PS256 with an RS256 key",
            base(&rsa.relabel("PS256", "rsa")).sign(&rsa.relabel("PS256", "rsa")),
            Err(JwtError::AlgorithmMismatch("RS256")),
        ),
        (
            "EdDSA header on the EC key's kid",
            base(&ed).header("kid", json!("ec")).sign(&ed),
            Err(JwtError::AlgorithmMismatch("ES256")),
        ),
        (
            "unknown kid",
            base(&ec).header("kid", json!("nope")).sign(&ec),
            Err(JwtError::UnknownKey),
        ),
        (
            "no kid, several keys",
            base(&ec).header("kid", json!(null)).sign(&ec),
            Err(JwtError::AmbiguousKey),
        ),
        (
            "attacker's key embedded as jwk, with our kid",
            base(&attacker)
                .header("jwk", attacker.jwk())
                .sign(&attacker),
            Err(JwtError::BadSignature),
        ),
        (
            "attacker's JWKS by jku",
            base(&attacker)
                .header("jku", json!("https://evil.example/jwks"))
                .sign(&attacker),
            Err(JwtError::BadSignature),
        ),
        (
            "attacker's certificate by x5u and x5c",
            base(&attacker)
                .header("x5u", json!("https://evil.example/cert.pem"))
                .header("x5c", json!([b64(&attacker.public_bytes())]))
                .sign(&attacker),
            Err(JwtError::BadSignature),
        ),
        (
            "a valid key of a second issuer, same kid",
            base(&attacker).sign(&attacker),
            Err(JwtError::BadSignature),
        ),
        (
            "crit naming an unknown extension",
            base(&ec)
                .header("crit", json!(["exp"]))
                .header("exp", json!(1))
                .sign(&ec),
            Err(JwtError::UnknownCritical),
        ),
        (
            "crit b64 (unencoded payload)",
            base(&ec)
                .header("crit", json!(["b64"]))
                .header("b64", json!(false))
                .sign(&ec),
            Err(JwtError::UnknownCritical),
        ),
        (
            "kid as a number",
            base(&ec).header("kid", json!(7)).sign(&ec),
            Err(claim("kid", "header member must be a string")),
        ),
        (
            "alg missing",
            base(&ec).header("alg", json!(null)).sign(&ec),
            Err(claim("alg", "header member is required")),
        ),
        // With jwk/jku/x5c ignored, a token carrying them is fine when our key signed it.
        (
            "our key, with ignored jku and jwk",
            base(&ec)
                .header("jku", json!("https://evil.example"))
                .header("jwk", attacker.jwk())
                .sign(&ec),
            Ok(()),
        ),
    ];
    for (name, token, expected) in cases {
        let got = verify_with(&token, &keys, &TokenTypes::AnyButOtherKinds).map(|_| ());
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn registered_claims_are_required_typed_and_checked() {
    let key = TestKey::new("ES256", "k1");
    let keys = keyset(&[&key]);
    let t = || Token::valid(&key, ISSUER, AUDIENCE);
    let cases: Vec<(&str, Token, Result<(), JwtError>)> = vec![
        ("valid", t(), Ok(())),
        (
            "expired",
            t().claim("exp", json!(NOW - 31)),
            Err(JwtError::Expired),
        ),
        (
            "expired within leeway",
            t().claim("exp", json!(NOW - 29)),
            Ok(()),
        ),
        (
            "exp as a float",
            t().claim("exp", json!(NOW as f64 + 0.5)),
            Ok(()),
        ),
        (
            "exp missing",
            t().claim("exp", json!(null)),
            Err(claim("exp", "is required")),
        ),
        (
            "exp as a string",
            t().claim("exp", json!((NOW + 600).to_string())),
            Err(claim("exp", "must be a number")),
        ),
        (
            "exp as a bool",
            t().claim("exp", json!(true)),
            Err(claim("exp", "must be a number")),
        ),
        (
            "nbf in the future",
            t().claim("nbf", json!(NOW + 31)),
            Err(JwtError::NotYetValid),
        ),
        (
            "nbf within leeway",
            t().claim("nbf", json!(NOW + 29)),
            Ok(()),
        ),
        (
            "nbf as a string",
            t().claim("nbf", json!("0")),
            Err(claim("nbf", "must be a number")),
        ),
        (
            "iat in the future",
            t().claim("iat", json!(NOW + 31)),
            Err(JwtError::IssuedInFuture),
        ),
        (
            "iat within leeway",
            t().claim("iat", json!(NOW + 29)),
            Ok(()),
        ),
        (
            "iat as a string",
            t().claim("iat", json!("now")),
            Err(claim("iat", "must be a number")),
        ),
        (
            "iss missing",
            t().claim("iss", json!(null)),
            Err(claim("iss", "is required")),
        ),
        (
            "iss other",
            t().claim("iss", json!("https://other.example")),
            Err(JwtError::WrongIssuer),
        ),
        (
            "iss with a trailing slash",
            t().claim("iss", json!("https://issuer.example/")),
            Err(JwtError::WrongIssuer),
        ),
        (
            "iss as an array",
            t().claim("iss", json!([ISSUER])),
            Err(claim("iss", "must be a string")),
        ),
        (
            "aud missing",
            t().claim("aud", json!(null)),
            Err(claim("aud", "is required")),
        ),
        (
            "aud another upstream",
            t().claim("aud", json!("https://mcp.example.com/servers/other/mcp")),
            Err(JwtError::WrongAudience),
        ),
        (
            "aud the authorization server",
            t().claim("aud", json!(ISSUER)),
            Err(JwtError::WrongAudience),
        ),
        (
            "aud array without us",
            t().claim("aud", json!(["a", "b"])),
            Err(JwtError::WrongAudience),
        ),
        (
            "aud empty array",
            t().claim("aud", json!([])),
            Err(JwtError::WrongAudience),
        ),
        (
            "aud array with us",
            t().claim("aud", json!(["a", AUDIENCE])),
            Ok(()),
        ),
        (
            "aud array with a number",
            t().claim("aud", json!([AUDIENCE, 1])),
            Err(claim("aud", "must be an array of strings")),
        ),
        (
            "aud as an object",
            t().claim("aud", json!({"aud": AUDIENCE})),
            Err(claim("aud", "must be a string or an array of strings")),
        ),
        (
            "sub as a number",
            t().claim("sub", json!(42)),
            Err(claim("sub", "must be a string")),
        ),
        (
            "jti as a number",
            t().claim("jti", json!(42)),
            Err(claim("jti", "must be a string")),
        ),
    ];
    for (name, token, expected) in cases {
        let got = verify_with(&token.sign(&key), &keys, &TokenTypes::AnyButOtherKinds).map(|_| ());
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn token_types_of_other_kinds_are_refused() {
    let key = TestKey::new("ES256", "k1");
    let keys = keyset(&[&key]);
    let typed = |typ: serde_json::Value| {
        Token::valid(&key, ISSUER, AUDIENCE)
            .header("typ", typ)
            .sign(&key)
    };
    let at_jwt = TokenTypes::from_config(&["at+jwt".to_owned()]);
    let assertion = TokenTypes::AbsentOr(vec!["client-authentication+jwt".to_owned()]);
    let cases = [
        (json!("at+jwt"), &TokenTypes::AnyButOtherKinds, true),
        (json!("JWT"), &TokenTypes::AnyButOtherKinds, true),
        (json!(null), &TokenTypes::AnyButOtherKinds, true),
        (json!("dpop+jwt"), &TokenTypes::AnyButOtherKinds, false),
        (
            json!("application/DPoP+JWT"),
            &TokenTypes::AnyButOtherKinds,
            false,
        ),
        (json!("logout+jwt"), &TokenTypes::AnyButOtherKinds, false),
        (json!("secevent+jwt"), &TokenTypes::AnyButOtherKinds, false),
        (json!("at+jwt"), &at_jwt, true),
        (json!("application/AT+JWT"), &at_jwt, true),
        (json!("JWT"), &at_jwt, false),
        (json!(null), &at_jwt, false),
        (json!(null), &assertion, true),
        (json!("client-authentication+jwt"), &assertion, true),
        (json!("at+jwt"), &assertion, false),
    ];
    for (typ, types, accepted) in cases {
        let got = verify_with(&typed(typ.clone()), &keys, types);
        assert_eq!(got.is_ok(), accepted, "typ {typ} with {types:?}: {got:?}");
        if !accepted {
            assert!(matches!(got, Err(JwtError::TokenType(_))));
        }
    }
}

#[test]
fn malformed_tokens_are_not_jws() {
    let key = TestKey::new("ES256", "k1");
    let keys = keyset(&[&key]);
    let good = Token::valid(&key, ISSUER, AUDIENCE).sign(&key);
    let parts: Vec<&str> = good.split('.').collect();
    let malformed = |why: &'static str| Err(JwtError::Malformed(why));
    let header_of = |raw: &str| format!("{}.{}.{}", b64(raw.as_bytes()), parts[1], parts[2]);
    let cases: Vec<(&str, String, Result<(), JwtError>)> = vec![
        (
            "garbage",
            "not a token".to_owned(),
            malformed("expected three dot-separated parts"),
        ),
        (
            "empty",
            String::new(),
            malformed("expected three dot-separated parts"),
        ),
        (
            "two parts",
            format!("{}.{}", parts[0], parts[1]),
            malformed("expected three dot-separated parts"),
        ),
        (
            "four parts",
            format!("{good}.x"),
            malformed("expected three dot-separated parts"),
        ),
        (
            "five parts (JWE)",
            format!("{good}.x.y"),
            malformed("expected three dot-separated parts"),
        ),
        (
            "empty header",
            format!(".{}.{}", parts[1], parts[2]),
            malformed("an empty part"),
        ),
        (
            "padded header",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            malformed("header is not base64url"),
        ),
        (
            "standard base64 signature",
            format!("{}.{}.{}+/", parts[0], parts[1], &parts[2][2..]),
            malformed("signature is not base64url"),
        ),
        (
            "header not JSON",
            header_of("hello"),
            malformed("header is not a JSON object"),
        ),
        (
            "header a JSON array",
            header_of("[1]"),
            malformed("header is not a JSON object"),
        ),
        (
            "duplicate alg in the header",
            header_of(r#"{"alg":"ES256","kid":"k1","alg":"none"}"#),
            malformed("header is not a JSON object"),
        ),
        (
            "payload not JSON",
            format!("{}.{}.{}", parts[0], b64(b"x"), parts[2]),
            malformed("payload is not a JSON object"),
        ),
        (
            "oversized",
            format!("{}.{}.{}", parts[0], "A".repeat(MAX_TOKEN_BYTES), parts[2]),
            Err(JwtError::TooLarge),
        ),
        (
            "signature from another token",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(br#"{"iss":"https://issuer.example","sub":"admin"}"#),
                parts[2]
            ),
            Err(JwtError::BadSignature),
        ),
        (
            "empty signature",
            format!("{}.{}.", parts[0], parts[1]),
            Err(JwtError::BadSignature),
        ),
    ];
    for (name, token, expected) in cases {
        let got = verify_with(&token, &keys, &TokenTypes::AnyButOtherKinds).map(|_| ());
        assert_eq!(got, expected, "{name}");
    }
    // A truncated token is refused, however it was cut.
    for cut in 1..12 {
        let truncated = &good[..good.len() - cut];
        assert!(
            verify_with(truncated, &keys, &TokenTypes::AnyButOtherKinds).is_err(),
            "cut {cut}"
        );
    }
    // Duplicate claims are refused too.
    let dup = format!(
        "{}.{}.{}",
        parts[0],
        b64(br#"{"aud":"x","aud":"y"}"#),
        parts[2]
    );
    assert_eq!(
        Jws::parse(&dup).err(),
        Some(JwtError::Malformed("payload is not a JSON object"))
    );
}

#[test]
fn a_single_key_without_kid_answers_any_kid() {
    // HS256 secrets and one-key JWKS without ids: the signature still decides.
    let key = TestKey::new("ES256", "");
    let mut jwk = key.jwk();
    jwk.as_object_mut().unwrap().remove("kid");
    install_crypto_provider();
    let keys = parse_jwks(
        json!({"keys": [jwk]}).to_string().as_bytes(),
        &all_algorithms(),
    )
    .unwrap();
    let token = Token::valid(&key, ISSUER, AUDIENCE).header("kid", json!("whatever"));
    check(&token.sign(&key), &keys, Ok(()));
    let other = TestKey::new("ES256", "");
    check(&token.sign(&other), &keys, Err(JwtError::BadSignature));
}

#[test]
fn install_crypto_provider_is_idempotent() {
    install_crypto_provider();
    install_crypto_provider();
}

#[test]
fn errors_never_quote_the_token() {
    let key = TestKey::new("ES256", "k1");
    let keys = keyset(&[&key]);
    let token = Token::valid(&key, ISSUER, AUDIENCE)
        .claim("exp", json!(NOW - 100))
        .sign(&key);
    let error = verify_with(&token, &keys, &TokenTypes::AnyButOtherKinds).unwrap_err();
    let text = error.to_string();
    for part in token.split('.') {
        assert!(!text.contains(part), "{text}");
    }
}

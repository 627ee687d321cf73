//! PKCE (RFC 7636) with the one method Portcullis accepts, S256: the code challenge is
//! `BASE64URL(SHA256(code_verifier))`. `plain` is refused everywhere (reference P3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The only `code_challenge_method`.
pub const S256: &str = "S256";

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An S256 challenge is the unpadded base64url of a SHA-256: exactly 43 characters.
pub fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The S256 challenge of `verifier`.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is well formed and its S256 challenge is `challenge` (compared in constant
/// time).
pub fn verify(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier)
        && challenge_of(verifier)
            .as_bytes()
            .ct_eq(challenge.as_bytes())
            .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(challenge_of(verifier), challenge);
        assert!(verify(verifier, challenge));
        assert!(is_valid_challenge(challenge));
    }

    #[test]
    fn wrong_or_malformed_verifiers_fail() {
        let challenge = challenge_of(&"a".repeat(43));
        assert!(!verify(&"b".repeat(43), &challenge));
        // Too short, too long, outside the unreserved set.
        assert!(!verify(&"a".repeat(42), &challenge_of(&"a".repeat(42))));
        assert!(!verify(&"a".repeat(129), &challenge_of(&"a".repeat(129))));
        let spaced = format!("{} ", "a".repeat(43));
        assert!(!verify(&spaced, &challenge_of(&spaced)));
        // `plain`: the verifier itself as the challenge.
        let verifier = "a".repeat(43);
        assert!(!verify(&verifier, &verifier));
        for bad in ["", "abc", &"a".repeat(44), &format!("{}=", "a".repeat(42))] {
            assert!(!is_valid_challenge(bad), "{bad}");
        }
    }
}

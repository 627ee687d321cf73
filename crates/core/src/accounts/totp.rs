//! Time-based one-time passwords (RFC 6238) as every authenticator app speaks them: HMAC-SHA-1,
//! six digits, 30-second steps, a 160-bit secret shown as unpadded base32 (RFC 4648) in an
//! `otpauth://totp/` URI.
//!
//! A code is accepted for the current step or one step either side (RFC 6238 §5.2's advice for
//! clock drift and slow typing), and [`verify`] says which step matched: the caller records it
//! and refuses that step and every earlier one afterwards, so each code works once (§5.2: "the
//! verifier MUST NOT accept the second attempt of the same OTP").

use aws_lc_rs::hmac;
use rand::RngCore;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Seconds per step (RFC 6238 §5.2's recommended X).
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a secret: 160 bits, RFC 4226 §4's recommendation.
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of the current one.
const DRIFT_STEPS: i64 = 1;

/// A TOTP secret. Never printed, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// A new secret from the caller's random source.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        rng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// A secret from its bytes (as unsealed from the store).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        TotpSecret(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as people type it into an app: unpadded base32, upper case.
    pub fn to_base32(&self) -> String {
        base32(&self.0)
    }

    /// The `otpauth://` URI an app reads from the QR code (the Key Uri Format every
    /// authenticator understands): `issuer` names the service, `account` the user.
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", percent_encode(issuer), percent_encode(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.to_base32(),
            percent_encode(issuer)
        )
    }

    /// The code for time step `step` (RFC 4226 §5.3's dynamic truncation).
    pub fn code_at_step(&self, step: i64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let digest = tag.as_ref();
        let offset = usize::from(digest.last().copied().unwrap_or(0) & 0x0f);
        let word = digest
            .get(offset..offset + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_be_bytes);
        (word & 0x7fff_ffff) % 10u32.pow(DIGITS)
    }

    /// The code for `at`, written with its leading zeros.
    pub fn code_at(&self, at: OffsetDateTime) -> String {
        format!(
            "{:0width$}",
            self.code_at_step(step_of(at)),
            width = DIGITS as usize
        )
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// The time step of `at`.
pub fn step_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// The step whose code `code` is, among the current step at `now` and one either side; `None`
/// when it is none of them or not six digits. Spaces the person typed are ignored. Every
/// candidate is compared, in constant time, whatever matched first.
pub fn verify(secret: &TotpSecret, code: &str, now: OffsetDateTime) -> Option<i64> {
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut matched = None;
    for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
        let expected = format!(
            "{:0width$}",
            secret.code_at_step(step),
            width = DIGITS as usize
        );
        if bool::from(expected.as_bytes().ct_eq(typed.as_bytes())) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32_digit(ALPHABET, buffer >> bits));
        }
    }
    if bits > 0 {
        out.push(base32_digit(ALPHABET, buffer << (5 - bits)));
    }
    out
}

/// The base32 digit of the low five bits of `value`.
fn base32_digit(alphabet: &[u8; 32], value: u64) -> char {
    // Five bits index 32 digits: the lookup cannot miss.
    char::from(alphabet.get((value & 31) as usize).copied().unwrap_or(b'A'))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    /// RFC 6238 Appendix B (SHA-1 rows): the 8-digit codes, of which ours are the last six.
    #[test]
    fn the_rfc_6238_vectors_hold() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at(at(time)), eight_digits[2..], "T = {time}");
        }
    }

    #[test]
    fn codes_of_the_neighbouring_steps_verify_and_say_their_step() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let now = at(1_234_567_890);
        let step = step_of(now);
        assert_eq!(verify(&secret, &secret.code_at(now), now), Some(step));
        let before = secret.code_at(now - time::Duration::seconds(30));
        assert_eq!(verify(&secret, &before, now), Some(step - 1));
        let after = secret.code_at(now + time::Duration::seconds(30));
        assert_eq!(verify(&secret, &after, now), Some(step + 1));
        let typed = format!("{} {}", &after[..3], &after[3..]);
        assert_eq!(verify(&secret, &typed, now), Some(step + 1));
        let too_old = secret.code_at(now - time::Duration::seconds(60));
        assert_eq!(verify(&secret, &too_old, now), None);
        for junk in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(verify(&secret, junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn secrets_read_as_base32_in_an_otpauth_uri() {
        // RFC 4648 §10.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            secret.uri("Portcullis (gw.example)", "alice@example.com"),
            "otpauth://totp/Portcullis%20%28gw.example%29:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Portcullis%20%28gw.example%29&algorithm=SHA1&digits=6&period=30"
        );
        let mut rng = rand::rng();
        let generated = TotpSecret::generate(&mut rng);
        assert_eq!(generated.as_bytes().len(), SECRET_BYTES);
        assert_ne!(generated, TotpSecret::generate(&mut rng));
        assert_eq!(format!("{generated:?}"), "TotpSecret(..)");
    }
}

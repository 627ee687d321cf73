//! Tests of sealing: round trips, what must fail to open, rotation, and key-list parsing.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

/// A key whose bytes include `+`, `/` (standard) and `-`, `_` (URL-safe) when encoded.
fn key(seed: u8) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    for (byte, i) in key.iter_mut().zip(0u8..) {
        *byte = seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(67)) | 0x03;
    }
    key[0] = 0xfb;
    key[1] = 0xff;
    key
}

fn text(keys: &[[u8; KEY_LEN]]) -> KeyText {
    KeyText::new(
        keys.iter()
            .map(|k| STANDARD.encode(k))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn sealer(keys: &[[u8; KEY_LEN]]) -> Sealer {
    Sealer::parse(&text(keys)).unwrap()
}

#[test]
fn a_sealed_value_opens_with_the_same_associated_data() {
    let sealer = sealer(&[key(1)]);
    let mut rng = rng();
    for plaintext in [&b""[..], b"x", &[0u8; 1000], "ünïcode".as_bytes()] {
        let blob = sealer
            .seal(plaintext, b"signing_key:abc", &mut rng)
            .unwrap();
        assert_eq!(blob.len(), HEADER_LEN + plaintext.len() + TAG_LEN);
        assert_eq!(
            sealer.open(&blob, b"signing_key:abc").unwrap().as_slice(),
            plaintext
        );
    }
}

#[test]
fn the_plaintext_does_not_appear_and_nonces_differ() {
    let sealer = sealer(&[key(1)]);
    let mut rng = rng();
    let plaintext = b"a private key that must never be stored in clear";
    let a = sealer.seal(plaintext, b"", &mut rng).unwrap();
    let b = sealer.seal(plaintext, b"", &mut rng).unwrap();
    assert_ne!(a, b, "two seals of one value must differ (fresh nonces)");
    assert!(!a.windows(8).any(|w| plaintext.windows(8).any(|p| p == w)));
}

#[test]
fn other_associated_data_does_not_open() {
    let sealer = sealer(&[key(1)]);
    let blob = sealer
        .seal(b"secret", b"signing_key:abc", &mut rng())
        .unwrap();
    for aad in [
        &b"signing_key:abd"[..],
        b"signing_key:ab",
        b"signing_key:abc\0",
        b"totp_seed:abc",
        b"",
    ] {
        assert_eq!(
            sealer.open(&blob, aad).unwrap_err(),
            SealError::Unauthentic,
            "{aad:?}"
        );
    }
}

#[test]
fn every_altered_byte_is_detected() {
    let sealer = sealer(&[key(1)]);
    let blob = sealer.seal(b"secret value", b"row", &mut rng()).unwrap();
    for index in 0..blob.len() {
        let mut altered = blob.clone();
        altered[index] ^= 0x01;
        let err = sealer.open(&altered, b"row").unwrap_err();
        let expected = match index {
            0 => SealError::Malformed,
            1..=4 => SealError::UnknownKey {
                key_id: hex(&altered[1..5]),
            },
            _ => SealError::Unauthentic,
        };
        assert_eq!(err, expected, "byte {index}");
    }
    // Truncated and extended.
    assert_eq!(
        sealer.open(&blob[..blob.len() - 1], b"row").unwrap_err(),
        SealError::Unauthentic
    );
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(
        sealer.open(&longer, b"row").unwrap_err(),
        SealError::Unauthentic
    );
    for short in [&[][..], &blob[..HEADER_LEN + TAG_LEN - 1]] {
        assert_eq!(
            sealer.open(short, b"row").unwrap_err(),
            SealError::Malformed
        );
    }
}

#[test]
fn rotation_opens_old_values_and_seals_new_ones_with_the_new_key() {
    let old = sealer(&[key(1)]);
    let old_blob = old.seal(b"sealed before", b"row", &mut rng()).unwrap();

    // A new key is prepended: old values still open, new values use the new key ...
    let rotated = sealer(&[key(2), key(1)]);
    assert_eq!(
        rotated.open(&old_blob, b"row").unwrap().as_slice(),
        b"sealed before"
    );
    let new_blob = rotated.seal(b"sealed after", b"row", &mut rng()).unwrap();
    assert_eq!(&new_blob[1..5], key_id(&key(2)).as_slice());
    assert_eq!(&old_blob[1..5], key_id(&key(1)).as_slice());
    assert_eq!(
        rotated.key_ids(),
        vec![hex(&key_id(&key(2))), hex(&key_id(&key(1)))]
    );

    // ... which the old list cannot open, and once the old key is dropped its values are lost.
    assert!(matches!(
        old.open(&new_blob, b"row"),
        Err(SealError::UnknownKey { .. })
    ));
    let dropped = sealer(&[key(2)]);
    assert_eq!(
        dropped.open(&old_blob, b"row").unwrap_err(),
        SealError::UnknownKey {
            key_id: hex(&key_id(&key(1)))
        }
    );
    assert_eq!(
        dropped.open(&new_blob, b"row").unwrap().as_slice(),
        b"sealed after"
    );
}

#[test]
fn an_unknown_key_id_fails_without_trying_other_keys() {
    let a = sealer(&[key(1)]);
    let b = sealer(&[key(2), key(3)]);
    let blob = a.seal(b"secret", b"row", &mut rng()).unwrap();
    let err = b.open(&blob, b"row").unwrap_err();
    assert_eq!(
        err,
        SealError::UnknownKey {
            key_id: hex(&key_id(&key(1)))
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "sealed with key {}, which is not in the key list",
            hex(&key_id(&key(1)))
        )
    );
}

#[test]
fn keys_parse_in_every_base64_flavour_with_whitespace() {
    let k = key(4);
    for encoded in [
        STANDARD.encode(k),
        STANDARD_NO_PAD.encode(k),
        URL_SAFE.encode(k),
        URL_SAFE_NO_PAD.encode(k),
        format!("  {}\n", STANDARD.encode(k)),
    ] {
        let parsed = Sealer::parse(&KeyText::new(encoded.clone()))
            .unwrap_or_else(|e| panic!("{encoded:?}: {e}"));
        assert_eq!(parsed.key_ids(), vec![hex(&key_id(&k))], "{encoded:?}");
    }
    let list = format!(
        "{} , {}\n",
        URL_SAFE_NO_PAD.encode(key(5)),
        STANDARD.encode(key(6))
    );
    let parsed = Sealer::parse(&KeyText::new(list)).unwrap();
    assert_eq!(
        parsed.key_ids(),
        vec![hex(&key_id(&key(5))), hex(&key_id(&key(6)))]
    );
}

#[test]
fn bad_key_lists_are_refused_without_echoing_them() {
    let good = STANDARD.encode(key(1));
    assert!(good.starts_with('+'));
    let cases = [
        (String::new(), SealError::EmptyKey { position: 1 }),
        ("   \n".to_owned(), SealError::EmptyKey { position: 1 }),
        (format!("{good},"), SealError::EmptyKey { position: 2 }),
        (format!(",{good}"), SealError::EmptyKey { position: 1 }),
        (
            "not base64!".to_owned(),
            SealError::NotBase64 { position: 1 },
        ),
        (
            // Both alphabets in one key (it starts with `+`): neither decoder accepts it.
            format!("{good},{}-{}", &good[..20], &good[21..]),
            SealError::NotBase64 { position: 2 },
        ),
        (
            STANDARD.encode([7u8; 16]),
            SealError::WrongLength {
                position: 1,
                len: 16,
            },
        ),
        (
            format!("{good},{}", STANDARD.encode([7u8; 33])),
            SealError::WrongLength {
                position: 2,
                len: 33,
            },
        ),
        (
            format!("{good},{}", URL_SAFE_NO_PAD.encode(key(1))),
            SealError::DuplicateKey { position: 2 },
        ),
    ];
    for (text, expected) in cases {
        let err = Sealer::parse(&KeyText::new(text.clone())).unwrap_err();
        assert_eq!(err, expected, "{text:?}");
        assert!(!err.to_string().contains(&good), "{err}");
    }
    assert_eq!(Sealer::from_keys(&[]).unwrap_err(), SealError::NoKeys);
}

#[test]
fn debug_output_shows_key_ids_only() {
    let k = key(9);
    let text = text(&[k]);
    let sealer = Sealer::parse(&text).unwrap();
    let shown = format!("{sealer:?} {text:?}");
    assert!(shown.contains(&hex(&key_id(&k))), "{shown}");
    assert!(!shown.contains(text.expose()), "{shown}");
    assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(k)), "{shown}");
    assert_eq!(format!("{text:?}"), "KeyText(..)");
}

#[test]
fn new_keys_are_random_and_parse() {
    let mut rng = rng();
    let a = new_key_text(&mut rng);
    let b = new_key_text(&mut rng);
    assert_ne!(a, b);
    let both = KeyText::new(format!("{},{}", a.expose(), b.expose()));
    assert_eq!(Sealer::parse(&both).unwrap().key_ids().len(), 2);
    let generated = Sealer::generate(&mut rng).unwrap();
    let blob = generated.seal(b"x", b"", &mut rng).unwrap();
    assert_eq!(generated.open(&blob, b"").unwrap().as_slice(), b"x");
}

#[test]
fn key_ids_are_stable() {
    // The id is part of every stored blob: changing how it is computed would orphan them all.
    assert_eq!(hex(&key_id(&[0u8; KEY_LEN])), "f2716eb8");
}

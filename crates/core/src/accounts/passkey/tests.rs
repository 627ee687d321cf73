//! Tests of passkey ceremonies over the memory store, with a software authenticator: the
//! relying party from the public URL, registering and signing in, and every way a ceremony is
//! refused (another session, taken already, expired, the wrong answer, a cloned key).

use std::sync::atomic::{AtomicU64, Ordering};

use portcullis_store::{CeremonyKind, FactorKind, MemoryStore, Store, User, UserStatus};
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

use super::testing::SoftPasskey;
use super::*;

const ORIGIN: &str = "http://localhost:8080";
const SESSION: [u8; 32] = [7; 32];
const OTHER_SESSION: [u8; 32] = [8; 32];

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
}

/// A seeded RNG, a different seed each call (ceremony ids must differ).
fn rng() -> StdRng {
    static SEED: AtomicU64 = AtomicU64::new(7);
    StdRng::seed_from_u64(SEED.fetch_add(1, Ordering::Relaxed))
}

fn relying_party() -> Passkeys {
    Passkeys::for_public_url(ORIGIN).unwrap()
}

async fn store_with_alice() -> (MemoryStore, User) {
    let store = MemoryStore::new();
    let user = User {
        id: "usr_alice".to_owned(),
        username: "alice".to_owned(),
        email: "alice@example.com".to_owned(),
        email_verified: false,
        display_name: Some("Alice Liddell".to_owned()),
        tenant: None,
        status: UserStatus::Active,
        password_hash: None,
        must_change_password: false,
        created_at: at(0),
        updated_at: at(0),
    };
    store.user_insert(&user).await.unwrap();
    (store, user)
}

/// Registers `key` for `user` in `SESSION` at `at(0)`.
async fn register(store: &MemoryStore, user: &User, key: &mut SoftPasskey) {
    let rp = relying_party();
    let challenge = start_registration(&rp, store, user, &SESSION, at(0), &mut rng())
        .await
        .unwrap();
    let answer = key.register(&challenge.options_json);
    let enrolled = finish_registration(
        &rp,
        store,
        user,
        &SESSION,
        &challenge.ceremony_id,
        &answer,
        "laptop",
        at(1),
        &mut rng(),
    )
    .await
    .unwrap();
    assert_eq!(enrolled.factor.kind, FactorKind::Passkey);
}

async fn sign_in_challenge(store: &MemoryStore, user: &User, session: &[u8; 32]) -> Challenge {
    start_sign_in(&relying_party(), store, user, session, at(10), &mut rng())
        .await
        .unwrap()
        .expect("alice has a passkey")
}

async fn finish(
    store: &MemoryStore,
    user: &User,
    session: &[u8; 32],
    ceremony_id: &str,
    answer: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, AccountsError> {
    let ceremony = take_sign_in(store, session, ceremony_id, now).await?;
    finish_sign_in(&relying_party(), store, user, ceremony, answer, now).await
}

#[test]
fn the_relying_party_is_the_public_urls_host() {
    for (url, rp_id) in [
        ("http://localhost:8080", "localhost"),
        ("https://auth.example.com", "auth.example.com"),
        (
            "https://auth.example.com:8443/portcullis",
            "auth.example.com",
        ),
    ] {
        assert_eq!(
            Passkeys::for_public_url(url).unwrap().rp_id(),
            rp_id,
            "{url}"
        );
    }
    for url in ["http://127.0.0.1:8080", "http://[::1]:8080", "not a url"] {
        let refused = Passkeys::for_public_url(url).unwrap_err();
        assert!(!refused.is_empty(), "{url}");
    }
    assert!(
        Passkeys::for_public_url("http://127.0.0.1:8080")
            .unwrap_err()
            .contains("http://localhost:PORT")
    );
}

#[tokio::test]
async fn registration_options_ask_for_user_verification_and_exclude_known_keys() {
    let (store, alice) = store_with_alice().await;
    let rp = relying_party();
    let first = start_registration(&rp, &store, &alice, &SESSION, at(0), &mut rng())
        .await
        .unwrap();
    let options: serde_json::Value = serde_json::from_str(&first.options_json).unwrap();
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["rp"]["name"], "Portcullis");
    assert_eq!(public_key["user"]["name"], "alice");
    assert_eq!(public_key["user"]["displayName"], "Alice Liddell");
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(public_key["attestation"], "none");
    // The user handle is derived from the account's id, never its name.
    let handle = public_key["user"]["id"].as_str().unwrap();
    assert!(!handle.contains("alice"));
    assert!(first.ceremony_id.starts_with(CEREMONY_ID_PREFIX));

    let mut key = SoftPasskey::new(ORIGIN);
    register(&store, &alice, &mut key).await;
    let second = start_registration(&rp, &store, &alice, &SESSION, at(5), &mut rng())
        .await
        .unwrap();
    let options: serde_json::Value = serde_json::from_str(&second.options_json).unwrap();
    assert_eq!(
        options["publicKey"]["user"]["id"].as_str().unwrap(),
        handle,
        "one handle per account"
    );
    let excluded: Vec<&str> = options["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, [key.credential_id().as_str()]);
}

#[tokio::test]
async fn a_registered_passkey_signs_in_once_per_challenge_and_its_counter_is_kept() {
    let (store, alice) = store_with_alice().await;
    let mut key = SoftPasskey::new(ORIGIN);
    assert!(
        start_sign_in(
            &relying_party(),
            &store,
            &alice,
            &SESSION,
            at(0),
            &mut rng()
        )
        .await
        .unwrap()
        .is_none(),
        "no passkey, nothing to ask"
    );
    register(&store, &alice, &mut key).await;
    let factors = store.factors_of_user(&alice.id).await.unwrap();
    assert!(has_passkey(&factors));
    // The first factor comes with recovery codes.
    assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 10);

    let challenge = sign_in_challenge(&store, &alice, &SESSION).await;
    let answer = key.assert(&challenge.options_json);
    let amr = finish(
        &store,
        &alice,
        &SESSION,
        &challenge.ceremony_id,
        &answer,
        at(11),
    )
    .await
    .unwrap();
    assert_eq!(amr, ["hwk", "user", "mfa"]);
    let stored: Passkey =
        serde_json::from_slice(&store.factors_of_user(&alice.id).await.unwrap()[0].data).unwrap();
    let stored = serde_json::to_value(&stored).unwrap();
    assert_eq!(stored["cred"]["counter"], 2, "the counter of the last use");

    // The same answer again: the ceremony is gone.
    let replayed = finish(
        &store,
        &alice,
        &SESSION,
        &challenge.ceremony_id,
        &answer,
        at(12),
    )
    .await;
    assert!(matches!(replayed, Err(AccountsError::CeremonyOutOfDate)));
}

#[tokio::test]
async fn a_ceremony_belongs_to_its_session_and_lasts_five_minutes() {
    let (store, alice) = store_with_alice().await;
    let mut key = SoftPasskey::new(ORIGIN);
    register(&store, &alice, &mut key).await;

    let challenge = sign_in_challenge(&store, &alice, &SESSION).await;
    let answer = key.assert(&challenge.options_json);
    // Another browser session presenting it finds nothing, and leaves it for its own.
    let elsewhere = finish(
        &store,
        &alice,
        &OTHER_SESSION,
        &challenge.ceremony_id,
        &answer,
        at(11),
    )
    .await;
    assert!(matches!(elsewhere, Err(AccountsError::CeremonyOutOfDate)));
    // Too late: expired (and gone).
    let late = at(10) + CEREMONY_TTL;
    let expired = finish(
        &store,
        &alice,
        &SESSION,
        &challenge.ceremony_id,
        &answer,
        late,
    )
    .await;
    assert!(matches!(expired, Err(AccountsError::CeremonyOutOfDate)));
    assert_eq!(
        store
            .webauthn_ceremony_take(
                &challenge.ceremony_id,
                &SESSION,
                CeremonyKind::Authentication
            )
            .await
            .unwrap(),
        None
    );
    // Ids that cannot be ceremonies are refused before the store is asked.
    for id in ["", "fac_1", &"wac_".repeat(20)] {
        let refused = take_sign_in(&store, &SESSION, id, at(11)).await;
        assert!(
            matches!(refused, Err(AccountsError::CeremonyOutOfDate)),
            "{id}"
        );
    }
}

#[tokio::test]
async fn wrong_answers_are_rejected_and_spend_the_challenge() {
    let (store, alice) = store_with_alice().await;
    let mut key = SoftPasskey::new(ORIGIN);
    register(&store, &alice, &mut key).await;
    let mut stranger = SoftPasskey::new(ORIGIN);
    let mut phisher = SoftPasskey::new("http://localhost.evil.example:8080");

    type Answer = Box<dyn Fn(&Challenge, &mut SoftPasskey, &mut SoftPasskey) -> String>;
    let cases: Vec<(&str, Answer)> = vec![
        ("not JSON", Box::new(|_, _, _| "{".to_owned())),
        (
            "an unknown credential",
            Box::new(|c, _, stranger| stranger.assert(&c.options_json)),
        ),
        (
            "without user verification",
            Box::new(|c, key, _| {
                key.user_verified = false;
                let answer = key.assert(&c.options_json);
                key.user_verified = true;
                answer
            }),
        ),
        (
            "another origin",
            Box::new(|c, key, _| {
                let origin = std::mem::replace(&mut key.origin, "http://evil.example".to_owned());
                let answer = key.assert(&c.options_json);
                key.origin = origin;
                answer
            }),
        ),
        (
            "a counter that went back (a cloned key)",
            Box::new(|c, key, _| {
                key.counter = 0;
                key.assert(&c.options_json)
            }),
        ),
    ];
    for (what, answer) in cases {
        let challenge = sign_in_challenge(&store, &alice, &SESSION).await;
        let answer = answer(&challenge, &mut key, &mut stranger);
        let refused = finish(
            &store,
            &alice,
            &SESSION,
            &challenge.ceremony_id,
            &answer,
            at(11),
        )
        .await;
        assert!(
            matches!(refused, Err(AccountsError::PasskeyRejected(_))),
            "{what}: {refused:?}"
        );
        let again = take_sign_in(&store, &SESSION, &challenge.ceremony_id, at(11)).await;
        assert!(
            matches!(again, Err(AccountsError::CeremonyOutOfDate)),
            "{what}: one check per challenge"
        );
    }
    // An answer to another challenge of the same account (an old one, replayed).
    let old = sign_in_challenge(&store, &alice, &SESSION).await;
    let old_answer = key.assert(&old.options_json);
    let current = sign_in_challenge(&store, &alice, &SESSION).await;
    let refused = finish(
        &store,
        &alice,
        &SESSION,
        &current.ceremony_id,
        &old_answer,
        at(11),
    )
    .await;
    assert!(matches!(refused, Err(AccountsError::PasskeyRejected(_))));
    // A key registered from a phishing page is refused at registration.
    let rp = relying_party();
    let challenge = start_registration(&rp, &store, &alice, &SESSION, at(0), &mut rng())
        .await
        .unwrap();
    let refused = finish_registration(
        &rp,
        &store,
        &alice,
        &SESSION,
        &challenge.ceremony_id,
        &phisher.register(&challenge.options_json),
        "phone",
        at(1),
        &mut rng(),
    )
    .await;
    assert!(matches!(refused, Err(AccountsError::PasskeyRejected(_))));
    assert_eq!(store.factors_of_user(&alice.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_bad_name_does_not_spend_the_registration() {
    let (store, alice) = store_with_alice().await;
    let rp = relying_party();
    let mut key = SoftPasskey::new(ORIGIN);
    let challenge = start_registration(&rp, &store, &alice, &SESSION, at(0), &mut rng())
        .await
        .unwrap();
    let answer = key.register(&challenge.options_json);
    for name in ["", "   ", &"x".repeat(61)] {
        let refused = finish_registration(
            &rp,
            &store,
            &alice,
            &SESSION,
            &challenge.ceremony_id,
            &answer,
            name,
            at(1),
            &mut rng(),
        )
        .await;
        assert!(matches!(refused, Err(AccountsError::Policy(_))), "{name:?}");
    }
    finish_registration(
        &rp,
        &store,
        &alice,
        &SESSION,
        &challenge.ceremony_id,
        &answer,
        "laptop",
        at(1),
        &mut rng(),
    )
    .await
    .unwrap();
    let factors = store.factors_of_user(&alice.id).await.unwrap();
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].name, "laptop");
}

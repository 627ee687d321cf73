//! Tests of hashing, the password policy, the sign-in step and browser sessions.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_store::{MemoryStore, Store, User, UserStatus};
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

use super::password::DUMMY_HASH;
use super::*;
use crate::config::AccountsConfig;

fn password(text: &str) -> Password {
    Password::new(text.to_owned())
}

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(42)
}

const TIMEOUTS: SessionTimeouts = SessionTimeouts {
    idle: Duration::from_secs(3600),
    absolute: Duration::from_secs(86_400),
};

/// A user `alice` whose password is `correct horse battery`.
async fn store_with_alice() -> (MemoryStore, User) {
    let store = MemoryStore::new();
    let user = User {
        id: "usr_alice".to_owned(),
        username: "Alice".to_owned(),
        email: "alice@example.com".to_owned(),
        email_verified: false,
        display_name: None,
        tenant: None,
        status: UserStatus::Active,
        password_hash: Some(
            hash_password(&password("correct horse battery"), new_salt(&mut rng())).unwrap(),
        ),
        must_change_password: false,
        created_at: at(0),
        updated_at: at(0),
    };
    store.user_insert(&user).await.unwrap();
    (store, user)
}

#[test]
fn hashes_verify_their_password_only() {
    let salt = new_salt(&mut rng());
    let hash = hash_password(&password("correct horse battery"), salt).unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(verify_password(
        &password("correct horse battery"),
        Some(&hash)
    ));
    assert!(!verify_password(
        &password("correct horse batterY"),
        Some(&hash)
    ));
    assert!(!verify_password(&password(""), Some(&hash)));
    // Another salt, another hash.
    let other = hash_password(
        &password("correct horse battery"),
        new_salt(&mut StdRng::seed_from_u64(1)),
    )
    .unwrap();
    assert_ne!(hash, other);
    // A damaged stored hash matches nothing rather than failing.
    for damaged in ["", "$argon2id$", "plain text", &hash[..hash.len() - 4]] {
        assert!(
            !verify_password(&password("correct horse battery"), Some(damaged)),
            "{damaged}"
        );
    }
}

#[test]
fn the_dummy_hash_costs_what_a_real_one_costs_and_matches_nothing() {
    // Same algorithm, version and parameters as every hash made now, so verifying against it
    // takes as long as verifying against an account's hash.
    let real = hash_password(&password("x"), new_salt(&mut rng())).unwrap();
    let prefix = |h: &str| h.rsplitn(3, '$').nth(2).map(str::to_owned);
    assert_eq!(prefix(DUMMY_HASH), prefix(&real));
    assert_eq!(DUMMY_HASH.len(), real.len());
    assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
    assert!(!verify_password(&password(""), None));
    assert!(!verify_password(&password("correct horse battery"), None));
}

#[test]
fn passwords_and_salts_are_not_printed() {
    let secret = password("correct horse battery");
    assert_eq!(format!("{secret:?}"), "Password(..)");
    let session = SessionSecret::generate(&mut rng());
    assert!(!format!("{session:?}").contains(session.as_str()));
}

fn check_policy(password_text: &str, expect: Result<(), &str>) {
    let policy = PasswordPolicy { min_length: 12 };
    let result = policy.check(&password(password_text), "alice", "alice@example.com");
    match (result, expect) {
        (Ok(()), Ok(())) => {}
        (Err(AccountsError::Policy(message)), Err(needle)) => {
            assert!(message.contains(needle), "{password_text:?}: {message}");
        }
        (result, expect) => panic!("{password_text:?}: {result:?}, expected {expect:?}"),
    }
}

#[test]
fn password_policy() {
    check_policy("correct horse battery", Ok(()));
    check_policy("twelve chars", Ok(()));
    check_policy("eleven char", Err("at least 12 characters"));
    // Code points, not bytes: twelve accented letters are twelve characters.
    check_policy("fjéøåñçüßàèê", Ok(()));
    check_policy("fjéøåñçüßàè", Err("at least 12"));
    // No composition rules: spaces, symbols and emoji are all fine.
    check_policy("river 🔒 lamp ☂ quiet", Ok(()));
    let long: String = "a river, a lamp; quiet 17 stones "
        .chars()
        .cycle()
        .take(MAX_PASSWORD_BYTES)
        .collect();
    check_policy(&long, Ok(()));
    let too_long = format!("{long}x");
    check_policy(&too_long, Err("at most 1024 bytes"));
    check_policy("correct horse\n", Err("control characters"));
    check_policy("ALICE@example.com", Err("not be the username or the email"));
    let long_name = PasswordPolicy { min_length: 5 };
    assert!(matches!(
        long_name.check(&password("ALICE"), "alice", "a@example.com"),
        Err(AccountsError::Policy(_))
    ));
    // Common passwords, small changes to them, repeats, keyboard walks and the account's own
    // names are refused however long they are.
    for common in [
        "password1234",
        "Password123!",
        "qwertyuiop123",
        "iloveyou1234",
        "            ",
        "aaaaaaaaaaaaaaaa",
        "123456789012",
        "alice1234567",
        "alicealicealice",
    ] {
        check_policy(common, Err("too common"));
    }
}

#[test]
fn usernames_emails_and_display_names() {
    for ok in [
        "alice",
        "a",
        "alice.smith",
        "alice_s-1",
        "alice+mcp@example.com",
        "A1",
    ] {
        assert!(check_username(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        ".alice",
        "-alice",
        "alice smith",
        "alicé",
        "alice\n",
        "ali/ce",
        &"a".repeat(65),
    ] {
        assert!(check_username(bad).is_err(), "{bad:?}");
    }
    for ok in ["alice@example.com", "a@b", "ünïcode@example.com"] {
        assert!(check_email(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "alice",
        "@example.com",
        "alice@",
        "a@b@c",
        "a b@c",
        "a@b\n",
    ] {
        assert!(check_email(bad).is_err(), "{bad:?}");
    }
    assert!(check_display_name("Zoë O'Brien").is_ok());
    for bad in ["", "  ", "a\u{7}b", &"x".repeat(101)] {
        assert!(check_display_name(bad).is_err(), "{bad:?}");
    }
}

/// Counts verifications and remembers whether each was against a real hash.
#[derive(Debug, Default)]
struct Counting {
    verified: Mutex<Vec<bool>>,
}

#[async_trait]
impl PasswordHashing for Counting {
    async fn hash(&self, password: &Password, salt: Salt) -> Result<String, AccountsError> {
        InlineHashing.hash(password, salt).await
    }

    async fn verify(&self, password: &Password, phc: Option<&str>) -> Result<bool, AccountsError> {
        self.verified.lock().unwrap().push(phc.is_some());
        InlineHashing.verify(password, phc).await
    }
}

#[tokio::test]
async fn every_refusal_costs_one_verification_and_says_the_same() {
    let (store, alice) = store_with_alice().await;
    let no_password = User {
        id: "usr_nopass".to_owned(),
        username: "nopass".to_owned(),
        password_hash: None,
        ..alice.clone()
    };
    store.user_insert(&no_password).await.unwrap();
    let disabled = User {
        id: "usr_dis".to_owned(),
        username: "disabled".to_owned(),
        status: UserStatus::Disabled,
        ..alice.clone()
    };
    store.user_insert(&disabled).await.unwrap();

    // (username, password, against a real hash)
    let refusals = [
        ("alice", "wrong password!", true),
        ("nobody", "correct horse battery", false),
        ("nopass", "correct horse battery", false),
        ("disabled", "correct horse battery", true),
        ("alice", &"x".repeat(MAX_PASSWORD_BYTES + 1), false),
    ];
    for (username, text, real) in refusals {
        let hashing = Counting::default();
        let result = authenticate(&store, &hashing, username, &password(text)).await;
        let error = result.unwrap_err();
        assert!(
            matches!(error, AccountsError::InvalidCredentials),
            "{username}: {error:?}"
        );
        assert_eq!(error.to_string(), "invalid username or password");
        assert_eq!(*hashing.verified.lock().unwrap(), vec![real], "{username}");
    }

    for spelling in ["alice", "ALICE", "Alice"] {
        let hashing = Counting::default();
        let user = authenticate(
            &store,
            &hashing,
            spelling,
            &password("correct horse battery"),
        )
        .await
        .unwrap();
        assert_eq!(user.id, alice.id);
        assert_eq!(*hashing.verified.lock().unwrap(), vec![true]);
    }
}

#[test]
fn session_secrets_are_256_bits_of_base64url() {
    let mut rng = rng();
    let a = SessionSecret::generate(&mut rng);
    let b = SessionSecret::generate(&mut rng);
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 43);
    assert_eq!(SessionSecret::parse(a.as_str()), Some(a.clone()));
    for bad in [
        "",
        "short",
        &format!("{}=", &a.as_str()[..42]),
        &format!("{}x", a.as_str()),
        &format!("{}+", &a.as_str()[..42]),
    ] {
        assert_eq!(SessionSecret::parse(bad), None, "{bad:?}");
    }
    // The store keys sessions by the SHA-256 of the cookie value.
    assert_ne!(a.id_hash(), b.id_hash());
}

async fn started(store: &MemoryStore, user: &User, now: OffsetDateTime) -> StartedSession {
    let secret = SessionSecret::generate(&mut rng());
    start_session(
        store,
        &user.id,
        vec![AMR_PASSWORD.to_owned()],
        secret,
        None,
        TIMEOUTS,
        now,
        None,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn sessions_slide_until_idle_and_end_at_the_absolute_timeout() {
    let (store, alice) = store_with_alice().await;
    let started = started(&store, &alice, at(0)).await;
    assert_eq!(started.session.idle_expires_at, at(3600));
    assert_eq!(started.session.absolute_expires_at, at(86_400));
    assert_eq!(started.session.amr, vec!["pwd"]);
    let stored = store
        .browser_session_get(&started.secret.id_hash())
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), Some(&started.session));

    // Used within the minute: no write.
    let (_, session) = resume_session(&store, &started.secret, TIMEOUTS, at(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.last_seen_at, at(0));
    // Used every 59 minutes all day: alive until the absolute timeout, never past it.
    let mut now = at(0);
    while now + time::Duration::minutes(59) < at(86_400) {
        now += time::Duration::minutes(59);
        let resumed = resume_session(&store, &started.secret, TIMEOUTS, now)
            .await
            .unwrap();
        let (user, session) = resumed.unwrap_or_else(|| panic!("ended early at {now}"));
        assert_eq!(user.id, alice.id);
        assert_eq!(session.last_seen_at, now);
        assert!(session.idle_expires_at <= session.absolute_expires_at);
    }
    assert!(
        resume_session(&store, &started.secret, TIMEOUTS, at(86_400))
            .await
            .unwrap()
            .is_none()
    );
    // Expired sessions are deleted on the way.
    assert_eq!(
        store
            .browser_session_get(&started.secret.id_hash())
            .await
            .unwrap(),
        None
    );

    // Idle for the whole idle timeout: over.
    let idle = started_at_zero_then(&store, &alice).await;
    assert!(
        resume_session(&store, &idle, TIMEOUTS, at(3599))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        resume_session(&store, &idle, TIMEOUTS, at(3599 + 3600))
            .await
            .unwrap()
            .is_none()
    );
}

async fn started_at_zero_then(store: &MemoryStore, user: &User) -> SessionSecret {
    let secret = SessionSecret::generate(&mut StdRng::seed_from_u64(99));
    start_session(
        store,
        &user.id,
        Vec::new(),
        secret.clone(),
        None,
        TIMEOUTS,
        at(0),
        None,
    )
    .await
    .unwrap();
    secret
}

#[tokio::test]
async fn a_new_session_replaces_the_one_the_browser_held() {
    let (store, alice) = store_with_alice().await;
    let planted = started(&store, &alice, at(0)).await;
    let fresh = SessionSecret::generate(&mut StdRng::seed_from_u64(1));
    let renewed = start_session(
        &store,
        &alice.id,
        vec![AMR_PASSWORD.to_owned()],
        fresh,
        Some(&planted.secret),
        TIMEOUTS,
        at(10),
        None,
    )
    .await
    .unwrap();
    assert_ne!(renewed.secret, planted.secret);
    assert!(
        resume_session(&store, &planted.secret, TIMEOUTS, at(11))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        resume_session(&store, &renewed.secret, TIMEOUTS, at(11))
            .await
            .unwrap()
            .is_some()
    );
    assert!(end_session(&store, &renewed.secret).await.unwrap());
    assert!(!end_session(&store, &renewed.secret).await.unwrap());
}

#[tokio::test]
async fn disabled_users_lose_every_session_at_once() {
    let (store, alice) = store_with_alice().await;
    let one = started(&store, &alice, at(0)).await;
    let other = started_at_zero_then(&store, &alice).await;
    store
        .user_set_status(&alice.id, UserStatus::Disabled, at(5))
        .await
        .unwrap();
    assert!(
        resume_session(&store, &one.secret, TIMEOUTS, at(6))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.browser_session_get(&other.id_hash()).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_set_password_is_a_pending_step_until_changed() {
    let (store, mut alice) = store_with_alice().await;
    let session = started(&store, &alice, at(0)).await;
    let accounts = AccountsConfig::default();
    let amr = &session.session.amr;
    assert_eq!(
        pending_step(&store, &accounts, &alice, amr).await.unwrap(),
        None
    );
    alice.must_change_password = true;
    assert_eq!(
        pending_step(&store, &accounts, &alice, amr).await.unwrap(),
        Some(PendingStep::ChangePassword)
    );

    let policy = PasswordPolicy { min_length: 12 };
    let salt = new_salt(&mut rng());
    let change = |current: &'static str, new: &'static str| {
        let (store, alice) = (&store, &alice);
        async move {
            change_password(
                store,
                &InlineHashing,
                &policy,
                alice,
                &password(current),
                &password(new),
                salt,
                at(20),
            )
            .await
        }
    };
    assert!(matches!(
        change("wrong current", "a new long password").await,
        Err(AccountsError::WrongPassword)
    ));
    assert!(matches!(
        change("correct horse battery", "short").await,
        Err(AccountsError::Policy(_))
    ));
    assert!(matches!(
        change("correct horse battery", "correct horse battery").await,
        Err(AccountsError::Policy(_))
    ));
    // Nothing was written by the refusals.
    assert_eq!(
        store.user_get(&alice.id).await.unwrap().unwrap().updated_at,
        at(0)
    );
    assert!(
        store
            .browser_session_get(&session.secret.id_hash())
            .await
            .unwrap()
            .is_some()
    );

    change("correct horse battery", "a new long password")
        .await
        .unwrap();
    let changed = store.user_get(&alice.id).await.unwrap().unwrap();
    assert!(!changed.must_change_password);
    assert_eq!(changed.updated_at, at(20));
    assert!(verify_password(
        &password("a new long password"),
        changed.password_hash.as_deref()
    ));
    // Every session of the account ended; the caller starts a new one.
    assert_eq!(
        store
            .browser_session_get(&session.secret.id_hash())
            .await
            .unwrap(),
        None
    );
}

mod second_factors {
    use portcullis_store::{FactorKind, FactorUse};

    use super::*;
    use crate::accounts::mfa::{
        self, AMR_MFA, AMR_OTP, RecoveryCode, enroll_totp, remove_factor, verify_code,
    };
    use crate::accounts::totp::TotpSecret;
    use crate::config::MfaPolicy;
    use crate::crypto::seal::Sealer;

    fn sealer() -> Sealer {
        Sealer::generate(&mut rng()).unwrap()
    }

    async fn enrolled(
        store: &MemoryStore,
        sealer: &Sealer,
        alice: &User,
    ) -> (TotpSecret, Vec<RecoveryCode>) {
        let secret = TotpSecret::generate(&mut rng());
        let enrolled = enroll_totp(
            store,
            sealer,
            alice,
            &secret,
            &secret.code_at(at(0)),
            "Phone",
            at(0),
            &mut rng(),
        )
        .await
        .unwrap();
        assert_eq!(enrolled.factor.kind, FactorKind::Totp);
        assert_eq!(enrolled.factor.name, "Phone");
        // The secret is sealed, never stored as it is.
        assert!(
            !enrolled
                .factor
                .data
                .windows(secret.as_bytes().len())
                .any(|w| w == secret.as_bytes())
        );
        (secret, enrolled.recovery_codes.unwrap())
    }

    #[tokio::test]
    async fn enrolment_needs_the_apps_current_code() {
        let (store, alice) = store_with_alice().await;
        let sealer = sealer();
        let secret = TotpSecret::generate(&mut rng());
        let wrong = secret.code_at(at(-120));
        let refused = enroll_totp(
            &store,
            &sealer,
            &alice,
            &secret,
            &wrong,
            "Phone",
            at(0),
            &mut rng(),
        )
        .await;
        assert!(
            matches!(refused, Err(AccountsError::InvalidCode)),
            "{refused:?}"
        );
        let unnamed = enroll_totp(
            &store,
            &sealer,
            &alice,
            &secret,
            &secret.code_at(at(0)),
            " ",
            at(0),
            &mut rng(),
        )
        .await;
        assert!(
            matches!(unnamed, Err(AccountsError::Policy(_))),
            "{unnamed:?}"
        );
        // Nothing was kept from the refused attempts.
        assert!(store.factors_of_user(&alice.id).await.unwrap().is_empty());
        assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_factor_sealed_under_a_lost_key_never_matches_but_recovery_codes_still_work() {
        let (store, alice) = store_with_alice().await;
        let (secret, codes) = enrolled(&store, &sealer(), &alice).await;
        let other_keys = Sealer::generate(&mut StdRng::seed_from_u64(99)).unwrap();
        let code = secret.code_at(at(60));
        assert!(matches!(
            verify_code(&store, &other_keys, &alice, &code, at(60)).await,
            Err(AccountsError::InvalidCode)
        ));
        let amr = verify_code(&store, &other_keys, &alice, codes[0].as_str(), at(60))
            .await
            .unwrap();
        assert_eq!(amr, [AMR_OTP, AMR_MFA]);
    }

    #[tokio::test]
    async fn each_code_signs_in_once_and_recovery_codes_work_once() {
        let (store, alice) = store_with_alice().await;
        let sealer = sealer();
        let (secret, codes) = enrolled(&store, &sealer, &alice).await;
        assert_eq!(codes.len(), mfa::RECOVERY_CODES);
        // The enrolment code itself cannot sign in: its step is used.
        let enrolment_code = secret.code_at(at(0));
        assert!(matches!(
            verify_code(&store, &sealer, &alice, &enrolment_code, at(5)).await,
            Err(AccountsError::InvalidCode)
        ));
        let next = secret.code_at(at(30));
        let amr = verify_code(&store, &sealer, &alice, &next, at(31))
            .await
            .unwrap();
        assert_eq!(amr, vec![AMR_OTP.to_owned(), AMR_MFA.to_owned()]);
        assert!(matches!(
            verify_code(&store, &sealer, &alice, &next, at(32)).await,
            Err(AccountsError::InvalidCode)
        ));
        for wrong in ["000000", "not a code", ""] {
            assert!(matches!(
                verify_code(&store, &sealer, &alice, wrong, at(40)).await,
                Err(AccountsError::InvalidCode)
            ));
        }
        // A recovery code, typed loosely, works once.
        let typed = codes[0].as_str().to_uppercase().replace('-', " ");
        verify_code(&store, &sealer, &alice, &typed, at(50))
            .await
            .unwrap();
        assert!(matches!(
            verify_code(&store, &sealer, &alice, codes[0].as_str(), at(51)).await,
            Err(AccountsError::InvalidCode)
        ));
        assert_eq!(
            store.recovery_codes_left(&alice.id).await.unwrap(),
            u32::try_from(mfa::RECOVERY_CODES - 1).unwrap()
        );
        // Codes are three groups of four from the unambiguous alphabet, all different.
        let mut seen = std::collections::HashSet::new();
        for code in &codes {
            let text = code.as_str();
            assert_eq!(text.len(), 14, "{text}");
            assert!(!text.contains(['0', '1', 'o', 'l', 'i']), "{text}");
            assert!(seen.insert(text.to_owned()));
        }
        assert_eq!(format!("{:?}", codes[0]), "RecoveryCode(..)");
    }

    #[tokio::test]
    async fn a_sealed_secret_moved_to_another_factor_does_not_open() {
        let (store, alice) = store_with_alice().await;
        let sealer = sealer();
        let (secret, _) = enrolled(&store, &sealer, &alice).await;
        let original = store.factors_of_user(&alice.id).await.unwrap().remove(0);
        let copy = portcullis_store::Factor {
            id: "fac_copy".to_owned(),
            ..original.clone()
        };
        store.factor_delete(&alice.id, &original.id).await.unwrap();
        store.factor_insert(&copy).await.unwrap();
        assert!(matches!(
            verify_code(&store, &sealer, &alice, &secret.code_at(at(60)), at(60)).await,
            Err(AccountsError::InvalidCode)
        ));
        // Nor under other encryption keys.
        let other_keys = Sealer::generate(&mut StdRng::seed_from_u64(99)).unwrap();
        store.factor_delete(&alice.id, "fac_copy").await.unwrap();
        store.factor_insert(&original).await.unwrap();
        assert!(matches!(
            verify_code(&store, &other_keys, &alice, &secret.code_at(at(60)), at(60)).await,
            Err(AccountsError::InvalidCode)
        ));
        assert_eq!(
            store
                .factor_use(&alice.id, &original.id, Some(0), None, at(61))
                .await
                .unwrap(),
            FactorUse::Replayed
        );
    }

    #[tokio::test]
    async fn the_pending_steps_follow_the_policy_and_the_factors() {
        let (store, mut alice) = store_with_alice().await;
        let sealer = sealer();
        let pwd = vec![AMR_PASSWORD.to_owned()];
        let both = vec![
            AMR_PASSWORD.to_owned(),
            AMR_OTP.to_owned(),
            AMR_MFA.to_owned(),
        ];
        let mut accounts = AccountsConfig::default();
        let step = |accounts: &AccountsConfig, alice: &User, amr: &[String]| {
            let (store, accounts, alice, amr) =
                (&store, accounts.clone(), alice.clone(), amr.to_vec());
            async move { pending_step(store, &accounts, &alice, &amr).await.unwrap() }
        };
        // Optional, nothing enrolled: signed in.
        assert_eq!(step(&accounts, &alice, &pwd).await, None);
        // Required, nothing enrolled: enrol first.
        accounts.mfa = MfaPolicy::Required;
        assert_eq!(
            step(&accounts, &alice, &pwd).await,
            Some(PendingStep::EnrollSecondFactor)
        );
        // Per tenant.
        accounts.mfa = MfaPolicy::Optional;
        accounts
            .mfa_by_tenant
            .insert("acme".to_owned(), MfaPolicy::Required);
        alice.tenant = Some("acme".to_owned());
        assert_eq!(
            step(&accounts, &alice, &pwd).await,
            Some(PendingStep::EnrollSecondFactor)
        );
        alice.tenant = None;
        // Enrolled: the factor is asked for, before a password change.
        enrolled(&store, &sealer, &alice).await;
        alice.must_change_password = true;
        assert_eq!(
            step(&accounts, &alice, &pwd).await,
            Some(PendingStep::SecondFactor)
        );
        assert_eq!(
            step(&accounts, &alice, &both).await,
            Some(PendingStep::ChangePassword)
        );
        alice.must_change_password = false;
        assert_eq!(step(&accounts, &alice, &both).await, None);
        // Off: never asked for.
        accounts.mfa = MfaPolicy::Off;
        assert_eq!(step(&accounts, &alice, &pwd).await, None);
        // Removing the last factor removes the recovery codes too.
        accounts.mfa = MfaPolicy::Optional;
        let factor = store.factors_of_user(&alice.id).await.unwrap().remove(0);
        assert!(
            remove_factor(&store, &alice, &factor.id, None)
                .await
                .unwrap()
        );
        assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 0);
        assert_eq!(step(&accounts, &alice, &pwd).await, None);
    }
}

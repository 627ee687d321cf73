//! Local accounts: create (with a password the operator gives, or a generated one-time password
//! the user must replace at first sign-in), list, show, disable and enable. Rows never leave
//! here with a password; a generated one is returned once.

use portcullis_store::{Store, StoreError, User, UserStatus};
use rand::{Rng, RngCore};
use time::OffsetDateTime;

use super::AdminError;
use crate::accounts::{
    self, AccountsError, Password, PasswordHashing, PasswordPolicy, check_display_name,
    check_email, check_username,
};
use crate::audit::{AuditContext, action};
use crate::auth::api_key::base62;
use crate::config::validate::is_valid_name;

/// The prefix of every user id.
pub const USER_ID_PREFIX: &str = "usr_";
/// Characters of a generated one-time password: letters and digits without the ones people
/// confuse (`0`/`O`, `1`/`l`/`I`).
const GENERATED_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a generated one-time password: 20 characters of a 57-letter alphabet, 116 bits.
const GENERATED_LEN: usize = 20;

/// The first password of a new account.
#[derive(Debug, Clone)]
pub enum InitialPassword {
    /// The operator chose it (read from stdin, never from the command line).
    Given(Password),
    /// Generate a one-time password, shown once; the user must change it at first sign-in.
    Generate,
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub password: InitialPassword,
}

/// A created account, with its generated one-time password when one was asked for.
#[derive(Debug)]
pub struct Created {
    pub user: User,
    /// Shown once; `Password`'s `Debug` never prints it.
    pub one_time_password: Option<Password>,
}

/// A random user id: `usr_` and 22 base62 digits (128 bits), so ids neither reveal how many
/// accounts exist nor can be guessed.
pub fn new_user_id(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    format!("{USER_ID_PREFIX}{}", base62(&bytes, 22))
}

fn generate_password(rng: &mut impl RngCore) -> Password {
    let password = (0..GENERATED_LEN)
        .filter_map(|_| {
            GENERATED_ALPHABET
                .get(rng.random_range(0..GENERATED_ALPHABET.len()))
                .map(|&b| char::from(b))
        })
        .collect();
    Password::new(password)
}

fn invalid(e: AccountsError) -> AdminError {
    match e {
        AccountsError::Store(e) => AdminError::Store(e),
        other => AdminError::Invalid(other.to_string()),
    }
}

/// Creates an account. Nothing is stored when the request is invalid or the username is taken
/// (in any case).
pub async fn create(
    store: &dyn Store,
    audit: &AuditContext,
    hashing: &dyn PasswordHashing,
    policy: &PasswordPolicy,
    new: NewUser<'_>,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<Created, AdminError> {
    check_username(new.username).map_err(invalid)?;
    check_email(new.email).map_err(invalid)?;
    if let Some(name) = new.display_name {
        check_display_name(name).map_err(invalid)?;
    }
    if let Some(tenant) = new.tenant
        && !is_valid_name(tenant)
    {
        return Err(AdminError::Invalid(format!(
            "the tenant {tenant:?} must be 1-63 lowercase letters, digits, '-' or '_'"
        )));
    }
    let (password, one_time) = match new.password {
        InitialPassword::Given(password) => {
            policy
                .check(&password, new.username, new.email)
                .map_err(invalid)?;
            (password, false)
        }
        InitialPassword::Generate => (generate_password(rng), true),
    };
    let id = new_user_id(rng);
    let salt = accounts::new_salt(rng);
    // Checked before the expensive hash; the insert below still decides a race.
    if store.user_get_by_username(new.username).await?.is_some() {
        return Err(taken(new.username));
    }
    let hash = hashing.hash(&password, salt).await.map_err(invalid)?;
    let user = User {
        id,
        username: new.username.to_owned(),
        email: new.email.to_owned(),
        email_verified: false,
        display_name: new.display_name.map(str::to_owned),
        tenant: new.tenant.map(str::to_owned),
        status: UserStatus::Active,
        password_hash: Some(hash),
        must_change_password: one_time,
        created_at: now,
        updated_at: now,
    };
    let event = audit.event(now, action::USER_CREATE, Some(&user_target(&user)));
    match store.user_insert_audited(&user, event.as_ref()).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(taken(new.username)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %user.id, "account created");
    Ok(Created {
        user,
        one_time_password: one_time.then_some(password),
    })
}

/// An account as the audit log names it: its username and id.
pub fn user_target(user: &User) -> String {
    format!("{} ({})", user.username, user.id)
}

fn taken(username: &str) -> AdminError {
    AdminError::Conflict(format!("the username {username:?} is taken"))
}

/// Every account, by username.
/// The demo's first account: `admin` with a generated one-time password, created only while
/// the store has no account at all (so restarting the demo never adds or resets one). `None`
/// when accounts exist already.
pub async fn create_first_admin(
    store: &dyn Store,
    audit: &AuditContext,
    hashing: &dyn PasswordHashing,
    policy: &PasswordPolicy,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<Option<Created>, AdminError> {
    if !store.user_list().await?.is_empty() {
        return Ok(None);
    }
    let new = NewUser {
        username: FIRST_ADMIN,
        email: "admin@localhost.localdomain",
        display_name: Some("Administrator"),
        tenant: None,
        password: InitialPassword::Generate,
    };
    let created = create(store, audit, hashing, policy, new, now, rng).await?;
    super::roles::grant_everywhere(
        store,
        audit,
        &created.user.id,
        &["owner".to_owned()],
        now,
        rng,
    )
    .await?;
    Ok(Some(created))
}

/// The username of the demo's first account (granted the `owner` role).
pub const FIRST_ADMIN: &str = "admin";

pub async fn list(store: &dyn Store) -> Result<Vec<User>, AdminError> {
    Ok(store.user_list().await?)
}

/// The account `username` names (without regard to case).
pub async fn show(store: &dyn Store, username: &str) -> Result<User, AdminError> {
    store
        .user_get_by_username(username)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no account has the username {username:?}")))
}

/// Disables or re-enables an account; returns it as it now is. Disabling also ends every
/// browser session of the account at once (ASVS 7.4.2) and revokes every grant it gave, so its
/// access tokens stop at the next request on every replica (which learn revoked grants from the
/// store within a second), not when they expire (ASVS 8.3.2, reference A8).
pub async fn set_status(
    store: &dyn Store,
    audit: &AuditContext,
    username: &str,
    status: UserStatus,
    now: OffsetDateTime,
) -> Result<User, AdminError> {
    let user = show(store, username).await?;
    let verb = match status {
        UserStatus::Disabled => action::USER_DISABLE,
        UserStatus::Active => action::USER_ENABLE,
    };
    let event = audit.event(now, verb, Some(&user_target(&user)));
    store
        .user_set_status_audited(&user.id, status, now, event.as_ref())
        .await?;
    if status == UserStatus::Disabled {
        store.browser_sessions_delete_user(&user.id).await?;
        for grant in store.grants_of_subject(&user.id).await? {
            store.grant_revoke(&grant.id, now).await?;
        }
        store.provider_tokens_delete_user(&user.id).await?;
    }
    tracing::info!(user = %user.id, status = status.as_str(), "account status set");
    show(store, username).await
}

/// Deletes an account with everything that is its own: its grants are revoked first (so every
/// token issued under them stops working, on every replica, within the revocation poll), then
/// the account, its browser sessions, second factors and recovery codes go. Returns the number
/// of grants revoked.
pub async fn delete(
    store: &dyn Store,
    audit: &AuditContext,
    username: &str,
    now: OffsetDateTime,
) -> Result<(User, usize), AdminError> {
    let user = show(store, username).await?;
    let revoked = revoke_grants(store, &user, now).await?;
    // Its roles go too, so that no grant outlives the account it names.
    for role_grant in store.role_grant_list().await? {
        if role_grant.grantee_kind == portcullis_store::GranteeKind::User
            && role_grant.grantee == user.id
        {
            store.role_grant_delete(&role_grant.id).await?;
        }
    }
    let event = audit.event(now, action::USER_DELETE, Some(&user_target(&user)));
    store.user_delete_audited(&user.id, event.as_ref()).await?;
    tracing::info!(user = %user.id, grants = revoked, "account deleted");
    Ok((user, revoked))
}

/// Revokes every grant the account holds; returns how many.
async fn revoke_grants(
    store: &dyn Store,
    user: &User,
    now: OffsetDateTime,
) -> Result<usize, AdminError> {
    let mut revoked = 0;
    for grant in store.grants_of_subject(&user.id).await? {
        if store.grant_revoke(&grant.id, now).await? {
            revoked += 1;
        }
    }
    Ok(revoked)
}

/// Gives an account a new generated one-time password that must be changed at the next
/// sign-in, and ends every browser session of the account. Clients keep their grants: the
/// person proved who they are when they consented, and an operator who suspects a stolen
/// account disables it instead.
pub async fn reset_password(
    store: &dyn Store,
    audit: &AuditContext,
    hashing: &dyn PasswordHashing,
    username: &str,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<Created, AdminError> {
    let user = show(store, username).await?;
    let password = generate_password(rng);
    let hash = hashing
        .hash(&password, accounts::new_salt(rng))
        .await
        .map_err(invalid)?;
    let event = audit.event(now, action::USER_RESET_PASSWORD, Some(&user_target(&user)));
    if !store
        .user_set_password_audited(&user.id, &hash, true, now, event.as_ref())
        .await?
    {
        return Err(AdminError::NotFound(format!(
            "no account has the username {username:?}"
        )));
    }
    store.browser_sessions_delete_user(&user.id).await?;
    tracing::info!(user = %user.id, "password reset by an operator");
    Ok(Created {
        user: show(store, username).await?,
        one_time_password: Some(password),
    })
}

/// Removes every second factor and recovery code of an account (a person who lost their
/// authenticator) and ends its browser sessions; returns the account and how many factors went.
/// Where the policy requires a second factor, the person enrols a new one at the next sign-in.
pub async fn reset_mfa(
    store: &dyn Store,
    audit: &AuditContext,
    username: &str,
    now: OffsetDateTime,
) -> Result<(User, u64), AdminError> {
    let user = show(store, username).await?;
    let event = audit.event(now, action::USER_RESET_MFA, Some(&user_target(&user)));
    let factors = store.mfa_reset_audited(&user.id, event.as_ref()).await?;
    store.browser_sessions_delete_user(&user.id).await?;
    tracing::info!(user = %user.id, factors, "second factors reset by an operator");
    Ok((user, factors))
}

#[cfg(test)]
mod tests {
    use portcullis_store::MemoryStore;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn cli() -> AuditContext {
        AuditContext::cli("root", true)
    }
    use crate::accounts::{InlineHashing, verify_password};

    const NOW: i64 = 1_800_000_000;

    fn new(username: &str) -> NewUser<'_> {
        NewUser {
            username,
            email: "alice@example.com",
            display_name: Some("Alice"),
            tenant: Some("acme"),
            password: InitialPassword::Given(Password::new("correct horse battery".to_owned())),
        }
    }

    fn policy() -> PasswordPolicy {
        PasswordPolicy { min_length: 12 }
    }

    /// A store holding `alice` (password `correct horse battery`), the time, and an RNG.
    async fn with_alice(seed: u64) -> (MemoryStore, Created, OffsetDateTime, StdRng) {
        let store = MemoryStore::new();
        let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        let policy = policy();
        let created = create(
            &store,
            &cli(),
            &InlineHashing,
            &policy,
            new("alice"),
            now,
            &mut rng,
        )
        .await
        .unwrap();
        (store, created, now, rng)
    }

    #[tokio::test]
    async fn created_accounts_keep_only_a_hash_and_generated_passwords_must_be_changed() {
        let (store, created, now, mut rng) = with_alice(7).await;
        assert!(created.one_time_password.is_none());
        assert!(!created.user.must_change_password);
        assert!(created.user.id.starts_with(USER_ID_PREFIX) && created.user.id.len() == 26);
        let stored = store.user_get(&created.user.id).await.unwrap().unwrap();
        assert_eq!(stored, created.user);
        let hash = stored.password_hash.as_deref().unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let given = Password::new("correct horse battery".to_owned());
        assert!(verify_password(&given, Some(hash)));

        let mut generated = new("bob");
        generated.password = InitialPassword::Generate;
        let created = create(
            &store,
            &cli(),
            &InlineHashing,
            &policy(),
            generated,
            now,
            &mut rng,
        )
        .await
        .unwrap();
        let one_time = created.one_time_password.clone().unwrap();
        assert_eq!(one_time.as_str().len(), GENERATED_LEN);
        assert!(created.user.must_change_password);
        assert!(verify_password(
            &one_time,
            created.user.password_hash.as_deref()
        ));
        assert!(!format!("{created:?}{:?}", created.user).contains(one_time.as_str()));
        assert_eq!(list(&store).await.unwrap().len(), 2);
        assert_eq!(show(&store, "ALICE").await.unwrap().username, "alice");
    }

    #[tokio::test]
    async fn the_first_admin_is_made_once_and_only_into_an_empty_store() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let first = create_first_admin(&store, &cli(), &InlineHashing, &policy(), now, &mut rng)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.user.username, FIRST_ADMIN);
        assert!(first.user.must_change_password);
        let password = first.one_time_password.unwrap();
        assert!(verify_password(
            &password,
            first.user.password_hash.as_deref()
        ));
        // A restart changes nothing: no second account, the password stays.
        let again = create_first_admin(&store, &cli(), &InlineHashing, &policy(), now, &mut rng)
            .await
            .unwrap();
        assert!(again.is_none());
        assert_eq!(list(&store).await.unwrap(), vec![first.user]);
        // Nor is one made beside accounts an operator created.
        let (store, _, now, mut rng) = with_alice(4).await;
        assert!(
            create_first_admin(&store, &cli(), &InlineHashing, &policy(), now, &mut rng)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(list(&store).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_requests_and_taken_usernames_store_nothing() {
        let (store, _, now, mut rng) = with_alice(8).await;
        let with = |f: &dyn Fn(&mut NewUser<'static>)| {
            let mut n = new("carol");
            f(&mut n);
            n
        };
        let cases: Vec<(NewUser<'static>, &str)> = vec![
            (new(""), "username"),
            (new("-carol"), "username"),
            (new("carol smith"), "username"),
            (new("çarol"), "username"),
            (with(&|n| n.email = "carol"), "email"),
            (with(&|n| n.email = "carol @example.com"), "email"),
            (with(&|n| n.display_name = Some(" ")), "display name"),
            (with(&|n| n.tenant = Some("Acme")), "tenant"),
            (
                with(&|n| n.password = InitialPassword::Given(Password::new("short".to_owned()))),
                "at least 12",
            ),
            (
                with(&|n| {
                    n.email = "carol.from.accounting@example.com";
                    n.password = InitialPassword::Given(Password::new(
                        "Carol.From.Accounting@example.com".to_owned(),
                    ));
                }),
                "must not be the username or the email",
            ),
        ];
        for (request, needle) in cases {
            let username = request.username;
            let result = create(
                &store,
                &cli(),
                &InlineHashing,
                &policy(),
                request,
                now,
                &mut rng,
            )
            .await;
            match result {
                Err(AdminError::Invalid(message)) => {
                    assert!(message.contains(needle), "{username}: {message}");
                }
                other => panic!("{username}: {other:?}"),
            }
        }
        let taken = create(
            &store,
            &cli(),
            &InlineHashing,
            &policy(),
            new("Alice"),
            now,
            &mut rng,
        )
        .await;
        assert!(matches!(taken, Err(AdminError::Conflict(_))), "{taken:?}");
        assert_eq!(list(&store).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn disabling_ends_every_session_and_unknown_users_are_not_found() {
        let (store, created, now, mut rng) = with_alice(9).await;
        let timeouts = accounts::SessionTimeouts {
            idle: std::time::Duration::from_secs(3600),
            absolute: std::time::Duration::from_secs(86_400),
        };
        let secret = accounts::SessionSecret::generate(&mut rng);
        accounts::start_session(
            &store,
            &created.user.id,
            vec![accounts::AMR_PASSWORD.to_owned()],
            secret.clone(),
            None,
            timeouts,
            now,
            None,
        )
        .await
        .unwrap();
        let disabled = set_status(&store, &cli(), "alice", UserStatus::Disabled, now)
            .await
            .unwrap();
        assert_eq!(disabled.status, UserStatus::Disabled);
        assert_eq!(
            store.browser_session_get(&secret.id_hash()).await.unwrap(),
            None
        );
        let enabled = set_status(&store, &cli(), "alice", UserStatus::Active, now)
            .await
            .unwrap();
        assert_eq!(enabled.status, UserStatus::Active);
        assert!(matches!(
            show(&store, "nobody").await,
            Err(AdminError::NotFound(_))
        ));
    }

    /// A session for `user` at `now`; returns its secret.
    async fn session_of(
        store: &MemoryStore,
        user: &User,
        now: OffsetDateTime,
        rng: &mut StdRng,
    ) -> accounts::SessionSecret {
        let timeouts = accounts::SessionTimeouts {
            idle: std::time::Duration::from_secs(3600),
            absolute: std::time::Duration::from_secs(86_400),
        };
        let secret = accounts::SessionSecret::generate(rng);
        accounts::start_session(
            store,
            &user.id,
            vec![accounts::AMR_PASSWORD.to_owned()],
            secret.clone(),
            None,
            timeouts,
            now,
            None,
        )
        .await
        .unwrap();
        secret
    }

    #[tokio::test]
    async fn a_reset_password_is_one_time_and_ends_every_session() {
        let (store, created, now, mut rng) = with_alice(11).await;
        let secret = session_of(&store, &created.user, now, &mut rng).await;
        let reset = reset_password(&store, &cli(), &InlineHashing, "ALICE", now, &mut rng)
            .await
            .unwrap();
        let password = reset.one_time_password.expect("a generated password");
        assert!(reset.user.must_change_password);
        let hash = reset.user.password_hash.as_deref().unwrap();
        assert!(verify_password(&password, Some(hash)));
        let old = Password::new("correct horse battery".to_owned());
        assert!(!verify_password(&old, Some(hash)));
        assert_eq!(
            store.browser_session_get(&secret.id_hash()).await.unwrap(),
            None
        );
        assert!(matches!(
            reset_password(&store, &cli(), &InlineHashing, "nobody", now, &mut rng).await,
            Err(AdminError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn resetting_second_factors_removes_them_all_and_ends_every_session() {
        let (store, created, now, mut rng) = with_alice(12).await;
        let sealer = crate::crypto::seal::Sealer::generate(&mut rng).unwrap();
        let secret = crate::accounts::totp::TotpSecret::generate(&mut rng);
        let code = secret.code_at(now);
        let enrolled = crate::accounts::mfa::enroll_totp(
            &store,
            &sealer,
            &created.user,
            &secret,
            &code,
            "phone",
            now,
            &mut rng,
        )
        .await
        .unwrap();
        assert!(enrolled.recovery_codes.is_some());
        let session = session_of(&store, &created.user, now, &mut rng).await;
        let (_, factors) = reset_mfa(&store, &cli(), "alice", now).await.unwrap();
        assert_eq!(factors, 1);
        assert!(
            store
                .factors_of_user(&created.user.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.recovery_codes_left(&created.user.id).await.unwrap(),
            0
        );
        assert_eq!(
            store.browser_session_get(&session.id_hash()).await.unwrap(),
            None
        );
        assert!(matches!(
            reset_mfa(&store, &cli(), "nobody", now).await,
            Err(AdminError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn deleting_an_account_removes_it_and_its_sessions() {
        let (store, created, now, mut rng) = with_alice(13).await;
        let session = session_of(&store, &created.user, now, &mut rng).await;
        let (deleted, grants) = delete(&store, &cli(), "alice", now).await.unwrap();
        assert_eq!(deleted.id, created.user.id);
        assert_eq!(grants, 0);
        assert_eq!(store.user_get(&created.user.id).await.unwrap(), None);
        assert_eq!(
            store.browser_session_get(&session.id_hash()).await.unwrap(),
            None
        );
        assert!(matches!(
            delete(&store, &cli(), "alice", now).await,
            Err(AdminError::NotFound(_))
        ));
    }
}

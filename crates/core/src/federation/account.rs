//! Which Portcullis account an identity from a provider signs in to: the one it is linked to,
//! one it is linked to now (by a signed-in person, or by a verified email address under
//! `linking = "by_verified_email"`), or a new one — created together with its link in one
//! transaction, so a failure never leaves half an account.

use portcullis_store::{
    ExternalIdentity, GrantScopeKind, GranteeKind, Store, StoreError, StoredRoleGrant, User,
    UserStatus,
};
use rand::RngCore;
use time::OffsetDateTime;

use super::{FederationError, Provider, ProviderIdentity};
use crate::accounts::{check_email, check_username};
use crate::admin::users::{new_user_id, user_target};
use crate::audit::{AuditContext, SUCCESS, action};
use crate::auth::Tenants;
use crate::config::Linking;

/// The account an identity signed in to, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountOutcome {
    /// The identity was linked to this account already.
    Existing(User),
    /// The identity was linked to this existing account now.
    Linked(User),
    /// A new account was made for the identity.
    Created(User),
}

impl AccountOutcome {
    pub fn user(&self) -> &User {
        match self {
            AccountOutcome::Existing(u)
            | AccountOutcome::Linked(u)
            | AccountOutcome::Created(u) => u,
        }
    }
}

fn link_row(identity: &ProviderIdentity, user_id: &str, now: OffsetDateTime) -> ExternalIdentity {
    ExternalIdentity {
        provider: identity.provider.clone(),
        subject: identity.subject.clone(),
        user_id: user_id.to_owned(),
        email: identity.email.clone(),
        email_verified: identity.email_verified,
        created_at: now,
        last_sign_in_at: now,
    }
}

fn usable(user: User) -> Result<User, FederationError> {
    if user.status == UserStatus::Active {
        Ok(user)
    } else {
        Err(FederationError::Account(
            "This account is disabled. Ask an administrator.".into(),
        ))
    }
}

/// Finds or makes the account of `identity`. `linking_user` is the signed-in person who asked
/// to link this provider to their account (from the account page), if any.
#[allow(
    clippy::too_many_arguments,
    reason = "who acts (the audit context) joins what the sign-in already needed"
)]
pub async fn account_for(
    store: &dyn Store,
    audit: &AuditContext,
    provider: &Provider,
    tenants: &Tenants,
    identity: &ProviderIdentity,
    linking_user: Option<&User>,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<AccountOutcome, FederationError> {
    if let Some(linked) = store
        .external_identity_get(&identity.provider, &identity.subject)
        .await?
    {
        if linking_user.is_some_and(|u| u.id != linked.user_id) {
            return Err(FederationError::Account(
                "This account at the provider is linked to another Portcullis account already."
                    .into(),
            ));
        }
        let user = store.user_get(&linked.user_id).await?.ok_or_else(|| {
            FederationError::Account("The linked account no longer exists.".into())
        })?;
        let user = usable(user)?;
        store
            .external_identity_signed_in(
                &identity.provider,
                &identity.subject,
                identity.email.as_deref(),
                identity.email_verified,
                now,
            )
            .await?;
        return Ok(AccountOutcome::Existing(user));
    }
    if let Some(user) = linking_user {
        let user = usable(user.clone())?;
        insert_link(store, audit, identity, &user, "by its owner", now).await?;
        tracing::info!(user = %user.id, provider = %identity.provider, "identity linked by its owner");
        return Ok(AccountOutcome::Linked(user));
    }

    let same_email = match identity.email.as_deref() {
        Some(email) => store.users_by_email(email).await?,
        None => Vec::new(),
    };
    let verified: Vec<&User> = same_email.iter().filter(|u| u.email_verified).collect();
    match provider.config.linking {
        Linking::ByVerifiedEmail if identity.email_verified && !verified.is_empty() => {
            // Both sides vouch for the address; an account whose address is not verified is
            // never taken over (a pre-registered account with someone else's address), and an
            // address on several verified accounts is not guessed between.
            let [user] = verified.as_slice() else {
                return Err(FederationError::Account(
                    "Several accounts have this email address; ask an administrator to link the right one."
                        .into(),
                ));
            };
            let user = usable((*user).clone())?;
            insert_link(store, audit, identity, &user, "by verified email", now).await?;
            tracing::info!(user = %user.id, provider = %identity.provider, "identity linked by verified email");
            return Ok(AccountOutcome::Linked(user));
        }
        Linking::Explicit if !verified.is_empty() => {
            return Err(FederationError::Account(
                "An account with this email address exists. Sign in to it, then link this provider on your account page."
                    .into(),
            ));
        }
        Linking::Never if !same_email.is_empty() => {
            return Err(FederationError::Account(
                "An account with this email address exists already.".into(),
            ));
        }
        _ => {}
    }
    create(store, audit, provider, tenants, identity, now, rng)
        .await
        .map(AccountOutcome::Created)
}

async fn insert_link(
    store: &dyn Store,
    audit: &AuditContext,
    identity: &ProviderIdentity,
    user: &User,
    how: &str,
    now: OffsetDateTime,
) -> Result<(), FederationError> {
    let event = audit
        .acting(&user.id, user.tenant.as_deref())
        .through(&identity.provider)
        .decided(
            now,
            action::IDENTITY_LINK,
            Some(&user_target(user)),
            SUCCESS,
            Some(how),
        );
    match store
        .external_identity_insert_audited(&link_row(identity, &user.id, now), event.as_ref())
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(FederationError::Account(
            "This account at the provider was linked at the same moment; try again.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A username from what the provider says, made valid: its login, else the local part of the
/// email address, else `user`.
fn base_username(identity: &ProviderIdentity) -> String {
    let candidates = [
        identity.login.as_deref(),
        identity
            .email
            .as_deref()
            .and_then(|e| e.split_once('@'))
            .map(|(local, _)| local),
    ];
    for candidate in candidates.into_iter().flatten() {
        let cleaned: String = candidate
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            .take(40)
            .collect();
        let trimmed = cleaned.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        if !trimmed.is_empty() && check_username(trimmed).is_ok() {
            return trimmed.to_owned();
        }
    }
    "user".to_owned()
}

/// The grants of `roles` (everywhere) to a new account.
fn default_grants(
    roles: &[String],
    user_id: &str,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Vec<StoredRoleGrant> {
    roles
        .iter()
        .map(|role| StoredRoleGrant {
            id: crate::admin::roles::new_grant_id(rng),
            grantee_kind: GranteeKind::User,
            grantee: user_id.to_owned(),
            role: role.clone(),
            scope_kind: GrantScopeKind::All,
            scope: String::new(),
            created_at: now,
        })
        .collect()
}

async fn create(
    store: &dyn Store,
    audit: &AuditContext,
    provider: &Provider,
    tenants: &Tenants,
    identity: &ProviderIdentity,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<User, FederationError> {
    let email = identity
        .email
        .clone()
        .filter(|e| check_email(e).is_ok())
        .unwrap_or_default();
    let email_verified = identity.email_verified && !email.is_empty();
    let tenant = identity
        .tenant
        .clone()
        .or_else(|| tenants.for_email(&email, email_verified).map(str::to_owned));
    let base = base_username(identity);
    for attempt in 0..8u32 {
        let username = match attempt {
            0 => base.clone(),
            1..=4 => format!("{base}-{}", attempt + 1),
            _ => format!("{base}-{:08x}", rng.next_u32()),
        };
        let user = User {
            id: new_user_id(rng),
            username,
            email: email.clone(),
            email_verified,
            display_name: identity.name.clone(),
            tenant: tenant.clone(),
            status: UserStatus::Active,
            password_hash: None,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        let grants = default_grants(&provider.config.default_roles, &user.id, now, rng);
        let event = audit
            .acting(&user.id, user.tenant.as_deref())
            .through(&identity.provider)
            .decided(
                now,
                action::USER_CREATE,
                Some(&user_target(&user)),
                SUCCESS,
                Some("first sign-in through an identity provider"),
            );
        match store
            .user_insert_with_identity_audited(
                &user,
                &link_row(identity, &user.id, now),
                &grants,
                event.as_ref(),
            )
            .await
        {
            Ok(()) => {
                tracing::info!(user = %user.id, provider = %identity.provider, "account created for an identity");
                return Ok(user);
            }
            Err(StoreError::Conflict(_)) => {
                // Either the username is taken (try another) or the identity was linked at the
                // same moment by a parallel sign-in (then that account is the one).
                if let Some(linked) = store
                    .external_identity_get(&identity.provider, &identity.subject)
                    .await?
                {
                    let user = store.user_get(&linked.user_id).await?.ok_or_else(|| {
                        FederationError::Account("The linked account no longer exists.".into())
                    })?;
                    return usable(user);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(FederationError::Account(
        "No free username could be found for this account; ask an administrator.".into(),
    ))
}

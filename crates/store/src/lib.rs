//! The `Store` trait, its row models and `StoreError`, plus an in-memory implementation for tests.
//!
//! Every piece of state that must survive a restart or be shared between replicas lives behind this
//! trait: one implementation per backend crate (`portcullis-store-sqlite`, `portcullis-store-postgres`),
//! each owning its migrations, and one conformance suite (`conformance`, behind the feature of the same
//! name) that every backend runs. Time is always a parameter: the store never reads the clock.

mod account_security;
mod api_key;
pub mod audit;
mod browser_session;
mod changes;
mod client;
pub mod columns;
mod error;
mod federation;
mod grant;
mod group;
mod memory;
mod relay_session;
mod role;
mod signing_key;
mod user;

// Also compiled for this crate's own tests, so that `cargo test -p portcullis-store` runs the suite
// against `MemoryStore` without naming the feature.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use account_security::{
    CeremonyKind, Factor, FactorKind, FactorUse, RecoveryCode, Throttle, WebauthnCeremony,
};
pub use api_key::{ApiKey, ApiKeyKind};
pub use audit::{AuditEvent, AuditQuery, AuditRecord};
pub use browser_session::BrowserSession;
pub use changes::{Announce, Change, ChangeSignals};
pub use client::{ApplicationType, Client, ClientSource, TokenEndpointAuthMethod};
pub use error::StoreError;
pub use federation::{ExternalIdentity, FederationState, ProviderToken};
pub use grant::{
    AuthorizationCode, CodeRedemption, Consent, Grant, RefreshRotation, RefreshToken,
    RevokedAccessToken,
};
pub use group::{GroupMember, StoredGroup};
pub use memory::{AuthorizationSnapshot, MemoryStore};
pub use relay_session::{RelaySession, SessionKey};
pub use role::{GrantScopeKind, GranteeKind, StoredRole, StoredRoleGrant};
pub use signing_key::SigningKey;
pub use user::{User, UserStatus, username_key};

use async_trait::async_trait;
use time::OffsetDateTime;

/// A hash as `Debug` shows it: its first four bytes in hex and an ellipsis. Hashes of secrets
/// are not secret, but a short prefix is all a log reader needs.
pub(crate) struct ShortHash<'a>(pub(crate) &'a [u8; 32]);

impl std::fmt::Debug for ShortHash<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0.iter().take(4) {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("…")
    }
}

/// A caller's choice of audit record for a change whose outcome only the store knows (a code
/// redemption, a refresh rotation): called inside the transaction with an outcome that changes
/// the store (`changed()`), it returns the record to append, or `None` to append nothing.
/// Outcomes that change nothing commit nothing, and the caller records them itself if it wants.
pub type AuditOutcome<'a, T> = Option<&'a (dyn Fn(&T) -> Option<AuditEvent> + Send + Sync)>;

/// Everything Portcullis persists.
///
/// Implementations must make each method atomic; methods that write are single transactions.
///
/// The changes that the audit log records come in two spellings: `x_audited(…, audit)`, which
/// appends `audit` (when given) to the audit log in the same transaction as the change, so that
/// the change and its record are committed together or not at all, and `x(…)`, the same without a
/// record (for tests and for internal writes that are not events). A change that fails appends
/// nothing.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// A short name for logs and `/readyz`: `sqlite`, `postgres` or `memory`.
    fn backend(&self) -> &'static str;

    /// Checks that the store answers (used by `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The migration versions applied so far, oldest first.
    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError>;

    /// Records a relay session that an upstream (or the gateway's bridge) created.
    ///
    /// Fails with [`StoreError::Conflict`] if a session with the same key already exists.
    async fn relay_session_insert(&self, session: &RelaySession) -> Result<(), StoreError>;

    /// Looks a relay session up by upstream and session-id hash.
    async fn relay_session_get(&self, key: &SessionKey)
    -> Result<Option<RelaySession>, StoreError>;

    /// Marks a session as used at `now`; returns `false` if it does not exist.
    async fn relay_session_touch(
        &self,
        key: &SessionKey,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Forgets a session; returns `false` if it did not exist.
    async fn relay_session_delete(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Deletes every session last used before `idle_before`; returns how many were deleted.
    async fn relay_sessions_purge(&self, idle_before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Records a new API key or service token.
    ///
    /// Fails with [`StoreError::Conflict`] if another key has the same `id`, `secret_hash` or
    /// service-token client id; nothing is written then.
    async fn api_key_insert_audited(
        &self,
        key: &ApiKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::api_key_insert_audited`] with nothing to audit.
    async fn api_key_insert(&self, key: &ApiKey) -> Result<(), StoreError> {
        self.api_key_insert_audited(key, None).await
    }

    /// Looks a key up by the SHA-256 of its secret.
    ///
    /// Revoked and expired keys are returned too: whether a key is still good is the caller's
    /// decision, made against its own clock.
    async fn api_key_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError>;

    /// Looks a service token up by its client id; API keys have none and are never found here.
    async fn api_key_by_client_id(&self, client_id: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Looks a key up by its public id.
    async fn api_key_get(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;

    /// The keys of `subject`, or of every subject when `None`, oldest first (by `created_at`,
    /// then `id`), revoked and expired ones included.
    ///
    /// Rows hold only the hash of each secret, so a listing can never reveal a key.
    async fn api_key_list(&self, subject: Option<&str>) -> Result<Vec<ApiKey>, StoreError>;

    /// Records that the key was used at `now`; returns `false` if no key has that id.
    ///
    /// `last_used_at` never moves backwards: a touch older than the recorded one (a slower replica)
    /// leaves it as it is. Callers may throttle these writes; the store does not.
    async fn api_key_touch(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Revokes the key at `now`.
    ///
    /// Idempotent: returns `true` if this call revoked it, `false` if no key has that id or it was
    /// already revoked (the first revocation time is kept). An expired key can still be revoked.
    async fn api_key_revoke_audited(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::api_key_revoke_audited`] with nothing to audit.
    async fn api_key_revoke(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.api_key_revoke_audited(id, now, None).await
    }

    /// The keys revoked at or after `since`, by `revoked_at` (then `id`).
    ///
    /// Every replica polls this to drop revoked keys from its cache of verified credentials.
    async fn api_keys_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<ApiKey>, StoreError>;

    /// Records a new signing key.
    ///
    /// Fails with [`StoreError::Conflict`] if a key with the same `kid` exists; nothing is
    /// written then.
    async fn signing_key_insert_audited(
        &self,
        key: &SigningKey,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::signing_key_insert_audited`] with nothing to audit.
    async fn signing_key_insert(&self, key: &SigningKey) -> Result<(), StoreError> {
        self.signing_key_insert_audited(key, None).await
    }

    /// Every signing key, retired ones included, oldest first (by `created_at`, then `kid`
    /// compared byte-wise).
    ///
    /// There are only ever a handful: the current key, one pre-published for a rotation, and the
    /// retired ones not yet purged.
    async fn signing_key_list(&self) -> Result<Vec<SigningKey>, StoreError>;

    /// Schedules the key's retirement: `retire_after` becomes `at`, unless it is already set to
    /// an earlier instant, which is kept (a retirement is only ever brought forward, so two
    /// rotations racing each other, or an emergency retirement racing a rotation, end with the
    /// earliest time). Returns `false` if no key has that `kid`.
    async fn signing_key_retire_audited(
        &self,
        kid: &str,
        at: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::signing_key_retire_audited`] with nothing to audit.
    async fn signing_key_retire(&self, kid: &str, at: OffsetDateTime) -> Result<bool, StoreError> {
        self.signing_key_retire_audited(kid, at, None).await
    }

    /// Deletes every key whose `retire_after` is strictly before `retired_before`; returns how
    /// many were deleted. Current keys (no `retire_after`) are never deleted.
    async fn signing_keys_purge(&self, retired_before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Records a new authorization code. Fails with [`StoreError::Conflict`] on a hash collision.
    async fn code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError>;

    /// Looks a code up by the SHA-256 of its value, consumed and expired ones included.
    async fn code_get(&self, code_hash: &[u8; 32])
    -> Result<Option<AuthorizationCode>, StoreError>;

    /// Redeems a code, in one transaction: an unused, unexpired code is consumed and `grant` (and
    /// `refresh`, its first refresh token, if any) stored; a code redeemed before has the grant of
    /// that first redemption revoked at `now` and nothing stored. The caller checks the request
    /// against the code (client, redirect URI, PKCE) before calling this, so an invalid replay
    /// changes nothing.
    async fn code_redeem_audited(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
        audit: AuditOutcome<'_, CodeRedemption>,
    ) -> Result<CodeRedemption, StoreError>;

    /// [`Store::code_redeem_audited`] with nothing to audit.
    async fn code_redeem(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
    ) -> Result<CodeRedemption, StoreError> {
        self.code_redeem_audited(code_hash, now, grant, refresh, None)
            .await
    }

    /// A grant by id.
    async fn grant_get(&self, id: &str) -> Result<Option<Grant>, StoreError>;

    /// Revokes a grant at `now` (idempotent: the first revocation time is kept); returns `true` if
    /// this call revoked it. Its refresh tokens stop working with it.
    async fn grant_revoke_audited(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::grant_revoke_audited`] with nothing to audit.
    async fn grant_revoke(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.grant_revoke_audited(id, now, None).await
    }

    /// The grants revoked at or after `since`, by `revoked_at` then `id`. Every replica polls this
    /// to refuse the access tokens of revoked grants.
    async fn grants_revoked_since(&self, since: OffsetDateTime) -> Result<Vec<Grant>, StoreError>;

    /// A refresh token by the SHA-256 of its value, with its grant.
    async fn refresh_get(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(RefreshToken, Grant)>, StoreError>;

    /// Presents a refresh token, in one transaction, per [`RefreshRotation`]: a current token is
    /// exchanged for `successor`; a token rotated less than `retry_grace` ago whose successor was
    /// never used may be presented once more (the successor is withdrawn and `successor` stored
    /// instead); any other reuse revokes the grant.
    async fn refresh_rotate_audited(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        successor: &RefreshToken,
        retry_grace: time::Duration,
        audit: AuditOutcome<'_, RefreshRotation>,
    ) -> Result<RefreshRotation, StoreError>;

    /// [`Store::refresh_rotate_audited`] with nothing to audit.
    async fn refresh_rotate(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        successor: &RefreshToken,
        retry_grace: time::Duration,
    ) -> Result<RefreshRotation, StoreError> {
        self.refresh_rotate_audited(token_hash, now, successor, retry_grace, None)
            .await
    }

    /// Records the revocation of an access token (idempotent).
    async fn access_token_revoke_audited(
        &self,
        token: &RevokedAccessToken,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::access_token_revoke_audited`] with nothing to audit.
    async fn access_token_revoke(&self, token: &RevokedAccessToken) -> Result<(), StoreError> {
        self.access_token_revoke_audited(token, None).await
    }

    /// The access tokens revoked at or after `since`, by `revoked_at` then `jti`.
    async fn access_tokens_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedAccessToken>, StoreError>;

    /// Records (or replaces) a remembered consent.
    async fn consent_put_audited(
        &self,
        consent: &Consent,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::consent_put_audited`] with nothing to audit.
    async fn consent_put(&self, consent: &Consent) -> Result<(), StoreError> {
        self.consent_put_audited(consent, None).await
    }

    /// The remembered consent of `subject` for `client_id` at `redirect_uri` and `resource`.
    async fn consent_get(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
    ) -> Result<Option<Consent>, StoreError>;

    /// Deletes what can no longer matter at `now`: codes and refresh tokens past their expiry,
    /// grants past their absolute lifetime (with their tokens), and revoked access tokens past
    /// their own expiry. Returns how many rows went.
    async fn authorization_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
    /// Records a new local account.
    ///
    /// Fails with [`StoreError::Conflict`] if another user has the same `id`, or a username equal
    /// to this one without regard to case ([`username_key`]); nothing is written then.
    async fn user_insert_audited(
        &self,
        user: &User,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::user_insert_audited`] with nothing to audit.
    async fn user_insert(&self, user: &User) -> Result<(), StoreError> {
        self.user_insert_audited(user, None).await
    }

    /// Looks a user up by id.
    async fn user_get(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// Looks a user up by username, without regard to case.
    ///
    /// Disabled users are returned too: whether one may sign in is the caller's decision.
    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;

    /// Every user, by [`username_key`] compared byte-wise.
    async fn user_list(&self) -> Result<Vec<User>, StoreError>;

    /// Sets the user's status and `updated_at`; returns `false` if no user has that id.
    async fn user_set_status_audited(
        &self,
        id: &str,
        status: UserStatus,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::user_set_status_audited`] with nothing to audit.
    async fn user_set_status(
        &self,
        id: &str,
        status: UserStatus,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.user_set_status_audited(id, status, now, None).await
    }

    /// Replaces the user's password hash and `must_change_password`, and sets `updated_at`;
    /// returns `false` if no user has that id.
    async fn user_set_password_audited(
        &self,
        id: &str,
        password_hash: &str,
        must_change_password: bool,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::user_set_password_audited`] with nothing to audit.
    async fn user_set_password(
        &self,
        id: &str,
        password_hash: &str,
        must_change_password: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.user_set_password_audited(id, password_hash, must_change_password, now, None)
            .await
    }

    /// Records a new browser session.
    ///
    /// Fails with [`StoreError::Conflict`] if a session with the same `id_hash` exists, and with
    /// an error if no user has its `user_id`; nothing is written then.
    async fn browser_session_insert_audited(
        &self,
        session: &BrowserSession,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::browser_session_insert_audited`] with nothing to audit.
    async fn browser_session_insert(&self, session: &BrowserSession) -> Result<(), StoreError> {
        self.browser_session_insert_audited(session, None).await
    }

    /// Looks a session up by the SHA-256 of its secret.
    ///
    /// Expired sessions are returned too: expiry is judged by the caller against its own clock.
    async fn browser_session_get(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<BrowserSession>, StoreError>;

    /// Records a use of the session at `now` and slides its idle expiry to `idle_expires_at`;
    /// returns `false` if it does not exist.
    ///
    /// Neither time moves backwards: a touch older than the recorded one (from a slower replica)
    /// leaves each as it is. The absolute expiry never changes.
    async fn browser_session_touch(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Ends a session; returns `false` if it did not exist.
    async fn browser_session_delete(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError>;

    /// Ends every session of a user; returns how many there were.
    async fn browser_sessions_delete_user(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Deletes every session whose idle or absolute expiry is strictly before `expired_before`;
    /// returns how many were deleted.
    async fn browser_sessions_purge(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// Records a new OAuth client.
    ///
    /// Fails with [`StoreError::Conflict`] if a client with the same `client_id` exists; nothing is
    /// written then.
    async fn client_insert_audited(
        &self,
        client: &Client,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::client_insert_audited`] with nothing to audit.
    async fn client_insert(&self, client: &Client) -> Result<(), StoreError> {
        self.client_insert_audited(client, None).await
    }

    /// Looks a client up by its `client_id`.
    ///
    /// Unused dynamic registrations past `expires_at` are returned too: whether a client is still
    /// good is the caller's decision, made against its own clock.
    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError>;

    /// Replaces a client's registered metadata and credentials (an RFC 7592 update, a secret
    /// rotation) with those of `client`: every field but `client_id`, `source`, `created_at` and
    /// `last_used_at`, which keep their stored values. Returns `false` if no client has that id.
    async fn client_update_audited(
        &self,
        client: &Client,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::client_update_audited`] with nothing to audit.
    async fn client_update(&self, client: &Client) -> Result<bool, StoreError> {
        self.client_update_audited(client, None).await
    }

    /// Deletes a client; returns `false` if it did not exist.
    async fn client_delete_audited(
        &self,
        client_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::client_delete_audited`] with nothing to audit.
    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError> {
        self.client_delete_audited(client_id, None).await
    }

    /// Every stored client, oldest first (by `created_at`, then `client_id` compared byte-wise).
    ///
    /// Rows hold only hashes of secrets, so a listing can never reveal one.
    async fn client_list(&self) -> Result<Vec<Client>, StoreError>;

    /// Records that the client was used at `now`; returns `false` if no client has that id.
    ///
    /// `last_used_at` never moves backwards. A client that has been used is never purged by
    /// [`Store::clients_purge_unused`].
    async fn client_touch(&self, client_id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Deletes every client that was never used (`last_used_at` unset) and whose `expires_at` is
    /// strictly before `expired_before`; returns how many were deleted. Clients without
    /// `expires_at` are never deleted.
    async fn clients_purge_unused(&self, expired_before: OffsetDateTime)
    -> Result<u64, StoreError>;

    /// Deletes a user with everything that is theirs alone: browser sessions, second factors and
    /// recovery codes. Grants are the caller's to revoke first. Returns `false` if no user has
    /// that id.
    async fn user_delete_audited(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::user_delete_audited`] with nothing to audit.
    async fn user_delete(&self, id: &str) -> Result<bool, StoreError> {
        self.user_delete_audited(id, None).await
    }

    /// The user's browser sessions, expired ones included, newest first (by `created_at`).
    async fn browser_sessions_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<BrowserSession>, StoreError>;

    /// The grants of `subject` that are not revoked, expired ones included, newest first (by
    /// `created_at`, then `id`).
    async fn grants_of_subject(&self, subject: &str) -> Result<Vec<Grant>, StoreError>;

    /// The grants of the client `client_id` that are not revoked, expired ones included, newest
    /// first (by `created_at`, then `id`): what deleting the client revokes.
    async fn grants_of_client(&self, client_id: &str) -> Result<Vec<Grant>, StoreError>;

    /// Records a second factor.
    ///
    /// Fails with [`StoreError::Conflict`] if a factor with the same `id` exists, and with an error
    /// if no user has its `user_id`; nothing is written then.
    async fn factor_insert_audited(
        &self,
        factor: &Factor,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::factor_insert_audited`] with nothing to audit.
    async fn factor_insert(&self, factor: &Factor) -> Result<(), StoreError> {
        self.factor_insert_audited(factor, None).await
    }

    /// The user's second factors, oldest first (by `created_at`, then `id`).
    async fn factors_of_user(&self, user_id: &str) -> Result<Vec<Factor>, StoreError>;

    /// Removes one of the user's factors; returns `false` if the user has no factor with that id.
    async fn factor_delete_audited(
        &self,
        user_id: &str,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::factor_delete_audited`] with nothing to audit.
    async fn factor_delete(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        self.factor_delete_audited(user_id, id, None).await
    }

    /// Records a use of one of the user's factors at `now`, atomically: with `step` (TOTP), only
    /// if it is after the factor's `last_step`, which becomes `step`; with `data` (a passkey's
    /// updated counter), the stored data is replaced.
    async fn factor_use(
        &self,
        user_id: &str,
        id: &str,
        step: Option<i64>,
        data: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<FactorUse, StoreError>;

    /// Replaces the user's recovery codes with new ones (hashes), all unused.
    async fn recovery_codes_set_audited(
        &self,
        user_id: &str,
        code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::recovery_codes_set_audited`] with nothing to audit.
    async fn recovery_codes_set(
        &self,
        user_id: &str,
        code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.recovery_codes_set_audited(user_id, code_hashes, now, None)
            .await
    }

    /// Uses one of the user's recovery codes, atomically: `true` if it existed unused and is now
    /// used, `false` otherwise (so two presentations of one code never both succeed).
    async fn recovery_code_use(
        &self,
        user_id: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// How many of the user's recovery codes are unused.
    async fn recovery_codes_left(&self, user_id: &str) -> Result<u32, StoreError>;

    /// Removes every second factor and recovery code of the user (an administrator's reset);
    /// returns how many factors there were.
    async fn mfa_reset_audited(
        &self,
        user_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError>;

    /// [`Store::mfa_reset_audited`] with nothing to audit.
    async fn mfa_reset(&self, user_id: &str) -> Result<u64, StoreError> {
        self.mfa_reset_audited(user_id, None).await
    }

    /// The failures counted against `key`, if any.
    async fn throttle_get(&self, key: &str) -> Result<Option<Throttle>, StoreError>;

    /// Counts one failure against `key` at `now`, atomically: one more than before, or one if the
    /// last failure was before `reset_before` (the count has lapsed). Returns the new count.
    async fn throttle_fail(
        &self,
        key: &str,
        now: OffsetDateTime,
        reset_before: OffsetDateTime,
    ) -> Result<Throttle, StoreError>;

    /// Forgets the failures counted against `key`.
    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes the counters whose last failure is strictly before `before`; returns how many.
    async fn throttle_purge(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    /// The active and disabled accounts whose email address is `email` (compared in lower case).
    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError>;

    /// The account an identity at a provider is linked to.
    async fn external_identity_get(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalIdentity>, StoreError>;

    /// The identities linked to `user_id`, oldest first.
    async fn external_identities_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<ExternalIdentity>, StoreError>;

    /// Links an identity to an existing account.
    ///
    /// Fails with [`StoreError::Conflict`] if the identity is linked already (to any account);
    /// nothing is written then.
    async fn external_identity_insert_audited(
        &self,
        identity: &ExternalIdentity,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::external_identity_insert_audited`] with nothing to audit.
    async fn external_identity_insert(
        &self,
        identity: &ExternalIdentity,
    ) -> Result<(), StoreError> {
        self.external_identity_insert_audited(identity, None).await
    }

    /// Creates an account, links an identity to it and grants it `grants` (its default roles),
    /// in one transaction: all of it exists afterwards or none. Fails with
    /// [`StoreError::Conflict`] if the username is taken, the identity is linked already or a
    /// grant's id is taken.
    async fn user_insert_with_identity_audited(
        &self,
        user: &User,
        identity: &ExternalIdentity,
        grants: &[StoredRoleGrant],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::user_insert_with_identity_audited`] with nothing to audit.
    async fn user_insert_with_identity(
        &self,
        user: &User,
        identity: &ExternalIdentity,
        grants: &[StoredRoleGrant],
    ) -> Result<(), StoreError> {
        self.user_insert_with_identity_audited(user, identity, grants, None)
            .await
    }

    /// Records a sign-in with the identity: the address the provider gave now and when.
    /// Returns `false` if the identity is not linked.
    async fn external_identity_signed_in(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Unlinks a provider's identities from `user_id` (and forgets the user's tokens from it).
    /// Returns how many identities were unlinked.
    async fn external_identities_delete_audited(
        &self,
        user_id: &str,
        provider: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError>;

    /// [`Store::external_identities_delete_audited`] with nothing to audit.
    async fn external_identities_delete(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<u64, StoreError> {
        self.external_identities_delete_audited(user_id, provider, None)
            .await
    }

    /// Records a sign-in sent to a provider.
    ///
    /// Fails with [`StoreError::Conflict`] if a state with the same hash exists.
    async fn federation_state_insert(&self, state: &FederationState) -> Result<(), StoreError>;

    /// Takes the pending sign-in with this state hash: returns it and deletes it in one step, so
    /// a second callback with the same state finds nothing. An expired one is deleted and `None`
    /// returned.
    async fn federation_state_take(
        &self,
        state_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<FederationState>, StoreError>;

    /// Deletes pending sign-ins that expired before `now`; returns how many.
    async fn federation_states_purge(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// Stores (or replaces) a user's tokens from a provider.
    async fn provider_token_put(&self, token: &ProviderToken) -> Result<(), StoreError>;

    /// A user's tokens from a provider.
    async fn provider_token_get(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<ProviderToken>, StoreError>;

    /// Forgets a user's tokens from every provider; returns how many were deleted.
    async fn provider_tokens_delete_user(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Records a WebAuthn ceremony, replacing any other of the same browser session and kind
    /// (a session has at most one of each in progress: the page shown last).
    ///
    /// Fails with [`StoreError::Conflict`] if a ceremony with the same `id` exists; nothing is
    /// written then.
    async fn webauthn_ceremony_put(&self, ceremony: &WebauthnCeremony) -> Result<(), StoreError>;

    /// Takes a ceremony, atomically: when one has this `id`, `session_hash` and `kind` it is
    /// deleted and returned (expired or not: expiry is the caller's to judge), so two requests
    /// presenting it never both get it. Otherwise nothing changes, and a ceremony presented by
    /// another session stays for the one that started it.
    async fn webauthn_ceremony_take(
        &self,
        id: &str,
        session_hash: &[u8; 32],
        kind: CeremonyKind,
    ) -> Result<Option<WebauthnCeremony>, StoreError>;

    /// Deletes every ceremony whose `expires_at` is strictly before `expired_before`; returns how
    /// many were deleted.
    async fn webauthn_ceremonies_purge(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// Creates or replaces the custom role `role.name` (its `created_at` is kept on replace).
    async fn role_put_audited(
        &self,
        role: &StoredRole,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::role_put_audited`] with nothing to audit.
    async fn role_put(&self, role: &StoredRole) -> Result<(), StoreError> {
        self.role_put_audited(role, None).await
    }

    /// Deletes a custom role; returns `false` if there is none of that name. Fails with
    /// [`StoreError::Conflict`] while a grant names it (nothing is deleted then).
    async fn role_delete_audited(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::role_delete_audited`] with nothing to audit.
    async fn role_delete(&self, name: &str) -> Result<bool, StoreError> {
        self.role_delete_audited(name, None).await
    }

    /// Every custom role in the store, by name.
    async fn role_list(&self) -> Result<Vec<StoredRole>, StoreError>;

    /// Records a grant. Fails with [`StoreError::Conflict`] if the same role is granted to the
    /// same grantee in the same scope already, or the id is taken.
    async fn role_grant_insert_audited(
        &self,
        grant: &StoredRoleGrant,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// [`Store::role_grant_insert_audited`] with nothing to audit.
    async fn role_grant_insert(&self, grant: &StoredRoleGrant) -> Result<(), StoreError> {
        self.role_grant_insert_audited(grant, None).await
    }

    /// Deletes a grant by id; returns whether there was one.
    async fn role_grant_delete_audited(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// [`Store::role_grant_delete_audited`] with nothing to audit.
    async fn role_grant_delete(&self, id: &str) -> Result<bool, StoreError> {
        self.role_grant_delete_audited(id, None).await
    }

    /// Every grant, oldest first (by `created_at`, then `id`).
    async fn role_grant_list(&self) -> Result<Vec<StoredRoleGrant>, StoreError>;

    /// Creates a local group. Fails with [`StoreError::Conflict`] if the name is taken.
    async fn group_insert_audited(
        &self,
        group: &StoredGroup,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// Deletes a local group and its memberships; returns whether there was one.
    async fn group_delete_audited(
        &self,
        name: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// Every local group, by name.
    async fn group_list(&self) -> Result<Vec<StoredGroup>, StoreError>;

    /// Makes the account `member.user_id` a member of the local group `member.group` (both
    /// exist). Fails with [`StoreError::Conflict`] if it is one already.
    async fn group_member_add_audited(
        &self,
        member: &GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError>;

    /// Ends a membership; returns whether there was one.
    async fn group_member_remove_audited(
        &self,
        member: &GroupMember,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError>;

    /// Every membership of every local group, by group and then account id. Deleting an account
    /// ends its memberships.
    async fn group_members(&self) -> Result<Vec<GroupMember>, StoreError>;

    /// A number that changes whenever a custom role, a role grant, a local group or a
    /// membership is written, by any writer (replicas poll it and rebuild their policy when it
    /// moves).
    async fn authorization_version(&self) -> Result<i64, StoreError>;

    /// Starts waking `signals` whenever any process (another replica, the CLI) commits a role,
    /// grant or user-status change or a revocation, for as long as the process runs. Returns
    /// `false` when the backend cannot hear other processes' commits (then only the replica's
    /// polls find them). An error means the backend could but the listening could not start.
    async fn listen_changes(
        &self,
        signals: std::sync::Arc<ChangeSignals>,
    ) -> Result<bool, StoreError> {
        let _ = signals;
        Ok(false)
    }
    /// Appends `events` to the audit log, in order, in one transaction, for events that change
    /// nothing else (a refused sign-in, an authorization decision). Nothing is appended if it fails.
    async fn audit_append(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// Audit records matching `query`, in ascending `seq`.
    async fn audit_list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
}

//! The column layouts of the accounts tables and the audit log, shared by the SQL backends.
//!
//! Each backend selects these columns in this order into the tuples below, with its own type for
//! timestamps (SQLite's INTEGER microseconds, PostgreSQL's `TIMESTAMPTZ`), and turns the tuple
//! into the model here, so the conversion and its checks for damaged rows exist once.

use time::OffsetDateTime;

use crate::{
    AuditEvent, AuditRecord, BrowserSession, CeremonyKind, ExternalIdentity, Factor, FactorKind,
    FederationState, ProviderToken, StoreError, User, UserStatus, WebauthnCeremony,
};

/// The columns of `users`, in the order of [`UserColumns`].
pub const USER_COLUMNS: &str = "id, username, email, email_verified, display_name, tenant, \
                                status, password_hash, must_change_password, created_at, \
                                updated_at";

/// One `users` row, with timestamps of type `T`.
pub type UserColumns<T> = (
    String,
    String,
    String,
    bool,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    bool,
    T,
    T,
);

/// The user a row holds; `time` turns a stored timestamp (and its column's name, for the error)
/// into an instant.
pub fn user_from_columns<T>(
    row: UserColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<User, StoreError> {
    let (
        id,
        username,
        email,
        email_verified,
        display_name,
        tenant,
        status,
        password_hash,
        must_change_password,
        created_at,
        updated_at,
    ) = row;
    // The table's CHECK constraint rules this out; a failure means a damaged database.
    let status = UserStatus::from_column(&status)
        .ok_or_else(|| StoreError::Backend(format!("user {id:?}: unknown status {status:?}")))?;
    Ok(User {
        id,
        username,
        email,
        email_verified,
        display_name,
        tenant,
        status,
        password_hash,
        must_change_password,
        created_at: time(created_at, "created_at")?,
        updated_at: time(updated_at, "updated_at")?,
    })
}

/// The columns of `browser_sessions`, in the order of [`BrowserSessionColumns`].
pub const BROWSER_SESSION_COLUMNS: &str = "id_hash, user_id, created_at, last_seen_at, \
                                           idle_expires_at, absolute_expires_at, auth_time, amr";

/// One `browser_sessions` row, with timestamps of type `T`.
pub type BrowserSessionColumns<T> = (Vec<u8>, String, T, T, T, T, T, String);

/// The session a row holds; `time` as for [`user_from_columns`].
pub fn browser_session_from_columns<T>(
    row: BrowserSessionColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<BrowserSession, StoreError> {
    let (
        id_hash,
        user_id,
        created_at,
        last_seen_at,
        idle_expires_at,
        absolute_expires_at,
        auth_time,
        amr,
    ) = row;
    // The table's CHECK constraint rules this out; a failure means a damaged database.
    let id_hash = <[u8; 32]>::try_from(id_hash)
        .map_err(|_| StoreError::Backend("browser session: id hash is not 32 bytes".to_owned()))?;
    Ok(BrowserSession {
        id_hash,
        user_id,
        created_at: time(created_at, "created_at")?,
        last_seen_at: time(last_seen_at, "last_seen_at")?,
        idle_expires_at: time(idle_expires_at, "idle_expires_at")?,
        absolute_expires_at: time(absolute_expires_at, "absolute_expires_at")?,
        auth_time: time(auth_time, "auth_time")?,
        amr: BrowserSession::amr_from_column(&amr),
    })
}

/// The columns of `mfa_factors`, in the order of [`FactorColumns`].
pub const FACTOR_COLUMNS: &str =
    "id, user_id, kind, name, data, last_step, created_at, last_used_at";

/// One `mfa_factors` row, with timestamps of type `T`.
pub type FactorColumns<T> = (
    String,
    String,
    String,
    String,
    Vec<u8>,
    Option<i64>,
    T,
    Option<T>,
);

/// The factor a row holds; `time` as for [`user_from_columns`].
pub fn factor_from_columns<T>(
    row: FactorColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<Factor, StoreError> {
    let (id, user_id, kind, name, data, last_step, created_at, last_used_at) = row;
    // The table's CHECK constraint rules this out; a failure means a damaged database.
    let kind = FactorKind::parse(&kind)
        .ok_or_else(|| StoreError::Backend(format!("factor {id}: unknown kind {kind:?}")))?;
    Ok(Factor {
        id,
        user_id,
        kind,
        name,
        data,
        last_step,
        created_at: time(created_at, "created_at")?,
        last_used_at: last_used_at
            .map(|at| time(at, "last_used_at"))
            .transpose()?,
    })
}

/// The columns of `external_identities`, in the order [`IdentityColumns`] reads them.
pub const IDENTITY_COLUMNS: &str =
    "provider, subject, user_id, email, email_verified, created_at, last_sign_in_at";

/// One `external_identities` row, with timestamps of type `T`.
pub type IdentityColumns<T> = (String, String, String, Option<String>, bool, T, T);

/// The identity a row holds; `time` as for [`user_from_columns`].
pub fn identity_from_columns<T>(
    row: IdentityColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<ExternalIdentity, StoreError> {
    let (provider, subject, user_id, email, email_verified, created_at, last_sign_in_at) = row;
    Ok(ExternalIdentity {
        provider,
        subject,
        user_id,
        email,
        email_verified,
        created_at: time(created_at, "created_at")?,
        last_sign_in_at: time(last_sign_in_at, "last_sign_in_at")?,
    })
}

/// The columns of `federation_states`, in the order [`FederationStateColumns`] reads them.
pub const FEDERATION_STATE_COLUMNS: &str = "state_hash, provider, browser_hash, nonce, \
                                            code_verifier, return_to, link_user_id, created_at, \
                                            expires_at";

/// One `federation_states` row, with timestamps of type `T`.
pub type FederationStateColumns<T> = (
    Vec<u8>,
    String,
    Vec<u8>,
    String,
    Vec<u8>,
    Option<String>,
    Option<String>,
    T,
    T,
);

fn hash32(bytes: Vec<u8>, column: &str) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Backend(format!("{column}: not 32 bytes")))
}

/// The pending sign-in a row holds; `time` as for [`user_from_columns`].
pub fn federation_state_from_columns<T>(
    row: FederationStateColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<FederationState, StoreError> {
    let (
        state_hash,
        provider,
        browser_hash,
        nonce,
        code_verifier,
        return_to,
        link_user_id,
        created_at,
        expires_at,
    ) = row;
    Ok(FederationState {
        state_hash: hash32(state_hash, "federation_states.state_hash")?,
        provider,
        browser_hash: hash32(browser_hash, "federation_states.browser_hash")?,
        nonce,
        code_verifier,
        return_to,
        link_user_id,
        created_at: time(created_at, "created_at")?,
        expires_at: time(expires_at, "expires_at")?,
    })
}

/// The columns of `provider_tokens`, in the order [`ProviderTokenColumns`] reads them.
pub const PROVIDER_TOKEN_COLUMNS: &str = "user_id, provider, sealed, expires_at, updated_at";

/// One `provider_tokens` row, with timestamps of type `T`.
pub type ProviderTokenColumns<T> = (String, String, Vec<u8>, Option<T>, T);

/// The provider token a row holds; `time` as for [`user_from_columns`].
pub fn provider_token_from_columns<T>(
    row: ProviderTokenColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<ProviderToken, StoreError> {
    let (user_id, provider, sealed, expires_at, updated_at) = row;
    Ok(ProviderToken {
        user_id,
        provider,
        sealed,
        expires_at: expires_at.map(|at| time(at, "expires_at")).transpose()?,
        updated_at: time(updated_at, "updated_at")?,
    })
}
/// The columns of `webauthn_ceremonies`, in the order of [`CeremonyColumns`].
pub const CEREMONY_COLUMNS: &str = "id, session_hash, kind, state, expires_at";

/// One `webauthn_ceremonies` row, with its timestamp of type `T`.
pub type CeremonyColumns<T> = (String, Vec<u8>, String, Vec<u8>, T);

/// The ceremony a row holds; `time` as for [`user_from_columns`].
pub fn ceremony_from_columns<T>(
    row: CeremonyColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<WebauthnCeremony, StoreError> {
    let (id, session_hash, kind, state, expires_at) = row;
    // The table's CHECK constraints rule these out; a failure means a damaged database.
    let session_hash = <[u8; 32]>::try_from(session_hash)
        .map_err(|_| StoreError::Backend(format!("ceremony {id}: session hash is not 32 bytes")))?;
    let kind = CeremonyKind::parse(&kind)
        .ok_or_else(|| StoreError::Backend(format!("ceremony {id}: unknown kind {kind:?}")))?;
    Ok(WebauthnCeremony {
        id,
        session_hash,
        kind,
        state,
        expires_at: time(expires_at, "expires_at")?,
    })
}

/// The columns of `audit_log`, in the order of [`AuditColumns`].
pub const AUDIT_COLUMNS: &str = "seq, time, actor, tenant, client, action, target, decision, \
                                 reason, request_id, source, prev_hash, hash";

/// One `audit_log` row, with its time of type `T`.
pub type AuditColumns<T> = (
    i64,
    T,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Vec<u8>,
    Vec<u8>,
);

/// A 32-byte hash column of `audit_log`.
pub fn audit_hash(bytes: Vec<u8>, column: &str) -> Result<[u8; 32], StoreError> {
    // The table's CHECK constraint rules this out; a failure means a damaged database.
    bytes
        .try_into()
        .map_err(|_| StoreError::Backend(format!("audit_log.{column} is not 32 bytes")))
}

/// The record a row holds; `time` as for [`user_from_columns`].
pub fn audit_record_from_columns<T>(
    row: AuditColumns<T>,
    time: impl Fn(T, &'static str) -> Result<OffsetDateTime, StoreError>,
) -> Result<AuditRecord, StoreError> {
    let (
        seq,
        at,
        actor,
        tenant,
        client,
        action,
        target,
        decision,
        reason,
        request_id,
        source,
        prev_hash,
        hash,
    ) = row;
    Ok(AuditRecord {
        seq,
        event: AuditEvent {
            time: time(at, "time")?,
            actor,
            tenant,
            client,
            action,
            target,
            decision,
            reason,
            request_id,
            source,
        },
        prev_hash: audit_hash(prev_hash, "prev_hash")?,
        hash: audit_hash(hash, "hash")?,
    })
}

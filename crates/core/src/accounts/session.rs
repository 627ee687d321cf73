//! Browser sessions: minting their secrets, starting them, and resuming them on each request.
//!
//! A session secret is 256 bits from the caller's random source, written as 43 base64url
//! characters (ASVS 7.2.3 asks for at least 128); the store keeps only its SHA-256. Starting a
//! session always mints a new secret and ends the one the browser held before, so an id planted
//! in a browser before sign-in is worthless after it (session fixation). Resuming enforces both
//! timeouts on every use, ends sessions of disabled or deleted users at once, and slides the idle
//! expiry at most once per [`SESSION_TOUCH_INTERVAL`], so page views do not each cost a write.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_store::{BrowserSession, Store, User, UserStatus};
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::AccountsError;
use crate::config::AccountsConfig;

/// The `amr` value of a password (RFC 8176 §2).
pub const AMR_PASSWORD: &str = "pwd";
/// How often a session's use is written to the store at most.
pub const SESSION_TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// Base64url characters of 32 bytes without padding.
const SECRET_LEN: usize = 43;

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    /// Unused for this long, a session ends.
    pub idle: Duration,
    /// This long after sign-in, a session ends whatever happens.
    pub absolute: Duration,
}

impl SessionTimeouts {
    pub fn from_config(accounts: &AccountsConfig) -> Self {
        SessionTimeouts {
            idle: accounts.session_idle_timeout,
            absolute: accounts.session_absolute_timeout,
        }
    }
}

/// The secret a session cookie carries. Never printed, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(Zeroizing<String>);

impl SessionSecret {
    /// A new secret from the caller's random source.
    pub fn generate(rng: &mut impl RngCore) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        SessionSecret(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
    }

    /// The secret in a cookie value, if it has the shape of one (anything else is not looked
    /// up at all).
    pub fn parse(value: &str) -> Option<Self> {
        let shaped = value.len() == SECRET_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| SessionSecret(Zeroizing::new(value.to_owned())))
    }

    /// The cookie value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keys the session by.
    pub fn id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(..)")
    }
}

/// A session just started: the secret for the cookie (shown to the browser once) and the row.
#[derive(Debug)]
pub struct StartedSession {
    pub secret: SessionSecret,
    pub session: BrowserSession,
}

/// What a signed-in browser must still do before it counts as signed in (see
/// [`super::mfa::pending_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingStep {
    /// Give a second factor: the account has one.
    SecondFactor,
    /// Choose a new password: the current one was set by someone else.
    ChangePassword,
    /// Enrol a second factor: the policy requires one and the account has none.
    EnrollSecondFactor,
}

fn after(now: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    let duration = time::Duration::try_from(duration).unwrap_or(time::Duration::MAX);
    now.checked_add(duration)
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
}

/// Starts a session for `user_id`, proven by `amr` at `now`, under the fresh `secret`; ends the
/// session `replacing` (the one the browser held, whatever its user) first.
#[allow(
    clippy::too_many_arguments,
    reason = "who acts (the audit context) joins what the operation already needed"
)]
pub async fn start_session(
    store: &dyn Store,
    user_id: &str,
    amr: Vec<String>,
    secret: SessionSecret,
    replacing: Option<&SessionSecret>,
    timeouts: SessionTimeouts,
    now: OffsetDateTime,
    audit: Option<&portcullis_store::AuditEvent>,
) -> Result<StartedSession, AccountsError> {
    if let Some(old) = replacing {
        store.browser_session_delete(&old.id_hash()).await?;
    }
    let absolute_expires_at = after(now, timeouts.absolute);
    let session = BrowserSession {
        id_hash: secret.id_hash(),
        user_id: user_id.to_owned(),
        created_at: now,
        last_seen_at: now,
        idle_expires_at: after(now, timeouts.idle).min(absolute_expires_at),
        absolute_expires_at,
        auth_time: now,
        amr,
    };
    store
        .browser_session_insert_audited(&session, audit)
        .await?;
    Ok(StartedSession { secret, session })
}

/// The user and session a secret stands for at `now`, or `None` when it stands for nothing
/// usable: unknown, expired (either timeout), or its user gone or disabled. Expired sessions
/// and every session of a disabled user are deleted on the way.
pub async fn resume_session(
    store: &dyn Store,
    secret: &SessionSecret,
    timeouts: SessionTimeouts,
    now: OffsetDateTime,
) -> Result<Option<(User, BrowserSession)>, AccountsError> {
    let id_hash = secret.id_hash();
    let Some(mut session) = store.browser_session_get(&id_hash).await? else {
        return Ok(None);
    };
    if now >= session.idle_expires_at || now >= session.absolute_expires_at {
        store.browser_session_delete(&id_hash).await?;
        return Ok(None);
    }
    let user = match store.user_get(&session.user_id).await? {
        Some(user) if user.status == UserStatus::Active => user,
        Some(user) => {
            store.browser_sessions_delete_user(&user.id).await?;
            return Ok(None);
        }
        None => {
            store.browser_session_delete(&id_hash).await?;
            return Ok(None);
        }
    };
    if now - session.last_seen_at >= SESSION_TOUCH_INTERVAL {
        let idle_expires_at = after(now, timeouts.idle).min(session.absolute_expires_at);
        // Recording the use only moves the idle expiry; failing to record it must not sign the
        // person out, and the next request tries again.
        match store
            .browser_session_touch(&id_hash, now, idle_expires_at)
            .await
        {
            Ok(_) => {
                session.last_seen_at = session.last_seen_at.max(now);
                session.idle_expires_at = session.idle_expires_at.max(idle_expires_at);
            }
            Err(e) => tracing::warn!(error = %e, "could not record a browser session's use"),
        }
    }
    Ok(Some((user, session)))
}

/// Ends the session a secret stands for; returns whether there was one.
pub async fn end_session(store: &dyn Store, secret: &SessionSecret) -> Result<bool, AccountsError> {
    Ok(store.browser_session_delete(&secret.id_hash()).await?)
}

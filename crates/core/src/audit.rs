//! Audit records as Portcullis makes them: who is acting and from where ([`AuditContext`]), and
//! the names of the actions.
//!
//! A change is recorded by handing its [`AuditEvent`] to the store method that makes the change
//! (`…_audited`), which appends it in the same transaction; an event that changes nothing else (a
//! refused sign-in) is appended on its own with [`record`]. Records never hold a secret: the
//! fields are identifiers (subjects, client ids, grant ids, usernames, key ids), never tokens,
//! codes, passwords or hashes of them. The chain and its format are `portcullis_store::audit`'s;
//! `docs/audit.md` describes both.

use portcullis_store::{AuditEvent, Store};
use time::OffsetDateTime;

/// The action succeeded (a change made, a sign-in accepted).
pub const SUCCESS: &str = "success";
/// The action was attempted and refused (a wrong password).
pub const FAILURE: &str = "failure";
/// An authorization decision let a request through.
pub const ALLOW: &str = "allow";
/// An authorization decision refused a request.
pub const DENY: &str = "deny";

/// Who is acting, through what and from where; the part of every record that the action does not
/// decide. `enabled` is `[audit] enabled`: when it is off, [`AuditContext::event`] gives nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditContext {
    pub enabled: bool,
    /// A user's subject, `cli:<unix user>` for an operator at the command line, or a client id
    /// for a client acting as itself; `None` when nobody is identified yet (a refused sign-in).
    pub actor: Option<String>,
    pub tenant: Option<String>,
    /// The OAuth client the request came through.
    pub client: Option<String>,
    /// The id of the HTTP request (`x-request-id`).
    pub request_id: Option<String>,
    /// The client address of the request (after `trusted_proxies`).
    pub source: Option<String>,
}

impl AuditContext {
    /// An operator at the command line: actor `cli:<unix user>`.
    pub fn cli(unix_user: &str, enabled: bool) -> Self {
        Self {
            enabled,
            actor: Some(format!("cli:{unix_user}")),
            ..Self::default()
        }
    }

    /// A context that records nothing (for internal writes and tests).
    pub fn off() -> Self {
        Self::default()
    }

    /// The same request, with `actor` (and its tenant) acting.
    #[must_use]
    pub fn acting(&self, actor: &str, tenant: Option<&str>) -> Self {
        Self {
            actor: Some(actor.to_owned()),
            tenant: tenant.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The same request, through `client`.
    #[must_use]
    pub fn through(&self, client: &str) -> Self {
        Self {
            client: Some(client.to_owned()),
            ..self.clone()
        }
    }

    /// A successful `action` on `target` at `now`, or `None` when recording is off.
    pub fn event(
        &self,
        now: OffsetDateTime,
        action: &str,
        target: Option<&str>,
    ) -> Option<AuditEvent> {
        self.decided(now, action, target, SUCCESS, None)
    }

    /// `action` on `target` at `now` with its `decision` and `reason`, or `None` when recording
    /// is off.
    pub fn decided(
        &self,
        now: OffsetDateTime,
        action: &str,
        target: Option<&str>,
        decision: &str,
        reason: Option<&str>,
    ) -> Option<AuditEvent> {
        self.enabled.then(|| AuditEvent {
            time: now,
            actor: self.actor.clone(),
            tenant: self.tenant.clone(),
            client: self.client.clone(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            decision: decision.to_owned(),
            reason: reason.map(str::to_owned),
            request_id: self.request_id.clone(),
            source: self.source.clone(),
        })
    }
}

/// Appends an event that changes nothing else. A failure to record is logged, not returned: the
/// events recorded this way (refusals) must not turn into a different answer because the store
/// hiccuped, and the answer they go with is already decided.
pub async fn record(store: &dyn Store, event: Option<AuditEvent>) {
    if let Some(event) = event
        && let Err(e) = store.audit_append(std::slice::from_ref(&event)).await
    {
        tracing::error!(action = %event.action, error = %e, "could not record an audit event");
    }
}

/// The names of the actions recorded, `area.verb`; `docs/audit.md` lists them with their targets.
pub mod action {
    pub const SIGN_IN: &str = "session.sign_in";
    pub const MFA: &str = "session.mfa";
    pub const MFA_ENROLL: &str = "mfa.enroll";
    pub const MFA_REMOVE: &str = "mfa.remove";
    pub const RECOVERY_CODES: &str = "mfa.recovery_codes";
    pub const IDENTITY_LINK: &str = "identity.link";
    pub const IDENTITY_UNLINK: &str = "identity.unlink";
    pub const PASSWORD_CHANGE: &str = "user.change_password";
    pub const CONSENT_GIVE: &str = "consent.give";
    pub const CONSENT_WITHDRAW: &str = "consent.withdraw";
    pub const TOKEN_ISSUE: &str = "token.issue";
    pub const TOKEN_REFRESH: &str = "token.refresh";
    pub const TOKEN_REUSE: &str = "token.reuse_detected";
    pub const CODE_REPLAY: &str = "token.code_replayed";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const CLIENT_REGISTER: &str = "client.register";
    pub const CLIENT_UPDATE: &str = "client.update";
    pub const CLIENT_CREATE: &str = "client.create";
    pub const CLIENT_DELETE: &str = "client.delete";
    pub const CLIENT_ROTATE_SECRET: &str = "client.rotate_secret";
    pub const USER_CREATE: &str = "user.create";
    pub const USER_DISABLE: &str = "user.disable";
    pub const USER_ENABLE: &str = "user.enable";
    pub const USER_DELETE: &str = "user.delete";
    pub const USER_RESET_PASSWORD: &str = "user.reset_password";
    pub const USER_RESET_MFA: &str = "user.reset_mfa";
    pub const ROLE_PUT: &str = "role.put";
    pub const ROLE_DELETE: &str = "role.delete";
    pub const ROLE_GRANT: &str = "role.grant";
    pub const ROLE_REVOKE: &str = "role.revoke";
    pub const GROUP_CREATE: &str = "group.create";
    pub const GROUP_DELETE: &str = "group.delete";
    pub const GROUP_MEMBER_ADD: &str = "group.member_add";
    pub const GROUP_MEMBER_REMOVE: &str = "group.member_remove";
    pub const API_KEY_CREATE: &str = "api_key.create";
    pub const API_KEY_REVOKE: &str = "api_key.revoke";
    pub const KEY_ROTATE: &str = "signing_key.rotate";
    pub const KEY_CREATE: &str = "signing_key.create";
    pub const MCP_REQUEST: &str = "mcp.request";
}

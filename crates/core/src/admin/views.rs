//! The JSON shapes of administrative objects: what `portcullis admin … --json` prints and what
//! the admin REST API answers, built in one place so that they cannot drift apart. Rows never
//! leave here with a secret or a hash; a secret shown once is added by the caller that made it
//! (`api_key`, `client_secret`, `password`).

use portcullis_policy::{Decision, Denial, Outcome};
use portcullis_store::{ApiKey, AuditRecord, SigningKey, StoredRole, StoredRoleGrant, User};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::api_keys;
use super::keys::KeyStatus;
use super::roles::{Explanation, RoleView, Via};
use crate::clients::Client;
use crate::signing::Rotation;

/// An instant as RFC 3339 text.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

pub fn user(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "display_name": user.display_name,
        "tenant": user.tenant,
        "status": user.status.as_str(),
        "has_password": user.password_hash.is_some(),
        "must_change_password": user.must_change_password,
        "created_at": rfc3339(user.created_at),
        "updated_at": rfc3339(user.updated_at),
    })
}

/// An account with its one-time password, when one was just generated (shown once).
pub fn user_with_password(created: &super::users::Created) -> Value {
    let mut json = user(&created.user);
    if let Some(password) = &created.one_time_password {
        set(&mut json, "password", json!(password.as_str()));
    }
    json
}

pub fn api_key(key: &ApiKey, now: OffsetDateTime) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "subject": key.subject,
        "kind": key.kind.as_str(),
        "client_id": key.kind.client_id(),
        "scopes": key.scopes.split_ascii_whitespace().collect::<Vec<_>>(),
        "status": api_keys::status(key, now),
        "created_at": rfc3339(key.created_at),
        "expires_at": key.expires_at.map(rfc3339),
        "last_used_at": key.last_used_at.map(rfc3339),
        "revoked_at": key.revoked_at.map(rfc3339),
    })
}

/// A key just created, with its secret (shown once): `api_key` for a bearer key,
/// `client_secret` for a service token.
pub fn created_api_key(created: &api_keys::Created, now: OffsetDateTime) -> Value {
    let mut json = api_key(&created.key, now);
    let field = match created.key.kind {
        portcullis_store::ApiKeyKind::ApiKey => "api_key",
        portcullis_store::ApiKeyKind::ServiceToken { .. } => "client_secret",
    };
    set(&mut json, field, json!(created.secret));
    json
}

pub fn client(client: &Client) -> Value {
    json!({
        "client_id": client.client_id,
        "name": client.name,
        "source": client.source.as_str(),
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "confidential": client.token_endpoint_auth_method.uses_secret(),
        "scope": client.scope,
        "application_type": client.application_type.as_str(),
        "created_at": rfc3339(client.created_at),
        "expires_at": client.expires_at.map(rfc3339),
        "last_used_at": client.last_used_at.map(rfc3339),
    })
}

/// A client just created or given a new secret, with the secret (shown once) when it has one.
pub fn client_with_secret(created: &super::clients::Created) -> Value {
    let mut json = client(&created.client);
    if let Some(secret) = &created.secret {
        set(&mut json, "client_secret", json!(secret));
    }
    json
}

pub fn role(role: &RoleView) -> Value {
    json!({
        "name": role.name,
        "source": role.source.as_str(),
        "inherits": role.inherits,
        "permissions": role.permissions,
        "description": role.description,
    })
}

pub fn stored_role(role: &StoredRole) -> Value {
    json!({
        "name": role.name,
        "source": "store",
        "inherits": role.inherits,
        "permissions": role.permissions,
        "description": role.description,
    })
}

pub fn grant(grant: &StoredRoleGrant) -> Value {
    json!({
        "id": grant.id,
        "grantee_kind": grant.grantee_kind.as_str(),
        "grantee": grant.grantee,
        "role": grant.role,
        "scope_kind": grant.scope_kind.as_str(),
        "scope": (!grant.scope.is_empty()).then_some(&grant.scope),
        "created_at": rfc3339(grant.created_at),
    })
}

/// A local group and its members (by id and username).
pub fn group(view: &super::groups::GroupView) -> Value {
    let group = &view.group;
    json!({
        "name": group.name,
        "tenant": group.tenant,
        "description": group.description,
        "created_at": rfc3339(group.created_at),
        "members": view
            .members
            .iter()
            .map(|u| json!({ "id": u.id, "username": u.username }))
            .collect::<Vec<_>>(),
    })
}

pub fn signing_key(key: &SigningKey, status: KeyStatus) -> Value {
    json!({
        "kid": key.kid,
        "alg": key.alg,
        "status": status.as_str(),
        "created_at": rfc3339(key.created_at),
        "not_before": rfc3339(key.not_before),
        "retire_after": key.retire_after.map(rfc3339),
    })
}

pub fn rotation(rotation: &Rotation) -> Value {
    let retiring: Vec<Value> = rotation
        .retiring
        .iter()
        .map(|(kid, at)| json!({ "kid": kid, "retire_after": rfc3339(*at) }))
        .collect();
    json!({
        "new_kid": rotation.new_kid,
        "signs_from": rfc3339(rotation.signs_from),
        "retiring": retiring,
    })
}

/// A hash as lower-case hex.
pub fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A record's time as exported: UTC, always six fractional digits (the stored precision).
pub fn audit_time(at: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// The complete audit record, hashes included: everything an external verifier needs.
pub fn audit_record(record: &AuditRecord) -> Value {
    let event = &record.event;
    json!({
        "seq": record.seq,
        "time": audit_time(event.time),
        "actor": event.actor,
        "tenant": event.tenant,
        "client": event.client,
        "action": event.action,
        "target": event.target,
        "decision": event.decision,
        "reason": event.reason,
        "request_id": event.request_id,
        "source": event.source,
        "prev_hash": hex(&record.prev_hash),
        "hash": hex(&record.hash),
    })
}

/// What `authz explain` answers, as JSON and as a sentence for people.
pub fn explanation(explanation: &Explanation, server: &str, method: &str) -> (Value, String) {
    let (json, text) = match &explanation.decision {
        Decision::Allowed(_) if explanation.via == Via::Open => (
            json!({
                "decision": "allow",
                "permission": null,
                "reason": "open to every authenticated caller",
            }),
            format!("allow: {method} is open to every authenticated caller"),
        ),
        Decision::Allowed(reason) if explanation.via == Via::AuthenticatedRoles => (
            json!({
                "decision": "allow",
                "permission": explanation.permission,
                "role": reason.grant.role,
                "rule": reason.pattern,
                "grant": format!("authenticated_roles of {server}"),
            }),
            format!(
                "allow: {} via role {} (rule {}, every authenticated caller of {server}: authenticated_roles)",
                explanation.permission.unwrap_or_default(),
                reason.grant.role,
                reason.pattern,
            ),
        ),
        Decision::Allowed(reason) => (
            json!({
                "decision": "allow",
                "permission": explanation.permission,
                "role": reason.grant.role,
                "rule": reason.pattern,
                "grant": format!("{:?}", reason.grant.scope),
            }),
            format!(
                "allow: {} via role {} (rule {}, granted {:?})",
                explanation.permission.unwrap_or_default(),
                reason.grant.role,
                reason.pattern,
                reason.grant.scope
            ),
        ),
        Decision::Denied(denial) => {
            let why = match denial {
                Denial::UnknownPermission => "the method is not one Portcullis knows to be safe",
                Denial::NoGrant => "the account holds no role",
                Denial::NotAllowed => "no role granted here allows it",
            };
            (
                json!({
                    "decision": "deny",
                    "permission": explanation.permission,
                    "reason": why,
                }),
                format!("deny: {why}"),
            )
        }
    };
    conditioned(explanation, json, text)
}

/// The role decision's answer, completed with what the conditions say after it.
fn conditioned(explanation: &Explanation, mut json: Value, text: String) -> (Value, String) {
    let Some(outcome) = &explanation.condition else {
        return (json, text);
    };
    let roles_say = text.strip_prefix("allow: ").unwrap_or(&text);
    let (text, reason) = match outcome {
        Outcome::Pass => {
            set(&mut json, "conditions", json!("pass"));
            return (json, format!("{text}; no condition forbids it"));
        }
        Outcome::Forbidden(policy) => (
            format!(
                "deny: the roles allow it ({roles_say}), but the condition {policy:?} forbids it"
            ),
            format!("forbidden by the condition {policy:?}"),
        ),
        Outcome::Failed { policy, error } => {
            let which = policy.as_deref().map_or_else(
                || "the conditions".to_owned(),
                |p| format!("the condition {p:?}"),
            );
            (
                format!(
                    "deny: the roles allow it ({roles_say}), but {which} could not be evaluated: {error}"
                ),
                format!("{which} could not be evaluated: {error}"),
            )
        }
    };
    set(&mut json, "decision", json!("deny"));
    set(&mut json, "conditions", json!("deny"));
    set(&mut json, "policy", json!(outcome.policy()));
    set(&mut json, "reason", json!(reason));
    (json, text)
}

/// Sets `key` of the object `json`.
pub fn set(json: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = json {
        map.insert(key.to_owned(), value);
    }
}

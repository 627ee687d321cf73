//! Authorization of MCP traffic: whether the caller may send this message to this upstream,
//! decided on the parsed body only, after authentication and before anything is relayed.
//!
//! The caller's roles come from the policy snapshot (grants in the store and the configuration,
//! swapped whole when they change) and from the upstream's `authenticated_roles`; what its
//! token may do is further limited by the upstream's `scope_permissions`. A request the roles
//! do not allow is answered as if what it names did not exist; one only a missing scope stops
//! gets a step-up challenge. List results are filtered item by item (`filter`).
//!
//! After the roles and scopes allow a request, the conditions (`[authorization]
//! cedar_policies`) may still forbid it: a forbid wins, and so does a condition that cannot be
//! evaluated. They decide requests only; list items are shown on the roles alone.

use std::sync::Arc;

use portcullis_core::auth::Principal;
use portcullis_core::auth::api_key::API_KEY_VALIDATOR;
use portcullis_core::auth::portcullis_token::PORTCULLIS_VALIDATOR;
use portcullis_policy::{
    Action, Conditions, Facts, ListKind, MethodRule, Outcome, Policy, ScopeRules, ToolHints,
    method_rule,
};
use portcullis_proto::jsonrpc::Message;
use portcullis_proto::mcp::code;

use crate::error::RelayError;

/// The policy every decision uses, replaced whole when roles or grants change; open streams
/// watch it to tell their callers when what they may use changed.
#[derive(Debug)]
pub struct PolicySlot(tokio::sync::watch::Sender<Arc<Policy>>);

impl PolicySlot {
    pub fn new(policy: Policy) -> PolicySlot {
        PolicySlot(tokio::sync::watch::Sender::new(Arc::new(policy)))
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        self.0.borrow().clone()
    }

    /// Puts `policy` in force for every request that starts from now on.
    pub fn replace(&self, policy: Policy) {
        self.0.send_replace(Arc::new(policy));
    }

    /// A receiver told of every replacement.
    pub(crate) fn watch(&self) -> tokio::sync::watch::Receiver<Arc<Policy>> {
        self.0.subscribe()
    }
}

/// What one upstream adds to the policy.
#[derive(Debug, Default)]
pub(crate) struct UpstreamRules {
    pub name: String,
    /// `authenticated_roles`.
    pub roles: Vec<String>,
    /// `scope_permissions`.
    pub scopes: ScopeRules,
    /// What its tools say of themselves, learned from its `tools/list` answers.
    pub hints: HintCache,
}

/// Tool annotations of one upstream, by tool name, as its `tools/list` answers give them (the
/// last answer wins). Bounded: past `MAX_HINTS` names, new ones are not remembered, so rules
/// that need them do not match (fail closed).
#[derive(Debug, Default)]
pub(crate) struct HintCache(std::sync::RwLock<std::collections::HashMap<String, ToolHints>>);

const MAX_HINTS: usize = 4096;

impl HintCache {
    pub fn get(&self, tool: &str) -> Option<ToolHints> {
        self.0.read().ok()?.get(tool).copied()
    }

    pub fn learn(&self, tool: &str, hints: ToolHints) {
        let Ok(mut map) = self.0.write() else { return };
        if let Some(known) = map.get_mut(tool) {
            *known = hints;
        } else if map.len() < MAX_HINTS {
            map.insert(tool.to_owned(), hints);
        }
    }
}

/// The hints of a tool item of a `tools/list` answer (MCP: `readOnlyHint` defaults to false,
/// `destructiveHint` to true).
pub(crate) fn hints_of(tool: &serde_json::Value) -> ToolHints {
    let annotations = tool.get("annotations");
    let flag = |name: &str| {
        annotations
            .and_then(|a| a.get(name))
            .and_then(serde_json::Value::as_bool)
    };
    let read_only = flag("readOnlyHint") == Some(true);
    ToolHints {
        read_only,
        non_destructive: read_only || flag("destructiveHint") == Some(false),
    }
}

/// The outcome for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    /// The roles allow it; the token lacks a scope, and this one would do.
    StepUp(String),
    Deny,
}

/// One caller's rights on one upstream, for the length of a request (and of its answer, which
/// list filtering reads as it streams).
#[derive(Debug, Clone)]
pub(crate) struct Rights {
    policy: Arc<Policy>,
    principal: Arc<Principal>,
    rules: Arc<UpstreamRules>,
    conditions: Option<Arc<Conditions>>,
}

/// How the policy names a principal: Portcullis users by account id, Portcullis
/// client-credentials clients and API keys as service principals, and callers verified by other
/// validators by their `{validator}:{sub}` subject (granted with `--subject`).
pub fn facts(principal: &Principal) -> Facts<'_> {
    let person = |subject| Facts {
        subject,
        service: false,
        groups: &principal.groups,
        tenant: principal.tenant.as_deref(),
    };
    let service = |subject| Facts {
        subject,
        service: true,
        groups: &[],
        tenant: principal.tenant.as_deref(),
    };
    if principal.validator == PORTCULLIS_VALIDATOR {
        let sub = principal
            .subject
            .strip_prefix(PORTCULLIS_VALIDATOR)
            .and_then(|s| s.strip_prefix(':'))
            .unwrap_or(&principal.subject);
        if sub.starts_with("client:") {
            service(sub)
        } else {
            person(sub)
        }
    } else if principal.validator == API_KEY_VALIDATOR {
        service(&principal.subject)
    } else {
        person(&principal.subject)
    }
}

impl Rights {
    pub fn new(policy: Arc<Policy>, principal: Arc<Principal>, rules: Arc<UpstreamRules>) -> Self {
        Rights {
            policy,
            principal,
            rules,
            conditions: None,
        }
    }

    /// The same rights, with requests also subject to `conditions`.
    pub fn with_conditions(mut self, conditions: Option<Arc<Conditions>>) -> Rights {
        self.conditions = conditions;
        self
    }

    /// The same caller's rights under `policy`.
    pub fn with_policy(&self, policy: Arc<Policy>) -> Rights {
        Rights {
            policy,
            principal: self.principal.clone(),
            rules: self.rules.clone(),
            conditions: self.conditions.clone(),
        }
    }

    /// A digest of what decides for this caller: equal digests, equal decisions.
    pub fn fingerprint(&self) -> u64 {
        self.policy
            .fingerprint(&facts(&self.principal), &self.rules.roles)
    }

    /// Whether the caller may do `permission` on the item `name` (`None`: on every item),
    /// a tool whose annotations say `hints` (`None`: not known).
    pub fn verdict(
        &self,
        permission: &str,
        name: Option<&str>,
        hints: Option<ToolHints>,
    ) -> Verdict {
        let action = Action {
            permission,
            tenant: self.principal.tenant.as_deref(),
            upstream: Some(&self.rules.name),
            name,
            hints,
        };
        let by_role = self.policy.allows(&facts(&self.principal), &action)
            || self
                .rules
                .roles
                .iter()
                .any(|role| self.policy.role_allows(role, &action).is_some());
        if !by_role {
            return Verdict::Deny;
        }
        let scopes = &self.rules.scopes;
        if scopes.allows(
            &self.principal.scopes,
            permission,
            &self.rules.name,
            name,
            hints,
        ) {
            return Verdict::Allow;
        }
        match scopes.needed(permission, &self.rules.name, name, hints) {
            Some(scope) => Verdict::StepUp(scope.to_owned()),
            None => Verdict::Deny,
        }
    }

    /// Whether the list `kind` must be filtered for this caller (it may not use every item).
    pub fn filters(&self, kind: ListKind) -> bool {
        self.verdict(kind.item_permission(), None, None) != Verdict::Allow
    }

    /// Whether an item of the list `kind` named `name` is shown: the caller may use it, or may
    /// after a step-up. `hints`: a tool's annotations.
    pub fn shows(&self, kind: ListKind, name: &str, hints: Option<ToolHints>) -> bool {
        self.verdict(kind.item_permission(), Some(name), hints) != Verdict::Deny
    }

    /// Remembers what a listed tool says of itself, for later calls.
    pub fn learn_hints(&self, tool: &str, hints: ToolHints) {
        self.rules.hints.learn(tool, hints);
    }

    /// The scopes a step-up challenge asks for: those the token has that this upstream knows,
    /// and `needed` (one challenge with every scope the client should hold).
    pub fn step_up_scopes(&self, needed: String) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .rules
            .scopes
            .names()
            .filter(|s| self.principal.scopes.iter().any(|g| g == s))
            .map(str::to_owned)
            .collect();
        if !scopes.contains(&needed) {
            scopes.push(needed);
        }
        scopes
    }
}

/// Why a message is refused, before it is shaped into an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Answered as the upstream answers for something that does not exist.
    NotFound {
        code: i64,
        message: String,
    },
    StepUp(String),
    /// The roles allow it; a condition forbids it, or could not be evaluated on it.
    Condition(Outcome),
}

impl Refusal {
    /// Why, for the audit log.
    pub(crate) fn reason(&self) -> String {
        match self {
            Refusal::NotFound { .. } => {
                "not permitted, or an unknown method (answered as not found)".to_owned()
            }
            Refusal::StepUp(scope) => format!("the token lacks the scope {scope}"),
            Refusal::Condition(Outcome::Forbidden(policy)) => {
                format!("forbidden by the condition {policy}")
            }
            Refusal::Condition(Outcome::Failed { policy, .. }) => match policy {
                Some(policy) => format!("the condition {policy} could not be evaluated"),
                None => "the request could not be described to the conditions".to_owned(),
            },
            Refusal::Condition(Outcome::Pass) => "refused".to_owned(),
        }
    }
}

/// Whether a message with `method` is an authorization decision: one the policy decides, or an
/// unknown method refused; not one every caller may send (the handshake, pings, notifications).
pub(crate) fn needs_permission(method: &str) -> bool {
    !matches!(method_rule(method), MethodRule::Open)
}

/// Checks one client message that arrived at `now` (seconds since the Unix epoch).
/// `Ok(Some(kind))`: allowed, and its result is the list `kind`, which must be filtered;
/// `Ok(None)`: allowed as it is.
pub(crate) fn check(
    rights: &Rights,
    message: &Message,
    now: i64,
) -> Result<Option<ListKind>, Refusal> {
    // A response to a request of the server (sampling, elicitation, roots) names no method.
    let Some(method) = message.method.as_deref() else {
        return Ok(None);
    };
    let permission = match method_rule(method) {
        MethodRule::Open => return Ok(None),
        MethodRule::Needs(permission) => permission,
        MethodRule::Unknown => return Err(not_found(method, None)),
    };
    let name = match method {
        "tools/call" | "prompts/get" => message.name.as_deref(),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            message.uri.as_deref()
        }
        _ => None,
    };
    let hints = match (method, name) {
        ("tools/call", Some(tool)) => rights.rules.hints.get(tool),
        _ => None,
    };
    match rights.verdict(permission, name, hints) {
        Verdict::Allow => {}
        Verdict::StepUp(scope) => return Err(Refusal::StepUp(scope)),
        Verdict::Deny => return Err(not_found(method, name)),
    }
    if let Some(conditions) = &rights.conditions {
        let facts = facts(&rights.principal);
        let mut caller = rights.principal.condition_caller(facts.service);
        // A person's local groups count in conditions as its credential's groups do.
        let local = if facts.service {
            &[][..]
        } else {
            rights.policy.local_groups(facts.subject)
        };
        let merged: Vec<String>;
        if !local.is_empty() {
            merged = caller
                .groups
                .iter()
                .chain(local.iter().filter(|g| !caller.groups.contains(g)))
                .cloned()
                .collect();
            caller.groups = &merged;
        }
        let request = portcullis_policy::conditions::Request {
            caller,
            upstream: &rights.rules.name,
            method,
            target: name,
            hints,
            arguments: message.arguments.map(serde_json::value::RawValue::get),
            now,
        };
        match conditions.evaluate(&request) {
            Outcome::Pass => {}
            refused => return Err(Refusal::Condition(refused)),
        }
    }
    Ok(ListKind::of_method(method).filter(|kind| rights.filters(*kind)))
}

/// The error an MCP server gives for what does not exist (MCP server features: unknown tool
/// and invalid prompt name -32602, resource not found -32002, unknown method -32601).
fn not_found(method: &str, name: Option<&str>) -> Refusal {
    let (code, message) = match method {
        "tools/call" => (
            code::INVALID_PARAMS,
            format!("Unknown tool: {}", name.unwrap_or_default()),
        ),
        "prompts/get" => (
            code::INVALID_PARAMS,
            format!("Unknown prompt: {}", name.unwrap_or_default()),
        ),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            (RESOURCE_NOT_FOUND, "Resource not found".to_owned())
        }
        _ => (code::METHOD_NOT_FOUND, "Method not found".to_owned()),
    };
    Refusal::NotFound { code, message }
}

/// MCP's "resource not found" error code.
const RESOURCE_NOT_FOUND: i64 = -32002;

/// What a client hears when a condition refuses its request: never which policy, or why.
pub(crate) const CONDITION_REFUSED: &str = "Request refused by an authorization policy";

impl Refusal {
    /// The relay error that answers it, for request `id`.
    pub fn into_error(
        self,
        rights: &Rights,
        challenge: Arc<crate::auth::ResourceChallenge>,
        id: Option<&serde_json::value::RawValue>,
    ) -> RelayError {
        match self {
            Refusal::NotFound { code, message } => RelayError::Refused {
                code,
                message,
                id: id.map(ToOwned::to_owned),
            },
            Refusal::StepUp(scope) => RelayError::InsufficientScope {
                scopes: rights.step_up_scopes(scope),
                challenge,
                id: id.map(ToOwned::to_owned),
            },
            Refusal::Condition(_) => RelayError::Refused {
                code: code::INVALID_REQUEST,
                message: CONDITION_REFUSED.to_owned(),
                id: id.map(ToOwned::to_owned),
            },
        }
    }
}

#[cfg(test)]
mod tests;

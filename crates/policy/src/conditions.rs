//! Conditions beyond roles, written in Cedar: forbid-only policies over the caller's claims,
//! the request's target, arguments and tool annotations, and the time, evaluated after the role
//! decision. Roles grant; a condition can only take away, and a forbid wins.
//!
//! The policy file is parsed and validated once, strictly, against [`SCHEMA`]: a syntax error, a
//! `permit`, a template (a policy with slots Portcullis never links), an unknown entity type,
//! attribute or action is an error naming the file, the policy and the problem, and the caller
//! refuses to start. At request time, a policy that cannot be evaluated refuses the request
//! (fail closed).
//!
//! Cedar is behind the `cedar` feature. Without it, [`Conditions::parse`] always fails: a
//! configuration that names policies never runs without them.

use crate::pattern::ToolHints;

#[cfg(feature = "cedar")]
mod cedar;
#[cfg(feature = "cedar")]
use cedar as engine;

#[cfg(not(feature = "cedar"))]
mod disabled;
#[cfg(not(feature = "cedar"))]
use disabled as engine;

/// The Cedar schema policies are validated against (`docs/authorization.md` prints it).
pub const SCHEMA: &str = include_str!("conditions/portcullis.cedarschema");

/// The caller as conditions see it (the Cedar `principal`, of type `Caller`).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub subject: &'a str,
    pub validator: &'a str,
    pub service: bool,
    pub tenant: Option<&'a str>,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub name: Option<&'a str>,
    pub login: Option<&'a str>,
    /// The OAuth client of a Portcullis access token.
    pub client_id: Option<&'a str>,
    pub groups: &'a [String],
    pub scopes: &'a [String],
    pub amr: &'a [String],
}

/// One MCP request the roles allowed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub caller: Caller<'a>,
    pub upstream: &'a str,
    /// The MCP method, which is the Cedar action's id (`Action::"tools/call"`).
    pub method: &'a str,
    /// The tool or prompt name, or the resource URI, for the methods that name one.
    pub target: Option<&'a str>,
    /// A called tool's annotations, when known.
    pub hints: Option<ToolHints>,
    /// `params.arguments` as the client wrote it (JSON text).
    pub arguments: Option<&'a str>,
    /// When the request arrived, in seconds since the Unix epoch.
    pub now: i64,
}

/// What the conditions say of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No condition forbids it.
    Pass,
    /// The policy with this id forbids it.
    Forbidden(String),
    /// The request could not be evaluated (a policy failed on it, or it could not be described
    /// to Cedar): refused. `policy` is the failing policy's id when one failed.
    Failed {
        policy: Option<String>,
        error: String,
    },
}

impl Outcome {
    /// The id of the policy that refused the request, when one did.
    pub fn policy(&self) -> Option<&str> {
        match self {
            Outcome::Pass => None,
            Outcome::Forbidden(id) => Some(id),
            Outcome::Failed { policy, .. } => policy.as_deref(),
        }
    }
}

/// One problem of a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The policy's id (its `@id` annotation, else Cedar's `policyN`), when the problem is in
    /// one policy.
    pub policy: Option<String>,
    /// `line:column` in the file, when known.
    pub at: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        if let Some(policy) = &self.policy {
            write!(f, "policy {policy:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionsError {
    /// This build has no Cedar (the `cedar` feature is off).
    #[error(
        "{file}: this build of Portcullis has no Cedar support (cargo feature `cedar`): it cannot enforce the conditions [authorization] cedar_policies names"
    )]
    NotBuilt { file: String },
    #[error("{file}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join(&format!("\n{file}: ")))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

/// A validated set of forbid policies, ready to evaluate requests.
#[derive(Debug)]
pub struct Conditions(engine::Engine);

impl Conditions {
    /// Parses and validates the policies in `text`, read from `file` (named in errors).
    pub fn parse(file: &str, text: &str) -> Result<Conditions, ConditionsError> {
        engine::Engine::parse(file, text).map(Conditions)
    }

    /// The ids of the policies, in file order.
    pub fn ids(&self) -> &[String] {
        self.0.ids()
    }

    /// Whether any condition forbids `request`.
    pub fn evaluate(&self, request: &Request<'_>) -> Outcome {
        self.0.evaluate(request)
    }
}

#[cfg(all(test, feature = "cedar"))]
mod tests;

//! From verified claims to a [`Principal`]: the claim-mapping keys of `[[validators]]`
//! (`subject_claim`, `email_claim`, `name_claim`, `groups_claim`, `tenant_claim`, `scope_claim`)
//! and the `[tenants]` email-domain mapping.
//!
//! Mapped claims are typed like registered ones: a `groups` that is not an array of strings makes
//! the credential invalid rather than silently groupless, because a policy that grants by group
//! would otherwise see a different caller than the issuer meant.

use std::sync::Arc;

use super::jwt::{Claims, JwtError};
use super::{Principal, Rejection, Tenants};
use crate::config::ValidatorConfig;

/// Which claims hold what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    pub subject: String,
    pub email: String,
    pub name: String,
    pub groups: String,
    /// `None`: the tenant comes from the email domain only.
    pub tenant: Option<String>,
    /// `None`: `scope`, else `scp`.
    pub scope: Option<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            subject: "sub".to_owned(),
            email: "email".to_owned(),
            name: "name".to_owned(),
            groups: "groups".to_owned(),
            tenant: None,
            scope: None,
        }
    }
}

impl ClaimMapping {
    /// The mapping of a validator (`v` with defaults filled in) under `[tenants] claim`.
    pub fn from_config(v: &ValidatorConfig, default_tenant_claim: Option<&str>) -> Self {
        let base = ClaimMapping::default();
        ClaimMapping {
            subject: v.subject_claim.clone().unwrap_or(base.subject),
            email: v.email_claim.clone().unwrap_or(base.email),
            name: v.name_claim.clone().unwrap_or(base.name),
            groups: v.groups_claim.clone().unwrap_or(base.groups),
            tenant: v
                .tenant_claim
                .clone()
                .or_else(|| default_tenant_claim.map(str::to_owned)),
            scope: v.scope_claim.clone(),
        }
    }
}

pub(crate) fn invalid(e: JwtError) -> Rejection {
    Rejection::Invalid(e.to_string())
}

/// Maps `claims` to a principal of validator `id`. `email_verified` is the issuer's word on the
/// email (the `email_verified` claim for OIDC issuers).
pub fn principal(
    id: &str,
    claims: &Claims,
    mapping: &ClaimMapping,
    tenants: &Arc<Tenants>,
) -> Result<Principal, Rejection> {
    let subject = claims
        .string(&mapping.subject)
        .map_err(invalid)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Rejection::Invalid(format!(
                "claim {}: a non-empty string is required",
                mapping.subject
            ))
        })?;
    let mut principal = Principal::new(id, subject);
    let email_verified = matches!(
        claims.get("email_verified"),
        Some(serde_json::Value::Bool(true))
    );
    fill(&mut principal, claims, mapping, tenants, email_verified)?;
    Ok(principal)
}

/// Fills everything but the subject.
pub fn fill(
    principal: &mut Principal,
    claims: &Claims,
    mapping: &ClaimMapping,
    tenants: &Arc<Tenants>,
    email_verified: bool,
) -> Result<(), Rejection> {
    principal.email = claims
        .string(&mapping.email)
        .map_err(invalid)?
        .map(str::to_owned);
    principal.email_verified = principal.email.is_some() && email_verified;
    principal.name = claims
        .string(&mapping.name)
        .map_err(invalid)?
        .map(str::to_owned);
    principal.groups = claims.strings(&mapping.groups).map_err(invalid)?;
    principal.scopes = scopes(claims, mapping.scope.as_deref())?;
    principal.auth_methods = claims.strings("amr").map_err(invalid)?;
    principal.expires_at = claims.number("exp").map_err(invalid)?;
    let claimed_tenant = match &mapping.tenant {
        Some(claim) => claims.string(claim).map_err(invalid)?,
        None => None,
    };
    principal.tenant = match claimed_tenant {
        Some(tenant) => Some(tenant.to_owned()),
        None => principal
            .email
            .as_deref()
            .and_then(|e| tenants.for_email(e, principal.email_verified))
            .map(str::to_owned),
    };
    Ok(())
}

/// Scopes: a configured claim (a space-separated string or an array), else `scope` (a string,
/// RFC 8693 §4.2 / RFC 9068 §2.2.3), else `scp` (a string or an array, as Entra and Okta send).
fn scopes(claims: &Claims, claim: Option<&str>) -> Result<Vec<String>, Rejection> {
    let split = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let either = |name: &str| -> Result<Option<Vec<String>>, Rejection> {
        match claims.get(name) {
            Some(serde_json::Value::String(s)) => Ok(Some(split(s))),
            _ => claims.string_or_strings(name).map_err(invalid),
        }
    };
    if let Some(claim) = claim {
        return Ok(either(claim)?.unwrap_or_default());
    }
    if let Some(scope) = claims.string("scope").map_err(invalid)? {
        return Ok(split(scope));
    }
    Ok(either("scp")?.unwrap_or_default())
}

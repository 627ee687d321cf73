//! `kind = "cloudflare_access"`: the application token Cloudflare Access puts in
//! `Cf-Access-Jwt-Assertion` when Portcullis sits behind Access.
//!
//! Only that header is read, never a bearer token: the assertion proves what Access checked
//! in front of us, and a client must not be able to present one it obtained elsewhere as its own
//! credential. The keys are the team's (`{team_domain}/cdn-cgi/access/certs`), the issuer is the
//! team domain, and the audience one of the application AUD tags. A user's assertion names them
//! by `sub` and `email` (Access authenticated that email, so it counts as verified); a service
//! token's assertion has no email and names the token by `common_name`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{BuildProblem, JwtCore, KeySource, Parts, Verify, invalid};
use crate::auth::claims::{self, ClaimMapping};
use crate::auth::jwt::TokenTypes;
use crate::auth::{Context, Credential, Principal, Rejection, Tenants};

/// Checks Cloudflare Access application tokens.
#[derive(Debug)]
pub(super) struct CloudflareAccessValidator {
    core: JwtCore,
    tenants: Arc<Tenants>,
}

pub(super) fn build(parts: &Parts<'_>) -> Result<CloudflareAccessValidator, BuildProblem> {
    let v = parts.config;
    let team_domain = parts.required("team_domain", &v.team_domain)?;
    let audiences = Parts::list(&v.audiences);
    if audiences.is_empty() {
        return Err(BuildProblem::new(
            "audiences",
            "the application AUD tags are required",
        ));
    }
    let certs = format!("{team_domain}/cdn-cgi/access/certs");
    Ok(CloudflareAccessValidator {
        core: JwtCore {
            issuers: vec![team_domain],
            audiences,
            token_types: TokenTypes::AnyButOtherKinds,
            keys: parts.jwks(KeySource::Jwks(certs))?,
        },
        tenants: parts.tenants.clone(),
    })
}

#[async_trait]
impl Verify for CloudflareAccessValidator {
    async fn verify(
        &self,
        id: &str,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let Credential::CfAccessAssertion(token) = credential else {
            return Err(Rejection::NotApplicable);
        };
        let claims = self.core.check(token, context).await?;
        let email = claims.string("email").map_err(invalid)?;
        let subject = match (email, claims.string("common_name").map_err(invalid)?) {
            (Some(_), _) | (None, None) => claims.string("sub").map_err(invalid)?,
            (None, Some(common_name)) => Some(common_name),
        }
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::invalid("the assertion names no user or service token"))?;
        let mut principal = Principal::new(id, subject);
        claims::fill(
            &mut principal,
            &claims,
            &ClaimMapping::default(),
            &self.tenants,
            true,
        )?;
        Ok(principal)
    }
}

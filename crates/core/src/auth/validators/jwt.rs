//! `kind = "jwt"`: JWTs of an external issuer, with keys from `jwks_uri` or OIDC discovery.
//! The same validator, with a fixed key, serves `kind = "hs256"`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{BuildProblem, JwtCore, KeySource, Parts, Verify};
use crate::auth::claims::{self, ClaimMapping};
use crate::auth::jwt::TokenTypes;
use crate::auth::{Context, Credential, Principal, Rejection, Tenants};

/// Verifies bearer JWTs of one issuer and maps their claims to a principal.
#[derive(Debug)]
pub(super) struct JwtValidator {
    core: JwtCore,
    mapping: ClaimMapping,
    tenants: Arc<Tenants>,
}

impl JwtValidator {
    pub(super) fn new(parts: &Parts<'_>, core: JwtCore) -> Self {
        JwtValidator {
            core,
            mapping: ClaimMapping::from_config(parts.config, parts.tenant_claim),
            tenants: parts.tenants.clone(),
        }
    }
}

pub(super) fn build(parts: &Parts<'_>) -> Result<JwtValidator, BuildProblem> {
    let v = parts.config;
    let issuer = parts.required("issuer", &v.issuer)?;
    let source = match &v.jwks_uri {
        Some(uri) => KeySource::Jwks(uri.clone()),
        None => KeySource::Discovery {
            issuer: issuer.clone(),
        },
    };
    let core = JwtCore {
        issuers: vec![issuer],
        audiences: Parts::list(&v.audiences),
        token_types: TokenTypes::from_config(&Parts::list(&v.token_types)),
        keys: parts.jwks(source)?,
    };
    Ok(JwtValidator::new(parts, core))
}

#[async_trait]
impl Verify for JwtValidator {
    async fn verify(
        &self,
        id: &str,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let Credential::Bearer(token) = credential else {
            return Err(Rejection::NotApplicable);
        };
        let claims = self.core.check(token, context).await?;
        claims::principal(id, &claims, &self.mapping, &self.tenants)
    }
}

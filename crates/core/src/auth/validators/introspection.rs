//! `kind = "introspection"`: opaque tokens checked at an RFC 7662 endpoint.
//!
//! The request is a POST of `token` and `token_type_hint=access_token`, with the client
//! authenticated by HTTP Basic (RFC 6749 §2.3.1: id and secret form-urlencoded first). The answer
//! counts only when `active` is the boolean `true` and its `aud` names an accepted audience (the
//! configured ones, else the upstream's resource URL): an authorization server that introspects
//! tokens for many resources would otherwise vouch for a token meant for someone else. The
//! principal expires with the token's `exp`, which bounds how long the gateway may cache it.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use url::form_urlencoded::byte_serialize;

use super::{
    BuildProblem, Jws, Parts, Secret, Verify, api_answer, check_times, invalid,
    is_foreign_opaque_token,
};
use crate::auth::claims::{self, ClaimMapping};
use crate::auth::jwt::{Claims, JwtError, MAX_TOKEN_BYTES};
use crate::auth::{
    Context, Credential, Fetch, FetchMethod, FetchRequest, Principal, Rejection, Tenants,
};

/// Checks opaque bearer tokens at an introspection endpoint.
#[derive(Debug)]
pub(super) struct IntrospectionValidator {
    endpoint: String,
    /// `Basic base64(urlencode(client_id) ":" urlencode(secret))`: a secret, never printed.
    authorization: Secret,
    issuer: Option<String>,
    audiences: Vec<String>,
    mapping: ClaimMapping,
    tenants: Arc<Tenants>,
    fetch: Arc<dyn Fetch>,
    allow_private_network: bool,
}

pub(super) fn build(parts: &Parts<'_>) -> Result<IntrospectionValidator, BuildProblem> {
    let v = parts.config;
    let endpoint = parts.required("introspection_endpoint", &v.introspection_endpoint)?;
    let client_id = parts.required("client_id", &v.client_id)?;
    let secret = parts.secret("client_secret_env", &v.client_secret_env)?;
    Ok(IntrospectionValidator {
        endpoint,
        authorization: Secret(basic_authorization(client_id.as_bytes(), &secret.0).into_bytes()),
        issuer: v.issuer.clone(),
        audiences: Parts::list(&v.audiences),
        mapping: ClaimMapping::from_config(v, parts.tenant_claim),
        tenants: parts.tenants.clone(),
        fetch: parts.fetch.clone(),
        allow_private_network: v.allow_private_network,
    })
}

/// RFC 6749 §2.3.1: the client id and secret are form-urlencoded, then joined with ':' and
/// base64-encoded.
fn basic_authorization(client_id: &[u8], secret: &[u8]) -> String {
    let id: String = byte_serialize(client_id).collect();
    let secret: String = byte_serialize(secret).collect();
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

impl IntrospectionValidator {
    async fn introspect(&self, token: &str) -> Result<Claims, Rejection> {
        let authorization = String::from_utf8_lossy(&self.authorization.0).into_owned();
        let request = FetchRequest {
            method: FetchMethod::PostForm,
            url: &self.endpoint,
            headers: vec![
                ("authorization", authorization),
                ("accept", "application/json".to_owned()),
            ],
            form: vec![
                ("token", token.to_owned()),
                ("token_type_hint", "access_token".to_owned()),
            ],
            allow_private_network: self.allow_private_network,
            max_body_bytes: None,
            timeout: None,
        };
        let result = self.fetch.fetch(request).await;
        let answer = match api_answer("the introspection endpoint", result) {
            // RFC 7662 §2.3: the endpoint answers 401 when *our* client authentication failed;
            // an inactive token is a 200 with active=false. So a refusal here is a setup
            // problem, not the caller's.
            Err(Rejection::Invalid(reason)) => return Err(Rejection::Unavailable(reason)),
            other => other?,
        };
        Ok(Claims::new(answer))
    }
}

#[async_trait]
impl Verify for IntrospectionValidator {
    async fn verify(
        &self,
        id: &str,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let Credential::Bearer(token) = credential else {
            return Err(Rejection::NotApplicable);
        };
        // JWTs belong to the JWT validators, and GitHub or Google tokens to theirs: none of them
        // is sent to this endpoint.
        if token.is_empty()
            || token.len() > MAX_TOKEN_BYTES
            || Jws::parse(token).is_ok()
            || is_foreign_opaque_token(token)
        {
            return Err(Rejection::NotApplicable);
        }
        let claims = self.introspect(token).await?;
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(Rejection::invalid("the token is not active"));
        }
        check_times(&claims, context.now)?;
        let aud = claims
            .string_or_strings("aud")
            .map_err(invalid)?
            .ok_or_else(|| Rejection::invalid("the introspection answer has no aud"))?;
        let accepted = |a: &String| {
            if self.audiences.is_empty() {
                a == context.resource
            } else {
                self.audiences.contains(a)
            }
        };
        if !aud.iter().any(accepted) {
            return Err(invalid(JwtError::WrongAudience));
        }
        if let (Some(expected), Some(iss)) = (&self.issuer, claims.string("iss").map_err(invalid)?)
            && iss != expected
        {
            return Err(invalid(JwtError::WrongIssuer));
        }
        // RFC 7662 §2.2 names the resource owner `username` when there is no `sub`.
        let subject_claim = if self.mapping.subject == "sub" && claims.get("sub").is_none() {
            "username"
        } else {
            self.mapping.subject.as_str()
        };
        let subject = claims
            .string(subject_claim)
            .map_err(invalid)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Rejection::invalid("the introspection answer has no subject"))?;
        let mut principal = Principal::new(id, subject);
        let verified = claims.get("email_verified") == Some(&Value::Bool(true));
        claims::fill(
            &mut principal,
            &claims,
            &self.mapping,
            &self.tenants,
            verified,
        )?;
        Ok(principal)
    }
}

//! `kind = "google"`: Google ID tokens (JWTs signed with Google's keys) and Google OAuth access
//! tokens (`ya29.…`, opaque: checked at tokeninfo, then profiled at userinfo).
//!
//! Both must have been issued to one of the configured OAuth client ids (`aud`, or `azp` for
//! access tokens): a Google token minted for any other application on the internet is refused.
//! With `hosted_domains`, the Workspace domain (`hd`) must be one of them for both kinds of token;
//! personal accounts have no `hd` and are then refused.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::{
    BuildProblem, GOOGLE_ACCESS_PREFIX, JwtCore, KeySource, Parts, Verify, api_answer, check_times,
    invalid,
};
use crate::auth::claims::{self, ClaimMapping};
use crate::auth::jwt::{Claims, MAX_TOKEN_BYTES, TokenTypes};
use crate::auth::{
    Context, Credential, Fetch, FetchMethod, FetchRequest, Principal, Rejection, Tenants,
};
use crate::config::GOOGLE_ISSUER;

/// Checks Google ID tokens and access tokens issued to the configured clients.
#[derive(Debug)]
pub(super) struct GoogleValidator {
    id_tokens: JwtCore,
    client_ids: Vec<String>,
    hosted_domains: Vec<String>,
    tokeninfo_endpoint: String,
    userinfo_endpoint: String,
    tenants: Arc<Tenants>,
    fetch: Arc<dyn Fetch>,
    allow_private_network: bool,
}

pub(super) fn build(parts: &Parts<'_>) -> Result<GoogleValidator, BuildProblem> {
    let v = parts.config;
    let issuer = parts.required("issuer", &v.issuer)?;
    let jwks_uri = parts.required("jwks_uri", &v.jwks_uri)?;
    let client_ids = Parts::list(&v.audiences);
    if client_ids.is_empty() {
        return Err(BuildProblem::new(
            "audiences",
            "the OAuth client ids are required",
        ));
    }
    // Google's ID tokens carry either spelling of its issuer (OpenID Connect guide, "Validate
    // an ID token").
    let mut issuers = vec![issuer.clone()];
    if issuer == GOOGLE_ISSUER {
        issuers.push("accounts.google.com".to_owned());
    }
    Ok(GoogleValidator {
        id_tokens: JwtCore {
            issuers,
            audiences: client_ids.clone(),
            token_types: TokenTypes::AnyButOtherKinds,
            keys: parts.jwks(KeySource::Jwks(jwks_uri))?,
        },
        client_ids,
        hosted_domains: Parts::list(&v.hosted_domains),
        tokeninfo_endpoint: parts.required("tokeninfo_endpoint", &v.tokeninfo_endpoint)?,
        userinfo_endpoint: parts.required("userinfo_endpoint", &v.userinfo_endpoint)?,
        tenants: parts.tenants.clone(),
        fetch: parts.fetch.clone(),
        allow_private_network: v.allow_private_network,
    })
}

/// A number, or a string of digits (tokeninfo writes its numbers as strings).
fn lenient_number(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `true`, or the string `"true"` (tokeninfo again).
fn lenient_true(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
        || matches!(value, Some(Value::String(s)) if s == "true")
}

impl GoogleValidator {
    fn check_hosted_domain(&self, hd: Option<&Value>) -> Result<(), Rejection> {
        if self.hosted_domains.is_empty() {
            return Ok(());
        }
        match hd.and_then(Value::as_str) {
            Some(hd) if self.hosted_domains.iter().any(|d| d == hd) => Ok(()),
            _ => Err(Rejection::invalid(
                "the Google account is not in an accepted hosted domain",
            )),
        }
    }

    async fn id_token(
        &self,
        id: &str,
        token: &str,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let claims = self.id_tokens.check(token, context).await?;
        self.check_hosted_domain(claims.get("hd"))?;
        claims::principal(id, &claims, &ClaimMapping::default(), &self.tenants)
    }

    async fn access_token(
        &self,
        id: &str,
        token: &str,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let request = FetchRequest {
            method: FetchMethod::PostForm,
            url: &self.tokeninfo_endpoint,
            headers: Vec::new(),
            form: vec![("access_token", token.to_owned())],
            allow_private_network: self.allow_private_network,
            max_body_bytes: None,
            timeout: None,
        };
        let info = api_answer("Google tokeninfo", self.fetch.fetch(request).await)?;
        let issued_to = |key: &str| {
            info.get(key)
                .and_then(Value::as_str)
                .is_some_and(|c| self.client_ids.iter().any(|id| id == c))
        };
        if !issued_to("aud") && !issued_to("azp") {
            return Err(Rejection::invalid(
                "the Google access token was issued to another client",
            ));
        }
        let exp = match lenient_number(info.get("exp")) {
            Some(exp) => exp,
            None => match lenient_number(info.get("expires_in")) {
                Some(left) if left > 0 => context.now.saturating_add(left),
                _ => return Err(Rejection::invalid("the Google access token has expired")),
            },
        };
        let mut times = serde_json::Map::new();
        times.insert("exp".to_owned(), Value::from(exp));
        check_times(&Claims::new(times), context.now)?;

        let mut request = FetchRequest::get(&self.userinfo_endpoint, self.allow_private_network);
        request.headers = vec![("authorization", format!("Bearer {token}"))];
        let profile = api_answer("Google userinfo", self.fetch.fetch(request).await)?;
        let sub = profile
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Rejection::invalid("Google userinfo has no sub"))?;
        if info
            .get("sub")
            .and_then(Value::as_str)
            .is_some_and(|s| s != sub)
        {
            return Err(Rejection::invalid(
                "Google tokeninfo and userinfo name different users",
            ));
        }
        self.check_hosted_domain(profile.get("hd"))?;

        let mut principal = Principal::new(id, sub);
        let text = |key: &str| profile.get(key).and_then(Value::as_str).map(str::to_owned);
        principal.email = text("email");
        principal.email_verified =
            principal.email.is_some() && lenient_true(profile.get("email_verified"));
        principal.name = text("name");
        principal.tenant = principal
            .email
            .as_deref()
            .and_then(|e| self.tenants.for_email(e, principal.email_verified))
            .map(str::to_owned);
        principal.scopes = info
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        principal.expires_at = Some(exp);
        Ok(principal)
    }
}

#[async_trait]
impl Verify for GoogleValidator {
    async fn verify(
        &self,
        id: &str,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let Credential::Bearer(token) = credential else {
            return Err(Rejection::NotApplicable);
        };
        if token.starts_with(GOOGLE_ACCESS_PREFIX) {
            if token.len() > MAX_TOKEN_BYTES {
                return Err(invalid(crate::auth::jwt::JwtError::TooLarge));
            }
            return self.access_token(id, token, context).await;
        }
        self.id_token(id, token, context).await
    }
}

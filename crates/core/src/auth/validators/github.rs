//! `kind = "github"`: GitHub access tokens (classic and fine-grained personal tokens, OAuth and
//! GitHub App user tokens), checked against the GitHub REST API at `base_url` (GitHub Enterprise
//! Server: `https://HOST/api/v3`).
//!
//! The subject is the numeric user id, never the login, which its owner can change (and someone
//! else can then take). Email counts as verified only when `/user/emails` says so; tokens without
//! that permission keep the profile email, unverified. Groups are the user's organisations
//! (`org`) and teams (`org/team-slug`), as far as the token may list them; admission needs a
//! match in one of the allowlists unless `allow_any_user = true`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{BuildProblem, GITHUB_PREFIXES, Parts, Verify};
use crate::auth::{Context, Credential, Fetch, FetchRequest, Principal, Rejection, Tenants};

/// The REST API version requested (GitHub answers in that version's shapes).
const API_VERSION: &str = "2022-11-28";

/// Checks GitHub access tokens against the user API.
#[derive(Debug)]
pub(super) struct GithubValidator {
    base_url: String,
    /// Lower-cased: GitHub logins, organisations and team slugs are case-insensitive.
    allowed_users: Vec<String>,
    allowed_orgs: Vec<String>,
    allowed_teams: Vec<String>,
    allow_any_user: bool,
    tenants: Arc<Tenants>,
    fetch: Arc<dyn Fetch>,
    allow_private_network: bool,
}

pub(super) fn build(parts: &Parts<'_>) -> Result<GithubValidator, BuildProblem> {
    let v = parts.config;
    let lower = |list: &Option<Vec<String>>| {
        Parts::list(list)
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let validator = GithubValidator {
        base_url: parts.required("base_url", &v.base_url)?,
        allowed_users: lower(&v.allowed_users),
        allowed_orgs: lower(&v.allowed_orgs),
        allowed_teams: lower(&v.allowed_teams),
        allow_any_user: v.allow_any_user == Some(true),
        tenants: parts.tenants.clone(),
        fetch: parts.fetch.clone(),
        allow_private_network: v.allow_private_network,
    };
    if !validator.allow_any_user
        && validator.allowed_users.is_empty()
        && validator.allowed_orgs.is_empty()
        && validator.allowed_teams.is_empty()
    {
        // Validation refuses this too; building never yields a validator that admits everyone
        // by omission.
        return Err(BuildProblem::new(
            "allowed_users",
            "an allowlist or allow_any_user = true is required",
        ));
    }
    Ok(validator)
}

/// What one GitHub answer was.
enum Listing {
    Items(Vec<Value>),
    /// 403 or 404: the token may not list this (a missing scope or permission).
    NotPermitted,
}

impl GithubValidator {
    async fn get(&self, path: &str, token: &str) -> Result<Option<Value>, Rejection> {
        let url = format!("{}{path}", self.base_url);
        let mut request = FetchRequest::get(&url, self.allow_private_network);
        request.headers = vec![
            ("authorization", format!("Bearer {token}")),
            ("accept", "application/vnd.github+json".to_owned()),
            ("x-github-api-version", API_VERSION.to_owned()),
        ];
        let response = self
            .fetch
            .fetch(request)
            .await
            .map_err(|e| Rejection::Unavailable(format!("GitHub {path}: {e}")))?;
        match response.status {
            200 => serde_json::from_slice(&response.body)
                .map(Some)
                .map_err(|_| Rejection::Unavailable(format!("GitHub {path} answered no JSON"))),
            403 | 404 if path != "/user" => Ok(None),
            401 => Err(Rejection::invalid("GitHub refused the token (HTTP 401)")),
            status => Err(Rejection::Unavailable(format!(
                "GitHub {path} answered HTTP {status}"
            ))),
        }
    }

    async fn list(&self, path: &str, token: &str) -> Result<Listing, Rejection> {
        match self.get(path, token).await? {
            Some(Value::Array(items)) => Ok(Listing::Items(items)),
            Some(_) => Err(Rejection::Unavailable(format!(
                "GitHub {path} did not answer a list"
            ))),
            None => Ok(Listing::NotPermitted),
        }
    }

    /// The primary email and whether GitHub verified it, when the token may read emails.
    async fn verified_email(&self, token: &str) -> Result<Option<(String, bool)>, Rejection> {
        let Listing::Items(emails) = self.list("/user/emails", token).await? else {
            return Ok(None);
        };
        Ok(emails.iter().filter_map(Value::as_object).find_map(|e| {
            let primary = e.get("primary") == Some(&Value::Bool(true));
            let address = e.get("email").and_then(Value::as_str)?;
            primary.then(|| {
                (
                    address.to_owned(),
                    e.get("verified") == Some(&Value::Bool(true)),
                )
            })
        }))
    }
}

fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

#[async_trait]
impl Verify for GithubValidator {
    async fn verify(
        &self,
        id: &str,
        credential: Credential<'_>,
        _context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let Credential::Bearer(token) = credential else {
            return Err(Rejection::NotApplicable);
        };
        if !GITHUB_PREFIXES.iter().any(|p| token.starts_with(p))
            || token.len() > 1024
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Rejection::NotApplicable);
        }
        let fetched = api_answer_value(self.get("/user", token).await?)?;
        let user = fetched.as_object().ok_or_else(|| {
            Rejection::Unavailable("GitHub /user did not answer an object".into())
        })?;
        let user_id = user
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| Rejection::Unavailable("GitHub /user has no numeric id".into()))?;
        let login = text(user, "login").unwrap_or_default().to_owned();

        let orgs = match self.list("/user/orgs?per_page=100", token).await? {
            Listing::Items(items) => items
                .iter()
                .filter_map(|o| o.get("login").and_then(Value::as_str))
                .map(str::to_owned)
                .collect(),
            Listing::NotPermitted => Vec::new(),
        };
        let teams: Vec<String> = match self.list("/user/teams?per_page=100", token).await? {
            Listing::Items(items) => items
                .iter()
                .filter_map(|t| {
                    let slug = t.get("slug").and_then(Value::as_str)?;
                    let org = t
                        .get("organization")?
                        .get("login")
                        .and_then(Value::as_str)?;
                    Some(format!("{org}/{slug}"))
                })
                .collect(),
            Listing::NotPermitted => Vec::new(),
        };

        let admitted = self.allow_any_user
            || self.allowed_users.contains(&login.to_ascii_lowercase())
            || orgs
                .iter()
                .any(|o| self.allowed_orgs.contains(&o.to_ascii_lowercase()))
            || teams
                .iter()
                .any(|t| self.allowed_teams.contains(&t.to_ascii_lowercase()));
        if !admitted {
            return Err(Rejection::invalid(
                "the GitHub user is not in the validator's allowlists",
            ));
        }

        let mut principal = Principal::new(id, &user_id.to_string());
        principal.name = text(user, "name")
            .filter(|n| !n.is_empty())
            .or(Some(login.as_str()).filter(|l| !l.is_empty()))
            .map(str::to_owned);
        principal.login = Some(login).filter(|l| !l.is_empty());
        let (email, verified) = match self.verified_email(token).await? {
            Some((email, verified)) => (Some(email), verified),
            None => (text(user, "email").map(str::to_owned), false),
        };
        principal.email_verified = email.is_some() && verified;
        principal.tenant = email
            .as_deref()
            .and_then(|e| self.tenants.for_email(e, principal.email_verified))
            .map(str::to_owned);
        principal.email = email;
        principal.groups = orgs.into_iter().chain(teams).collect();
        Ok(principal)
    }
}

/// `/user` must answer: a missing answer there is never "not permitted".
fn api_answer_value(value: Option<Value>) -> Result<Value, Rejection> {
    value.ok_or_else(|| Rejection::Unavailable("GitHub /user gave no answer".into()))
}

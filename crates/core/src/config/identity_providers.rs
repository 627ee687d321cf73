//! `[[identity_providers]]`: the identity providers people can sign in with (pattern 3).
//!
//! One struct serves every kind. Keys whose meaning or default depends on the kind are optional
//! here and filled in by [`IdentityProviderConfig::with_defaults`]; a key set on a kind it does
//! not apply to is an error ([`ProviderKind::has_key`]), so nobody believes a check is made
//! that is not.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::serde_duration;

/// Google's issuer (the default `issuer` of a `google` provider).
pub const GOOGLE_PROVIDER_ISSUER: &str = "https://accounts.google.com";
/// The Microsoft identity platform's host.
pub const ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com";
/// github.com's OAuth host and API root (the defaults of a `github` provider without `base_url`).
pub const GITHUB_WEB: &str = "https://github.com";
pub const GITHUB_API_ROOT: &str = "https://api.github.com";
/// Entra tenants that are not one directory: the ID token's `iss` names the user's own tenant.
pub const ENTRA_MULTI_TENANTS: &[&str] = &["common", "organizations", "consumers"];

/// The kinds of `[[identity_providers]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// A GitHub OAuth app (github.com or GitHub Enterprise Server).
    Github,
    /// Google (OpenID Connect).
    Google,
    /// Microsoft Entra ID, the Microsoft identity platform v2 (OpenID Connect).
    Entra,
    /// Any OpenID Connect provider, found by discovery.
    Oidc,
}

/// How an identity from a provider finds its Portcullis account the first time it signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Linking {
    /// To the account with the same email address, when both the provider and Portcullis say
    /// the address is verified; else a new account.
    #[default]
    ByVerifiedEmail,
    /// Only by the person, signed in already, choosing to link it on the account page; a
    /// first sign-in with an address an account already has is refused.
    Explicit,
    /// Never: every new identity gets a new account (refused when its email is taken).
    Never,
}

const COMMON_KEYS: &[&str] = &[
    "id",
    "kind",
    "display_name",
    "client_id",
    "client_secret_env",
    "scopes",
    "allowed_email_domains",
    "linking",
    "trust_mfa",
    "allow_private_network",
    "timeout",
    "default_roles",
];
const OIDC_CLAIM_KEYS: &[&str] = &["email_claim", "name_claim", "groups_claim", "tenant_claim"];

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Github,
        ProviderKind::Google,
        ProviderKind::Entra,
        ProviderKind::Oidc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Github => "github",
            ProviderKind::Google => "google",
            ProviderKind::Entra => "entra",
            ProviderKind::Oidc => "oidc",
        }
    }

    /// Whether the kind speaks OpenID Connect (ID tokens, discovery).
    pub fn is_oidc(self) -> bool {
        !matches!(self, ProviderKind::Github)
    }

    /// Whether `key` of an `[[identity_providers]]` entry means something for this kind.
    pub fn has_key(self, key: &str) -> bool {
        if COMMON_KEYS.contains(&key) {
            return true;
        }
        match self {
            ProviderKind::Github => matches!(
                key,
                "base_url" | "allowed_users" | "allowed_orgs" | "allowed_teams" | "allow_any_user"
            ),
            ProviderKind::Google => matches!(key, "issuer" | "hosted_domains" | "userinfo"),
            ProviderKind::Entra => matches!(key, "tenant" | "issuer" | "userinfo"),
            ProviderKind::Oidc => {
                matches!(key, "issuer" | "userinfo") || OIDC_CLAIM_KEYS.contains(&key)
            }
        }
    }
}

/// `[[identity_providers]]`: one identity provider people can sign in with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// Names the provider in URLs (`/auth/callback/{id}`) and in `pass_provider_token`.
    pub id: String,
    pub kind: ProviderKind,
    /// The name on the sign-in button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The client id Portcullis is registered under at the provider.
    pub client_id: String,
    /// The environment variable holding the client secret.
    pub client_secret_env: String,
    /// The issuer (oidc: required; google: Google's; entra: from `tenant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// entra: the directory (tenant id or domain), or `common`, `organizations`, `consumers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// github: the GitHub Enterprise Server (or test server) root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The scopes asked of the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Email domains allowed to sign in (any, when empty); checked at every sign-in.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_users: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_orgs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_teams: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_any_user: Option<bool>,
    /// google: Workspace domains (`hd`) allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_domains: Option<Vec<String>>,
    #[serde(default)]
    pub linking: Linking,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_claim: Option<String>,
    /// Also ask the userinfo endpoint (its `sub` must be the ID token's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo: Option<bool>,
    /// The provider's `amr` saying `mfa` (or a second factor) satisfies `accounts.mfa`.
    #[serde(default)]
    pub trust_mfa: bool,
    #[serde(default)]
    pub allow_private_network: bool,
    /// The time allowed to each request to the provider.
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// Roles granted (everywhere) to every account this provider's sign-ins create.
    #[serde(default)]
    pub default_roles: Vec<String>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl IdentityProviderConfig {
    /// An entry with nothing but its id, kind and client id set.
    pub fn new(id: &str, kind: ProviderKind) -> Self {
        IdentityProviderConfig {
            id: id.to_owned(),
            kind,
            display_name: None,
            client_id: format!("{id}-client"),
            client_secret_env: "PROVIDER_CLIENT_SECRET".to_owned(),
            issuer: None,
            tenant: None,
            base_url: None,
            scopes: None,
            allowed_email_domains: Vec::new(),
            allowed_users: None,
            allowed_orgs: None,
            allowed_teams: None,
            allow_any_user: None,
            hosted_domains: None,
            linking: Linking::default(),
            email_claim: None,
            name_claim: None,
            groups_claim: None,
            tenant_claim: None,
            userinfo: None,
            trust_mfa: false,
            allow_private_network: false,
            timeout: default_timeout(),
            default_roles: Vec::new(),
        }
    }

    /// The entry with the defaults of its kind filled in.
    pub fn with_defaults(&self) -> IdentityProviderConfig {
        let mut p = self.clone();
        let kind = self.kind;
        if p.display_name.is_none() {
            p.display_name = Some(
                match kind {
                    ProviderKind::Github => "GitHub",
                    ProviderKind::Google => "Google",
                    ProviderKind::Entra => "Microsoft",
                    ProviderKind::Oidc => self.id.as_str(),
                }
                .to_owned(),
            );
        }
        if p.scopes.is_none() {
            let scopes: &[&str] = match kind {
                ProviderKind::Github => &["read:user", "user:email", "read:org"],
                _ => &["openid", "email", "profile"],
            };
            p.scopes = Some(scopes.iter().map(|s| (*s).to_owned()).collect());
        }
        match kind {
            ProviderKind::Google => {
                p.issuer
                    .get_or_insert_with(|| GOOGLE_PROVIDER_ISSUER.to_owned());
                p.userinfo.get_or_insert(false);
            }
            ProviderKind::Entra => {
                if p.issuer.is_none()
                    && let Some(tenant) = &p.tenant
                {
                    p.issuer = Some(format!("{ENTRA_AUTHORITY}/{tenant}/v2.0"));
                }
                p.userinfo.get_or_insert(false);
            }
            ProviderKind::Oidc => {
                p.userinfo.get_or_insert(false);
                p.email_claim.get_or_insert_with(|| "email".to_owned());
                p.name_claim.get_or_insert_with(|| "name".to_owned());
            }
            // The allowlists are empty unless set, which `allow_any_user` must then say.
            ProviderKind::Github => {}
        }
        p
    }

    /// The keys of this entry that are set (for the kind-applicability check).
    pub fn set_keys(&self) -> Vec<&'static str> {
        [
            ("display_name", self.display_name.is_some()),
            ("issuer", self.issuer.is_some()),
            ("tenant", self.tenant.is_some()),
            ("base_url", self.base_url.is_some()),
            ("scopes", self.scopes.is_some()),
            ("allowed_users", self.allowed_users.is_some()),
            ("allowed_orgs", self.allowed_orgs.is_some()),
            ("allowed_teams", self.allowed_teams.is_some()),
            ("allow_any_user", self.allow_any_user.is_some()),
            ("hosted_domains", self.hosted_domains.is_some()),
            ("email_claim", self.email_claim.is_some()),
            ("name_claim", self.name_claim.is_some()),
            ("groups_claim", self.groups_claim.is_some()),
            ("tenant_claim", self.tenant_claim.is_some()),
            ("userinfo", self.userinfo.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }

    /// github: where the OAuth endpoints are (`{web}/login/oauth/…`) and the API root.
    pub fn github_roots(&self) -> (String, String) {
        match &self.base_url {
            Some(base) => {
                let base = base.trim_end_matches('/');
                (base.to_owned(), format!("{base}/api/v3"))
            }
            None => (GITHUB_WEB.to_owned(), GITHUB_API_ROOT.to_owned()),
        }
    }

    /// entra: whether the tenant is a multi-tenant alias (the issuer then has `{tenantid}`).
    pub fn entra_multi_tenant(&self) -> bool {
        self.kind == ProviderKind::Entra
            && self
                .tenant
                .as_deref()
                .is_some_and(|t| ENTRA_MULTI_TENANTS.contains(&t.to_ascii_lowercase().as_str()))
    }
}

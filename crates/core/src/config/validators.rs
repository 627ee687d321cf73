//! `[[validators]]`: the external credentials an upstream can accept (`accept = [...]`).
//!
//! One struct serves every kind, so most keys are optional here: which keys mean something for
//! which kind is the table in [`ValidatorKind::keys`], and validation refuses a key set on a kind
//! it does not apply to (an operator who writes `hosted_domains` on a `jwt` validator believes
//! something is checked that is not). Defaults that depend on the kind are filled in by
//! [`ValidatorConfig::with_defaults`], which is what the validators are built from.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{serde_duration, serde_duration_option};

/// Validator ids that name built-in credentials and cannot be configured.
pub const RESERVED_VALIDATOR_IDS: &[&str] = &["api_key", "portcullis"];

/// The asymmetric JWS algorithms a `jwt` validator may allow (never `none`, never HS*).
pub const JWT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Google's issuer, certificates and endpoints: the defaults of a `google` validator.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const GOOGLE_JWKS_URI: &str = "https://www.googleapis.com/oauth2/v3/certs";
pub const GOOGLE_USERINFO_ENDPOINT: &str = "https://openidconnect.googleapis.com/v1/userinfo";
pub const GOOGLE_TOKENINFO_ENDPOINT: &str = "https://oauth2.googleapis.com/tokeninfo";
/// The GitHub API root: the default `base_url` of a `github` validator.
pub const GITHUB_API: &str = "https://api.github.com";

/// The kinds of `[[validators]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidatorKind {
    /// JWTs of an issuer, keys from `jwks_uri` or OIDC discovery.
    Jwt,
    /// JWTs signed with a shared secret (HMAC-SHA256).
    Hs256,
    /// Opaque tokens checked with RFC 7662 introspection.
    Introspection,
    /// GitHub access tokens, checked against the GitHub user API.
    Github,
    /// Google ID tokens and access tokens.
    Google,
    /// Cloudflare Access application tokens (`Cf-Access-Jwt-Assertion`).
    CloudflareAccess,
}

/// Keys every kind has.
const COMMON_KEYS: &[&str] = &["id", "kind", "allow_private_network", "cache_ttl"];
const CLAIM_KEYS: &[&str] = &[
    "subject_claim",
    "email_claim",
    "name_claim",
    "groups_claim",
    "tenant_claim",
    "scope_claim",
];
const JWKS_KEYS: &[&str] = &["jwks_cache_ttl", "jwks_max_stale", "unknown_kid_cooldown"];

impl ValidatorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidatorKind::Jwt => "jwt",
            ValidatorKind::Hs256 => "hs256",
            ValidatorKind::Introspection => "introspection",
            ValidatorKind::Github => "github",
            ValidatorKind::Google => "google",
            ValidatorKind::CloudflareAccess => "cloudflare_access",
        }
    }

    pub const ALL: [ValidatorKind; 6] = [
        ValidatorKind::Jwt,
        ValidatorKind::Hs256,
        ValidatorKind::Introspection,
        ValidatorKind::Github,
        ValidatorKind::Google,
        ValidatorKind::CloudflareAccess,
    ];

    /// Whether `key` of a `[[validators]]` entry means something for this kind.
    pub fn has_key(self, key: &str) -> bool {
        if COMMON_KEYS.contains(&key) {
            return true;
        }
        let (own, claims, jwks): (&[&str], bool, bool) = match self {
            ValidatorKind::Jwt => (
                &[
                    "issuer",
                    "jwks_uri",
                    "audiences",
                    "algorithms",
                    "token_types",
                ],
                true,
                true,
            ),
            ValidatorKind::Hs256 => (&["issuer", "audiences", "secret_env"], true, false),
            ValidatorKind::Introspection => (
                &[
                    "issuer",
                    "audiences",
                    "introspection_endpoint",
                    "client_id",
                    "client_secret_env",
                ],
                true,
                false,
            ),
            ValidatorKind::Github => (
                &[
                    "base_url",
                    "allowed_users",
                    "allowed_orgs",
                    "allowed_teams",
                    "allow_any_user",
                ],
                false,
                false,
            ),
            ValidatorKind::Google => (
                &[
                    "issuer",
                    "jwks_uri",
                    "audiences",
                    "userinfo_endpoint",
                    "tokeninfo_endpoint",
                    "hosted_domains",
                ],
                false,
                true,
            ),
            ValidatorKind::CloudflareAccess => (&["team_domain", "audiences"], false, true),
        };
        own.contains(&key)
            || (claims && CLAIM_KEYS.contains(&key))
            || (jwks && JWKS_KEYS.contains(&key))
    }
}

/// `[[validators]]`: one way to verify credentials from outside Portcullis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorConfig {
    /// The id upstreams name in `accept`, and the prefix of every subject it verifies.
    pub id: String,
    pub kind: ValidatorKind,
    /// The `iss` tokens must carry (jwt, hs256, google), or the authorization server to
    /// advertise (introspection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Where the issuer's keys are (jwt: else OIDC discovery; google: Google's certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Accepted `aud` values (jwt, hs256, introspection: empty means the upstream's resource
    /// URL), the OAuth client ids (google) or the application AUD tags (cloudflare_access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    /// The JWS algorithms accepted (a subset of [`JWT_ALGORITHMS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// Accepted `typ` header values; empty means any but the types of other kinds of JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_types: Option<Vec<String>>,
    /// The environment variable whose raw bytes are the HS256 secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The environment variable holding the introspection client's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// The GitHub API root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokeninfo_endpoint: Option<String>,
    /// GitHub logins allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_users: Option<Vec<String>>,
    /// GitHub organisations whose members are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_orgs: Option<Vec<String>>,
    /// GitHub teams (`org/team-slug`) whose members are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_teams: Option<Vec<String>>,
    /// Accept every GitHub user (no allowlist): must be said explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_any_user: Option<bool>,
    /// Google Workspace domains (`hd`) accepted; empty means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_domains: Option<Vec<String>>,
    /// `https://<team>.cloudflareaccess.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_claim: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// The claim naming the tenant (default: `[tenants] claim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_claim: Option<String>,
    /// The claim holding scopes (default: `scope`, then `scp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_claim: Option<String>,
    /// Whether the validator's URLs may point at loopback or private addresses.
    #[serde(default)]
    pub allow_private_network: bool,
    /// How long a verified result may be reused without asking again.
    #[serde(default = "defaults::cache_ttl", with = "serde_duration")]
    pub cache_ttl: Duration,
    /// How long fetched keys are used before they are fetched again.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_duration_option"
    )]
    pub jwks_cache_ttl: Option<Duration>,
    /// How long the last good keys are used while fetching new ones fails.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_duration_option"
    )]
    pub jwks_max_stale: Option<Duration>,
    /// The shortest time between two fetches caused by an unknown `kid`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_duration_option"
    )]
    pub unknown_kid_cooldown: Option<Duration>,
}

pub(crate) mod defaults {
    use std::time::Duration;
    pub fn cache_ttl() -> Duration {
        Duration::from_secs(300)
    }
    pub fn jwks_cache_ttl() -> Duration {
        Duration::from_secs(600)
    }
    pub fn jwks_max_stale() -> Duration {
        Duration::from_secs(24 * 3600)
    }
    pub fn unknown_kid_cooldown() -> Duration {
        Duration::from_secs(30)
    }
}

impl ValidatorConfig {
    /// A validator with only `id` and `kind` set.
    pub fn new(id: &str, kind: ValidatorKind) -> Self {
        ValidatorConfig {
            id: id.to_owned(),
            kind,
            issuer: None,
            jwks_uri: None,
            audiences: None,
            algorithms: None,
            token_types: None,
            secret_env: None,
            introspection_endpoint: None,
            client_id: None,
            client_secret_env: None,
            base_url: None,
            userinfo_endpoint: None,
            tokeninfo_endpoint: None,
            allowed_users: None,
            allowed_orgs: None,
            allowed_teams: None,
            allow_any_user: None,
            hosted_domains: None,
            team_domain: None,
            subject_claim: None,
            email_claim: None,
            name_claim: None,
            groups_claim: None,
            tenant_claim: None,
            scope_claim: None,
            allow_private_network: false,
            cache_ttl: defaults::cache_ttl(),
            jwks_cache_ttl: None,
            jwks_max_stale: None,
            unknown_kid_cooldown: None,
        }
    }

    /// This entry with every unset key that has a default for its kind filled in. Keys without
    /// a default (required ones, `tenant_claim`, `scope_claim`) stay unset.
    pub fn with_defaults(&self) -> ValidatorConfig {
        let mut v = self.clone();
        let has = |key: &str| self.kind.has_key(key);
        let fill = |slot: &mut Option<String>, key: &str, value: &str| {
            if has(key) && slot.is_none() {
                *slot = Some(value.to_owned());
            }
        };
        let fill_list = |slot: &mut Option<Vec<String>>, key: &str, value: &[&str]| {
            if has(key) && slot.is_none() {
                *slot = Some(value.iter().map(|s| (*s).to_owned()).collect());
            }
        };
        let fill_duration = |slot: &mut Option<Duration>, key: &str, value: Duration| {
            if has(key) && slot.is_none() {
                *slot = Some(value);
            }
        };
        if self.kind == ValidatorKind::Google {
            fill(&mut v.issuer, "issuer", GOOGLE_ISSUER);
            fill(&mut v.jwks_uri, "jwks_uri", GOOGLE_JWKS_URI);
        }
        fill(
            &mut v.userinfo_endpoint,
            "userinfo_endpoint",
            GOOGLE_USERINFO_ENDPOINT,
        );
        fill(
            &mut v.tokeninfo_endpoint,
            "tokeninfo_endpoint",
            GOOGLE_TOKENINFO_ENDPOINT,
        );
        fill(&mut v.base_url, "base_url", GITHUB_API);
        // Google's client ids and Cloudflare's AUD tags are required: no default audience.
        if !matches!(
            self.kind,
            ValidatorKind::Google | ValidatorKind::CloudflareAccess
        ) {
            fill_list(&mut v.audiences, "audiences", &[]);
        }
        fill_list(&mut v.algorithms, "algorithms", JWT_ALGORITHMS);
        fill_list(&mut v.token_types, "token_types", &[]);
        fill_list(&mut v.allowed_users, "allowed_users", &[]);
        fill_list(&mut v.allowed_orgs, "allowed_orgs", &[]);
        fill_list(&mut v.allowed_teams, "allowed_teams", &[]);
        fill_list(&mut v.hosted_domains, "hosted_domains", &[]);
        if has("allow_any_user") && v.allow_any_user.is_none() {
            v.allow_any_user = Some(false);
        }
        fill(&mut v.subject_claim, "subject_claim", "sub");
        fill(&mut v.email_claim, "email_claim", "email");
        fill(&mut v.name_claim, "name_claim", "name");
        fill(&mut v.groups_claim, "groups_claim", "groups");
        fill_duration(
            &mut v.jwks_cache_ttl,
            "jwks_cache_ttl",
            defaults::jwks_cache_ttl(),
        );
        fill_duration(
            &mut v.jwks_max_stale,
            "jwks_max_stale",
            defaults::jwks_max_stale(),
        );
        fill_duration(
            &mut v.unknown_kid_cooldown,
            "unknown_kid_cooldown",
            defaults::unknown_kid_cooldown(),
        );
        v
    }

    /// The optional keys set in this entry, for the check that each applies to the kind.
    pub fn set_keys(&self) -> Vec<&'static str> {
        let keys = [
            ("issuer", self.issuer.is_some()),
            ("jwks_uri", self.jwks_uri.is_some()),
            ("audiences", self.audiences.is_some()),
            ("algorithms", self.algorithms.is_some()),
            ("token_types", self.token_types.is_some()),
            ("secret_env", self.secret_env.is_some()),
            (
                "introspection_endpoint",
                self.introspection_endpoint.is_some(),
            ),
            ("client_id", self.client_id.is_some()),
            ("client_secret_env", self.client_secret_env.is_some()),
            ("base_url", self.base_url.is_some()),
            ("userinfo_endpoint", self.userinfo_endpoint.is_some()),
            ("tokeninfo_endpoint", self.tokeninfo_endpoint.is_some()),
            ("allowed_users", self.allowed_users.is_some()),
            ("allowed_orgs", self.allowed_orgs.is_some()),
            ("allowed_teams", self.allowed_teams.is_some()),
            ("allow_any_user", self.allow_any_user.is_some()),
            ("hosted_domains", self.hosted_domains.is_some()),
            ("team_domain", self.team_domain.is_some()),
            ("subject_claim", self.subject_claim.is_some()),
            ("email_claim", self.email_claim.is_some()),
            ("name_claim", self.name_claim.is_some()),
            ("groups_claim", self.groups_claim.is_some()),
            ("tenant_claim", self.tenant_claim.is_some()),
            ("scope_claim", self.scope_claim.is_some()),
            ("jwks_cache_ttl", self.jwks_cache_ttl.is_some()),
            ("jwks_max_stale", self.jwks_max_stale.is_some()),
            ("unknown_kid_cooldown", self.unknown_kid_cooldown.is_some()),
        ];
        keys.into_iter()
            .filter_map(|(key, set)| set.then_some(key))
            .collect()
    }
}

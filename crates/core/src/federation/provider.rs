//! The configured identity providers, with their client secret, their endpoints (from
//! discovery, cached) and their keys (cached by [`JwksCache`]).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::FederationError;
use crate::auth::jwks::{CachePolicy, JwksCache, KeySource, MAX_DOCUMENT_BYTES};
use crate::auth::jwt::asymmetric_algorithm;
use crate::auth::{EnvLookup, Fetch, FetchRequest, Tenants, Validator, build_validators};
use crate::config::{
    Config, ConfigError, ConfigProblem, IdentityProviderConfig, JWT_ALGORITHMS, ProviderKind,
    ValidatorConfig, ValidatorKind,
};

/// How long a discovery document is used before it is fetched again.
const METADATA_TTL_SECS: i64 = 3600;

/// A provider's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The issuer as the discovery document says it (for a multi-tenant Entra directory, with
    /// `{tenantid}` in it).
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// RFC 9207: the provider says it sends `iss` with every authorization response, so one
    /// without it is refused.
    pub iss_parameter_supported: bool,
    /// Whether to authenticate at the token endpoint with HTTP Basic (else in the form).
    pub basic_auth: bool,
}

/// One configured provider.
pub struct Provider {
    /// The entry with its kind's defaults filled in.
    pub config: IdentityProviderConfig,
    client_secret: Zeroizing<String>,
    fetch: Arc<dyn Fetch>,
    metadata: Mutex<Option<(Arc<ProviderMetadata>, i64)>>,
    /// Single flight for discovery.
    flight: tokio::sync::Mutex<()>,
    /// The ID-token keys, once discovery named them.
    keys: OnceLock<JwksCache>,
    /// github: the GitHub user API check (allowlists included), shared with the validator kind.
    github: Option<Arc<dyn Validator>>,
    /// Refreshes of provider tokens, one at a time (a rotated refresh token works once).
    pub(super) refresh_flight: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.config.id)
            .field("kind", &self.config.kind)
            .finish_non_exhaustive()
    }
}

/// Every configured provider, in configuration order.
#[derive(Debug, Default, Clone)]
pub struct Providers {
    list: Vec<Arc<Provider>>,
    tenants: Arc<Tenants>,
}

impl Providers {
    /// Builds every `[[identity_providers]]` entry, reading client secrets through `env` now so
    /// that a missing one is reported at start-up, naming the key. Makes no request.
    pub fn build(
        config: &Config,
        fetch: Arc<dyn Fetch>,
        env: EnvLookup<'_>,
    ) -> Result<Providers, ConfigError> {
        crate::auth::install_crypto_provider();
        let mut list = Vec::new();
        let mut problems = Vec::new();
        for entry in &config.identity_providers {
            let filled = entry.with_defaults();
            let key = |field: &str| format!("identity_providers[{}].{field}", filled.id);
            let secret = match env(&filled.client_secret_env) {
                Some(bytes) if !bytes.is_empty() => match String::from_utf8(bytes) {
                    Ok(text) => Zeroizing::new(text),
                    Err(_) => {
                        problems.push(ConfigProblem {
                            key: key("client_secret_env"),
                            problem: format!("{} is not UTF-8", filled.client_secret_env),
                        });
                        continue;
                    }
                },
                _ => {
                    problems.push(ConfigProblem {
                        key: key("client_secret_env"),
                        problem: format!(
                            "the environment variable {} is not set",
                            filled.client_secret_env
                        ),
                    });
                    continue;
                }
            };
            let github = if filled.kind == ProviderKind::Github {
                match github_check(config, &filled, fetch.clone(), env) {
                    Ok(validator) => Some(validator),
                    Err(e) => {
                        problems.extend(e.problems.into_iter().map(|p| ConfigProblem {
                            key: key(p.key.rsplit('.').next().unwrap_or(&p.key)),
                            problem: p.problem,
                        }));
                        continue;
                    }
                }
            } else {
                None
            };
            list.push(Arc::new(Provider {
                config: filled,
                client_secret: secret,
                fetch: fetch.clone(),
                metadata: Mutex::new(None),
                flight: tokio::sync::Mutex::new(()),
                keys: OnceLock::new(),
                github,
                refresh_flight: tokio::sync::Mutex::new(()),
            }));
        }
        if problems.is_empty() {
            Ok(Providers {
                list,
                tenants: Arc::new(Tenants {
                    by_email_domain: config.tenants.by_email_domain.clone(),
                }),
            })
        } else {
            Err(ConfigError { problems })
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.list.iter().find(|p| p.config.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `[tenants]`, for placing new accounts.
    pub fn tenants(&self) -> &Tenants {
        &self.tenants
    }
}

/// A `github` validator with the provider's API root and allowlists: the same user API checks
/// for a person signing in as for a GitHub token presented to an upstream.
fn github_check(
    config: &Config,
    provider: &IdentityProviderConfig,
    fetch: Arc<dyn Fetch>,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn Validator>, ConfigError> {
    let mut v = ValidatorConfig::new(&provider.id, ValidatorKind::Github);
    v.base_url = Some(provider.github_roots().1);
    v.allowed_users = provider.allowed_users.clone();
    v.allowed_orgs = provider.allowed_orgs.clone();
    v.allowed_teams = provider.allowed_teams.clone();
    v.allow_any_user = provider.allow_any_user;
    v.allow_private_network = provider.allow_private_network;
    let mut only = Config {
        validators: vec![v],
        identity_providers: Vec::new(),
        upstreams: Vec::new(),
        clients: Vec::new(),
        ..Config::default()
    };
    only.tenants = config.tenants.clone();
    let mut built = build_validators(&only, fetch, env)?;
    built.pop().ok_or_else(|| ConfigError {
        problems: vec![ConfigProblem {
            key: "allowed_users".to_owned(),
            problem: "the GitHub check could not be built".to_owned(),
        }],
    })
}

fn text(doc: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Provider {
    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn kind(&self) -> ProviderKind {
        self.config.kind
    }

    /// The name on the sign-in button.
    pub fn display_name(&self) -> &str {
        self.config
            .display_name
            .as_deref()
            .unwrap_or(&self.config.id)
    }

    pub(super) fn client_secret(&self) -> &str {
        &self.client_secret
    }

    pub(super) fn fetch(&self) -> &dyn Fetch {
        self.fetch.as_ref()
    }

    pub(super) fn github(&self) -> Option<&Arc<dyn Validator>> {
        self.github.as_ref()
    }

    /// An outbound request to the provider, with its network permission and timeout.
    pub(super) fn request<'a>(&self, url: &'a str) -> FetchRequest<'a> {
        let mut request = FetchRequest::get(url, self.config.allow_private_network);
        request.timeout = Some(self.config.timeout);
        request
    }

    /// The provider's endpoints at `now` (seconds): GitHub's are fixed; an OpenID Connect
    /// provider's come from its discovery document, fetched once an hour (the last good one
    /// is kept through a failed fetch).
    pub async fn metadata(&self, now: i64) -> Result<Arc<ProviderMetadata>, FederationError> {
        if self.config.kind == ProviderKind::Github {
            let (web, _) = self.config.github_roots();
            return Ok(Arc::new(ProviderMetadata {
                issuer: web.clone(),
                authorization_endpoint: format!("{web}/login/oauth/authorize"),
                token_endpoint: format!("{web}/login/oauth/access_token"),
                userinfo_endpoint: None,
                jwks_uri: None,
                iss_parameter_supported: false,
                basic_auth: false,
            }));
        }
        if let Some(fresh) = self.cached(now, true) {
            return Ok(fresh);
        }
        let _flight = self.flight.lock().await;
        if let Some(fresh) = self.cached(now, true) {
            return Ok(fresh);
        }
        match self.discover().await {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                *self.metadata.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((metadata.clone(), now));
                Ok(metadata)
            }
            Err(e) => match self.cached(now, false) {
                Some(stale) => {
                    tracing::warn!(provider = %self.config.id, error = %e, "discovery failed; using the last good document");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    fn cached(&self, now: i64, fresh_only: bool) -> Option<Arc<ProviderMetadata>> {
        let slot = self.metadata.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|(_, at)| !fresh_only || now - at < METADATA_TTL_SECS)
            .map(|(m, _)| m.clone())
    }

    /// The issuer the configuration names (with defaults), which discovery must confirm.
    pub fn configured_issuer(&self) -> &str {
        self.config.issuer.as_deref().unwrap_or_default()
    }

    async fn discover(&self) -> Result<ProviderMetadata, FederationError> {
        let issuer = self.configured_issuer();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let mut request = self.request(&url);
        request.max_body_bytes = Some(MAX_DOCUMENT_BYTES);
        let response = self
            .fetch
            .fetch(request)
            .await
            .map_err(|e| FederationError::Unavailable(format!("discovery: {e}")))?;
        if response.status != 200 {
            return Err(FederationError::Unavailable(format!(
                "discovery answered HTTP {}",
                response.status
            )));
        }
        let doc: serde_json::Map<String, Value> =
            serde_json::from_slice(&response.body).map_err(|_| {
                FederationError::Invalid("the discovery document is not a JSON object".into())
            })?;
        let found = text(&doc, "issuer").ok_or_else(|| {
            FederationError::Invalid("the discovery document has no issuer".into())
        })?;
        // OpenID Connect Discovery §4.3: the issuer in the document is the one asked for, byte
        // for byte. A multi-tenant Entra directory's document names `{tenantid}` instead.
        let multi = self.config.entra_multi_tenant()
            && found.contains("{tenantid}")
            && issuer.ends_with("/v2.0")
            && found.ends_with("/v2.0");
        if found != issuer && !multi {
            return Err(FederationError::Invalid(format!(
                "the discovery document's issuer {found:?} is not the configured {issuer:?}"
            )));
        }
        let endpoint = |key: &str| -> Result<String, FederationError> {
            let value = text(&doc, key).ok_or_else(|| {
                FederationError::Invalid(format!("the discovery document has no {key}"))
            })?;
            self.check_endpoint(key, &value)?;
            Ok(value)
        };
        let authorization_endpoint = endpoint("authorization_endpoint")?;
        let token_endpoint = endpoint("token_endpoint")?;
        let jwks_uri = endpoint("jwks_uri")?;
        let userinfo_endpoint = match text(&doc, "userinfo_endpoint") {
            Some(u) => {
                self.check_endpoint("userinfo_endpoint", &u)?;
                Some(u)
            }
            None => None,
        };
        let methods: Vec<&str> = doc
            .get("token_endpoint_auth_methods_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // The default (absent) is client_secret_basic (OpenID Connect Discovery §3).
        let basic_auth = methods.is_empty() || methods.contains(&"client_secret_basic");
        if !basic_auth && !methods.contains(&"client_secret_post") {
            return Err(FederationError::Invalid(
                "the provider accepts neither client_secret_basic nor client_secret_post".into(),
            ));
        }
        Ok(ProviderMetadata {
            issuer: found,
            authorization_endpoint,
            token_endpoint,
            userinfo_endpoint,
            jwks_uri: Some(jwks_uri),
            iss_parameter_supported: doc.get("authorization_response_iss_parameter_supported")
                == Some(&Value::Bool(true)),
            basic_auth,
        })
    }

    /// Endpoints are https (http only where the provider may be on a private network).
    fn check_endpoint(&self, key: &str, value: &str) -> Result<(), FederationError> {
        let ok = url::Url::parse(value).is_ok_and(|u| {
            u.host_str().is_some()
                && (u.scheme() == "https"
                    || (u.scheme() == "http" && self.config.allow_private_network))
        });
        if ok {
            Ok(())
        } else {
            Err(FederationError::Invalid(format!(
                "the discovery document's {key} is not an https URL"
            )))
        }
    }

    /// The cache of the keys named by `jwks_uri`.
    pub(super) fn keys(&self, jwks_uri: &str) -> &JwksCache {
        self.keys.get_or_init(|| {
            let algorithms = JWT_ALGORITHMS
                .iter()
                .filter_map(|a| asymmetric_algorithm(a))
                .collect();
            JwksCache::new(
                KeySource::Jwks(jwks_uri.to_owned()),
                self.fetch.clone(),
                self.config.allow_private_network,
                algorithms,
                CachePolicy {
                    ttl: Duration::from_secs(600),
                    max_stale: Duration::from_secs(24 * 3600),
                    unknown_kid_cooldown: Duration::from_secs(30),
                },
            )
        })
    }
}

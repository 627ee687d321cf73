//! The client registry: one place where the authorization server finds a client by its
//! `client_id` (configured, stored or described by a metadata document), authenticates it at the
//! back-channel endpoints, and learns what the consent page must show about it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use portcullis_proto::oauth::{ErrorCode, OAuthError};
use portcullis_store::Store;
use time::OffsetDateTime;

use super::authentication::{self, AssertionVerifier, ClientAuthRequest, Presented};
use super::cimd::{CimdResolver, CimdSettings};
use super::metadata::ClientMetadata;
use super::{Client, ClientSource, TokenEndpointAuthMethod, redirect_uri, unavailable};
use crate::auth::api_key::secret_hash;
use crate::auth::{EnvLookup, Fetch};
use crate::config::{ClientConfig, Config, ConfigError};

/// The smallest client secret a `[[clients]]` entry may have, in bytes: 256 bits when random.
pub const MIN_CONFIGURED_SECRET_BYTES: usize = 32;
/// How often a client's `last_used_at` is written while it is in use.
const TOUCH_EVERY_SECS: i64 = 60;

/// How the registry behaves, from `[registration]` and the public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// The authorization server's issuer (the public URL): an accepted client assertion audience.
    pub issuer: String,
    /// The token endpoint's URL: the other accepted client assertion audience.
    pub token_endpoint: String,
    pub client_id_metadata_documents: bool,
    pub dynamic_client_registration: bool,
    pub unused_client_ttl: Duration,
    pub allow_loopback_client_id_documents: bool,
    pub client_id_document_cache_max: Duration,
}

impl RegistrySettings {
    /// The settings of `config`; the token endpoint is `{public_url}/token`.
    pub fn from_config(config: &Config) -> Self {
        let registration = &config.registration;
        RegistrySettings {
            issuer: config.server.public_url.clone(),
            token_endpoint: format!("{}/token", config.server.public_url),
            client_id_metadata_documents: registration.client_id_metadata_documents,
            dynamic_client_registration: registration.dynamic_client_registration,
            unused_client_ttl: registration.unused_client_ttl,
            allow_loopback_client_id_documents: registration.allow_loopback_client_id_documents,
            client_id_document_cache_max: registration.client_id_document_cache_max,
        }
    }
}

/// What the consent page shows about a client and where it will send the user (reference AS-09,
/// G10): its name, the host of the redirect URI, the host of its metadata document when it has
/// one, and whether its redirects only reach the user's own machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentFacts {
    pub client_id: String,
    pub client_name: String,
    pub source: ClientSource,
    /// The host of this authorization's redirect URI (or a native app's scheme).
    pub redirect_uri_host: String,
    /// The host of the client ID metadata document, for a metadata-document client.
    pub client_id_document_host: Option<String>,
    /// This authorization's redirect URI is a loopback one.
    pub loopback_redirect: bool,
    /// Every registered redirect URI is a loopback one: the page should warn that any program on
    /// the user's machine could be the one receiving the code (MCP "Localhost Redirect URI
    /// Risks").
    pub loopback_only: bool,
    /// The client's home page, for information.
    pub client_uri: Option<String>,
}

/// The facts of `client` redirecting to `redirect_uri` (already checked).
pub fn consent_facts(client: &Client, redirect_uri: &str) -> ConsentFacts {
    ConsentFacts {
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        source: client.source,
        redirect_uri_host: redirect_uri::display_host(redirect_uri),
        client_id_document_host: (client.source == ClientSource::MetadataDocument)
            .then(|| super::cimd::document_host(&client.client_id))
            .flatten(),
        loopback_redirect: redirect_uri::is_loopback(redirect_uri),
        loopback_only: !client.redirect_uris.is_empty()
            && client
                .redirect_uris
                .iter()
                .all(|u| redirect_uri::is_loopback(u)),
        client_uri: client.client_uri.clone(),
    }
}

/// Finds, checks and authenticates OAuth clients.
#[derive(Debug)]
pub struct ClientRegistry {
    settings: RegistrySettings,
    configured: HashMap<String, Client>,
    store: Arc<dyn Store>,
    documents: CimdResolver,
    assertions: AssertionVerifier,
    /// Client id → when its use was last written (seconds); throttles `client_touch`.
    touched: Mutex<HashMap<String, i64>>,
    /// SHA-256 of the initial access token that registration requires, when one is configured.
    initial_access_token: Option<[u8; 32]>,
}

impl ClientRegistry {
    /// A registry over `configured` clients (from the file), the store's clients and, when
    /// enabled, metadata documents fetched with `fetch`.
    pub fn new(
        settings: RegistrySettings,
        configured: Vec<Client>,
        store: Arc<dyn Store>,
        fetch: Arc<dyn Fetch>,
    ) -> Self {
        let documents = CimdResolver::new(
            fetch.clone(),
            CimdSettings {
                allow_loopback: settings.allow_loopback_client_id_documents,
                cache_max: settings.client_id_document_cache_max,
            },
        );
        let assertions = AssertionVerifier::new(
            fetch,
            vec![settings.issuer.clone(), settings.token_endpoint.clone()],
            settings.allow_loopback_client_id_documents,
        );
        ClientRegistry {
            configured: configured
                .into_iter()
                .map(|c| (c.client_id.clone(), c))
                .collect(),
            settings,
            store,
            documents,
            assertions,
            touched: Mutex::new(HashMap::new()),
            initial_access_token: None,
        }
    }

    /// Requires `Authorization: Bearer <token>` on registration, where `hash` is the token's
    /// SHA-256 (RFC 7591 §3).
    pub fn with_initial_access_token(mut self, hash: Option<[u8; 32]>) -> Self {
        self.initial_access_token = hash;
        self
    }

    /// The registry of `config`: its `[[clients]]` (secrets read through `env` now, so a missing
    /// or short one is reported at start-up by key) and `[registration]`.
    pub fn from_config(
        config: &Config,
        store: Arc<dyn Store>,
        fetch: Arc<dyn Fetch>,
        env: EnvLookup<'_>,
        now: OffsetDateTime,
    ) -> Result<Self, ConfigError> {
        let configured = configured_clients(config, env, now);
        let token = initial_access_token(config, env);
        match (configured, token) {
            (Ok(configured), Ok(token)) => Ok(Self::new(
                RegistrySettings::from_config(config),
                configured,
                store,
                fetch,
            )
            .with_initial_access_token(token)),
            (Err(mut a), Err(b)) => {
                a.problems.extend(b.problems);
                Err(a)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// The SHA-256 of the initial access token registration requires, if any.
    pub fn initial_access_token_hash(&self) -> Option<&[u8; 32]> {
        self.initial_access_token.as_ref()
    }

    /// The `registration_endpoint` to publish in the authorization server metadata (RFC 8414
    /// §2), when dynamic registration is on.
    pub fn registration_endpoint(&self) -> Option<String> {
        self.settings
            .dynamic_client_registration
            .then(|| format!("{}/register", self.settings.issuer))
    }

    /// The `client_id_metadata_document_supported` member of the metadata.
    pub fn client_id_metadata_document_supported(&self) -> bool {
        self.settings.client_id_metadata_documents
    }

    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The client `client_id` names at `now`: a configured client, a stored one (an unused
    /// dynamic registration past its expiry no longer counts), or the client described by the
    /// metadata document at that URL. Unknown clients and unusable documents are
    /// `invalid_client`, to be shown on an error page, never redirected to.
    pub async fn resolve(
        &self,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Client, OAuthError> {
        self.find(client_id, now)
            .await?
            .ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, "unknown client"))
    }

    /// What to call a client on the account page, without fetching anything: a configured or
    /// stored client's name, the host of a client ID metadata document's URL (its name is the
    /// client's own claim, and the document may be gone), else the client ID itself.
    pub async fn display_name(&self, client_id: &str) -> Result<String, OAuthError> {
        if super::is_url_client_id(client_id) {
            let host = url::Url::parse(client_id)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            return Ok(host.unwrap_or_else(|| client_id.to_owned()));
        }
        if let Some(client) = self.configured.get(client_id) {
            return Ok(client.name.clone());
        }
        let stored = self
            .store
            .client_get(client_id)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(stored.map_or_else(|| client_id.to_owned(), |client| client.name))
    }

    /// Like [`resolve`](Self::resolve), with an unknown client as `None`.
    async fn find(
        &self,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Client>, OAuthError> {
        if super::is_url_client_id(client_id) {
            if !self.settings.client_id_metadata_documents {
                return Err(OAuthError::new(
                    ErrorCode::InvalidClient,
                    "client ID metadata documents are not accepted by this server",
                ));
            }
            return self
                .documents
                .resolve(client_id, now)
                .await
                .map(Some)
                .map_err(OAuthError::from);
        }
        if let Some(client) = self.configured.get(client_id) {
            return Ok(Some(client.clone()));
        }
        let stored = self
            .store
            .client_get(client_id)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(stored.filter(|client| usable(client, now)))
    }

    /// Authenticates the client of a token, revocation or introspection request by its registered
    /// method only (reference H6), and records its use. Every failure is `invalid_client` with the
    /// same message, except malformed requests (two methods, a repeated parameter), which are
    /// `invalid_request`.
    pub async fn authenticate(
        &self,
        request: &ClientAuthRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<Client, OAuthError> {
        let presented = authentication::read_credentials(request)?;
        // A metadata document that cannot be fetched or used is `invalid_client` with its
        // reason: the client's own problem, which its developer needs to see.
        let found = self.find(presented.client_id(), now).await?;
        let client = match &presented {
            Presented::Secret { secret, .. } => {
                // Compared before anything else is looked at, against a dummy for unknown
                // clients, so every failure takes the same time.
                let matches = authentication::secret_matches(found.as_ref(), secret, now);
                let client = found.ok_or_else(authentication::failed)?;
                if !matches || client.token_endpoint_auth_method != presented.method() {
                    return Err(authentication::failed());
                }
                client
            }
            Presented::Public { .. } => {
                let client = found.ok_or_else(authentication::failed)?;
                if client.token_endpoint_auth_method != TokenEndpointAuthMethod::None {
                    return Err(authentication::failed());
                }
                client
            }
            Presented::Assertion { assertion, .. } => {
                let client = found.ok_or_else(authentication::failed)?;
                if client.token_endpoint_auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
                    return Err(authentication::failed());
                }
                self.assertions
                    .verify(&client, assertion, now.unix_timestamp())
                    .await?;
                client
            }
        };
        self.touch(&client, now).await;
        Ok(client)
    }

    /// Records that `client` was used at `now` (at most once a minute per client and process).
    /// Only stored clients have a use to record; a used dynamic client is never purged.
    pub async fn touch(&self, client: &Client, now: OffsetDateTime) {
        if !matches!(client.source, ClientSource::Admin | ClientSource::Dynamic) {
            return;
        }
        let now_secs = now.unix_timestamp();
        let due = {
            let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
            let recent = touched
                .get(&client.client_id)
                .is_some_and(|at| now_secs - at < TOUCH_EVERY_SECS);
            if !recent {
                if touched.len() >= 100_000 {
                    touched.clear();
                }
                touched.insert(client.client_id.clone(), now_secs);
            }
            !recent
        };
        if due && let Err(e) = self.store.client_touch(&client.client_id, now).await {
            // Last use is bookkeeping: failing to record it must not refuse the request.
            tracing::debug!(error = %e, client_id = %client.client_id, "could not record client use");
        }
    }

    /// Deletes dynamic registrations never used and past their expiry at `now`.
    pub async fn purge_unused(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, portcullis_store::StoreError> {
        self.store.clients_purge_unused(now).await
    }

    /// Forgets a cached metadata document, so the next resolution fetches it again.
    pub fn forget_document(&self, client_id: &str) {
        self.documents.forget(client_id);
    }
}

/// Whether a stored client can be used at `now`: not an unused registration past its expiry.
pub(crate) fn usable(client: &Client, now: OffsetDateTime) -> bool {
    client.last_used_at.is_some() || client.expires_at.is_none_or(|at| at > now)
}

/// The `token_endpoint_auth_methods_supported` of the authorization server metadata (also for
/// revocation and introspection).
pub const TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED: [&str; 4] = [
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// The `token_endpoint_auth_signing_alg_values_supported` (the algorithms of client assertions).
pub const TOKEN_ENDPOINT_AUTH_SIGNING_ALGS: &[&str] = crate::config::JWT_ALGORITHMS;

/// The smallest initial access token accepted, in bytes.
pub const MIN_INITIAL_ACCESS_TOKEN_BYTES: usize = 32;

/// The SHA-256 of the initial access token named by `registration.initial_access_token_env`,
/// read through `env`; `None` when registration is open.
pub fn initial_access_token(
    config: &Config,
    env: EnvLookup<'_>,
) -> Result<Option<[u8; 32]>, ConfigError> {
    let Some(var) = &config.registration.initial_access_token_env else {
        return Ok(None);
    };
    let problem = |problem: String| ConfigError {
        problems: vec![crate::config::ConfigProblem {
            key: "registration.initial_access_token_env".to_owned(),
            problem,
        }],
    };
    match env(var).map(String::from_utf8) {
        None => Err(problem(format!(
            "the environment variable {var} is not set"
        ))),
        Some(Ok(token)) if token.len() >= MIN_INITIAL_ACCESS_TOKEN_BYTES => {
            Ok(Some(secret_hash(&token)))
        }
        Some(Ok(_)) => Err(problem(format!(
            "the token in {var} is shorter than {MIN_INITIAL_ACCESS_TOKEN_BYTES} bytes"
        ))),
        Some(Err(_)) => Err(problem(format!("the token in {var} is not UTF-8 text"))),
    }
}

/// One `[[clients]]` entry as a client, without its secret (which lives in the environment).
pub fn configured_client(entry: &ClientConfig, now: OffsetDateTime) -> Client {
    let mut metadata = ClientMetadata::operator(
        &entry.name,
        entry.redirect_uris.clone(),
        entry.grant_types.clone(),
        entry.auth_method(),
    );
    metadata.scope = entry.scope.clone();
    metadata.jwks_uri = entry.jwks_uri.clone();
    metadata.into_client(entry.client_id.clone(), ClientSource::Config, now)
}

/// The `[[clients]]` of `config` as clients, their secrets read through `env` and kept as
/// hashes.
pub fn configured_clients(
    config: &Config,
    env: EnvLookup<'_>,
    now: OffsetDateTime,
) -> Result<Vec<Client>, ConfigError> {
    let mut problems = Vec::new();
    let mut clients = Vec::new();
    for entry in &config.clients {
        let key = |field: &str| format!("clients[{}].{field}", entry.client_id);
        let mut secret = None;
        if let Some(var) = &entry.client_secret_env {
            match env(var) {
                None => problems.push((
                    key("client_secret_env"),
                    format!("the environment variable {var} is not set"),
                )),
                Some(bytes) if bytes.len() < MIN_CONFIGURED_SECRET_BYTES => problems.push((
                    key("client_secret_env"),
                    format!(
                        "the secret in {var} is shorter than {MIN_CONFIGURED_SECRET_BYTES} bytes"
                    ),
                )),
                Some(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => secret = Some(secret_hash(&text)),
                    Err(_) => problems.push((
                        key("client_secret_env"),
                        format!("the secret in {var} is not UTF-8 text"),
                    )),
                },
            }
        }
        let mut client = configured_client(entry, now);
        client.secret_hash = secret;
        clients.push(client);
    }
    if problems.is_empty() {
        Ok(clients)
    } else {
        Err(ConfigError {
            problems: problems
                .into_iter()
                .map(|(key, problem)| crate::config::ConfigProblem { key, problem })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests;

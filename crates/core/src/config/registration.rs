//! `[registration]` (how OAuth clients may register themselves) and `[[clients]]` (clients the
//! operator registers in the file), with their validation.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::serde_duration;
use super::validate::{Problems, is_env_var_name, is_scope_token};
use crate::clients::redirect_uri;
use crate::clients::{ApplicationType, TokenEndpointAuthMethod};

/// `[registration]`: client ID metadata documents, dynamic client registration, and their
/// limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Accept `client_id`s that are URLs of client ID metadata documents, and fetch them.
    pub client_id_metadata_documents: bool,
    /// Serve dynamic client registration (RFC 7591) and its management (RFC 7592).
    pub dynamic_client_registration: bool,
    /// The environment variable holding the initial access token that registration requires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_access_token_env: Option<String>,
    /// How long a dynamic registration that is never used is kept.
    #[serde(with = "serde_duration")]
    pub unused_client_ttl: Duration,
    /// Fetch client ID metadata documents from loopback hosts, over plain http too (tests only).
    pub allow_loopback_client_id_documents: bool,
    /// The longest a client ID metadata document is cached, whatever its `Cache-Control` says.
    #[serde(with = "serde_duration")]
    pub client_id_document_cache_max: Duration,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            client_id_metadata_documents: true,
            dynamic_client_registration: true,
            initial_access_token_env: None,
            unused_client_ttl: Duration::from_secs(24 * 3600),
            allow_loopback_client_id_documents: false,
            client_id_document_cache_max: Duration::from_secs(24 * 3600),
        }
    }
}

/// How a configured client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl From<ClientAuthMethod> for TokenEndpointAuthMethod {
    fn from(method: ClientAuthMethod) -> Self {
        match method {
            ClientAuthMethod::None => TokenEndpointAuthMethod::None,
            ClientAuthMethod::ClientSecretBasic => TokenEndpointAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost => TokenEndpointAuthMethod::ClientSecretPost,
            ClientAuthMethod::PrivateKeyJwt => TokenEndpointAuthMethod::PrivateKeyJwt,
        }
    }
}

/// `[[clients]]`: one pre-registered OAuth client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client identifier the client sends.
    pub client_id: String,
    /// The name shown on the consent page.
    pub name: String,
    /// The redirect URIs, compared exactly (a loopback redirect's port excepted).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The grant types the client may use.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// How the client authenticates; by default `client_secret_basic` with a secret, else `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
    /// The environment variable holding the client secret of a confidential client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// Where the client publishes its public keys, for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The space-separated scopes the client may ask for; any, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
}

impl ClientConfig {
    /// The method the client authenticates with, defaults applied.
    pub fn auth_method(&self) -> TokenEndpointAuthMethod {
        match (self.token_endpoint_auth_method, &self.client_secret_env) {
            (Some(method), _) => method.into(),
            (None, Some(_)) => TokenEndpointAuthMethod::ClientSecretBasic,
            (None, None) => TokenEndpointAuthMethod::None,
        }
    }
}

/// Checks `[registration]` and every `[[clients]]` entry.
pub(super) fn check(p: &mut Problems, registration: &RegistrationConfig, clients: &[ClientConfig]) {
    if let Some(name) = &registration.initial_access_token_env
        && !is_env_var_name(name)
    {
        p.add(
            "registration.initial_access_token_env",
            format!("{name:?} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"),
        );
    }
    if registration.unused_client_ttl < Duration::from_secs(60) {
        p.add(
            "registration.unused_client_ttl",
            "must be at least 1m: a client needs time to use its registration",
        );
    }
    if registration.client_id_document_cache_max < crate::clients::cimd::MIN_CACHE {
        p.add(
            "registration.client_id_document_cache_max",
            "must be at least 30s, the shortest time a document is cached",
        );
    }

    let mut ids = HashSet::new();
    for (i, client) in clients.iter().enumerate() {
        let key = |field: &str| {
            if client.client_id.is_empty() {
                format!("clients[{i}].{field}")
            } else {
                format!("clients[{}].{field}", client.client_id)
            }
        };
        check_client(p, client, &key);
        if !ids.insert(client.client_id.as_str()) {
            p.add(
                key("client_id"),
                format!("{:?} is used by more than one client", client.client_id),
            );
        }
    }
}

fn check_client(p: &mut Problems, client: &ClientConfig, key: &dyn Fn(&str) -> String) {
    if let Err(problem) = crate::clients::check_client_id(&client.client_id) {
        p.add(key("client_id"), problem);
    }
    if client.name.trim().is_empty() || client.name.chars().count() > 200 {
        p.add(key("name"), "must be 1 to 200 characters");
    } else if client.name.contains(char::is_control) {
        p.add(key("name"), "must not contain control characters");
    }
    let method = client.auth_method();
    if let Err(problem) = crate::clients::metadata::check_grant_types(&client.grant_types, method) {
        p.add(key("grant_types"), problem);
    }
    let needs_redirect = client.grant_types.iter().any(|g| g == "authorization_code");
    if needs_redirect && client.redirect_uris.is_empty() {
        p.add(
            key("redirect_uris"),
            "a client with the authorization_code grant needs at least one redirect URI",
        );
    }
    for (j, uri) in client.redirect_uris.iter().enumerate() {
        // Operators may register the private-use schemes of native apps: they know the app.
        if let Err(e) = redirect_uri::validate(uri, ApplicationType::Native) {
            p.add(format!("{}[{j}]", key("redirect_uris")), e.to_string());
        }
    }
    match (method.uses_secret(), &client.client_secret_env) {
        (true, None) => p.add(
            key("client_secret_env"),
            format!("is required for token_endpoint_auth_method = {}", method.as_str()),
        ),
        (false, Some(_)) => p.add(
            key("client_secret_env"),
            format!(
                "does not apply to token_endpoint_auth_method = {}: only client_secret_basic and client_secret_post use a secret",
                method.as_str()
            ),
        ),
        (_, Some(name)) if !is_env_var_name(name) => p.add(
            key("client_secret_env"),
            format!("{name:?} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"),
        ),
        _ => {}
    }
    match (method, &client.jwks_uri) {
        (TokenEndpointAuthMethod::PrivateKeyJwt, None) => p.add(
            key("jwks_uri"),
            "is required for token_endpoint_auth_method = private_key_jwt",
        ),
        (TokenEndpointAuthMethod::PrivateKeyJwt, Some(uri)) => {
            if let Err(problem) = crate::clients::metadata::check_https_uri(uri, true) {
                p.add(key("jwks_uri"), problem);
            }
        }
        (_, Some(_)) => p.add(
            key("jwks_uri"),
            "only applies to token_endpoint_auth_method = private_key_jwt",
        ),
        (_, None) => {}
    }
    if let Some(scope) = &client.scope
        && (scope.trim().is_empty() || !scope.split(' ').all(is_scope_token))
    {
        p.add(
            key("scope"),
            "must be scopes separated by single spaces, each printable ASCII without quotes or backslashes (RFC 6749 §3.3)",
        );
    }
}

//! Client metadata (RFC 7591 §2): read from a registration request, an RFC 7592 update or a
//! client ID metadata document, checked, and turned into a [`Client`].
//!
//! Unknown members are ignored (RFC 7591 §2: "the authorization server MUST ignore any client
//! metadata sent by the client that it does not understand"). Members that are understood are
//! checked strictly: a wrong type is an error, never a silently ignored value.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{
    ApplicationType, Client, ClientError, ClientSource, GRANT_TYPES, TokenEndpointAuthMethod,
    redirect_uri,
};
use crate::auth::jwks::parse_jwks;
use crate::auth::jwt::asymmetric_algorithm;
use crate::config::validate::is_scope_token;

/// The most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;
/// The longest `client_name` accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Where metadata comes from, which decides defaults and what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataSource {
    /// A dynamic registration or its update (RFC 7591, RFC 7592).
    Registration,
    /// A client ID metadata document: `client_name` is required, shared secrets are forbidden
    /// and the default authentication method is `none`.
    Document,
}

/// How to read metadata.
#[derive(Debug, Clone, Copy)]
pub struct MetadataRules {
    pub source: MetadataSource,
    /// Accept a `jwks_uri` on a loopback host over plain http (the test setting).
    pub allow_loopback_jwks_uri: bool,
}

/// Checked client metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub application_type: ApplicationType,
    pub scope: Option<String>,
    /// The key set, re-serialised as compact JSON.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
}

fn bad(reason: impl Into<String>) -> ClientError {
    ClientError::InvalidMetadata(reason.into())
}

fn optional_string<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ClientError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{name} must be a string"))),
    }
}

fn optional_strings(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>, ClientError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| bad(format!("{name} must be an array of strings"))),
        Some(_) => Err(bad(format!("{name} must be an array of strings"))),
    }
}

/// Reads and checks the metadata in `object`.
pub fn parse(
    object: &Map<String, Value>,
    rules: MetadataRules,
) -> Result<ClientMetadata, ClientError> {
    let document = rules.source == MetadataSource::Document;

    let application_type = match optional_string(object, "application_type")? {
        None => ApplicationType::Web,
        Some(value) => ApplicationType::parse(value)
            .ok_or_else(|| bad("application_type must be \"native\" or \"web\""))?,
    };

    let token_endpoint_auth_method = match optional_string(object, "token_endpoint_auth_method")? {
        // RFC 7591 §2 makes client_secret_basic the default; a metadata document cannot hold a
        // secret, so its clients are public unless they say private_key_jwt.
        None if document => TokenEndpointAuthMethod::None,
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(value) => TokenEndpointAuthMethod::parse(value).ok_or_else(|| {
            bad(format!(
                "token_endpoint_auth_method {value:?} is not supported (none, client_secret_basic, client_secret_post, private_key_jwt)"
            ))
        })?,
    };
    if document && token_endpoint_auth_method.uses_secret() {
        return Err(bad(format!(
            "token_endpoint_auth_method {} uses a shared secret, which a metadata document cannot have",
            token_endpoint_auth_method.as_str()
        )));
    }

    let grant_types = optional_strings(object, "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    check_grant_types(&grant_types, token_endpoint_auth_method).map_err(bad)?;
    // Client credentials give a client access that no person approved. Anyone can register, and
    // anyone can publish a metadata document, so such clients never have them: only a client the
    // operator registers does (RFC 6749 §4.4; RFC 9700 §2.4 "allow only the grants each client
    // needs"; reference H5, G2).
    if grant_types.iter().any(|g| g == "client_credentials") {
        return Err(bad(
            "client_credentials is only for clients the operator registers (portcullis admin client create --grant-type client_credentials)",
        ));
    }
    let wants_code = grant_types.iter().any(|g| g == "authorization_code");

    let response_types = optional_strings(object, "response_types")?.unwrap_or_else(|| {
        if wants_code {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        }
    });
    if let Some(other) = response_types.iter().find(|r| *r != "code") {
        return Err(bad(format!(
            "response_types: {other:?} is not supported; only \"code\" is"
        )));
    }
    // RFC 7591 §2.1: the two lists must agree.
    if wants_code != response_types.iter().any(|r| r == "code") {
        return Err(bad(
            "grant_types and response_types disagree: authorization_code goes with the code response type",
        ));
    }

    let redirect_uris = match object.get("redirect_uris") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ClientError::InvalidRedirectUri("redirect_uris must be an array of strings".into())
            })?,
        Some(_) => {
            return Err(ClientError::InvalidRedirectUri(
                "redirect_uris must be an array of strings".into(),
            ));
        }
    };
    if wants_code && redirect_uris.is_empty() {
        return Err(ClientError::InvalidRedirectUri(
            "redirect_uris is required for the authorization_code grant".into(),
        ));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(ClientError::InvalidRedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs"
        )));
    }
    for (i, uri) in redirect_uris.iter().enumerate() {
        redirect_uri::validate(uri, application_type)
            .map_err(|e| ClientError::InvalidRedirectUri(format!("redirect_uris[{i}]: {e}")))?;
    }

    let client_name = match optional_string(object, "client_name")? {
        Some(name) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(bad(format!(
                    "client_name must be 1 to {MAX_NAME_CHARS} characters"
                )));
            }
            if name.contains(char::is_control) {
                return Err(bad("client_name must not contain control characters"));
            }
            Some(name.to_owned())
        }
        None if document => return Err(bad("client_name is required")),
        None => None,
    };

    let scope = match optional_string(object, "scope")? {
        // An empty list of scopes is no list: clients that have none to name send `""` (the MCP
        // Inspector does), and RFC 7591 §2 leaves an omitted scope to the server's default.
        Some("") => None,
        Some(scope) => {
            if !scope.split(' ').all(is_scope_token) {
                return Err(bad(
                    "scope must be scope tokens separated by single spaces (RFC 6749 §3.3)",
                ));
            }
            Some(scope.to_owned())
        }
        None => None,
    };

    let informational = |name: &str| -> Result<Option<String>, ClientError> {
        optional_string(object, name)?
            .map(|uri| {
                check_https_uri(uri, true)
                    .map(|()| uri.to_owned())
                    .map_err(|problem| bad(format!("{name} {problem}")))
            })
            .transpose()
    };
    let client_uri = informational("client_uri")?;
    let logo_uri = informational("logo_uri")?;

    let jwks_uri = optional_string(object, "jwks_uri")?
        .map(|uri| {
            check_https_uri(uri, rules.allow_loopback_jwks_uri)
                .map(|()| uri.to_owned())
                .map_err(|problem| bad(format!("jwks_uri {problem}")))
        })
        .transpose()?;
    let jwks = match object.get("jwks") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => {
            let text = value.to_string();
            parse_jwks(text.as_bytes(), &all_asymmetric_algorithms())
                .map_err(|problem| bad(format!("jwks: {problem}")))?;
            Some(text)
        }
        Some(_) => return Err(bad("jwks must be a JSON Web Key Set object")),
    };
    // RFC 7591 §2: "The jwks_uri and jwks parameters MUST NOT both be present".
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(bad("jwks and jwks_uri must not both be present"));
    }
    if token_endpoint_auth_method == TokenEndpointAuthMethod::PrivateKeyJwt
        && jwks.is_none()
        && jwks_uri.is_none()
    {
        return Err(bad("private_key_jwt needs jwks or jwks_uri"));
    }

    Ok(ClientMetadata {
        client_name,
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method,
        application_type,
        scope,
        jwks,
        jwks_uri,
        client_uri,
        logo_uri,
    })
}

/// The algorithms a client's keys may have: every asymmetric one the verifier supports.
pub(crate) fn all_asymmetric_algorithms() -> Vec<jsonwebtoken::Algorithm> {
    crate::config::JWT_ALGORITHMS
        .iter()
        .filter_map(|name| asymmetric_algorithm(name))
        .collect()
}

/// The grant-type rules: known grants only (never implicit or password, RFC 9700 §2.4), no
/// repeats, and `client_credentials` only for a client that authenticates (RFC 6749 §4.4).
pub fn check_grant_types(
    grant_types: &[String],
    method: TokenEndpointAuthMethod,
) -> Result<(), String> {
    if grant_types.is_empty() {
        return Err("grant_types must not be empty".to_owned());
    }
    for (i, grant) in grant_types.iter().enumerate() {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            return Err(format!(
                "grant type {grant:?} is not supported ({})",
                GRANT_TYPES.join(", ")
            ));
        }
        if grant_types
            .get(..i)
            .is_some_and(|before| before.contains(grant))
        {
            return Err(format!("grant type {grant:?} is listed twice"));
        }
    }
    if method == TokenEndpointAuthMethod::None
        && grant_types.iter().any(|g| g == "client_credentials")
    {
        return Err(
            "client_credentials is only for clients that authenticate (not none)".to_owned(),
        );
    }
    Ok(())
}

/// The rules for URLs a client gives about itself (`jwks_uri`, `client_uri`, `logo_uri`):
/// `https` with a host and no userinfo or fragment, or `http` on a loopback host when
/// `allow_loopback_http`. The error completes a sentence starting with the key's name.
pub fn check_https_uri(uri: &str, allow_loopback_http: bool) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|_| "is not a URL".to_owned())?;
    if uri.len() > redirect_uri::MAX_LENGTH || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "must be at most {} printable ASCII characters",
            redirect_uri::MAX_LENGTH
        ));
    }
    let loopback = parsed
        .host_str()
        .is_some_and(crate::config::validate::is_loopback_host);
    match parsed.scheme() {
        "https" => {}
        "http" if allow_loopback_http && loopback => {}
        _ => return Err("must be an https URL".to_owned()),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err("must not contain userinfo or a fragment".to_owned());
    }
    Ok(())
}

impl ClientMetadata {
    /// The metadata of a client an operator registers (in the configuration or with the admin
    /// CLI): a native application (private-use schemes allowed), the `code` response type when it
    /// has the `authorization_code` grant, nothing else set.
    pub fn operator(
        name: &str,
        redirect_uris: Vec<String>,
        grant_types: Vec<String>,
        token_endpoint_auth_method: TokenEndpointAuthMethod,
    ) -> Self {
        let wants_code = grant_types.iter().any(|g| g == "authorization_code");
        ClientMetadata {
            client_name: Some(name.to_owned()),
            redirect_uris,
            grant_types,
            response_types: if wants_code {
                vec!["code".to_owned()]
            } else {
                Vec::new()
            },
            token_endpoint_auth_method,
            application_type: ApplicationType::Native,
            scope: None,
            jwks: None,
            jwks_uri: None,
            client_uri: None,
            logo_uri: None,
        }
    }

    /// The client these metadata describe. The name defaults to the client id; credentials,
    /// registration token and expiry are the caller's to set.
    pub fn into_client(
        self,
        client_id: String,
        source: ClientSource,
        now: OffsetDateTime,
    ) -> Client {
        Client {
            name: self.client_name.unwrap_or_else(|| client_id.clone()),
            client_id,
            source,
            redirect_uris: self.redirect_uris,
            grant_types: self.grant_types,
            response_types: self.response_types,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            secret_hash: None,
            secret_expires_at: None,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            scope: self.scope,
            application_type: self.application_type,
            client_uri: self.client_uri,
            logo_uri: self.logo_uri,
            registration_access_token_hash: None,
            created_at: now,
            expires_at: None,
            last_used_at: None,
        }
    }
}

#[cfg(test)]
mod tests;

//! What the authorization server needs to know about a client, and the interface through which
//! it asks: the client registry (pre-registered, dynamically registered, and Client ID Metadata
//! Document clients) implements [`ClientDirectory`].

use async_trait::async_trait;
use portcullis_proto::oauth::OAuthError;
use portcullis_store::{Client, ClientSource, TokenEndpointAuthMethod};
use time::OffsetDateTime;

use super::params::Params;
use crate::clients::{ClientAuthRequest, ClientRegistry, cimd};

/// A client as the authorization server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub client_id: String,
    /// The name shown on the consent page.
    pub name: String,
    /// A public client has no credentials (`token_endpoint_auth_method = "none"`).
    pub public: bool,
    /// The grant types it may use (`authorization_code`, `refresh_token`, `client_credentials`).
    pub grant_types: Vec<String>,
    /// The scopes it may request, when restricted: only the operator restricts them (the
    /// `scope` of a `[[clients]]` entry or `portcullis admin client create --scope`). A client's
    /// own registration or metadata document names the scopes it means to ask for first, which
    /// limits nothing (it could register again with more): it may ask for more later, as a
    /// step-up does, and the person is asked each time.
    pub allowed_scope: Option<String>,
    /// Its registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The host of its client ID metadata document, for a CIMD client.
    pub document_host: Option<String>,
    /// Registered by the operator (configuration or `portcullis admin client`), not by itself:
    /// only such clients can rely on a remembered consent.
    pub first_party: bool,
}

impl ClientInfo {
    pub fn may_use(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// Whether this client may introspect a token issued to `owner`: its own tokens, or any
    /// token when the operator registered it (RFC 7662 §4: a caller "specifically authorized").
    pub fn may_introspect(&self, owner: &str) -> bool {
        self.first_party || self.client_id == owner
    }

    /// Whether every registered redirect URI is a loopback one: the consent page warns that such
    /// a client could be any program on the user's machine.
    pub fn loopback_only(&self) -> bool {
        !self.redirect_uris.is_empty()
            && self.redirect_uris.iter().all(|uri| {
                url::Url::parse(uri).is_ok_and(|u| match u.host() {
                    Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                })
            })
    }
}

impl From<&Client> for ClientInfo {
    fn from(client: &Client) -> Self {
        let first_party = matches!(client.source, ClientSource::Config | ClientSource::Admin);
        ClientInfo {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            public: client.token_endpoint_auth_method == TokenEndpointAuthMethod::None,
            grant_types: client.grant_types.clone(),
            allowed_scope: if first_party {
                client.scope.clone()
            } else {
                None
            },
            redirect_uris: client.redirect_uris.clone(),
            document_host: (client.source == ClientSource::MetadataDocument)
                .then(|| cimd::document_host(&client.client_id))
                .flatten(),
            first_party,
        }
    }
}

/// A back-channel request's client credentials: every `Authorization` header value (normally
/// none or one) and the form.
#[derive(Debug, Clone, Copy)]
pub struct ClientCredentials<'a> {
    pub authorization: &'a [&'a str],
    pub form: &'a Params,
}

/// Where clients come from.
#[async_trait]
pub trait ClientDirectory: Send + Sync + std::fmt::Debug {
    /// The client `client_id` names (fetching its metadata document if it is one). An unknown or
    /// unusable client is an error the authorization endpoint shows on a page and never
    /// redirects.
    async fn client(&self, client_id: &str, now: OffsetDateTime) -> Result<ClientInfo, OAuthError>;

    /// The redirect URI of an authorization request: the presented one if the client registered
    /// it (exact string comparison, except the port of a loopback redirect URI), or the client's
    /// only registered one when none is presented. An error is shown on a page, never redirected.
    fn redirect_uri(
        &self,
        client: &ClientInfo,
        presented: Option<&str>,
    ) -> Result<String, OAuthError> {
        crate::clients::choose_redirect_uri(&client.redirect_uris, presented)
    }

    /// Authenticates the client of a back-channel request by its registered method; a public
    /// client identifies itself with `client_id` alone. `invalid_client` when that fails.
    async fn authenticate(
        &self,
        credentials: ClientCredentials<'_>,
        now: OffsetDateTime,
    ) -> Result<ClientInfo, OAuthError>;
}

#[async_trait]
impl ClientDirectory for ClientRegistry {
    async fn client(&self, client_id: &str, now: OffsetDateTime) -> Result<ClientInfo, OAuthError> {
        self.resolve(client_id, now)
            .await
            .map(|c| ClientInfo::from(&c))
    }

    async fn authenticate(
        &self,
        credentials: ClientCredentials<'_>,
        now: OffsetDateTime,
    ) -> Result<ClientInfo, OAuthError> {
        let form = credentials.form.pairs();
        let request = ClientAuthRequest {
            authorization: credentials.authorization,
            form: &form,
        };
        ClientRegistry::authenticate(self, &request, now)
            .await
            .map(|c| ClientInfo::from(&c))
    }
}

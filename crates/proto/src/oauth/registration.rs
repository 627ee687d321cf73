//! The client information response of dynamic client registration (RFC 7591 §3.2.1) and of its
//! management (RFC 7592 §3): the registered metadata, plus the credentials issued with them.

use serde::Serialize;

/// A client information response. Optional members are left out when they have no value;
/// `client_secret` and `registration_access_token` appear only in the answer that issues them.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ClientInformation {
    pub client_id: String,
    /// RFC 7591 §3.2.1: when the client id was issued, in seconds since the epoch.
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// RFC 7591 §3.2.1: "REQUIRED if client_secret is issued"; 0 means it does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    /// RFC 7592 §3: where the client reads, updates and deletes its registration.
    pub registration_client_uri: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: &'static str,
    pub application_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The key set, as the client registered it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
}

impl std::fmt::Debug for ClientInformation {
    // The client secret and the registration access token are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInformation")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| ".."))
            .field(
                "registration_access_token",
                &self.registration_access_token.as_ref().map(|_| ".."),
            )
            .field("client_name", &self.client_name)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

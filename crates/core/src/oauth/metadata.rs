//! Authorization server metadata (RFC 8414), served as is at both discovery paths MCP clients
//! probe: `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`
//! (OIDC Discovery 1.0). The `issuer` is the one string used everywhere (reference AS-03, RS-19).

use serde_json::{Value, json};

use super::AuthorizationServer;
use super::scope::{self, Scopes};

/// The endpoint paths, relative to the issuer.
pub mod path {
    pub const AUTHORIZE: &str = "/authorize";
    pub const TOKEN: &str = "/token";
    pub const REGISTER: &str = "/register";
    pub const REVOKE: &str = "/revoke";
    pub const INTROSPECT: &str = "/introspect";
    pub const USERINFO: &str = "/userinfo";
    pub const JWKS: &str = "/.well-known/jwks.json";
}

/// What the metadata says about client registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationOptions {
    /// RFC 7591 dynamic client registration is on.
    pub dynamic_client_registration: bool,
    /// Client ID Metadata Documents are accepted.
    pub client_id_metadata_documents: bool,
}

impl AuthorizationServer {
    /// The metadata document.
    pub fn metadata(&self, registration: RegistrationOptions) -> Value {
        let issuer = &self.issuer;
        let oidc = [
            scope::OPENID,
            scope::PROFILE,
            scope::EMAIL,
            scope::OFFLINE_ACCESS,
        ];
        let scopes = Scopes::of(
            oidc.into_iter()
                .chain(self.resources.iter().flat_map(|r| r.scopes.iter())),
        );
        let ring = self.keys();
        let signing_algs: Vec<&str> = ring
            .keys()
            .iter()
            .map(|k| k.alg().as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let auth_methods = [
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ];
        let mut document = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}{}", path::AUTHORIZE),
            "token_endpoint": format!("{issuer}{}", path::TOKEN),
            "jwks_uri": format!("{issuer}{}", path::JWKS),
            "revocation_endpoint": format!("{issuer}{}", path::REVOKE),
            "introspection_endpoint": format!("{issuer}{}", path::INTROSPECT),
            "userinfo_endpoint": format!("{issuer}{}", path::USERINFO),
            "scopes_supported": scopes.iter().collect::<Vec<_>>(),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": &auth_methods[1..],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": registration.client_id_metadata_documents,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": signing_algs,
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "amr", "acr", "nonce", "email", "email_verified", "name", "preferred_username"],
            "acr_values_supported": [super::access_token::ACR_MFA, super::access_token::ACR_PASSWORD],
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        });
        if registration.dynamic_client_registration
            && let Some(object) = document.as_object_mut()
        {
            object.insert(
                "registration_endpoint".to_owned(),
                json!(format!("{issuer}{}", path::REGISTER)),
            );
        }
        document
    }
}

//! Token introspection (RFC 7662), for authenticated confidential clients only (§2.1: the
//! endpoint must be protected against token scanning). An access token is active while its
//! signature, lifetime and audience check out and neither it nor its grant was revoked; a refresh
//! token while it is the current one of a live grant. Everything else — unknown, expired,
//! revoked, malformed — is `{"active": false}` and nothing more (§2.2).
//!
//! Which tokens a caller may introspect (§4: protected resources "SHOULD" be "specifically
//! authorized"): a client the operator registered (a resource server) any token; a client that
//! registered itself only its own, since anyone can register one. A token the caller may not
//! introspect is `{"active": false}` like an unknown one (§2.2, reference H3).

use portcullis_proto::oauth::{ErrorCode, OAuthError};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::access_token::GRANT_CLAIM;
use super::{
    AuthorizationServer, ClientCredentials, Params, access_token, secret_hash, unavailable,
};

/// An introspection response body.
pub type Introspection = Value;

impl AuthorizationServer {
    pub async fn introspect(
        &self,
        form: &Params,
        authorization: &[&str],
        now: OffsetDateTime,
    ) -> Result<Introspection, OAuthError> {
        let client = self
            .clients
            .authenticate(
                ClientCredentials {
                    authorization,
                    form,
                },
                now,
            )
            .await?;
        if client.public {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "introspection needs an authenticated (confidential) client",
            ));
        }
        let token = form.required("token")?;
        let inactive = json!({ "active": false });
        if let Some((refresh, grant)) = self
            .store
            .refresh_get(&secret_hash(token))
            .await
            .map_err(unavailable)?
        {
            let active = grant.revoked_at.is_none()
                && grant.expires_at > now
                && refresh.expires_at > now
                && refresh.used_at.is_none();
            if !active || !client.may_introspect(&grant.client_id) {
                return Ok(inactive);
            }
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": grant.client_id,
                "sub": grant.subject,
                "scope": grant.scope,
                "aud": grant.resource,
                "iss": self.issuer,
                "iat": refresh.created_at.unix_timestamp(),
                "exp": refresh.expires_at.min(grant.expires_at).unix_timestamp(),
            }));
        }
        let audiences: Vec<&str> = self.resources.iter().map(|r| r.url.as_str()).collect();
        let Ok(claims) = access_token::verify(&self.keys(), token, &self.issuer, &audiences, now)
        else {
            return Ok(inactive);
        };
        let owner = claims
            .string("client_id")
            .ok()
            .flatten()
            .unwrap_or_default();
        if !client.may_introspect(owner) {
            return Ok(inactive);
        }
        let jti = claims.string("jti").ok().flatten().unwrap_or_default();
        if self.access_token_revoked(jti, now).await? {
            return Ok(inactive);
        }
        if let Ok(Some(grant_id)) = claims.string(GRANT_CLAIM) {
            let grant = self.store.grant_get(grant_id).await.map_err(unavailable)?;
            if grant.is_none_or(|g| g.revoked_at.is_some()) {
                return Ok(inactive);
            }
        }
        let mut body = json!({ "active": true, "token_type": "Bearer" });
        if let Some(object) = body.as_object_mut() {
            for name in [
                "scope",
                "client_id",
                "sub",
                "aud",
                "iss",
                "exp",
                "iat",
                "jti",
                "email",
                "tenant",
                "preferred_username",
            ] {
                if let Some(value) = claims.get(name) {
                    object.insert(name.to_owned(), value.clone());
                }
            }
            if let Some(username) = claims.get("preferred_username") {
                object.insert("username".to_owned(), username.clone());
            }
        }
        Ok(body)
    }

    /// Whether the access token `jti` was revoked. Revocations are kept only while the tokens
    /// they stop could still be valid, so the list searched is short.
    async fn access_token_revoked(
        &self,
        jti: &str,
        now: OffsetDateTime,
    ) -> Result<bool, OAuthError> {
        let horizon = now
            - time::Duration::try_from(self.settings.access_token_ttl)
                .unwrap_or(time::Duration::DAY)
            - time::Duration::minutes(5);
        let revoked = self
            .store
            .access_tokens_revoked_since(horizon)
            .await
            .map_err(unavailable)?;
        Ok(revoked.iter().any(|r| r.jti == jti))
    }
}

//! Token revocation (RFC 7009): a client revokes its own refresh token (ending the whole grant)
//! or access token (its `jti` goes on the list every replica's gateway refuses).
//!
//! The answer is the same whether or not the token was found, valid, or the client's (§2.2:
//! "invalid tokens do not cause an error response"), so the endpoint tells a caller nothing
//! about tokens that are not its own.

use portcullis_proto::oauth::OAuthError;
use portcullis_store::RevokedAccessToken;
use time::OffsetDateTime;

use crate::audit::{AuditContext, SUCCESS, action};

use super::{
    AuthorizationServer, ClientCredentials, Params, access_token, secret_hash, unavailable,
};

/// What a revocation changed (the [`super::RevocationListener`] has been told).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revoked {
    pub grant_id: Option<String>,
    pub jti: Option<String>,
}

impl AuthorizationServer {
    /// Serves one revocation request; `audit` is the request's (the client acts).
    pub async fn revoke(
        &self,
        form: &Params,
        authorization: &[&str],
        audit: &AuditContext,
        now: OffsetDateTime,
    ) -> Result<Revoked, OAuthError> {
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
        let token = form.required("token")?;
        let audit = audit
            .acting(&client.client_id, None)
            .through(&client.client_id);
        // The hint only orders the search (§2.1); both kinds are always looked for.
        if let Some((_, grant)) = self
            .store
            .refresh_get(&secret_hash(token))
            .await
            .map_err(unavailable)?
        {
            if grant.client_id == client.client_id {
                let event = audit.decided(
                    now,
                    action::TOKEN_REVOKE,
                    Some(&grant.id),
                    SUCCESS,
                    Some("refresh token revoked: the whole grant"),
                );
                self.revoke_grant(&grant.id, now, event.as_ref()).await?;
                return Ok(Revoked {
                    grant_id: Some(grant.id),
                    jti: None,
                });
            }
            return Ok(Revoked::default());
        }
        let audiences: Vec<&str> = self.resources.iter().map(|r| r.url.as_str()).collect();
        let Ok(claims) = access_token::verify(&self.keys(), token, &self.issuer, &audiences, now)
        else {
            return Ok(Revoked::default());
        };
        let (Ok(Some(client_id)), Ok(Some(jti)), Ok(Some(exp))) = (
            claims.string("client_id"),
            claims.string("jti"),
            claims.number("exp"),
        ) else {
            return Ok(Revoked::default());
        };
        if client_id != client.client_id {
            return Ok(Revoked::default());
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now);
        let event = audit.decided(
            now,
            action::TOKEN_REVOKE,
            Some(jti),
            SUCCESS,
            Some("access token revoked"),
        );
        self.store
            .access_token_revoke_audited(
                &RevokedAccessToken {
                    jti: jti.to_owned(),
                    expires_at,
                    revoked_at: now,
                },
                event.as_ref(),
            )
            .await
            .map_err(unavailable)?;
        let revoked = Revoked {
            grant_id: None,
            jti: Some(jti.to_owned()),
        };
        self.notify(&revoked);
        Ok(revoked)
    }
}

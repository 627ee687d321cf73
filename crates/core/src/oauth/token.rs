//! The token endpoint (OAuth 2.1 §3.2, §4): `authorization_code`, `refresh_token` and
//! `client_credentials`.
//!
//! Every check that can refuse a request runs before the store is changed, so a rejected request
//! persists nothing — except the two refusals the standards ask to act on: a valid code presented
//! a second time revokes what the first redemption issued (OAuth 2.1 §4.1.3), and a used refresh
//! token presented outside the retry rule revokes its whole family (RFC 9700 §4.14.2).

use portcullis_proto::oauth::{ErrorCode, OAuthError};
use portcullis_store::{CodeRedemption, Grant, RefreshRotation, RefreshToken};
use rand::CryptoRng;
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::access_token::{AccessToken, Subject};
use super::scope::{self, Scopes};
use super::{
    AuthorizationServer, ClientCredentials, ClientInfo, Params, Profile, Revoked, new_secret, pkce,
    resource, secret_hash, unavailable,
};
use crate::audit::{AuditContext, DENY, SUCCESS, action};

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

fn duration(d: std::time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::MAX)
}

impl AuthorizationServer {
    /// Serves one token request: the form, and the `Authorization` header if any.
    /// `audit` is the request's: the grants record who the tokens are for and through which
    /// client.
    pub async fn token(
        &self,
        form: &Params,
        authorization: &[&str],
        audit: &AuditContext,
        now: OffsetDateTime,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = form.required("grant_type")?;
        // The grant type is checked before the client is, so an unsupported one is reported as
        // such even to an unauthenticated caller (no information about clients is given).
        if !matches!(
            grant_type,
            "authorization_code" | "refresh_token" | "client_credentials"
        ) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "the grant types are authorization_code, refresh_token and client_credentials",
            ));
        }
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
        if !client.may_use(grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client is not registered for this grant type",
            ));
        }
        let audit = audit.through(&client.client_id);
        match grant_type {
            "authorization_code" => self.code_grant(&client, form, &audit, now, rng).await,
            "refresh_token" => self.refresh_grant(&client, form, &audit, now, rng).await,
            _ => {
                let response = self.client_credentials_grant(&client, form, now, rng)?;
                // Nothing is stored for this grant: the record is the only trace of the token.
                let event = audit.acting(&client.client_id, None).decided(
                    now,
                    action::TOKEN_ISSUE,
                    form.get("resource"),
                    SUCCESS,
                    Some("client_credentials"),
                );
                crate::audit::record(self.store.as_ref(), event).await;
                Ok(response)
            }
        }
    }

    async fn code_grant(
        &self,
        client: &ClientInfo,
        form: &Params,
        audit: &AuditContext,
        now: OffsetDateTime,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<TokenResponse, OAuthError> {
        let code_value = form.required("code")?;
        let redirect_uri = form.required("redirect_uri")?;
        // OAuth 2.1 §4.1.3: without a verifier the request is refused (every code here has a
        // challenge: /authorize requires one).
        let verifier = form.required("code_verifier")?;
        let code_hash = secret_hash(code_value);
        let code = self
            .store
            .code_get(&code_hash)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| invalid_grant("the authorization code is invalid"))?;
        // An invalid presentation changes nothing (OAuth 2.1 §7.5.2): no revocation for a wrong
        // client, redirect URI or verifier, so replays cannot be used to log a victim out.
        if code.client_id != client.client_id {
            return Err(invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if code.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        if !pkce::verify(verifier, &code.code_challenge) {
            return Err(invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        if let Some(requested) = form.get("resource")
            && resource::canonical(requested) != resource::canonical(&code.resource)
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "resource differs from the authorization request's",
            ));
        }
        if code.consumed_at.is_none() && code.expires_at <= now {
            return Err(invalid_grant("the authorization code has expired"));
        }
        let profile = self.active_profile(&code.subject).await?;
        let grant = Grant {
            id: new_secret(rng),
            client_id: client.client_id.clone(),
            subject: code.subject.clone(),
            scope: code.scope.clone(),
            resource: code.resource.clone(),
            auth_time: code.auth_time,
            amr: code.amr.clone(),
            created_at: now,
            expires_at: now + duration(self.settings.refresh_token_absolute_ttl),
            revoked_at: None,
        };
        let refresh_value = client.may_use("refresh_token").then(|| new_secret(rng));
        let refresh = refresh_value
            .as_deref()
            .map(|value| self.refresh_row(value, &grant.id, now));
        let audit = audit.acting(&code.subject, None);
        let record = |outcome: &CodeRedemption| match outcome {
            CodeRedemption::Redeemed => audit.decided(
                now,
                action::TOKEN_ISSUE,
                Some(&grant.id),
                SUCCESS,
                Some("authorization_code"),
            ),
            CodeRedemption::Replayed { grant_id } => audit.decided(
                now,
                action::CODE_REPLAY,
                grant_id.as_deref(),
                DENY,
                Some("authorization code presented again: the grant it gave is revoked"),
            ),
            CodeRedemption::Expired | CodeRedemption::Unknown => None,
        };
        match self
            .store
            .code_redeem_audited(&code_hash, now, &grant, refresh.as_ref(), Some(&record))
            .await
            .map_err(unavailable)?
        {
            CodeRedemption::Redeemed => {}
            CodeRedemption::Replayed { grant_id } => {
                tracing::warn!(
                    client_id = %client.client_id,
                    grant = grant_id.as_deref().unwrap_or("-"),
                    "authorization code presented again: the tokens it gave are revoked"
                );
                self.notify(&Revoked {
                    grant_id,
                    jti: None,
                });
                return Err(invalid_grant("the authorization code was already used"));
            }
            CodeRedemption::Expired => {
                return Err(invalid_grant("the authorization code has expired"));
            }
            CodeRedemption::Unknown => {
                return Err(invalid_grant("the authorization code is invalid"));
            }
        }
        let scopes = Scopes::parse(&grant.scope).unwrap_or_default();
        let id_token = if scopes.contains(scope::OPENID) {
            Some(self.id_token(client, &grant, &profile, code.nonce.as_deref(), now, rng)?)
        } else {
            None
        };
        let mut response = self.user_token(client, &grant, &profile, &scopes, now, rng)?;
        response.refresh_token = refresh_value;
        response.id_token = id_token;
        Ok(response)
    }

    async fn refresh_grant(
        &self,
        client: &ClientInfo,
        form: &Params,
        audit: &AuditContext,
        now: OffsetDateTime,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<TokenResponse, OAuthError> {
        let presented = form.required("refresh_token")?;
        let token_hash = secret_hash(presented);
        let (_, grant) = self
            .store
            .refresh_get(&token_hash)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| invalid_grant("the refresh token is invalid"))?;
        if grant.client_id != client.client_id {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let granted = Scopes::parse(&grant.scope).unwrap_or_default();
        // RFC 6749 §6: a refresh may narrow the scope, never widen it.
        let scopes = match form.get("scope") {
            None => granted.clone(),
            Some(text) => {
                let requested = Scopes::parse(text).ok_or_else(|| {
                    OAuthError::new(ErrorCode::InvalidScope, "scope is malformed")
                })?;
                if !requested.is_subset(&granted) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "a refresh cannot add scopes the user did not grant",
                    ));
                }
                requested
            }
        };
        if let Some(requested) = form.get("resource")
            && resource::canonical(requested) != resource::canonical(&grant.resource)
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "a refresh token is for the resource it was issued for",
            ));
        }
        let profile = match self.active_profile(&grant.subject).await {
            Ok(profile) => profile,
            Err(e) => {
                // A user who was disabled or deleted keeps no grant alive.
                if e.error == ErrorCode::InvalidGrant {
                    let event = audit.decided(
                        now,
                        action::TOKEN_REVOKE,
                        Some(&grant.id),
                        SUCCESS,
                        Some("the user of this grant cannot sign in any more"),
                    );
                    self.revoke_grant(&grant.id, now, event.as_ref()).await?;
                }
                return Err(e);
            }
        };
        let successor_value = new_secret(rng);
        let successor = self.refresh_row(&successor_value, &grant.id, now);
        let audit = audit.acting(&grant.subject, None);
        let record = |outcome: &RefreshRotation| match outcome {
            RefreshRotation::Rotated(grant) => {
                audit.event(now, action::TOKEN_REFRESH, Some(&grant.id))
            }
            RefreshRotation::Retried(grant) => audit.decided(
                now,
                action::TOKEN_REFRESH,
                Some(&grant.id),
                SUCCESS,
                Some("retried after a lost response"),
            ),
            RefreshRotation::Reused { grant_id } => audit.decided(
                now,
                action::TOKEN_REUSE,
                Some(grant_id),
                DENY,
                Some("a used refresh token presented again: the grant is revoked"),
            ),
            RefreshRotation::Invalid | RefreshRotation::Unknown => None,
        };
        let grant = match self
            .store
            .refresh_rotate_audited(
                &token_hash,
                now,
                &successor,
                duration(self.settings.refresh_token_retry_grace),
                Some(&record),
            )
            .await
            .map_err(unavailable)?
        {
            RefreshRotation::Rotated(grant) => grant,
            RefreshRotation::Retried(grant) => {
                tracing::info!(client_id = %client.client_id, "refresh retried after a lost response");
                grant
            }
            RefreshRotation::Reused { grant_id } => {
                tracing::warn!(client_id = %client.client_id, grant = %grant_id, "refresh token reused: the grant is revoked");
                self.notify(&Revoked {
                    grant_id: Some(grant_id),
                    jti: None,
                });
                return Err(invalid_grant("the refresh token was already used"));
            }
            RefreshRotation::Invalid | RefreshRotation::Unknown => {
                return Err(invalid_grant(
                    "the refresh token is invalid, expired or revoked",
                ));
            }
        };
        let mut response = self.user_token(client, &grant, &profile, &scopes, now, rng)?;
        response.refresh_token = Some(successor_value);
        Ok(response)
    }

    fn client_credentials_grant(
        &self,
        client: &ClientInfo,
        form: &Params,
        now: OffsetDateTime,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<TokenResponse, OAuthError> {
        if client.public {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client_credentials is for confidential clients",
            ));
        }
        // Registration and metadata documents refuse the grant; a client stored with it before
        // that rule still gets nothing no person approved (reference H5).
        if !client.first_party {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client_credentials is for clients the operator registered",
            ));
        }
        let target = resource::resolve(&self.resources, form.required("resource")?)?;
        let requested = match form.get("scope") {
            Some(text) => Scopes::parse(text)
                .ok_or_else(|| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?,
            None => Scopes::default(),
        };
        let allowed = match &client.allowed_scope {
            Some(text) => Scopes::parse(text)
                .unwrap_or_default()
                .intersection(&target.scopes),
            None => target.scopes.clone(),
        };
        if let Some(extra) = requested.outside(&allowed).next() {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("{extra} is not a scope this client may have at this resource"),
            ));
        }
        let jti = new_secret(rng);
        let expires_at = now + duration(self.settings.access_token_ttl);
        let scope = requested.to_param();
        let access_token = AccessToken {
            issuer: &self.issuer,
            audience: &target.url,
            client_id: &client.client_id,
            scope: &scope,
            jti: &jti,
            issued_at: now,
            expires_at,
            subject: Subject::Client,
        }
        .sign(&self.keys())
        .map_err(signing_failed)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: (expires_at - now).whole_seconds(),
            refresh_token: None,
            scope,
            id_token: None,
        })
    }

    /// The profile of an active user, or `invalid_grant` (the user is gone or disabled).
    async fn active_profile(&self, user_id: &str) -> Result<Profile, OAuthError> {
        match self.profiles.profile(user_id).await.map_err(unavailable)? {
            Some(profile) if profile.active => Ok(profile),
            _ => Err(invalid_grant(
                "the user of this grant cannot sign in any more",
            )),
        }
    }

    fn refresh_row(&self, value: &str, grant_id: &str, now: OffsetDateTime) -> RefreshToken {
        RefreshToken {
            token_hash: secret_hash(value),
            grant_id: grant_id.to_owned(),
            created_at: now,
            expires_at: now + duration(self.settings.refresh_token_idle_ttl),
            used_at: None,
            successor_hash: None,
            retried_at: None,
        }
    }

    fn user_token(
        &self,
        client: &ClientInfo,
        grant: &Grant,
        profile: &Profile,
        scopes: &Scopes,
        now: OffsetDateTime,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<TokenResponse, OAuthError> {
        let jti = new_secret(rng);
        // Never past the grant's absolute lifetime.
        let expires_at = (now + duration(self.settings.access_token_ttl)).min(grant.expires_at);
        let scope = scopes.to_param();
        let access_token = AccessToken {
            issuer: &self.issuer,
            audience: &grant.resource,
            client_id: &client.client_id,
            scope: &scope,
            jti: &jti,
            issued_at: now,
            expires_at,
            subject: Subject::User {
                profile,
                grant_id: &grant.id,
                auth_time: grant.auth_time,
                amr: &grant.amr,
            },
        }
        .sign(&self.keys())
        .map_err(signing_failed)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: (expires_at - now).whole_seconds(),
            refresh_token: None,
            scope,
            id_token: None,
        })
    }

    /// An OpenID Connect ID token (OIDC Core §2) for a code grant with `openid`.
    fn id_token(
        &self,
        client: &ClientInfo,
        grant: &Grant,
        profile: &Profile,
        nonce: Option<&str>,
        now: OffsetDateTime,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<String, OAuthError> {
        let scopes = Scopes::parse(&grant.scope).unwrap_or_default();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": profile.id,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now.unix_timestamp(),
            "exp": (now + duration(self.settings.access_token_ttl)).unix_timestamp(),
            "auth_time": grant.auth_time.unix_timestamp(),
            "jti": new_secret(rng),
        });
        if let Some(object) = claims.as_object_mut() {
            if let Some(nonce) = nonce {
                object.insert("nonce".to_owned(), json!(nonce));
            }
            let amr: Vec<&str> = grant.amr.split_ascii_whitespace().collect();
            if !amr.is_empty() {
                object.insert("amr".to_owned(), json!(amr));
            }
            if let Some(acr) = super::access_token::acr_of(&grant.amr) {
                object.insert("acr".to_owned(), json!(acr));
            }
            if scopes.contains(scope::EMAIL)
                && let Some(email) = &profile.email
            {
                object.insert("email".to_owned(), json!(email));
                object.insert("email_verified".to_owned(), json!(profile.email_verified));
            }
            if scopes.contains(scope::PROFILE) {
                if let Some(name) = &profile.name {
                    object.insert("name".to_owned(), json!(name));
                }
                if let Some(username) = &profile.username {
                    object.insert("preferred_username".to_owned(), json!(username));
                }
            }
        }
        self.keys()
            .sign(&claims, "JWT", now)
            .map_err(signing_failed)
    }
}

pub(super) fn signing_failed(e: crate::signing::SigningError) -> OAuthError {
    tracing::error!(error = %e, "cannot sign a token");
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the authorization server cannot sign tokens right now",
    )
}

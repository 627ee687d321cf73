//! The authorization server's tables in memory, behind one lock so that redeeming a code and
//! rotating a refresh token are as atomic here as the SQL backends' transactions.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::as_stored;
use crate::{
    AuthorizationCode, CodeRedemption, Consent, Grant, RefreshRotation, RefreshToken,
    RevokedAccessToken, StoreError,
};

#[derive(Debug, Default)]
pub(super) struct AuthorizationTables {
    codes: HashMap<[u8; 32], AuthorizationCode>,
    grants: HashMap<String, Grant>,
    refresh: HashMap<[u8; 32], RefreshToken>,
    revoked_access: HashMap<String, RevokedAccessToken>,
    /// By (subject, client_id, redirect_uri, resource).
    consents: HashMap<(String, String, String, String), Consent>,
}

fn stored_code(code: &AuthorizationCode) -> AuthorizationCode {
    AuthorizationCode {
        auth_time: as_stored(code.auth_time),
        created_at: as_stored(code.created_at),
        expires_at: as_stored(code.expires_at),
        consumed_at: code.consumed_at.map(as_stored),
        ..code.clone()
    }
}

fn stored_grant(grant: &Grant) -> Grant {
    Grant {
        auth_time: as_stored(grant.auth_time),
        created_at: as_stored(grant.created_at),
        expires_at: as_stored(grant.expires_at),
        revoked_at: grant.revoked_at.map(as_stored),
        ..grant.clone()
    }
}

fn stored_refresh(token: &RefreshToken) -> RefreshToken {
    RefreshToken {
        created_at: as_stored(token.created_at),
        expires_at: as_stored(token.expires_at),
        used_at: token.used_at.map(as_stored),
        retried_at: token.retried_at.map(as_stored),
        ..token.clone()
    }
}

impl AuthorizationTables {
    /// Every row, sorted (clients are added by the caller).
    pub(super) fn snapshot(&self) -> super::AuthorizationSnapshot {
        let mut codes: Vec<AuthorizationCode> = self.codes.values().cloned().collect();
        codes.sort_by_key(|c| c.code_hash);
        let mut grants: Vec<Grant> = self.grants.values().cloned().collect();
        grants.sort_by(|a, b| a.id.cmp(&b.id));
        let mut refresh_tokens: Vec<RefreshToken> = self.refresh.values().cloned().collect();
        refresh_tokens.sort_by_key(|t| t.token_hash);
        let mut revoked_access_tokens: Vec<RevokedAccessToken> =
            self.revoked_access.values().cloned().collect();
        revoked_access_tokens.sort_by(|a, b| a.jti.cmp(&b.jti));
        let mut consents: Vec<Consent> = self.consents.values().cloned().collect();
        consents.sort_by(|a, b| {
            (&a.subject, &a.client_id, &a.redirect_uri, &a.resource).cmp(&(
                &b.subject,
                &b.client_id,
                &b.redirect_uri,
                &b.resource,
            ))
        });
        super::AuthorizationSnapshot {
            codes,
            grants,
            refresh_tokens,
            revoked_access_tokens,
            consents,
            clients: Vec::new(),
        }
    }

    pub(super) fn code_insert(&mut self, code: &AuthorizationCode) -> Result<(), StoreError> {
        if self.codes.contains_key(&code.code_hash) {
            return Err(StoreError::Conflict(
                "authorization code already exists".to_owned(),
            ));
        }
        self.codes.insert(code.code_hash, stored_code(code));
        Ok(())
    }

    pub(super) fn code_get(&self, code_hash: &[u8; 32]) -> Option<AuthorizationCode> {
        self.codes.get(code_hash).cloned()
    }

    pub(super) fn code_redeem(
        &mut self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
    ) -> Result<CodeRedemption, StoreError> {
        let now = as_stored(now);
        let Some(code) = self.codes.get(code_hash) else {
            return Ok(CodeRedemption::Unknown);
        };
        if code.consumed_at.is_some() {
            let grant_id = code.grant_id.clone();
            if let Some(id) = &grant_id {
                self.revoke_grant(id, now);
            }
            return Ok(CodeRedemption::Replayed { grant_id });
        }
        if code.expires_at <= now {
            return Ok(CodeRedemption::Expired);
        }
        if self.grants.contains_key(&grant.id)
            || refresh.is_some_and(|r| self.refresh.contains_key(&r.token_hash))
        {
            return Err(StoreError::Conflict(
                "grant or refresh token already exists".to_owned(),
            ));
        }
        if let Some(code) = self.codes.get_mut(code_hash) {
            code.consumed_at = Some(now);
            code.grant_id = Some(grant.id.clone());
        }
        self.grants.insert(grant.id.clone(), stored_grant(grant));
        if let Some(refresh) = refresh {
            self.refresh
                .insert(refresh.token_hash, stored_refresh(refresh));
        }
        Ok(CodeRedemption::Redeemed)
    }

    pub(super) fn grant_get(&self, id: &str) -> Option<Grant> {
        self.grants.get(id).cloned()
    }

    pub(super) fn grants_of_subject(&self, subject: &str) -> Vec<Grant> {
        self.live_grants(|g| g.subject == subject)
    }

    pub(super) fn grants_of_client(&self, client_id: &str) -> Vec<Grant> {
        self.live_grants(|g| g.client_id == client_id)
    }

    /// The grants `belongs` picks that are not revoked, newest first.
    fn live_grants(&self, belongs: impl Fn(&Grant) -> bool) -> Vec<Grant> {
        let mut grants: Vec<Grant> = self
            .grants
            .values()
            .filter(|g| belongs(g) && g.revoked_at.is_none())
            .cloned()
            .collect();
        grants.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        grants
    }

    fn revoke_grant(&mut self, id: &str, now: OffsetDateTime) -> bool {
        match self.grants.get_mut(id) {
            Some(grant) if grant.revoked_at.is_none() => {
                grant.revoked_at = Some(as_stored(now));
                true
            }
            _ => false,
        }
    }

    pub(super) fn grant_revoke(&mut self, id: &str, now: OffsetDateTime) -> bool {
        self.revoke_grant(id, now)
    }

    pub(super) fn grants_revoked_since(&self, since: OffsetDateTime) -> Vec<Grant> {
        let mut grants: Vec<Grant> = self
            .grants
            .values()
            .filter(|g| g.revoked_at.is_some_and(|at| at >= since))
            .cloned()
            .collect();
        grants.sort_by(|a, b| (a.revoked_at, &a.id).cmp(&(b.revoked_at, &b.id)));
        grants
    }

    pub(super) fn refresh_get(&self, token_hash: &[u8; 32]) -> Option<(RefreshToken, Grant)> {
        let token = self.refresh.get(token_hash)?;
        let grant = self.grants.get(&token.grant_id)?;
        Some((token.clone(), grant.clone()))
    }

    pub(super) fn refresh_rotate(
        &mut self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        successor: &RefreshToken,
        retry_grace: time::Duration,
    ) -> Result<RefreshRotation, StoreError> {
        let now = as_stored(now);
        let Some((token, grant)) = self.refresh_get(token_hash) else {
            return Ok(RefreshRotation::Unknown);
        };
        if grant.revoked_at.is_some() || grant.expires_at <= now || token.expires_at <= now {
            return Ok(RefreshRotation::Invalid);
        }
        if self.refresh.contains_key(&successor.token_hash) {
            return Err(StoreError::Conflict(
                "refresh token already exists".to_owned(),
            ));
        }
        let Some(used_at) = token.used_at else {
            if let Some(t) = self.refresh.get_mut(token_hash) {
                t.used_at = Some(now);
                t.successor_hash = Some(successor.token_hash);
            }
            self.refresh
                .insert(successor.token_hash, stored_refresh(successor));
            return Ok(RefreshRotation::Rotated(grant));
        };
        let previous_successor = token
            .successor_hash
            .and_then(|hash| self.refresh.get(&hash).map(|s| (hash, s.used_at)));
        let retry_allowed = token.retried_at.is_none()
            && now - used_at <= retry_grace
            && matches!(previous_successor, Some((_, None)));
        if retry_allowed {
            if let Some((hash, _)) = previous_successor {
                self.refresh.remove(&hash);
            }
            if let Some(t) = self.refresh.get_mut(token_hash) {
                t.retried_at = Some(now);
                t.successor_hash = Some(successor.token_hash);
            }
            self.refresh
                .insert(successor.token_hash, stored_refresh(successor));
            return Ok(RefreshRotation::Retried(grant));
        }
        self.revoke_grant(&grant.id, now);
        Ok(RefreshRotation::Reused { grant_id: grant.id })
    }

    pub(super) fn access_token_revoke(&mut self, token: &RevokedAccessToken) {
        self.revoked_access
            .entry(token.jti.clone())
            .or_insert_with(|| RevokedAccessToken {
                expires_at: as_stored(token.expires_at),
                revoked_at: as_stored(token.revoked_at),
                ..token.clone()
            });
    }

    pub(super) fn access_tokens_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Vec<RevokedAccessToken> {
        let mut revoked: Vec<RevokedAccessToken> = self
            .revoked_access
            .values()
            .filter(|t| t.revoked_at >= since)
            .cloned()
            .collect();
        revoked.sort_by(|a, b| (a.revoked_at, &a.jti).cmp(&(b.revoked_at, &b.jti)));
        revoked
    }

    pub(super) fn consent_put(&mut self, consent: &Consent) {
        let key = (
            consent.subject.clone(),
            consent.client_id.clone(),
            consent.redirect_uri.clone(),
            consent.resource.clone(),
        );
        self.consents.insert(
            key,
            Consent {
                created_at: as_stored(consent.created_at),
                ..consent.clone()
            },
        );
    }

    pub(super) fn consent_get(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
    ) -> Option<Consent> {
        self.consents
            .get(&(
                subject.to_owned(),
                client_id.to_owned(),
                redirect_uri.to_owned(),
                resource.to_owned(),
            ))
            .cloned()
    }

    pub(super) fn purge(&mut self, now: OffsetDateTime) -> u64 {
        let before =
            self.codes.len() + self.grants.len() + self.refresh.len() + self.revoked_access.len();
        self.codes.retain(|_, c| c.expires_at > now);
        self.grants.retain(|_, g| g.expires_at > now);
        let grants = &self.grants;
        self.refresh
            .retain(|_, t| t.expires_at > now && grants.contains_key(&t.grant_id));
        self.revoked_access.retain(|_, t| t.expires_at > now);
        let after =
            self.codes.len() + self.grants.len() + self.refresh.len() + self.revoked_access.len();
        // usize always fits in u64 on the platforms we build for.
        u64::try_from(before - after).unwrap_or(u64::MAX)
    }
}

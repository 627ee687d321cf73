//! API keys and service tokens: create (the secret is returned once and only its hash is
//! kept), list (never a secret), revoke.

use portcullis_store::{ApiKey, ApiKeyKind, Store};
use rand::RngCore;
use time::OffsetDateTime;

use super::AdminError;
use crate::audit::{AuditContext, action};
use crate::auth::api_key::{
    SERVICE_CLIENT_ID_PREFIX, new_api_key, new_public_id, new_service_secret,
};
use crate::config::validate::is_scope_token;

/// What to create.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// The subject the key acts for: its grants apply to requests made with the key.
    pub subject: &'a str,
    /// A label for people (`laptop`, `ci`).
    pub name: &'a str,
    /// Space-separated scopes the key carries; empty for none.
    pub scopes: &'a str,
    /// When the key stops working; `None` for never.
    pub expires_at: Option<OffsetDateTime>,
    /// A service token (client id and secret in two headers) instead of a bearer key.
    pub service_token: bool,
}

/// A created key, with its secret: shown once.
pub struct Created {
    pub key: ApiKey,
    /// The whole API key (`pcl_…`) or the service token's secret (`pcls_…`).
    pub secret: String,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("key", &self.key)
            .field("secret", &"..")
            .finish()
    }
}

/// Creates an API key or service token. Nothing is stored when the request is invalid.
pub async fn create(
    store: &dyn Store,
    audit: &AuditContext,
    new: NewKey<'_>,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<Created, AdminError> {
    if new.subject.trim().is_empty()
        || new.subject.chars().count() > 256
        || new.subject.contains(char::is_control)
    {
        return Err(AdminError::Invalid(
            "the subject must be 1 to 256 characters without control characters".to_owned(),
        ));
    }
    if new.name.trim().is_empty()
        || new.name.chars().count() > 100
        || new.name.contains(char::is_control)
    {
        return Err(AdminError::Invalid(
            "the name must be 1 to 100 characters without control characters".to_owned(),
        ));
    }
    if let Some(bad) = new
        .scopes
        .split_ascii_whitespace()
        .find(|s| !is_scope_token(s))
    {
        return Err(AdminError::Invalid(format!("{bad:?} is not a valid scope")));
    }
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(AdminError::Invalid(
            "the expiry must be in the future".to_owned(),
        ));
    }
    let (secret, kind) = if new.service_token {
        let secret = new_service_secret(rng);
        let client_id = new_public_id(SERVICE_CLIENT_ID_PREFIX, rng);
        (secret, ApiKeyKind::ServiceToken { client_id })
    } else {
        (new_api_key(rng), ApiKeyKind::ApiKey)
    };
    let key = ApiKey {
        id: new_public_id("key_", rng),
        secret_hash: secret.hash,
        subject: new.subject.to_owned(),
        name: new.name.to_owned(),
        kind,
        scopes: new
            .scopes
            .split_ascii_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        created_at: now,
        expires_at: new.expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    let target = format!("{} (for {})", key.id, key.subject);
    let event = audit.event(now, action::API_KEY_CREATE, Some(&target));
    store.api_key_insert_audited(&key, event.as_ref()).await?;
    Ok(Created {
        key,
        secret: secret.secret,
    })
}

/// The keys of `subject` (or every key), oldest first; rows hold no secret.
pub async fn list(store: &dyn Store, subject: Option<&str>) -> Result<Vec<ApiKey>, AdminError> {
    Ok(store.api_key_list(subject).await?)
}

/// Revokes a key; returns it as it now is. Revoking a revoked key changes nothing and is not an
/// error (the first revocation time is kept).
pub async fn revoke(
    store: &dyn Store,
    audit: &AuditContext,
    id: &str,
    now: OffsetDateTime,
) -> Result<ApiKey, AdminError> {
    let event = audit.event(now, action::API_KEY_REVOKE, Some(id));
    if !store
        .api_key_revoke_audited(id, now, event.as_ref())
        .await?
    {
        // Unknown, or revoked before: nothing changed, so there is nothing to record.
        return store
            .api_key_get(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no API key has the id {id:?}")));
    }
    store
        .api_key_get(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no API key has the id {id:?}")))
}

/// A key's state at `now`, for listings: `active`, `expired` or `revoked`.
pub fn status(key: &ApiKey, now: OffsetDateTime) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

#[cfg(test)]
mod tests {
    use portcullis_store::MemoryStore;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use time::Duration;

    use super::*;

    fn cli() -> AuditContext {
        AuditContext::cli("root", true)
    }
    use crate::auth::api_key::{API_KEY_PREFIX, SERVICE_SECRET_PREFIX, secret_hash, well_formed};

    fn new<'a>(subject: &'a str, name: &'a str) -> NewKey<'a> {
        NewKey {
            subject,
            name,
            scopes: "files:read  files:write",
            expires_at: None,
            service_token: false,
        }
    }

    #[tokio::test]
    async fn created_keys_are_stored_by_hash_only() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let created = create(&store, &cli(), new("service:ci", "ci"), now, &mut rng)
            .await
            .unwrap();
        assert!(well_formed(&created.secret, API_KEY_PREFIX));
        assert!(created.key.id.starts_with("key_"));
        assert_eq!(created.key.scopes, "files:read files:write");
        let stored = store.api_key_get(&created.key.id).await.unwrap().unwrap();
        assert_eq!(stored.secret_hash, secret_hash(&created.secret));
        assert!(!format!("{stored:?}{created:?}").contains(&created.secret));

        let mut token = new("service:deployer", "deployer");
        token.service_token = true;
        let created = create(&store, &cli(), token, now, &mut rng).await.unwrap();
        assert!(well_formed(&created.secret, SERVICE_SECRET_PREFIX));
        assert!(created.key.kind.client_id().unwrap().starts_with("pclc_"));
        assert_eq!(list(&store, None).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bad_requests_store_nothing() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut rng = StdRng::seed_from_u64(4);
        let mut past = new("s", "n");
        past.expires_at = Some(now - Duration::seconds(1));
        let mut bad_scope = new("s", "n");
        bad_scope.scopes = "ok \"quoted\"";
        for request in [
            new("", "n"),
            new("s", " "),
            new("s\n", "n"),
            past,
            bad_scope,
        ] {
            let result = create(&store, &cli(), request.clone(), now, &mut rng).await;
            assert!(matches!(result, Err(AdminError::Invalid(_))), "{request:?}");
        }
        assert!(list(&store, None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn revocation_is_idempotent_and_unknown_ids_are_not_found() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        let created = create(&store, &cli(), new("s", "n"), now, &mut rng)
            .await
            .unwrap();
        assert_eq!(status(&created.key, now), "active");
        let revoked = revoke(&store, &cli(), &created.key.id, now).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(now));
        let again = revoke(&store, &cli(), &created.key.id, now + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(again.revoked_at, Some(now));
        assert_eq!(status(&again, now), "revoked");
        assert!(matches!(
            revoke(&store, &cli(), "key_nope", now).await,
            Err(AdminError::NotFound(_))
        ));
    }
}

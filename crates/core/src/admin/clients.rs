//! OAuth clients registered by an operator: create (public or confidential; the secret is
//! returned once and only its hash is kept), list, show, delete, rotate the secret.
//!
//! These functions see the store's clients: the operator's and the dynamic registrations (which
//! can be shown and deleted here too). Clients of the configuration file live in the file.

use portcullis_store::{ApplicationType, Client, ClientSource, Store, TokenEndpointAuthMethod};
use rand::CryptoRng;
use time::OffsetDateTime;

use super::AdminError;
use crate::audit::{AuditContext, action};
use crate::clients::metadata::{
    ClientMetadata, MAX_NAME_CHARS, MAX_REDIRECT_URIS, check_grant_types,
};
use crate::clients::{new_client_id, new_client_secret, redirect_uri};
use crate::config::validate::is_scope_token;

/// What to create.
#[derive(Debug, Clone)]
pub struct NewClient<'a> {
    /// The name shown on the consent page.
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    /// A confidential client (`client_secret_basic`, with a secret) instead of a public one.
    pub confidential: bool,
    /// The grants; `authorization_code` and `refresh_token` when empty.
    pub grant_types: &'a [String],
    /// Space-separated scopes the client may ask for; any, when `None`.
    pub scope: Option<&'a str>,
}

/// A created client, with its secret when it is confidential: shown once.
pub struct Created {
    pub client: Client,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("client", &self.client)
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Creates a client. Nothing is stored when the request is invalid.
pub async fn create(
    store: &dyn Store,
    audit: &AuditContext,
    new: NewClient<'_>,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Created, AdminError> {
    let invalid = |why: String| AdminError::Invalid(why);
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.contains(char::is_control) {
        return Err(invalid(format!(
            "the name must be 1 to {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    let method = if new.confidential {
        TokenEndpointAuthMethod::ClientSecretBasic
    } else {
        TokenEndpointAuthMethod::None
    };
    let grant_types: Vec<String> = if new.grant_types.is_empty() {
        vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
    } else {
        new.grant_types.to_vec()
    };
    check_grant_types(&grant_types, method).map_err(invalid)?;
    if grant_types.iter().any(|g| g == "authorization_code") && new.redirect_uris.is_empty() {
        return Err(invalid(
            "at least one --redirect-uri is needed for the authorization_code grant".to_owned(),
        ));
    }
    if new.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs"
        )));
    }
    for uri in new.redirect_uris {
        // An operator knows the app: native private-use schemes are allowed.
        redirect_uri::validate(uri, ApplicationType::Native)
            .map_err(|e| invalid(format!("redirect URI {uri:?}: {e}")))?;
    }
    if let Some(scope) = new.scope
        && (scope.is_empty() || !scope.split(' ').all(is_scope_token))
    {
        return Err(invalid(
            "the scope must be scope tokens separated by single spaces".to_owned(),
        ));
    }
    let secret = new.confidential.then(|| new_client_secret(rng));
    let mut metadata =
        ClientMetadata::operator(name, new.redirect_uris.to_vec(), grant_types, method);
    metadata.scope = new.scope.map(str::to_owned);
    let mut client = metadata.into_client(new_client_id(rng), ClientSource::Admin, now);
    client.secret_hash = secret.as_ref().map(|s| s.hash);
    let event = audit.event(now, action::CLIENT_CREATE, Some(&client.client_id));
    store.client_insert_audited(&client, event.as_ref()).await?;
    Ok(Created {
        client,
        secret: secret.map(|s| s.secret),
    })
}

/// Every stored client (admin and dynamic), oldest first; rows hold no secret.
pub async fn list(store: &dyn Store) -> Result<Vec<Client>, AdminError> {
    Ok(store.client_list().await?)
}

/// Every client: the configuration file's `[[clients]]` (source `config`) first, then the
/// stored ones.
pub async fn list_all(
    store: &dyn Store,
    config: &crate::config::Config,
    now: OffsetDateTime,
) -> Result<Vec<Client>, AdminError> {
    let mut all: Vec<Client> = config
        .clients
        .iter()
        .map(|entry| crate::clients::configured_client(entry, now))
        .collect();
    all.extend(list(store).await?);
    Ok(all)
}

/// One client, from the configuration file or the store.
pub async fn find(
    store: &dyn Store,
    config: &crate::config::Config,
    client_id: &str,
    now: OffsetDateTime,
) -> Result<Client, AdminError> {
    match config.clients.iter().find(|c| c.client_id == client_id) {
        Some(entry) => Ok(crate::clients::configured_client(entry, now)),
        None => show(store, client_id).await,
    }
}

/// Refuses to change a client of the configuration file: it is changed in the file.
pub fn refuse_configured(
    config: &crate::config::Config,
    client_id: &str,
) -> Result<(), AdminError> {
    if config.clients.iter().any(|c| c.client_id == client_id) {
        return Err(AdminError::Conflict(format!(
            "client {client_id:?} is a [[clients]] entry of the configuration file: change it there"
        )));
    }
    Ok(())
}

/// One stored client.
pub async fn show(store: &dyn Store, client_id: &str) -> Result<Client, AdminError> {
    store
        .client_get(client_id)
        .await?
        .ok_or_else(|| not_found(client_id))
}

fn not_found(client_id: &str) -> AdminError {
    AdminError::NotFound(format!("no stored client has the id {client_id:?}"))
}

/// Deletes a stored client and revokes its grants (its tokens stop on every replica within a
/// second); returns it as it was.
pub async fn delete(
    store: &dyn Store,
    audit: &AuditContext,
    client_id: &str,
    now: OffsetDateTime,
) -> Result<Client, AdminError> {
    let client = show(store, client_id).await?;
    let event = audit.event(now, action::CLIENT_DELETE, Some(client_id));
    if !store
        .client_delete_audited(client_id, event.as_ref())
        .await?
    {
        return Err(not_found(client_id));
    }
    crate::clients::revoke_grants_of(store, client_id, now).await?;
    Ok(client)
}

/// Gives a confidential client a new secret (returned once); the old one stops working at once.
pub async fn rotate_secret(
    store: &dyn Store,
    audit: &AuditContext,
    client_id: &str,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Created, AdminError> {
    let mut client = show(store, client_id).await?;
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(AdminError::Conflict(format!(
            "client {client_id:?} authenticates with {} and has no secret to rotate",
            client.token_endpoint_auth_method.as_str()
        )));
    }
    let secret = new_client_secret(rng);
    client.secret_hash = Some(secret.hash);
    client.secret_expires_at = None;
    let event = audit.event(now, action::CLIENT_ROTATE_SECRET, Some(client_id));
    if !store.client_update_audited(&client, event.as_ref()).await? {
        return Err(not_found(client_id));
    }
    Ok(Created {
        client,
        secret: Some(secret.secret),
    })
}

#[cfg(test)]
mod tests;

//! The profiles of local accounts, as the authorization server puts them in tokens.

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_store::{Store, StoreError, UserStatus};

use super::{Profile, Profiles};

/// Local accounts from the store.
#[derive(Debug)]
pub struct StoreProfiles(pub Arc<dyn Store>);

#[async_trait]
impl Profiles for StoreProfiles {
    async fn profile(&self, user_id: &str) -> Result<Option<Profile>, StoreError> {
        Ok(self.0.user_get(user_id).await?.map(|user| Profile {
            id: user.id,
            username: Some(user.username),
            email: Some(user.email),
            email_verified: user.email_verified,
            name: user.display_name,
            tenant: user.tenant,
            groups: Vec::new(),
            active: user.status == UserStatus::Active,
        }))
    }
}

//! Identities at providers, pending sign-ins at providers and provider tokens, in SQLite.

use portcullis_store::columns::{
    FEDERATION_STATE_COLUMNS, FederationStateColumns, IDENTITY_COLUMNS, IdentityColumns,
    PROVIDER_TOKEN_COLUMNS, ProviderTokenColumns, USER_COLUMNS, UserColumns,
    federation_state_from_columns, identity_from_columns, provider_token_from_columns,
    user_from_columns,
};
use portcullis_store::{
    AuditEvent, ExternalIdentity, FederationState, ProviderToken, StoreError, StoredRoleGrant,
    User, username_key,
};
use sqlx::Sqlite;
use time::OffsetDateTime;

use crate::error::from_sqlx;
use crate::{SqliteStore, from_micros, to_micros};

fn insert_identity(
    identity: &ExternalIdentity,
) -> Result<sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>, StoreError> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO external_identities ({IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )))
    .bind(&identity.provider)
    .bind(&identity.subject)
    .bind(&identity.user_id)
    .bind(identity.email.as_deref())
    .bind(identity.email_verified)
    .bind(to_micros(identity.created_at)?)
    .bind(to_micros(identity.last_sign_in_at)?))
}

impl SqliteStore {
    pub(crate) async fn users_with_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        let rows: Vec<UserColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1) ORDER BY id"
        )))
        .bind(email)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| user_from_columns(row, from_micros))
            .collect()
    }

    pub(crate) async fn identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ExternalIdentity>, StoreError> {
        let row: Option<IdentityColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY_COLUMNS} FROM external_identities WHERE provider = $1 AND subject = $2"
        )))
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.map(|row| identity_from_columns(row, from_micros))
            .transpose()
    }

    pub(crate) async fn identities_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<ExternalIdentity>, StoreError> {
        let rows: Vec<IdentityColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY_COLUMNS} FROM external_identities WHERE user_id = $1 \
             ORDER BY created_at, provider, subject"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| identity_from_columns(row, from_micros))
            .collect()
    }

    pub(crate) async fn link_identity(
        &self,
        identity: &ExternalIdentity,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        self.write_audited(insert_identity(identity)?, audit)
            .await
            .map(|_| ())
    }

    pub(crate) async fn insert_user_with_identity(
        &self,
        user: &User,
        identity: &ExternalIdentity,
        grants: &[StoredRoleGrant],
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users \
             (id, username, username_key, email, email_verified, display_name, tenant, status, \
              password_hash, must_change_password, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(username_key(&user.username))
        .bind(&user.email)
        .bind(user.email_verified)
        .bind(user.display_name.as_deref())
        .bind(user.tenant.as_deref())
        .bind(user.status.as_str())
        .bind(user.password_hash.as_deref())
        .bind(user.must_change_password)
        .bind(to_micros(user.created_at)?)
        .bind(to_micros(user.updated_at)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        insert_identity(identity)?
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        for grant in grants {
            sqlx::query(
                "INSERT INTO role_grants \
                 (id, grantee_kind, grantee, role, scope_kind, scope, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&grant.id)
            .bind(grant.grantee_kind.as_str())
            .bind(&grant.grantee)
            .bind(&grant.role)
            .bind(grant.scope_kind.as_str())
            .bind(&grant.scope)
            .bind(to_micros(grant.created_at)?)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        }
        // Dropping the transaction on an error above rolls the user back with it.
        tx.commit_audited(audit).await
    }

    pub(crate) async fn identity_signed_in(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE external_identities SET email = $3, email_verified = $4, \
             last_sign_in_at = $5 WHERE provider = $1 AND subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .bind(email)
        .bind(email_verified)
        .bind(to_micros(now)?);
        Ok(self.write(query).await? > 0)
    }

    pub(crate) async fn unlink_identities(
        &self,
        user_id: &str,
        provider: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let unlinked =
            sqlx::query("DELETE FROM external_identities WHERE user_id = $1 AND provider = $2")
                .bind(user_id)
                .bind(provider)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
        sqlx::query("DELETE FROM provider_tokens WHERE user_id = $1 AND provider = $2")
            .bind(user_id)
            .bind(provider)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit_audited(audit).await?;
        Ok(unlinked)
    }

    pub(crate) async fn insert_federation_state(
        &self,
        state: &FederationState,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO federation_states ({FEDERATION_STATE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(state.state_hash.as_slice())
        .bind(&state.provider)
        .bind(state.browser_hash.as_slice())
        .bind(&state.nonce)
        .bind(&state.code_verifier)
        .bind(state.return_to.as_deref())
        .bind(state.link_user_id.as_deref())
        .bind(to_micros(state.created_at)?)
        .bind(to_micros(state.expires_at)?);
        self.write(query).await.map(|_| ())
    }

    pub(crate) async fn take_federation_state(
        &self,
        state_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Option<FederationState>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<FederationStateColumns<i64>> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "DELETE FROM federation_states WHERE state_hash = $1 \
                 RETURNING {FEDERATION_STATE_COLUMNS}"
            )))
            .bind(state_hash.as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        let state = row
            .map(|row| federation_state_from_columns(row, from_micros))
            .transpose()?;
        Ok(state.filter(|state| now < state.expires_at))
    }

    pub(crate) async fn purge_federation_states(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let query = sqlx::query("DELETE FROM federation_states WHERE expires_at <= $1")
            .bind(to_micros(now)?);
        self.write(query).await
    }

    pub(crate) async fn put_provider_token(&self, token: &ProviderToken) -> Result<(), StoreError> {
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO provider_tokens ({PROVIDER_TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, provider) DO UPDATE SET sealed = excluded.sealed, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at"
        )))
        .bind(&token.user_id)
        .bind(&token.provider)
        .bind(&token.sealed)
        .bind(token.expires_at.map(to_micros).transpose()?)
        .bind(to_micros(token.updated_at)?);
        self.write(query).await.map(|_| ())
    }

    pub(crate) async fn provider_token(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<Option<ProviderToken>, StoreError> {
        let row: Option<ProviderTokenColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_TOKEN_COLUMNS} FROM provider_tokens WHERE user_id = $1 AND provider = $2"
        )))
        .bind(user_id)
        .bind(provider)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.map(|row| provider_token_from_columns(row, from_micros))
            .transpose()
    }

    pub(crate) async fn delete_provider_tokens(&self, user_id: &str) -> Result<u64, StoreError> {
        let query = sqlx::query("DELETE FROM provider_tokens WHERE user_id = $1").bind(user_id);
        self.write(query).await
    }
}

//! The authorization server's tables in PostgreSQL. Redemption and rotation run in one
//! transaction each and lock the row they read (`SELECT … FOR UPDATE`), so two presentations of
//! one code or refresh token are serialised and the second sees the first's write.

use portcullis_store::{
    AuditEvent, AuditOutcome, AuthorizationCode, CodeRedemption, Consent, Grant, RefreshRotation,
    RefreshToken, RevokedAccessToken, StoreError,
};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use crate::PostgresStore;
use crate::error::from_sqlx;

const CODE_COLUMNS: &str = "code_hash, client_id, subject, redirect_uri, code_challenge, scope, \
                            resource, nonce, auth_time, amr, created_at, expires_at, consumed_at, \
                            grant_id";
const GRANT_COLUMNS: &str =
    "id, client_id, subject, scope, resource, auth_time, amr, created_at, expires_at, revoked_at";
const REFRESH_COLUMNS: &str =
    "token_hash, grant_id, created_at, expires_at, used_at, successor_hash, retried_at";

type CodeRow = (
    Vec<u8>,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    OffsetDateTime,
    String,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<String>,
);
type GrantRow = (
    String,
    String,
    String,
    String,
    String,
    OffsetDateTime,
    String,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
);
type RefreshRow = (
    Vec<u8>,
    String,
    OffsetDateTime,
    OffsetDateTime,
    Option<OffsetDateTime>,
    Option<Vec<u8>>,
    Option<OffsetDateTime>,
);

fn hash(bytes: Vec<u8>, column: &str) -> Result<[u8; 32], StoreError> {
    // The tables' CHECK constraints rule this out; a failure means a damaged database.
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| StoreError::Backend(format!("{column} is not 32 bytes")))
}

fn code_from_row(row: CodeRow) -> Result<AuthorizationCode, StoreError> {
    let (
        code_hash,
        client_id,
        subject,
        redirect_uri,
        code_challenge,
        scope,
        resource,
        nonce,
        auth_time,
        amr,
        created_at,
        expires_at,
        consumed_at,
        grant_id,
    ) = row;
    Ok(AuthorizationCode {
        code_hash: hash(code_hash, "code_hash")?,
        client_id,
        subject,
        redirect_uri,
        code_challenge,
        scope,
        resource,
        nonce,
        auth_time,
        amr,
        created_at,
        expires_at,
        consumed_at,
        grant_id,
    })
}

fn grant_from_row(row: GrantRow) -> Result<Grant, StoreError> {
    let (
        id,
        client_id,
        subject,
        scope,
        resource,
        auth_time,
        amr,
        created_at,
        expires_at,
        revoked_at,
    ) = row;
    Ok(Grant {
        id,
        client_id,
        subject,
        scope,
        resource,
        auth_time,
        amr,
        created_at,
        expires_at,
        revoked_at,
    })
}

fn refresh_from_row(row: RefreshRow) -> Result<RefreshToken, StoreError> {
    let (token_hash, grant_id, created_at, expires_at, used_at, successor_hash, retried_at) = row;
    Ok(RefreshToken {
        token_hash: hash(token_hash, "token_hash")?,
        grant_id,
        created_at,
        expires_at,
        used_at,
        successor_hash: successor_hash
            .map(|h| hash(h, "successor_hash"))
            .transpose()?,
        retried_at,
    })
}

async fn insert_grant(
    tx: &mut Transaction<'static, Postgres>,
    grant: &Grant,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oauth_grants ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )))
    .bind(&grant.id)
    .bind(&grant.client_id)
    .bind(&grant.subject)
    .bind(&grant.scope)
    .bind(&grant.resource)
    .bind(grant.auth_time)
    .bind(&grant.amr)
    .bind(grant.created_at)
    .bind(grant.expires_at)
    .bind(grant.revoked_at)
    .execute(&mut **tx)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

async fn insert_refresh(
    tx: &mut Transaction<'static, Postgres>,
    token: &RefreshToken,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oauth_refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )))
    .bind(&token.token_hash[..])
    .bind(&token.grant_id)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.used_at)
    .bind(token.successor_hash.as_ref().map(|h| &h[..]))
    .bind(token.retried_at)
    .execute(&mut **tx)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

async fn revoke_grant(
    tx: &mut Transaction<'static, Postgres>,
    id: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result =
        sqlx::query("UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(from_sqlx)?;
    let revoked = result.rows_affected() > 0;
    if revoked {
        crate::changes::notify(tx, portcullis_store::Change::Revocation).await?;
    }
    Ok(revoked)
}

async fn refresh_with_grant(
    tx: &mut Transaction<'static, Postgres>,
    token_hash: &[u8; 32],
) -> Result<Option<(RefreshToken, Grant)>, StoreError> {
    let token: Option<RefreshRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REFRESH_COLUMNS} FROM oauth_refresh_tokens WHERE token_hash = $1 FOR UPDATE"
    )))
    .bind(&token_hash[..])
    .fetch_optional(&mut **tx)
    .await
    .map_err(from_sqlx)?;
    let Some(token) = token.map(refresh_from_row).transpose()? else {
        return Ok(None);
    };
    let grant: Option<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = $1 FOR UPDATE"
    )))
    .bind(&token.grant_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(from_sqlx)?;
    Ok(grant
        .map(grant_from_row)
        .transpose()?
        .map(|grant| (token, grant)))
}

impl PostgresStore {
    pub(crate) async fn authorization_code_insert(
        &self,
        code: &AuthorizationCode,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO oauth_codes ({CODE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )))
        .bind(&code.code_hash[..])
        .bind(&code.client_id)
        .bind(&code.subject)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(&code.scope)
        .bind(&code.resource)
        .bind(&code.nonce)
        .bind(code.auth_time)
        .bind(&code.amr)
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.consumed_at)
        .bind(&code.grant_id)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)
    }

    pub(crate) async fn authorization_code_get(
        &self,
        code_hash: &[u8; 32],
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        let row: Option<CodeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM oauth_codes WHERE code_hash = $1"
        )))
        .bind(&code_hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.map(code_from_row).transpose()
    }

    pub(crate) async fn authorization_code_redeem(
        &self,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
        audit: AuditOutcome<'_, CodeRedemption>,
    ) -> Result<CodeRedemption, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let row: Option<CodeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM oauth_codes WHERE code_hash = $1 FOR UPDATE"
        )))
        .bind(&code_hash[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        let Some(code) = row.map(code_from_row).transpose()? else {
            return Ok(CodeRedemption::Unknown);
        };
        if code.consumed_at.is_some() {
            if let Some(id) = &code.grant_id {
                revoke_grant(&mut tx, id, now).await?;
            }
            return crate::audit::commit_with(
                tx,
                CodeRedemption::Replayed {
                    grant_id: code.grant_id,
                },
                audit,
            )
            .await;
        }
        if code.expires_at <= now {
            return Ok(CodeRedemption::Expired);
        }
        sqlx::query("UPDATE oauth_codes SET consumed_at = $2, grant_id = $3 WHERE code_hash = $1")
            .bind(&code_hash[..])
            .bind(now)
            .bind(&grant.id)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        insert_grant(&mut tx, grant).await?;
        if let Some(refresh) = refresh {
            insert_refresh(&mut tx, refresh).await?;
        }
        crate::audit::commit_with(tx, CodeRedemption::Redeemed, audit).await
    }

    pub(crate) async fn authorization_grant_get(
        &self,
        id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        let row: Option<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.map(grant_from_row).transpose()
    }

    pub(crate) async fn authorization_grant_revoke(
        &self,
        id: &str,
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let revoked = revoke_grant(&mut tx, id, now).await?;
        crate::audit::commit(tx, audit).await?;
        Ok(revoked)
    }

    pub(crate) async fn authorization_grants_of_subject(
        &self,
        subject: &str,
    ) -> Result<Vec<Grant>, StoreError> {
        self.live_grants_where("subject", subject).await
    }

    pub(crate) async fn authorization_grants_of_client(
        &self,
        client_id: &str,
    ) -> Result<Vec<Grant>, StoreError> {
        self.live_grants_where("client_id", client_id).await
    }

    /// The grants whose `column` is `value` and that are not revoked, newest first.
    async fn live_grants_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Vec<Grant>, StoreError> {
        let rows: Vec<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE {column} = $1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        )))
        .bind(value)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter().map(grant_from_row).collect()
    }

    pub(crate) async fn authorization_grants_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<Grant>, StoreError> {
        let rows: Vec<GrantRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE revoked_at >= $1 ORDER BY revoked_at, id"
        )))
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter().map(grant_from_row).collect()
    }

    pub(crate) async fn authorization_refresh_get(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(RefreshToken, Grant)>, StoreError> {
        // One transaction, so token and grant come from one snapshot (the row locks it takes are
        // released at once).
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let found = refresh_with_grant(&mut tx, token_hash).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(found)
    }

    pub(crate) async fn authorization_refresh_rotate(
        &self,
        token_hash: &[u8; 32],
        now: OffsetDateTime,
        successor: &RefreshToken,
        retry_grace: time::Duration,
        audit: AuditOutcome<'_, RefreshRotation>,
    ) -> Result<RefreshRotation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let Some((token, grant)) = refresh_with_grant(&mut tx, token_hash).await? else {
            return Ok(RefreshRotation::Unknown);
        };
        if grant.revoked_at.is_some() || grant.expires_at <= now || token.expires_at <= now {
            return Ok(RefreshRotation::Invalid);
        }
        let Some(used_at) = token.used_at else {
            sqlx::query(
                "UPDATE oauth_refresh_tokens SET used_at = $2, successor_hash = $3 \
                 WHERE token_hash = $1",
            )
            .bind(&token_hash[..])
            .bind(now)
            .bind(&successor.token_hash[..])
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            insert_refresh(&mut tx, successor).await?;
            return crate::audit::commit_with(tx, RefreshRotation::Rotated(grant), audit).await;
        };
        let previous = match token.successor_hash {
            Some(hash) => refresh_with_grant(&mut tx, &hash)
                .await?
                .map(|(successor, _)| successor),
            None => None,
        };
        let retry_allowed = token.retried_at.is_none()
            && now - used_at <= retry_grace
            && previous.as_ref().is_some_and(|p| p.used_at.is_none());
        if retry_allowed {
            if let Some(previous) = previous {
                sqlx::query("DELETE FROM oauth_refresh_tokens WHERE token_hash = $1")
                    .bind(&previous.token_hash[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
            }
            sqlx::query(
                "UPDATE oauth_refresh_tokens SET retried_at = $2, successor_hash = $3 \
                 WHERE token_hash = $1",
            )
            .bind(&token_hash[..])
            .bind(now)
            .bind(&successor.token_hash[..])
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            insert_refresh(&mut tx, successor).await?;
            return crate::audit::commit_with(tx, RefreshRotation::Retried(grant), audit).await;
        }
        revoke_grant(&mut tx, &grant.id, now).await?;
        crate::audit::commit_with(tx, RefreshRotation::Reused { grant_id: grant.id }, audit).await
    }

    pub(crate) async fn authorization_access_token_revoke(
        &self,
        token: &RevokedAccessToken,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        sqlx::query(
            "INSERT INTO oauth_revoked_access_tokens (jti, expires_at, revoked_at) \
             VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(&token.jti)
        .bind(token.expires_at)
        .bind(token.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        crate::changes::notify(&mut tx, portcullis_store::Change::Revocation).await?;
        crate::audit::commit(tx, audit).await
    }

    pub(crate) async fn authorization_access_tokens_revoked_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<RevokedAccessToken>, StoreError> {
        let rows: Vec<(String, OffsetDateTime, OffsetDateTime)> = sqlx::query_as(
            "SELECT jti, expires_at, revoked_at FROM oauth_revoked_access_tokens \
             WHERE revoked_at >= $1 ORDER BY revoked_at, jti",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|(jti, expires_at, revoked_at)| {
                Ok(RevokedAccessToken {
                    jti,
                    expires_at,
                    revoked_at,
                })
            })
            .collect()
    }

    pub(crate) async fn authorization_consent_put(
        &self,
        consent: &Consent,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        sqlx::query(
            "INSERT INTO oauth_consents (subject, client_id, redirect_uri, resource, scope, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (subject, client_id, redirect_uri, resource) \
             DO UPDATE SET scope = excluded.scope, created_at = excluded.created_at",
        )
        .bind(&consent.subject)
        .bind(&consent.client_id)
        .bind(&consent.redirect_uri)
        .bind(&consent.resource)
        .bind(&consent.scope)
        .bind(consent.created_at)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        crate::audit::commit(tx, audit).await
    }

    pub(crate) async fn authorization_consent_get(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
    ) -> Result<Option<Consent>, StoreError> {
        let row: Option<(String, OffsetDateTime)> = sqlx::query_as(
            "SELECT scope, created_at FROM oauth_consents \
             WHERE subject = $1 AND client_id = $2 AND redirect_uri = $3 AND resource = $4",
        )
        .bind(subject)
        .bind(client_id)
        .bind(redirect_uri)
        .bind(resource)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        row.map(|(scope, created_at)| {
            Ok(Consent {
                subject: subject.to_owned(),
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                resource: resource.to_owned(),
                scope,
                created_at,
            })
        })
        .transpose()
    }

    pub(crate) async fn purge_authorization(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let mut purged = 0;
        // Tokens first (their own expiry, or their grant's), then grants, codes, revocations, so
        // the count is of rows each statement deleted itself, not of cascades.
        for statement in [
            "DELETE FROM oauth_refresh_tokens WHERE expires_at <= $1 \
             OR grant_id IN (SELECT id FROM oauth_grants WHERE expires_at <= $1)",
            "DELETE FROM oauth_grants WHERE expires_at <= $1",
            "DELETE FROM oauth_codes WHERE expires_at <= $1",
            "DELETE FROM oauth_revoked_access_tokens WHERE expires_at <= $1",
        ] {
            purged += sqlx::query(statement)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?
                .rows_affected();
        }
        tx.commit().await.map_err(from_sqlx)?;
        Ok(purged)
    }
}

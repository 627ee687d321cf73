//! Second factors, recovery codes, failure counters, and listing or deleting what belongs to a
//! user, in SQLite. A user's rows go with the user (`ON DELETE CASCADE`).

use portcullis_store::columns::{
    BROWSER_SESSION_COLUMNS, BrowserSessionColumns, FACTOR_COLUMNS, FactorColumns,
    browser_session_from_columns, factor_from_columns,
};
use portcullis_store::{AuditEvent, BrowserSession, Factor, FactorUse, StoreError, Throttle};
use time::OffsetDateTime;

use crate::error::from_sqlx;
use crate::{SqliteStore, from_micros, to_micros};

fn throttle_from_row(row: (i64, i64)) -> Result<Throttle, StoreError> {
    let (failures, last_failure_at) = row;
    Ok(Throttle {
        failures: u32::try_from(failures)
            .map_err(|_| StoreError::Backend("auth_throttles: failures out of range".to_owned()))?,
        last_failure_at: from_micros(last_failure_at, "last_failure_at")?,
    })
}

impl SqliteStore {
    pub(crate) async fn delete_user(
        &self,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM users WHERE id = $1").bind(id);
        Ok(self.write_audited(query, audit).await? > 0)
    }

    pub(crate) async fn sessions_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        let rows: Vec<BrowserSessionColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {BROWSER_SESSION_COLUMNS} FROM browser_sessions WHERE user_id = $1 \
             ORDER BY created_at DESC, id_hash DESC"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| browser_session_from_columns(row, from_micros))
            .collect()
    }

    pub(crate) async fn insert_factor(
        &self,
        factor: &Factor,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO mfa_factors ({FACTOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(&factor.id)
        .bind(&factor.user_id)
        .bind(factor.kind.as_str())
        .bind(&factor.name)
        .bind(&factor.data)
        .bind(factor.last_step)
        .bind(to_micros(factor.created_at)?)
        .bind(factor.last_used_at.map(to_micros).transpose()?);
        self.write_audited(query, audit).await.map(|_| ())
    }

    pub(crate) async fn factors_of(&self, user_id: &str) -> Result<Vec<Factor>, StoreError> {
        let rows: Vec<FactorColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.into_iter()
            .map(|row| factor_from_columns(row, from_micros))
            .collect()
    }

    pub(crate) async fn delete_factor(
        &self,
        user_id: &str,
        id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query("DELETE FROM mfa_factors WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id);
        Ok(self.write_audited(query, audit).await? > 0)
    }

    pub(crate) async fn use_factor(
        &self,
        user_id: &str,
        id: &str,
        step: Option<i64>,
        data: Option<&[u8]>,
        now: OffsetDateTime,
    ) -> Result<FactorUse, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE mfa_factors SET last_step = COALESCE($3, last_step), \
             data = COALESCE($4, data), last_used_at = $5 \
             WHERE id = $1 AND user_id = $2 \
             AND ($3 IS NULL OR last_step IS NULL OR last_step < $3)",
        )
        .bind(id)
        .bind(user_id)
        .bind(step)
        .bind(data)
        .bind(to_micros(now)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?
        .rows_affected();
        let outcome = if updated > 0 {
            FactorUse::Used
        } else {
            let exists: Option<(i64,)> =
                sqlx::query_as("SELECT 1 FROM mfa_factors WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
            if exists.is_some() {
                FactorUse::Replayed
            } else {
                FactorUse::Unknown
            }
        };
        tx.commit().await.map_err(from_sqlx)?;
        Ok(outcome)
    }

    pub(crate) async fn set_recovery_codes(
        &self,
        user_id: &str,
        code_hashes: &[[u8; 32]],
        now: OffsetDateTime,
        audit: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let user: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        if user.is_none() {
            return Err(StoreError::Backend(format!(
                "no user {user_id:?} for the recovery codes"
            )));
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        for hash in code_hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) \
                 VALUES ($1, $2, $3, NULL)",
            )
            .bind(user_id)
            .bind(hash.as_slice())
            .bind(to_micros(now)?)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        }
        tx.commit_audited(audit).await
    }

    pub(crate) async fn use_recovery_code(
        &self,
        user_id: &str,
        code_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code_hash.as_slice())
        .bind(to_micros(now)?);
        Ok(self.write(query).await? > 0)
    }

    pub(crate) async fn recovery_codes_unused(&self, user_id: &str) -> Result<u32, StoreError> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    pub(crate) async fn reset_mfa(
        &self,
        user_id: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let factors = sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?
            .rows_affected();
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit_audited(audit).await?;
        Ok(factors)
    }

    pub(crate) async fn get_throttle(&self, key: &str) -> Result<Option<Throttle>, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT failures, last_failure_at FROM auth_throttles WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?;
        row.map(throttle_from_row).transpose()
    }

    pub(crate) async fn count_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        reset_before: OffsetDateTime,
    ) -> Result<Throttle, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: (i64, i64) = sqlx::query_as(
            "INSERT INTO auth_throttles (key, failures, last_failure_at) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN auth_throttles.last_failure_at >= $3 \
                 THEN auth_throttles.failures + 1 ELSE 1 END, \
             last_failure_at = CASE WHEN auth_throttles.last_failure_at >= $3 \
                 THEN MAX(auth_throttles.last_failure_at, $2) ELSE $2 END \
             RETURNING failures, last_failure_at",
        )
        .bind(key)
        .bind(to_micros(now)?)
        .bind(to_micros(reset_before)?)
        .fetch_one(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        throttle_from_row(row)
    }

    pub(crate) async fn clear_throttle(&self, key: &str) -> Result<(), StoreError> {
        let query = sqlx::query("DELETE FROM auth_throttles WHERE key = $1").bind(key);
        self.write(query).await.map(|_| ())
    }

    pub(crate) async fn purge_throttles(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let query = sqlx::query("DELETE FROM auth_throttles WHERE last_failure_at < $1")
            .bind(to_micros(before)?);
        self.write(query).await
    }
}

//! WebAuthn ceremonies in progress, in SQLite: put (replacing the session's previous one of the
//! same kind), taken once with `DELETE … RETURNING`, purged when expired.

use portcullis_store::columns::{CEREMONY_COLUMNS, CeremonyColumns, ceremony_from_columns};
use portcullis_store::{CeremonyKind, StoreError, WebauthnCeremony};
use time::OffsetDateTime;

use crate::error::from_sqlx;
use crate::{SqliteStore, from_micros, to_micros, to_micros_ceil};

impl SqliteStore {
    pub(crate) async fn put_ceremony(&self, ceremony: &WebauthnCeremony) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // A ceremony with this id (even this session's) is left alone, so the insert below
        // conflicts and the transaction, dropped uncommitted, changes nothing.
        sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE session_hash = $1 AND kind = $2 AND id <> $3",
        )
        .bind(ceremony.session_hash.as_slice())
        .bind(ceremony.kind.as_str())
        .bind(&ceremony.id)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webauthn_ceremonies ({CEREMONY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        )))
        .bind(&ceremony.id)
        .bind(ceremony.session_hash.as_slice())
        .bind(ceremony.kind.as_str())
        .bind(&ceremony.state)
        .bind(to_micros(ceremony.expires_at)?)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)
    }

    pub(crate) async fn take_ceremony(
        &self,
        id: &str,
        session_hash: &[u8; 32],
        kind: CeremonyKind,
    ) -> Result<Option<WebauthnCeremony>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<CeremonyColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "DELETE FROM webauthn_ceremonies WHERE id = $1 AND session_hash = $2 AND kind = $3 \
             RETURNING {CEREMONY_COLUMNS}"
        )))
        .bind(id)
        .bind(session_hash.as_slice())
        .bind(kind.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        row.map(|row| ceremony_from_columns(row, from_micros))
            .transpose()
    }

    pub(crate) async fn purge_ceremonies(
        &self,
        expired_before: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let query = sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
            .bind(to_micros_ceil(expired_before)?);
        self.write(query).await
    }
}

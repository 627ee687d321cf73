//! The audit log in SQLite: appends inside a write transaction, and the listing.
//!
//! Appends need no lock of their own: every write runs in a `BEGIN IMMEDIATE` transaction, which
//! holds the database's one write lock from the start, so the head read here is still the head
//! when the new row is inserted.

use portcullis_store::columns::{
    AUDIT_COLUMNS, AuditColumns, audit_hash, audit_record_from_columns,
};
use portcullis_store::{AuditEvent, AuditQuery, AuditRecord, StoreError};
use sqlx::SqliteConnection;

use crate::error::from_sqlx;
use crate::{SqliteStore, from_micros, to_micros};

/// Appends `event` after the current head. `conn` must be in a write transaction.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(from_sqlx)?;
    let head = head
        .map(|(seq, hash)| Ok::<_, StoreError>((seq, audit_hash(hash, "hash")?)))
        .transpose()?;
    let record = AuditRecord::chain(head, event);
    let event = &record.event;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO audit_log ({AUDIT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )))
    .bind(record.seq)
    .bind(to_micros(event.time)?)
    .bind(event.actor.as_deref())
    .bind(event.tenant.as_deref())
    .bind(event.client.as_deref())
    .bind(&event.action)
    .bind(event.target.as_deref())
    .bind(&event.decision)
    .bind(event.reason.as_deref())
    .bind(event.request_id.as_deref())
    .bind(event.source.as_deref())
    .bind(&record.prev_hash[..])
    .bind(&record.hash[..])
    .execute(&mut *conn)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn append_audit_events(
        &self,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for event in events {
            append(&mut tx, event).await?;
        }
        tx.commit().await.map_err(from_sqlx)
    }

    pub(crate) async fn list_audit(
        &self,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let since = query.since.map(to_micros).transpose()?;
        let order = if query.newest { "DESC" } else { "ASC" };
        let rows: Vec<AuditColumns<i64>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log \
             WHERE seq > $1 AND ($2 IS NULL OR time >= $2) ORDER BY seq {order} LIMIT $3"
        )))
        .bind(query.after_seq)
        .bind(since)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        let mut records = rows
            .into_iter()
            .map(|row| audit_record_from_columns(row, from_micros))
            .collect::<Result<Vec<_>, _>>()?;
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }
}

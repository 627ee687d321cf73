//! The audit log in PostgreSQL: appends inside a transaction, and the listing.
//!
//! Appenders first take a transaction-scoped advisory lock ([`CHAIN_LOCK`]), held until their
//! transaction ends, so two replicas appending at once take turns: the second reads the head the
//! first committed, and the chain never forks. (Its `seq` primary key would refuse a fork anyway,
//! failing the second transaction rather than waiting.)

use portcullis_store::columns::{
    AUDIT_COLUMNS, AuditColumns, audit_hash, audit_record_from_columns,
};
use portcullis_store::{AuditEvent, AuditOutcome, AuditQuery, AuditRecord, StoreError};
use sqlx::{PgConnection, Postgres, Transaction};
use time::OffsetDateTime;

use crate::error::from_sqlx;
use crate::{PostgresStore, as_is};

/// The advisory lock key of the chain's head: "PCAUDIT" in ASCII.
const CHAIN_LOCK: i64 = 0x0050_4341_5544_4954;

/// Appends `event` after the current head. `conn` must be in a transaction.
pub(crate) async fn append(conn: &mut PgConnection, event: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(from_sqlx)?;
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
    .bind(event.time)
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

/// Appends `audit`, when given, to the audit log, then commits: the change and its record are
/// committed together or not at all.
pub(crate) async fn commit(
    mut tx: Transaction<'_, Postgres>,
    audit: Option<&AuditEvent>,
) -> Result<(), StoreError> {
    if let Some(event) = audit {
        append(&mut tx, event).await?;
    }
    tx.commit().await.map_err(from_sqlx)
}

/// Commits a change whose record depends on its `outcome` (see [`AuditOutcome`]), and returns the
/// outcome.
pub(crate) async fn commit_with<T>(
    tx: Transaction<'_, Postgres>,
    outcome: T,
    audit: AuditOutcome<'_, T>,
) -> Result<T, StoreError> {
    let event = audit.and_then(|audit| audit(&outcome));
    commit(tx, event.as_ref()).await?;
    Ok(outcome)
}

impl PostgresStore {
    pub(crate) async fn append_audit_events(
        &self,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        for event in events {
            append(&mut tx, event).await?;
        }
        tx.commit().await.map_err(from_sqlx)
    }

    pub(crate) async fn list_audit(
        &self,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let order = if query.newest { "DESC" } else { "ASC" };
        let rows: Vec<AuditColumns<OffsetDateTime>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log \
             WHERE seq > $1 AND ($2::timestamptz IS NULL OR time >= $2) \
             ORDER BY seq {order} LIMIT $3"
        )))
        .bind(query.after_seq)
        .bind(query.since)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        let mut records = rows
            .into_iter()
            .map(|row| audit_record_from_columns(row, as_is))
            .collect::<Result<Vec<_>, _>>()?;
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }
}

//! Changes announced between processes with LISTEN/NOTIFY.
//!
//! Role and grant writes notify `portcullis_authorization` from a trigger (migration 0012), so
//! every writer does, whatever its code path; revocations notify `portcullis_revocation` from
//! the statements that revoke, inside their transaction. PostgreSQL delivers a notification only
//! when (and if) its transaction commits, so a listener never wakes for a change that was rolled
//! back. A notification carries nothing: the listener's replica reads the store to learn what
//! changed, the same way its fallback poll does.

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::{Change, ChangeSignals, StoreError};
use sqlx::postgres::{PgListener, PgPool};
use sqlx::{Postgres, Transaction};

use crate::error::from_sqlx;

/// The channel of each kind of change.
pub(crate) fn channel(change: Change) -> &'static str {
    match change {
        Change::Authorization => "portcullis_authorization",
        Change::Revocation => "portcullis_revocation",
    }
}

/// Queues a notification of `change`, delivered when `tx` commits.
pub(crate) async fn notify(
    tx: &mut Transaction<'static, Postgres>,
    change: Change,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel(change))
        .execute(&mut **tx)
        .await
        .map_err(from_sqlx)?;
    Ok(())
}

/// How long to wait before listening again after the listening connection failed.
const RELISTEN_DELAY: Duration = Duration::from_secs(1);

/// Listens on both channels with a connection of its own (opened now, so a failure to start is
/// the caller's error) and wakes `signals` for each notification, until the process ends. When
/// the connection drops, notifications sent meanwhile are lost: after reconnecting, both kinds
/// are woken so the replica reads the store once.
pub(crate) async fn listen(pool: &PgPool, signals: Arc<ChangeSignals>) -> Result<(), StoreError> {
    // Holds one of the pool's connections for as long as the process runs. A lost connection
    // makes `try_recv` reconnect and return `Ok(None)`; closing the store ends the loop.
    let mut listener = PgListener::connect_with(pool).await.map_err(from_sqlx)?;
    listener
        .listen_all([channel(Change::Authorization), channel(Change::Revocation)])
        .await
        .map_err(from_sqlx)?;
    tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    for change in [Change::Authorization, Change::Revocation] {
                        if notification.channel() == channel(change) {
                            signals.wake(change);
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!("the LISTEN connection to PostgreSQL was lost: reconnecting");
                    signals.wake(Change::Authorization);
                    signals.wake(Change::Revocation);
                }
                Err(sqlx::Error::PoolClosed) => {
                    tracing::debug!("the store closed: no more change notifications");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening for changes failed: retrying");
                    tokio::time::sleep(RELISTEN_DELAY).await;
                    signals.wake(Change::Authorization);
                    signals.wake(Change::Revocation);
                }
            }
        }
    });
    Ok(())
}

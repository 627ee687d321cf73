//! Picks the store backend from the URL scheme and migrates it.

use std::sync::Arc;

use anyhow::Context as _;
use portcullis_core::config::StoreConfig;
use portcullis_store::{Announce, Store};
use portcullis_store_postgres::PostgresStore;
use portcullis_store_sqlite::SqliteStore;

/// Whether the store's writes are announced to the replicas (`store.redis_url`): yes for
/// `serve` and the admin commands, no for `migrate`, which changes nothing replicas watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announcing {
    Yes,
    No,
}

pub(crate) async fn open(
    config: &StoreConfig,
    announcing: Announcing,
) -> anyhow::Result<Arc<dyn Store>> {
    let announcer: Option<Arc<dyn Announce>> = match (&config.redis_url, announcing) {
        (Some(url), Announcing::Yes) => Some(Arc::new(
            portcullis_server::changes::RedisAnnouncer::connect(url)
                .await
                .context("connecting to store.redis_url")?,
        )),
        _ => None,
    };
    let url = &config.url;
    if url.starts_with("sqlite:") {
        let mut store = SqliteStore::connect(url)
            .await
            .context("opening the SQLite store")?;
        if let Some(announcer) = announcer {
            store = store.with_announcer(announcer);
        }
        store
            .migrate()
            .await
            .context("migrating the SQLite store")?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut store = PostgresStore::connect(url)
            .await
            .context("connecting to PostgreSQL")?;
        if let Some(announcer) = announcer {
            store = store.with_announcer(announcer);
        }
        store
            .migrate()
            .await
            .context("migrating the PostgreSQL store")?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!("store.url: the scheme must be sqlite: or postgres://")
    }
}

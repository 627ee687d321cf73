//! Picks the store backend from the URL scheme and migrates it.

use std::sync::Arc;

use anyhow::Context as _;
use portcullis_store::Store;
use portcullis_store_postgres::PostgresStore;
use portcullis_store_sqlite::SqliteStore;

pub(crate) async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url)
            .await
            .context("opening the SQLite store")?;
        store
            .migrate()
            .await
            .context("migrating the SQLite store")?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url)
            .await
            .context("connecting to PostgreSQL")?;
        store
            .migrate()
            .await
            .context("migrating the PostgreSQL store")?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!("store.url: the scheme must be sqlite: or postgres://")
    }
}

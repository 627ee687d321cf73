//! How a replica learns of role, grant and revocation changes made elsewhere (another replica,
//! `portcullis admin`): announcements wake it at once — PostgreSQL's LISTEN/NOTIFY, Redis pub/sub
//! when `store.redis_url` is set — and a poll every `store.change_poll` finds whatever an
//! announcement missed. Either way the replica reads the store to learn what changed, so an
//! announcement carries no state and a forged one can only cause a read.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use portcullis_store::{Announce, Change, ChangeSignals, Store};

/// The Redis pub/sub channel of change announcements.
pub const REDIS_CHANNEL: &str = "portcullis:changes";

/// The longest an announcement may hold up the write that made it.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to wait before subscribing again after the subscription failed.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// Announces changes on Redis ([`REDIS_CHANNEL`]): what a store built with it tells.
pub struct RedisAnnouncer {
    connection: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for RedisAnnouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAnnouncer").finish_non_exhaustive()
    }
}

/// A Redis failure, said without the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
#[error("Redis ({kind}): {detail}")]
pub struct RedisError {
    kind: String,
    detail: String,
}

impl From<redis::RedisError> for RedisError {
    fn from(e: redis::RedisError) -> Self {
        RedisError {
            kind: format!("{:?}", e.kind()),
            detail: e.detail().unwrap_or("no detail").to_owned(),
        }
    }
}

pub(crate) fn client(url: &str) -> Result<redis::Client, RedisError> {
    redis::Client::open(url).map_err(|e| RedisError {
        kind: format!("{:?}", e.kind()),
        detail: "store.redis_url is not a usable Redis URL".to_owned(),
    })
}

impl RedisAnnouncer {
    /// Connects to `url` (now: a server that does not answer is an error), reconnecting by
    /// itself later.
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(PUBLISH_TIMEOUT));
        let connection =
            redis::aio::ConnectionManager::new_with_config(client(url)?, config).await?;
        Ok(RedisAnnouncer { connection })
    }
}

#[async_trait]
impl Announce for RedisAnnouncer {
    async fn announce(&self, change: Change) {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("PUBLISH");
        command.arg(REDIS_CHANNEL).arg(change.as_str());
        let publish = command.query_async::<i64>(&mut connection);
        match tokio::time::timeout(PUBLISH_TIMEOUT, publish).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                change = change.as_str(),
                error = %RedisError::from(e),
                "could not announce a change on Redis: replicas find it at their next poll"
            ),
            Err(_) => tracing::warn!(
                change = change.as_str(),
                "announcing a change on Redis timed out: replicas find it at their next poll"
            ),
        }
    }
}

/// Subscribes to [`REDIS_CHANNEL`] (now: failing to is an error) and wakes `signals` for each
/// announcement, resubscribing after failures, until the process ends. After a lost
/// subscription both kinds are woken, so announcements missed meanwhile are read from the store.
pub async fn subscribe_redis(url: &str, signals: Arc<ChangeSignals>) -> Result<(), RedisError> {
    let client = client(url)?;
    let mut pubsub = subscribe(&client).await?;
    tokio::spawn(async move {
        loop {
            {
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let payload: String = message.get_payload().unwrap_or_default();
                    match Change::parse(&payload) {
                        Some(change) => signals.wake(change),
                        None => tracing::debug!("ignored an unknown announcement on Redis"),
                    }
                }
            }
            tracing::warn!("the Redis subscription ended: subscribing again");
            pubsub = loop {
                tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                match subscribe(&client).await {
                    Ok(pubsub) => break pubsub,
                    Err(e) => tracing::warn!(error = %e, "could not subscribe on Redis"),
                }
            };
            signals.wake(Change::Authorization);
            signals.wake(Change::Revocation);
        }
    });
    Ok(())
}

async fn subscribe(client: &redis::Client) -> Result<redis::aio::PubSub, RedisError> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(REDIS_CHANNEL).await?;
    Ok(pubsub)
}

/// Why announcements could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("listening for changes in the store: {0}")]
    Store(portcullis_store::StoreError),
    #[error("subscribing to change announcements: {0}")]
    Redis(#[from] RedisError),
}

/// Starts every announcement source the deployment has — the store's own (PostgreSQL) and
/// Redis when `redis_url` is set — waking `signals`. Returns their names for the start-up log.
/// A source that is configured but cannot start is an error: the operator asked for it.
pub async fn listen(
    store: &dyn Store,
    redis_url: Option<&str>,
    signals: &Arc<ChangeSignals>,
) -> Result<Vec<&'static str>, ListenError> {
    let mut sources = Vec::new();
    if store
        .listen_changes(signals.clone())
        .await
        .map_err(ListenError::Store)?
    {
        sources.push(store.backend());
    }
    if let Some(url) = redis_url {
        subscribe_redis(url, signals.clone()).await?;
        sources.push("redis");
    }
    Ok(sources)
}

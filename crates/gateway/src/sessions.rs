//! Relay sessions: which `Mcp-Session-Id`s are live for which upstream.
//!
//! The store is the truth, so every replica knows every session; a small process cache keeps
//! the store off the hot path. Ids are kept only as SHA-256 hashes, scoped to one upstream, so a
//! session id of one upstream is unknown at every other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_store::{RelaySession, SessionKey, Store, StoreError};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// How often a session's `last_seen_at` is written back while it is in use.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// The most sessions cached; past it the cache starts over (the store still has them all).
const CACHE_LIMIT: usize = 100_000;

#[derive(Debug, Clone)]
struct Cached {
    protocol_version: Option<Arc<str>>,
    principal: Option<Arc<str>>,
    touched: Instant,
}

/// The live sessions of every upstream.
#[derive(Debug)]
pub struct Sessions {
    store: Arc<dyn Store>,
    /// Upstream → session id → what is known; looked up by `&str` with no allocation.
    cache: Mutex<HashMap<String, HashMap<String, Cached>>>,
}

/// What the relay knows about a live session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub protocol_version: Option<Arc<str>>,
    /// The subject of the principal that created it; `None` for `auth = "none"`.
    pub principal: Option<Arc<str>>,
}

fn key(upstream: &str, session_id: &str) -> SessionKey {
    SessionKey {
        upstream: upstream.to_owned(),
        id_hash: Sha256::digest(session_id.as_bytes()).into(),
    }
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Sessions {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Looks a session up; `None` if it is not live for this upstream.
    pub async fn lookup(
        &self,
        upstream: &str,
        session_id: &str,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let now = Instant::now();
        let cached = self.cache.lock().ok().and_then(|mut cache| {
            let entry = cache.get_mut(upstream)?.get_mut(session_id)?;
            let stale = now.duration_since(entry.touched) >= TOUCH_EVERY;
            if stale {
                entry.touched = now;
            }
            Some((
                SessionInfo {
                    protocol_version: entry.protocol_version.clone(),
                    principal: entry.principal.clone(),
                },
                stale,
            ))
        });
        match cached {
            Some((info, stale)) => {
                if stale {
                    let store = self.store.clone();
                    let key = key(upstream, session_id);
                    // Best effort: a missed touch only makes the janitor's idle estimate older.
                    tokio::spawn(async move {
                        if let Err(e) = store
                            .relay_session_touch(&key, OffsetDateTime::now_utc())
                            .await
                        {
                            tracing::debug!(error = %e, "could not record session use");
                        }
                    });
                }
                Ok(Some(info))
            }
            None => {
                let Some(row) = self
                    .store
                    .relay_session_get(&key(upstream, session_id))
                    .await?
                else {
                    return Ok(None);
                };
                let info = SessionInfo {
                    protocol_version: row.protocol_version.map(Arc::from),
                    principal: row.principal.map(Arc::from),
                };
                self.remember(upstream, session_id, &info);
                Ok(Some(info))
            }
        }
    }

    /// Records a session an upstream (or the bridge) created.
    pub async fn register(
        &self,
        upstream: &str,
        session_id: &str,
        protocol_version: Option<&str>,
        principal: Option<&str>,
    ) -> Result<(), StoreError> {
        let key = key(upstream, session_id);
        let now = OffsetDateTime::now_utc();
        let row = RelaySession {
            key: key.clone(),
            protocol_version: protocol_version.map(str::to_owned),
            principal: principal.map(str::to_owned),
            created_at: now,
            last_seen_at: now,
        };
        match self.store.relay_session_insert(&row).await {
            // The same upstream handing out the same id twice is the same session.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        let info = SessionInfo {
            protocol_version: row.protocol_version.map(Arc::from),
            principal: row.principal.map(Arc::from),
        };
        self.remember(upstream, session_id, &info);
        Ok(())
    }

    /// Forgets a session (DELETE, or the upstream said it is gone).
    pub async fn remove(&self, upstream: &str, session_id: &str) -> Result<(), StoreError> {
        if let Ok(mut cache) = self.cache.lock()
            && let Some(sessions) = cache.get_mut(upstream)
        {
            sessions.remove(session_id);
        }
        self.store
            .relay_session_delete(&key(upstream, session_id))
            .await
            .map(|_| ())
    }

    /// Deletes sessions idle since before `idle_before`, in the store and the cache.
    pub async fn purge(&self, idle_before: OffsetDateTime) -> Result<u64, StoreError> {
        let n = self.store.relay_sessions_purge(idle_before).await?;
        if n > 0
            && let Ok(mut cache) = self.cache.lock()
        {
            cache.clear();
        }
        Ok(n)
    }

    fn remember(&self, upstream: &str, session_id: &str, info: &SessionInfo) {
        if let Ok(mut cache) = self.cache.lock() {
            let sessions = cache.entry(upstream.to_owned()).or_default();
            if sessions.len() >= CACHE_LIMIT {
                sessions.clear();
            }
            sessions.insert(
                session_id.to_owned(),
                Cached {
                    protocol_version: info.protocol_version.clone(),
                    principal: info.principal.clone(),
                    touched: Instant::now(),
                },
            );
        }
    }
}

//! The 2025-era protocol sessions: one per `initialize`, named by an unguessable
//! `Mcp-Session-Id`, ended by DELETE.
//!
//! Sessions live in memory only. The demo runs beside the gateway in the same process,
//! so a restart ends every session and clients start again with `initialize`, which the
//! spec asks them to do on a 404.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rand::RngCore as _;
use tokio::sync::watch;

/// Sessions kept at once. Clients that never send DELETE would otherwise grow the map
/// without bound; past the cap the least recently used session is dropped and its client
/// sees a 404, which it answers by initializing again.
const MAX_SESSIONS: usize = 10_000;

/// Bytes of randomness in a session id: 256 bits, well above the 128 the security
/// guidance asks for.
const SESSION_ID_BYTES: usize = 32;

#[derive(Debug)]
struct Session {
    /// The protocol version negotiated by `initialize`, kept for logging.
    protocol_version: &'static str,
    last_used: Instant,
    /// Dropped with the session; GET streams watch it and end when it goes.
    closed: watch::Sender<()>,
}

/// The live sessions, shared by every request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

/// The outcome of looking up a request's `Mcp-Session-Id`.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The header is missing: HTTP 400.
    Missing,
    /// The header is present but names no live session: HTTP 404.
    Unknown,
    /// A live session; `closed` resolves when it ends.
    Found { closed: watch::Receiver<()> },
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave the map half-updated (every
        // operation is a single insert or remove), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session and returns its id.
    pub(crate) fn create(&self, protocol_version: &'static str) -> String {
        let mut bytes = [0u8; SESSION_ID_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        // Hex keeps the id within visible ASCII (0x21..=0x7E), as the transport requires.
        let id = crate::tools::hex(&bytes);
        let (closed, _) = watch::channel(());
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
                tracing::debug!("demo: evicted the least recently used session");
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                protocol_version,
                last_used: Instant::now(),
                closed,
            },
        );
        tracing::debug!(protocol_version, "demo: session started");
        id
    }

    /// Finds the session a request names and marks it used.
    pub(crate) fn touch(&self, header: Option<&str>) -> Lookup {
        let Some(id) = header else {
            return Lookup::Missing;
        };
        let mut sessions = self.lock();
        match sessions.get_mut(id) {
            Some(session) => {
                session.last_used = Instant::now();
                Lookup::Found {
                    closed: session.closed.subscribe(),
                }
            }
            None => Lookup::Unknown,
        }
    }

    /// Ends a session; returns whether it existed.
    pub(crate) fn remove(&self, id: &str) -> bool {
        match self.lock().remove(id) {
            Some(session) => {
                tracing::debug!(
                    protocol_version = session.protocol_version,
                    "demo: session ended"
                );
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_random_and_visible_ascii() {
        let sessions = Sessions::default();
        let a = sessions.create("2025-11-25");
        let b = sessions.create("2025-11-25");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
    }

    #[tokio::test]
    async fn removing_a_session_closes_its_watchers() {
        let sessions = Sessions::default();
        let id = sessions.create("2025-06-18");
        let Lookup::Found { mut closed } = sessions.touch(Some(&id)) else {
            panic!("session not found");
        };
        assert!(sessions.remove(&id));
        assert!(closed.changed().await.is_err());
        assert!(matches!(sessions.touch(Some(&id)), Lookup::Unknown));
        assert!(matches!(sessions.touch(None), Lookup::Missing));
        assert!(!sessions.remove(&id));
    }
}

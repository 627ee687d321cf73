//! Announcements of changes that every replica must apply at once: roles and grants (the
//! authorization policy is rebuilt) and revocations (revoked credentials are dropped from the
//! caches of verified credentials, streams of revoked callers end).
//!
//! Two directions. Inbound, a backend that can hear other processes' commits
//! ([`Store::listen_changes`](crate::Store::listen_changes): PostgreSQL's LISTEN/NOTIFY) wakes
//! the replica's [`ChangeSignals`]. Outbound, a backend given an [`Announce`] (the Redis fan-out)
//! tells it after each such commit, so replicas that listen there wake too. Either way the
//! replicas' periodic polls stay in place as the fallback for a missed announcement: an
//! announcement only makes a poll happen sooner, it never carries state.

use async_trait::async_trait;
use tokio::sync::Notify;

/// What kind of change was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// A custom role, a role grant, or a user's status changed.
    Authorization,
    /// An API key, an OAuth grant or an access token was revoked.
    Revocation,
}

impl Change {
    /// The name announcements carry on the wire (Redis messages, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Authorization => "authorization",
            Change::Revocation => "revocation",
        }
    }

    /// The change a wire name names.
    pub fn parse(name: &str) -> Option<Change> {
        match name {
            "authorization" => Some(Change::Authorization),
            "revocation" => Some(Change::Revocation),
            _ => None,
        }
    }
}

/// The wake-ups of one replica: one per kind of change. A wake-up given while nobody waits is
/// kept (one permit), so an announcement that arrives while the replica is busy applying the
/// last one is not lost.
#[derive(Debug, Default)]
pub struct ChangeSignals {
    authorization: Notify,
    revocation: Notify,
}

impl ChangeSignals {
    /// Wakes whoever applies `change`.
    pub fn wake(&self, change: Change) {
        self.notify(change).notify_one();
    }

    /// Waits for the next wake-up for `change`.
    pub async fn woken(&self, change: Change) {
        self.notify(change).notified().await;
    }

    fn notify(&self, change: Change) -> &Notify {
        match change {
            Change::Authorization => &self.authorization,
            Change::Revocation => &self.revocation,
        }
    }
}

/// Told by a backend after it committed a change of a kind in [`Change`]. Implementations must
/// not fail the write: the change is committed, and a lost announcement only delays it until the
/// next poll.
#[async_trait]
pub trait Announce: Send + Sync + std::fmt::Debug {
    async fn announce(&self, change: Change);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wake_given_before_anyone_waits_is_kept_once() {
        let signals = ChangeSignals::default();
        signals.wake(Change::Revocation);
        signals.wake(Change::Revocation);
        tokio::time::timeout(Duration::from_secs(1), signals.woken(Change::Revocation))
            .await
            .expect("the first wait returns at once");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), signals.woken(Change::Revocation))
                .await
                .is_err(),
            "two wakes before a wait make one permit"
        );
        assert!(
            tokio::time::timeout(
                Duration::from_millis(50),
                signals.woken(Change::Authorization)
            )
            .await
            .is_err(),
            "a revocation does not wake the policy"
        );
    }

    #[test]
    fn wire_names_round_trip() {
        for change in [Change::Authorization, Change::Revocation] {
            assert_eq!(Change::parse(change.as_str()), Some(change));
        }
        assert_eq!(Change::parse("Authorization"), None);
    }
}

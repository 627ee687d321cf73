//! Authorization decisions on MCP traffic in the audit log, written off the request path.
//!
//! A refused MCP request is always recorded, an allowed one with the probability
//! `[audit] authorization_allows_sample`. Requests never wait for the store: records go into a
//! bounded queue that one background task drains, appending what has piled up in one transaction
//! (one chain-head lock per batch rather than per record). When the queue is full the record is
//! dropped and counted (`portcullis_audit_dropped_total`), so a slow store can slow the audit
//! trail but never the relay.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_core::audit::{ALLOW, DENY, action};
use portcullis_core::auth::Principal;
use portcullis_core::config::AuditConfig;
use portcullis_store::{AuditEvent, Store};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// Records waiting for the writer; beyond this they are dropped.
const QUEUE: usize = 10_000;
/// The most records appended in one transaction.
const BATCH: usize = 256;

/// What the server knows about an MCP request that the audit record names: put in the request's
/// extensions before the gateway sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// The client address (after `trusted_proxies`).
    pub source: Option<IpAddr>,
}

/// The audit trail of MCP decisions: the settings and the queue to the writer.
#[derive(Debug)]
pub struct DecisionLog {
    enabled: bool,
    allows_sample: f64,
    queue: Option<mpsc::Sender<AuditEvent>>,
    dropped: metrics::Counter,
}

impl DecisionLog {
    /// Starts the writer on the current Tokio runtime. Outside one (a gateway built by a plain
    /// unit test) there is no writer, and records are dropped as if the queue were full.
    pub fn new(config: &AuditConfig, store: Arc<dyn Store>) -> Self {
        let queue = (config.enabled && tokio::runtime::Handle::try_current().is_ok()).then(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(write(receiver, store));
            sender
        });
        DecisionLog {
            enabled: config.enabled,
            allows_sample: config.authorization_allows_sample,
            queue,
            dropped: metrics::counter!("portcullis_audit_dropped_total"),
        }
    }

    /// Whether the audit log is on (`[audit] enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records the decision on one MCP message of `caller` to `upstream`: `refusal` is why it was
    /// refused, `None` when it was allowed (then recorded only if sampled).
    pub(crate) fn decision(
        &self,
        origin: Option<&RequestOrigin>,
        caller: &Principal,
        upstream: &str,
        method: &str,
        name: Option<&str>,
        refusal: Option<&str>,
    ) {
        if !self.enabled {
            return;
        }
        if refusal.is_none()
            && !(self.allows_sample > 0.0 && rand::random::<f64>() < self.allows_sample)
        {
            return;
        }
        let target = match name {
            Some(name) => format!("{upstream}/{method}:{name}"),
            None => format!("{upstream}/{method}"),
        };
        let event = AuditEvent {
            time: OffsetDateTime::now_utc(),
            actor: Some(caller.subject.clone()),
            tenant: caller.tenant.clone(),
            client: caller.client_id.clone(),
            action: action::MCP_REQUEST.to_owned(),
            target: Some(target),
            decision: if refusal.is_some() { DENY } else { ALLOW }.to_owned(),
            reason: refusal.map(str::to_owned),
            request_id: origin.and_then(|o| o.request_id.clone()),
            source: origin.and_then(|o| o.source).map(|ip| ip.to_string()),
        };
        let sent = self
            .queue
            .as_ref()
            .is_some_and(|queue| queue.try_send(event).is_ok());
        if !sent {
            self.dropped.increment(1);
        }
    }
}

/// The writer: waits for a record, takes whatever else is queued (up to [`BATCH`]) and appends
/// them together. Ends when every sender is gone.
async fn write(mut receiver: mpsc::Receiver<AuditEvent>, store: Arc<dyn Store>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        if let Err(e) = store.audit_append(&batch).await {
            metrics::counter!("portcullis_audit_dropped_total").increment(batch.len() as u64);
            tracing::error!(records = batch.len(), error = %e, "could not record MCP decisions in the audit log");
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use portcullis_store::{AuditQuery, MemoryStore};

    use super::*;

    /// The decisions `config` records out of one refusal and 200 allowed requests.
    async fn recorded(config: AuditConfig) -> Vec<(String, Option<String>)> {
        let store = Arc::new(MemoryStore::new());
        let log = DecisionLog::new(&config, store.clone());
        let caller = Principal {
            client_id: Some("client_abc".to_owned()),
            ..Principal::new("portcullis", "usr_1")
        };
        let expected_actor = caller.subject.clone();
        let origin = RequestOrigin {
            request_id: Some("req-1".to_owned()),
            source: Some(IpAddr::from([192, 0, 2, 7])),
        };
        log.decision(
            Some(&origin),
            &caller,
            "files",
            "tools/call",
            Some("delete"),
            Some("not permitted"),
        );
        for _ in 0..200 {
            log.decision(None, &caller, "files", "tools/list", None, None);
        }
        drop(log);
        // The writer ends once the queue's sender is gone and it has written what was queued.
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if Arc::strong_count(&store) == 1 {
                break;
            }
        }
        let records = store.audit_list(&AuditQuery::default()).await.unwrap();
        if let Some(first) = records.first() {
            assert_eq!(first.event.request_id.as_deref(), Some("req-1"));
            assert_eq!(first.event.source.as_deref(), Some("192.0.2.7"));
            assert_eq!(first.event.actor, Some(expected_actor));
            assert_eq!(first.event.client.as_deref(), Some("client_abc"));
        }
        records
            .into_iter()
            .map(|r| (r.event.decision, r.event.target))
            .collect()
    }

    #[tokio::test]
    async fn refusals_are_always_recorded_and_allows_as_sampled() {
        let deny = || {
            (
                "deny".to_owned(),
                Some("files/tools/call:delete".to_owned()),
            )
        };
        let allow = ("allow".to_owned(), Some("files/tools/list".to_owned()));
        let default = recorded(AuditConfig::default()).await;
        assert_eq!(default, [deny()]);
        let all = recorded(AuditConfig {
            authorization_allows_sample: 1.0,
            ..AuditConfig::default()
        })
        .await;
        assert_eq!(all.len(), 201);
        assert_eq!(all[0], deny());
        assert!(all[1..].iter().all(|r| *r == allow));
        let some = recorded(AuditConfig {
            authorization_allows_sample: 0.5,
            ..AuditConfig::default()
        })
        .await;
        // 200 draws at one half: 60 to 140 is beyond doubt (p < 10⁻⁸ outside).
        assert!((61..=141).contains(&some.len()), "{}", some.len());
        let off = recorded(AuditConfig {
            enabled: false,
            authorization_allows_sample: 1.0,
        })
        .await;
        assert!(off.is_empty());
    }
}

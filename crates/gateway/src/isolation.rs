//! Stdio upstreams with `isolation = "tenant"` or `"user"`: one child process per tenant or per
//! user, started on the first request that needs it, its environment, arguments and working
//! directory templated for that tenant or user (`{tenant}`, `{subject}`, `{subject_hash}`), and
//! stopped when it has been idle with no session open. The number of children is capped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::auth::Principal;
use portcullis_core::config::{Isolation, UpstreamConfig};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::bridge::Bridge;
use crate::error::RelayError;

/// The children of one isolated stdio upstream.
pub(crate) struct Isolated {
    template: UpstreamConfig,
    command: Vec<String>,
    by: Isolation,
    shutdown: CancellationToken,
    instances: tokio::sync::Mutex<HashMap<String, Instance>>,
}

struct Instance {
    bridge: Arc<Bridge>,
    last_used: Arc<Mutex<Instant>>,
}

impl std::fmt::Debug for Isolated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Isolated({:?} per {:?})", self.command.first(), self.by)
    }
}

/// What the templates of one instance are filled with.
struct Values<'a> {
    tenant: &'a str,
    subject: &'a str,
    subject_hash: String,
}

fn fill(template: &str, values: &Values<'_>) -> String {
    template
        .replace("{tenant}", values.tenant)
        .replace("{subject_hash}", &values.subject_hash)
        .replace("{subject}", values.subject)
}

impl Isolated {
    pub(crate) fn new(
        up: &UpstreamConfig,
        command: &[String],
        shutdown: CancellationToken,
    ) -> Isolated {
        Isolated {
            template: up.clone(),
            command: command.to_vec(),
            by: up.isolation,
            shutdown,
            instances: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "stdio {} (one process per {})",
            self.command.first().map_or("", String::as_str),
            if self.by == Isolation::Tenant {
                "tenant"
            } else {
                "user"
            }
        )
    }

    /// The child of `caller`'s tenant or of `caller`, started if it is not running.
    pub(crate) async fn bridge_for(
        &self,
        caller: Option<&Principal>,
    ) -> Result<Arc<Bridge>, RelayError> {
        let refused = |message: &str| RelayError::Refused {
            code: portcullis_proto::mcp::code::INVALID_REQUEST,
            message: message.to_owned(),
            id: None,
        };
        let Some(caller) = caller else {
            return Err(refused(
                "this MCP server runs a process per caller: authentication is required",
            ));
        };
        let (key, tenant) = match self.by {
            Isolation::Tenant => match caller.tenant.as_deref() {
                Some(t) => (format!("tenant:{t}"), t),
                None => {
                    return Err(refused(
                        "this MCP server runs a process per tenant, and you belong to none",
                    ));
                }
            },
            _ => (
                format!("user:{}", caller.subject),
                caller.tenant.as_deref().unwrap_or_default(),
            ),
        };
        let mut instances = self.instances.lock().await;
        if let Some(instance) = instances.get(&key) {
            *instance.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            return Ok(instance.bridge.clone());
        }
        if instances.len() >= self.template.max_instances {
            tracing::warn!(upstream = %self.template.name, max = self.template.max_instances, "no process started: max_instances reached");
            return Err(RelayError::Busy {
                upstream: self.template.name.clone(),
                id: None,
            });
        }
        let values = Values {
            tenant,
            subject: &caller.subject,
            subject_hash: hex(Sha256::digest(caller.subject.as_bytes())
                .get(..8)
                .unwrap_or_default()),
        };
        let mut up = self.template.clone();
        for value in up.env.values_mut() {
            *value = fill(value, &values);
        }
        up.cwd = up.cwd.as_deref().map(|c| fill(c, &values));
        let command: Vec<String> = self.command.iter().map(|a| fill(a, &values)).collect();
        let bridge = Arc::new(Bridge::stdio(&up, &command, self.shutdown.clone()).map_err(
            |e| {
                tracing::error!(upstream = %up.name, error = %e, "could not start an isolated process");
                RelayError::Unavailable {
                    upstream: up.name.clone(),
                    reason: "process not started",
                    id: None,
                }
            },
        )?);
        bridge.start().await;
        tracing::info!(upstream = %up.name, instance = %key, "isolated process started");
        instances.insert(
            key,
            Instance {
                bridge: bridge.clone(),
                last_used: Arc::new(Mutex::new(Instant::now())),
            },
        );
        Ok(bridge)
    }

    /// Stops the children unused for `idle` with no session open; returns how many stopped.
    pub(crate) async fn stop_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let stale: Vec<Arc<Bridge>> = {
            let mut instances = self.instances.lock().await;
            let keys: Vec<String> = instances
                .iter()
                .filter(|(_, i)| {
                    i.bridge.session_count() == 0
                        && now
                            .duration_since(*i.last_used.lock().unwrap_or_else(|p| p.into_inner()))
                            >= idle
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter()
                .filter_map(|k| instances.remove(k).map(|i| i.bridge))
                .collect()
        };
        for bridge in &stale {
            bridge.stop().await;
        }
        stale.len()
    }

    /// How many children run now.
    pub(crate) async fn running(&self) -> usize {
        self.instances.lock().await.len()
    }

    /// Stops every child.
    pub(crate) async fn stop(&self) {
        let all: Vec<Arc<Bridge>> = self
            .instances
            .lock()
            .await
            .drain()
            .map(|(_, i)| i.bridge)
            .collect();
        for bridge in all {
            bridge.stop().await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_once_and_subject_hash_is_not_the_subject() {
        let values = Values {
            tenant: "acme",
            subject: "github:{tenant}",
            subject_hash: "0123abcd".into(),
        };
        assert_eq!(fill("schema_{tenant}", &values), "schema_acme");
        assert_eq!(
            fill("/srv/{subject_hash}/data", &values),
            "/srv/0123abcd/data"
        );
        // A value that holds a placeholder is not filled again.
        assert_eq!(fill("{subject}", &values), "github:{tenant}");
    }
}

//! Rate limits on MCP traffic: per principal, per OAuth client and per tenant on every POST
//! (`[rate_limits] mcp_per_*`), and per caller and tool on `tools/call`
//! (`upstreams[].tool_rate_limits`). They are taken after authorization (a refused request costs
//! nothing) and before the relay: a limited request never reaches the upstream.
//!
//! The buckets live behind `core::rate_limit::Limiter`: this process's own by default, shared
//! through Redis when the server sets one ([`crate::Gateway::set_rate_limiter`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use portcullis_core::auth::Principal;
use portcullis_core::config::RateLimitsConfig;
use portcullis_core::rate_limit::{Limiter, LocalLimiter, Rate, bucket_address, retry_after_secs};
use portcullis_proto::jsonrpc;

use crate::RelayError;

/// The limits of every upstream (`[rate_limits] mcp_per_*`) and the buckets they draw from.
#[derive(Debug)]
pub(crate) struct McpLimits {
    per_user: Option<Rate>,
    per_client: Option<Rate>,
    per_tenant: Option<Rate>,
    credential_check: Option<Rate>,
    local: Arc<LocalLimiter>,
    shared: OnceLock<Arc<dyn Limiter>>,
}

/// One upstream's `tool_rate_limits`, most specific pattern first: exact names, then globs by
/// length (longest first), then by text.
#[derive(Debug, Default)]
pub(crate) struct ToolLimits(Vec<(String, Rate)>);

impl ToolLimits {
    pub(crate) fn new(patterns: &BTreeMap<String, Rate>) -> Self {
        let mut limits: Vec<(String, Rate)> = patterns
            .iter()
            .map(|(pattern, rate)| (pattern.clone(), *rate))
            .collect();
        limits.sort_by(|(a, _), (b, _)| {
            a.contains('*')
                .cmp(&b.contains('*'))
                .then(b.len().cmp(&a.len()))
                .then(a.cmp(b))
        });
        ToolLimits(limits)
    }

    /// The rate of the most specific pattern `tool` matches.
    pub(crate) fn rate_for(&self, tool: &str) -> Option<Rate> {
        self.0
            .iter()
            .find(|(pattern, _)| portcullis_policy::glob_matches(pattern, tool))
            .map(|(_, rate)| *rate)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl McpLimits {
    pub(crate) fn new(config: &RateLimitsConfig) -> Self {
        McpLimits {
            per_user: config.mcp_per_user,
            per_client: config.mcp_per_client,
            per_tenant: config.mcp_per_tenant,
            credential_check: config.credential_check,
            local: Arc::new(LocalLimiter::default()),
            shared: OnceLock::new(),
        }
    }

    pub(crate) fn set_limiter(&self, limiter: Arc<dyn Limiter>) {
        let _ = self.shared.set(limiter);
    }

    fn limiter(&self) -> &dyn Limiter {
        match self.shared.get() {
            Some(shared) => shared.as_ref(),
            None => self.local.as_ref(),
        }
    }

    /// Takes one credential check (a credential the cache does not know, which validators may
    /// take to the network) from the client at `address` (`None`: served without addresses,
    /// every such request shares one bucket).
    pub(crate) async fn take_credential_check(
        &self,
        address: Option<IpAddr>,
    ) -> Result<(), RelayError> {
        let Some(rate) = self.credential_check else {
            return Ok(());
        };
        let address = bucket_address(address.unwrap_or(IpAddr::from([0, 0, 0, 0])));
        self.take_one(
            "credential_check",
            &format!("credential_check:{address}"),
            rate,
            Instant::now(),
        )
        .await
    }

    /// Takes one request of `principal` (none for `auth = "none"`) to `upstream` from every limit
    /// that applies: the principal's, its client's and its tenant's, and one per `tools/call` in
    /// the body from the tool's. The first limit that refuses decides (the ones before it have
    /// counted the request: a caller who keeps trying past a limit stays limited).
    pub(crate) async fn take(
        &self,
        upstream: &str,
        tools: &ToolLimits,
        principal: Option<&Principal>,
        body: &jsonrpc::Body<'_>,
    ) -> Result<(), RelayError> {
        let now = Instant::now();
        if let Some(principal) = principal {
            let keyed = [
                ("mcp_per_user", self.per_user, Some(&principal.subject)),
                (
                    "mcp_per_client",
                    self.per_client,
                    principal.client_id.as_ref(),
                ),
                ("mcp_per_tenant", self.per_tenant, principal.tenant.as_ref()),
            ];
            for (limit, rate, key) in keyed {
                if let (Some(rate), Some(key)) = (rate, key) {
                    self.take_one(limit, &format!("{limit}:{key}"), rate, now)
                        .await?;
                }
            }
        }
        if tools.is_empty() {
            return Ok(());
        }
        let messages = match body {
            jsonrpc::Body::Single(m) => std::slice::from_ref(m),
            jsonrpc::Body::Batch(ms) => ms.as_slice(),
        };
        // Callers of an `auth = "none"` upstream are one caller: its tool limits are global.
        let caller = principal.map_or("anonymous", |p| p.subject.as_str());
        for message in messages {
            if message.method.as_deref() != Some("tools/call") {
                continue;
            }
            let Some(tool) = message.name.as_deref() else {
                continue;
            };
            if let Some(rate) = tools.rate_for(tool) {
                // Lengths first: names with `:` in them cannot run into each other.
                let key = format!(
                    "tool:{}:{upstream}:{}:{tool}:{caller}",
                    upstream.len(),
                    tool.len()
                );
                self.take_one("tool", &key, rate, now).await?;
            }
        }
        Ok(())
    }

    async fn take_one(
        &self,
        limit: &'static str,
        key: &str,
        rate: Rate,
        now: Instant,
    ) -> Result<(), RelayError> {
        self.limiter()
            .take(key, rate, now)
            .await
            .map_err(|wait: Duration| {
                metrics::counter!("portcullis_rate_limited_total", "limit" => limit).increment(1);
                tracing::info!(limit, "MCP request refused by a rate limit");
                RelayError::RateLimited {
                    limit,
                    retry_after_secs: retry_after_secs(wait),
                    id: None,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_tool_pattern_applies() {
        let rate = |text: &str| Rate::parse(text).unwrap();
        let patterns: BTreeMap<String, Rate> = [
            ("*", "100/min"),
            ("search_*", "10/min"),
            ("search_docs", "1/min"),
            ("search_d*", "5/min"),
        ]
        .into_iter()
        .map(|(p, r)| (p.to_owned(), rate(r)))
        .collect();
        let limits = ToolLimits::new(&patterns);
        let cases = [
            ("search_docs", "1/min"),
            ("search_dogs", "5/min"),
            ("search_code", "10/min"),
            ("deploy", "100/min"),
        ];
        for (tool, expected) in cases {
            assert_eq!(limits.rate_for(tool), Some(rate(expected)), "{tool}");
        }
        assert_eq!(ToolLimits::default().rate_for("deploy"), None);
    }
}

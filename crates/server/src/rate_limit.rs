//! Rate limits at the edge: per source address on the endpoints anyone can call (sign-in and
//! second-factor posts, `/token`, `/register`, authorization requests naming a client ID
//! metadata document), and the shared buckets every limit (MCP ones included) can draw from.
//!
//! By default each process keeps its own buckets (`core::rate_limit::LocalLimiter`). With
//! `store.redis_url`, [`RedisLimiter`] keeps them in Redis, so replicas share each limit: every
//! take runs one Lua script (GCRA, the same arithmetic as the local limiter, on Redis's own
//! clock so replicas' clocks need not agree) atomically, by `EVALSHA` with a fallback to `EVAL`
//! when Redis has forgotten the script. Keys are `portcullis:rl:<limit>:<key>` and expire when
//! their bucket is full again. When Redis fails or takes longer than [`REDIS_TIMEOUT`], the
//! decision is made by this process's own buckets instead — a limit then holds per replica
//! rather than across them — with a warning in the log (at most one every ten seconds) and
//! `portcullis_rate_limit_fallback_total` counting each such decision: never silently open.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use portcullis_core::config::RateLimitsConfig;
use portcullis_core::rate_limit::{Limiter, LocalLimiter, Rate, bucket_address, retry_after_secs};

use crate::ApiError;
use crate::changes::RedisError;

/// The prefix of every rate-limit key in Redis.
pub const REDIS_PREFIX: &str = "portcullis:rl:";

/// The longest a Redis decision may take before the local buckets decide instead.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// How often at most a fallback is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// GCRA over one key. `KEYS[1]`: the bucket; `ARGV[1]`: the interval, `ARGV[2]`: the tolerance,
/// both in microseconds. Returns 0 when the request is allowed (and moves the key's theoretical
/// arrival time one interval on), or the microseconds to wait. Time is Redis's `TIME`.
const GCRA_SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then
  return ahead - tolerance
end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
return 0
";

/// Rate limits shared through Redis, deciding locally when Redis cannot.
pub struct RedisLimiter {
    connection: redis::aio::ConnectionManager,
    /// The SHA-1 Redis gave the script when it was loaded.
    sha: String,
    local: LocalLimiter,
    last_warning: Mutex<Option<Instant>>,
    fallbacks: metrics::Counter,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter").finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url` and loads the script (now: a server that does not answer is an error),
    /// reconnecting by itself later.
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let mut connection =
            redis::aio::ConnectionManager::new_with_config(crate::changes::client(url)?, config)
                .await?;
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(GCRA_SCRIPT)
            .query_async(&mut connection)
            .await?;
        Ok(RedisLimiter {
            connection,
            sha,
            local: LocalLimiter::default(),
            last_warning: Mutex::new(None),
            fallbacks: metrics::counter!("portcullis_rate_limit_fallback_total"),
        })
    }

    /// The script's answer for `key`: microseconds to wait, 0 when allowed.
    async fn ask(&self, key: &str, rate: Rate) -> Result<u64, redis::RedisError> {
        let interval = u64::try_from(rate.interval().as_micros()).unwrap_or(u64::MAX);
        let tolerance = interval.saturating_mul(u64::from(rate.count() - 1));
        let key = format!("{REDIS_PREFIX}{key}");
        let mut connection = self.connection.clone();
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha
            .arg(&self.sha)
            .arg(1)
            .arg(&key)
            .arg(interval)
            .arg(tolerance);
        match evalsha.query_async::<u64>(&mut connection).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                // Redis restarted or its scripts were flushed: EVAL loads the script again.
                let mut eval = redis::cmd("EVAL");
                eval.arg(GCRA_SCRIPT)
                    .arg(1)
                    .arg(&key)
                    .arg(interval)
                    .arg(tolerance);
                eval.query_async(&mut connection).await
            }
            answer => answer,
        }
    }

    fn fall_back(&self, why: &str) {
        self.fallbacks.increment(1);
        let now = Instant::now();
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            *last = Some(now);
            tracing::warn!(
                error = why,
                "rate limits could not be shared through Redis: this process decides alone (each replica enforces the limit on its own)"
            );
        }
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn take(&self, key: &str, rate: Rate, now: Instant) -> Result<(), Duration> {
        match tokio::time::timeout(REDIS_TIMEOUT, self.ask(key, rate)).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(wait)) => Err(Duration::from_micros(wait)),
            Ok(Err(e)) => {
                self.fall_back(&RedisError::from(e).to_string());
                self.local.take_now(key, rate, now)
            }
            Err(_) => {
                self.fall_back("timed out");
                self.local.take_now(key, rate, now)
            }
        }
    }
}

/// The per-address limits of `[rate_limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressLimit {
    SignIn,
    Token,
    Registration,
    ClientIdDocument,
}

impl AddressLimit {
    fn name(self) -> &'static str {
        match self {
            AddressLimit::SignIn => "sign_in",
            AddressLimit::Token => "token",
            AddressLimit::Registration => "registration",
            AddressLimit::ClientIdDocument => "client_id_document",
        }
    }
}

/// `[rate_limits]` for the HTTP endpoints, and the buckets they draw from.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    config: RateLimitsConfig,
    limiter: Arc<dyn Limiter>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits::new(
            &RateLimitsConfig::default(),
            Arc::new(LocalLimiter::default()),
        )
    }
}

impl HttpLimits {
    pub fn new(config: &RateLimitsConfig, limiter: Arc<dyn Limiter>) -> Self {
        HttpLimits {
            config: config.clone(),
            limiter,
        }
    }

    fn rate(&self, limit: AddressLimit) -> Option<Rate> {
        match limit {
            AddressLimit::SignIn => self.config.sign_in,
            AddressLimit::Token => self.config.token,
            AddressLimit::Registration => self.config.registration,
            AddressLimit::ClientIdDocument => self.config.client_id_document,
        }
    }

    /// Takes one request of `limit` from the client at `address` (`None` when served without
    /// peer addresses, in-process tests: every such request shares one bucket), or says how long
    /// until one is allowed (counted in `portcullis_rate_limited_total`).
    pub(crate) async fn take(
        &self,
        limit: AddressLimit,
        address: Option<IpAddr>,
    ) -> Result<(), Duration> {
        let Some(rate) = self.rate(limit) else {
            return Ok(());
        };
        let address = bucket_address(address.unwrap_or(IpAddr::from([0, 0, 0, 0])));
        let key = format!("{}:{address}", limit.name());
        self.limiter
            .take(&key, rate, Instant::now())
            .await
            .inspect_err(|_| {
                metrics::counter!("portcullis_rate_limited_total", "limit" => limit.name())
                    .increment(1);
                tracing::info!(
                    limit = limit.name(),
                    "request refused by a per-address rate limit"
                );
            })
    }

    /// [`HttpLimits::take`] as the JSON 429 of the OAuth and registration endpoints.
    pub(crate) async fn check(
        &self,
        limit: AddressLimit,
        address: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        self.take(limit, address)
            .await
            .map_err(|wait| ApiError::RateLimited {
                retry_after_secs: retry_after_secs(wait),
            })
    }
}

/// Whether a `client_id` is a client ID metadata document URL, which Portcullis may fetch.
pub(crate) fn names_document(client_id: Option<&str>) -> bool {
    client_id.is_some_and(|id| id.starts_with("https://"))
}

#[cfg(test)]
mod tests;

//! Rate limits: a [`Rate`] ("10/s", "600/min", "1000/h") and the generic cell rate algorithm
//! (GCRA) that enforces it for any key, behind the [`Limiter`] interface.
//!
//! GCRA keeps one instant per key, the "theoretical arrival time" (TAT) of its next request.
//! A rate of `n` per `period` emits one request every `interval = period / n` and tolerates a
//! burst of `n`: a request at `now` is allowed when the TAT is at most `interval × (n − 1)` ahead
//! of `now`, and then moves the TAT one interval on; otherwise it is refused and told how long
//! until it would be allowed. A key whose TAT has passed is back to a full burst, so it can be
//! forgotten: that is what bounds the memory of [`LocalLimiter`].
//!
//! [`LocalLimiter`] holds the TATs of this process in monotonic time (clock changes cannot
//! refill a bucket) and integer nanoseconds (refills are exact). A shared implementation over
//! Redis runs the same arithmetic in one script (the server's `rate_limit` module).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most requests a rate may allow per period.
pub const MAX_COUNT: u32 = 1_000_000;

/// `count` requests per `period`, with a burst of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: u32,
    period: Duration,
}

/// Why a rate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {text:?}: {why}")]
pub struct RateError {
    text: String,
    why: &'static str,
}

impl Rate {
    /// `count` per `period`. `None` when either is zero or the count is above [`MAX_COUNT`].
    pub fn new(count: u32, period: Duration) -> Option<Rate> {
        (count > 0 && count <= MAX_COUNT && !period.is_zero()).then_some(Rate { count, period })
    }

    /// Reads `<count>/<unit>` with unit `s`, `min`, `h` or `d` (also `second`, `minute`,
    /// `hour`, `day`): "10/s", "600/min", "1000/h".
    pub fn parse(text: &str) -> Result<Rate, RateError> {
        let error = |why| RateError {
            text: text.to_owned(),
            why,
        };
        let (count, unit) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| error("expected a count and a period such as 600/min"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| error("the count must be a whole number"))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return Err(error("the period must be one of s, min, h, d")),
        };
        Rate::new(count, period).ok_or_else(|| error("the count must be between 1 and 1000000"))
    }

    /// How many requests a full burst allows.
    pub fn count(self) -> u32 {
        self.count
    }

    /// The time one request costs: the period divided by the count.
    pub fn interval(self) -> Duration {
        self.period / self.count
    }

    /// How far ahead of now a key's TAT may be for a request to pass: the burst after the first
    /// request.
    pub fn tolerance(self) -> Duration {
        self.interval() * (self.count - 1)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => "d",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(text: &str) -> Result<Rate, RateError> {
        Rate::parse(text)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        let text = String::deserialize(d)?;
        Rate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A limit that can be switched off: a [`Rate`], or `"off"`.
pub mod rate_or_off {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Rate;

    /// The word that switches a limit off.
    pub const OFF: &str = "off";

    pub fn serialize<S: Serializer>(rate: &Option<Rate>, s: S) -> Result<S::Ok, S::Error> {
        match rate {
            Some(rate) => s.collect_str(rate),
            None => s.serialize_str(OFF),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim() == OFF {
            return Ok(None);
        }
        Rate::parse(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{e} (or \"off\")")))
    }
}

/// One GCRA step: the key's TAT (`None` for a key not seen, or forgotten) and `now` give either
/// the new TAT (allowed) or how long until a request would be allowed (refused, at least one
/// nanosecond).
pub fn gcra(tat: Option<Instant>, now: Instant, rate: Rate) -> Result<Instant, Duration> {
    let arrival = tat.map_or(now, |tat| tat.max(now));
    let ahead = arrival.saturating_duration_since(now);
    let tolerance = rate.tolerance();
    if ahead > tolerance {
        return Err(ahead - tolerance);
    }
    Ok(arrival + rate.interval())
}

/// Whole seconds of a wait for `Retry-After`: rounded up, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The address whose bucket a client's request counts in: IPv4 (IPv4-mapped IPv6 too) as
/// itself, IPv6 by its /64, which one machine usually holds whole.
pub fn bucket_address(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// Takes requests from rate-limited keys.
#[async_trait]
pub trait Limiter: Send + Sync + fmt::Debug {
    /// Takes one request for `key` at `rate` at `now`, or says how long until one is allowed.
    /// Keys of different limits must differ (callers prefix them with the limit's name).
    async fn take(&self, key: &str, rate: Rate, now: Instant) -> Result<(), Duration>;
}

/// The keys a [`LocalLimiter`] tracks at most by default.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// The TATs of this process, at most `max_keys` of them. When full, keys back to a full burst
/// are dropped; if every key is still busy a newcomer is refused (told to wait one interval of
/// its rate) rather than an existing limit forgotten.
#[derive(Debug)]
pub struct LocalLimiter {
    max_keys: usize,
    tats: Mutex<HashMap<String, Instant>>,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        LocalLimiter::new(DEFAULT_MAX_KEYS)
    }
}

impl LocalLimiter {
    /// A limiter tracking at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        LocalLimiter {
            max_keys,
            tats: Mutex::new(HashMap::new()),
        }
    }

    /// [`Limiter::take`] without the future.
    pub fn take_now(&self, key: &str, rate: Rate, now: Instant) -> Result<(), Duration> {
        // Plain instants: a panic elsewhere cannot leave an entry half-written.
        let mut tats = self.tats.lock().unwrap_or_else(PoisonError::into_inner);
        let known = tats.get(key).copied();
        if known.is_none() && tats.len() >= self.max_keys {
            tats.retain(|_, tat| *tat > now);
            if tats.len() >= self.max_keys {
                return Err(rate.interval());
            }
        }
        let tat = gcra(known, now, rate)?;
        match tats.get_mut(key) {
            Some(slot) => *slot = tat,
            None => {
                tats.insert(key.to_owned(), tat);
            }
        }
        Ok(())
    }

    /// How many keys are tracked now.
    pub fn tracked(&self) -> usize {
        self.tats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl Limiter for LocalLimiter {
    async fn take(&self, key: &str, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.take_now(key, rate, now)
    }
}

#[cfg(test)]
mod tests;

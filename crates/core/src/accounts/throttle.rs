//! Slowing down guessing: a progressive delay after failed sign-in attempts, per account and
//! per client address, shared by every factor (password, authenticator code, recovery code).
//!
//! Each key (the account as typed — `user:<username key>`, whether or not such an account
//! exists, so the answer says nothing about which do — and the address, `addr:<ip>`) counts its
//! failures in the store, atomically, so every replica sees the same count. The first few
//! failures are free; after that each attempt must wait a delay that doubles with every further
//! failure, up to a ceiling. There is no lockout: an attacker can slow a victim's sign-in down to
//! one attempt per ceiling, never stop it, and a success clears the account's count. A count
//! lapses a day after its last failure.
//!
//! An attempt made during the delay is refused without checking anything, and does not count.

use std::time::Duration;

use portcullis_store::{Store, Throttle, username_key};
use time::OffsetDateTime;

use super::AccountsError;

/// The delays for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Failures without any delay.
    pub free: u32,
    /// The delay after the first failure past `free`; it doubles with each further one.
    pub first: Duration,
    /// The longest delay.
    pub ceiling: Duration,
}

/// Accounts: five free failures, then 1 s, 2 s, 4 s … up to 15 minutes.
pub const ACCOUNT: Schedule = Schedule {
    free: 5,
    first: Duration::from_secs(1),
    ceiling: Duration::from_secs(15 * 60),
};

/// Client addresses (many people may share one): twenty free failures, then the same growth.
pub const ADDRESS: Schedule = Schedule {
    free: 20,
    first: Duration::from_secs(1),
    ceiling: Duration::from_secs(15 * 60),
};

/// How long after its last failure a count is forgotten.
pub const LAPSE: Duration = Duration::from_secs(24 * 3600);

impl Schedule {
    /// The wait after `failures` failures.
    pub fn delay(&self, failures: u32) -> Duration {
        let Some(past) = failures.checked_sub(self.free).filter(|p| *p > 0) else {
            return Duration::ZERO;
        };
        let doublings = (past - 1).min(30);
        self.first
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.ceiling)
            .min(self.ceiling)
    }
}

/// The keys one sign-in attempt counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `user:<username key>`.
    pub account: String,
    /// `addr:<ip>`, when the client's address is known.
    pub address: Option<String>,
}

impl Attempt {
    /// An attempt to sign in as `username` (as typed) from `address`.
    pub fn new(username: &str, address: Option<std::net::IpAddr>) -> Self {
        Attempt {
            account: format!("user:{}", username_key(username.trim())),
            address: address.map(|ip| format!("addr:{}", address_key(ip))),
        }
    }

    fn keys(&self) -> impl Iterator<Item = (&str, Schedule)> {
        std::iter::once((self.account.as_str(), ACCOUNT))
            .chain(self.address.as_deref().map(|a| (a, ADDRESS)))
    }
}

/// An IPv6 address counts by its /64 (one customer's network); IPv4 by the address.
fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn wait_left(throttle: &Throttle, schedule: Schedule, now: OffsetDateTime) -> Duration {
    let delay = schedule.delay(throttle.failures);
    let until = throttle.last_failure_at + delay;
    if delay.is_zero() || until <= now {
        return Duration::ZERO;
    }
    // Never more than the delay itself, even when another replica's clock is ahead of ours.
    Duration::try_from(until - now).unwrap_or(delay).min(delay)
}

/// Refuses the attempt with [`AccountsError::Throttled`] while one of its keys must still wait.
pub async fn check(
    store: &dyn Store,
    attempt: &Attempt,
    now: OffsetDateTime,
) -> Result<(), AccountsError> {
    let mut longest = Duration::ZERO;
    for (key, schedule) in attempt.keys() {
        if let Some(throttle) = store.throttle_get(key).await? {
            longest = longest.max(wait_left(&throttle, schedule, now));
        }
    }
    if longest > Duration::ZERO {
        // Whole seconds, rounded up: what `Retry-After` and a page can say.
        let secs = longest.as_secs() + u64::from(longest.subsec_nanos() > 0);
        return Err(AccountsError::Throttled {
            retry_after: Duration::from_secs(secs),
        });
    }
    Ok(())
}

/// Counts a failed attempt against each of its keys.
pub async fn failed(
    store: &dyn Store,
    attempt: &Attempt,
    now: OffsetDateTime,
) -> Result<(), AccountsError> {
    let reset_before = now - LAPSE;
    for (key, _) in attempt.keys() {
        let counted = store.throttle_fail(key, now, reset_before).await?;
        if counted.failures > ACCOUNT.free {
            tracing::warn!(
                key,
                failures = counted.failures,
                "repeated failed sign-in attempts"
            );
        }
    }
    Ok(())
}

/// Forgets the account's failures after a complete sign-in (the address keeps its count: one
/// success from a shared address says nothing about the other attempts from it).
pub async fn succeeded(store: &dyn Store, attempt: &Attempt) -> Result<(), AccountsError> {
    store.throttle_clear(&attempt.account).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use portcullis_store::MemoryStore;

    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_ceiling() {
        let secs = |n| ACCOUNT.delay(n).as_secs();
        assert_eq!([secs(0), secs(1), secs(5)], [0, 0, 0]);
        assert_eq!([secs(6), secs(7), secs(8), secs(9)], [1, 2, 4, 8]);
        assert_eq!(secs(15), 512);
        assert_eq!(secs(16), 900);
        assert_eq!(secs(u32::MAX), 900);
        assert_eq!(ADDRESS.delay(20), Duration::ZERO);
        assert_eq!(ADDRESS.delay(21), Duration::from_secs(1));
    }

    #[test]
    fn keys_name_the_account_as_typed_and_the_network() {
        let v4 = Attempt::new(" Alice ", Some("198.51.100.7".parse().unwrap()));
        assert_eq!(v4.account, "user:alice");
        assert_eq!(v4.address.as_deref(), Some("addr:198.51.100.7"));
        let v6 = Attempt::new("alice", Some("2001:db8:1:2:3:4:5:6".parse().unwrap()));
        assert_eq!(v6.address.as_deref(), Some("addr:2001:db8:1:2::/64"));
        let mapped = Attempt::new("alice", Some("::ffff:198.51.100.7".parse().unwrap()));
        assert_eq!(mapped.address.as_deref(), Some("addr:198.51.100.7"));
        assert_eq!(Attempt::new("alice", None).address, None);
    }

    #[tokio::test]
    async fn attempts_wait_after_repeated_failures_and_a_success_clears_the_account() {
        let store = MemoryStore::new();
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let attempt = Attempt::new("alice", Some("198.51.100.7".parse().unwrap()));
        for i in 0..5 {
            check(&store, &attempt, t0).await.unwrap();
            failed(&store, &attempt, t0 + time::Duration::seconds(i))
                .await
                .unwrap();
        }
        // Five failures are free; the sixth makes the next attempt wait a second.
        let last = t0 + time::Duration::seconds(5);
        check(&store, &attempt, last).await.unwrap();
        failed(&store, &attempt, last).await.unwrap();
        match check(&store, &attempt, last).await {
            Err(AccountsError::Throttled { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(1));
            }
            other => panic!("{other:?}"),
        }
        // Another account from another address is not slowed down.
        let bob = Attempt::new("bob", Some("203.0.113.9".parse().unwrap()));
        check(&store, &bob, last).await.unwrap();
        // After the delay the attempt is allowed; a success forgets the account's failures.
        let later = last + time::Duration::seconds(1);
        check(&store, &attempt, later).await.unwrap();
        succeeded(&store, &attempt).await.unwrap();
        assert_eq!(store.throttle_get(&attempt.account).await.unwrap(), None);
        let address = attempt.address.as_deref().unwrap();
        assert_eq!(
            store.throttle_get(address).await.unwrap().unwrap().failures,
            6
        );
        // A day after the last failure, counts start again.
        let next_day = last + time::Duration::hours(25);
        failed(&store, &attempt, next_day).await.unwrap();
        assert_eq!(
            store.throttle_get(address).await.unwrap().unwrap().failures,
            1
        );
    }
}

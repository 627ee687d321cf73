use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;

/// The Redis of the tests: `PORTCULLIS_TEST_REDIS_URL`; skipped without it, except in CI.
fn redis_url() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but PORTCULLIS_TEST_REDIS_URL is not")
        }
        _ => None,
    }
}

/// A key no other test run uses.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:{name}:{}:{nanos:x}", std::process::id())
}

#[tokio::test]
async fn address_limits_are_kept_apart_and_can_be_off() {
    let config = RateLimitsConfig {
        token: Some(Rate::parse("2/min").unwrap()),
        registration: None,
        ..RateLimitsConfig::default()
    };
    let limits = HttpLimits::new(&config, Arc::new(LocalLimiter::default()));
    let me = Some(IpAddr::from([192, 0, 2, 1]));
    let other = Some(IpAddr::from([192, 0, 2, 2]));
    assert!(limits.take(AddressLimit::Token, me).await.is_ok());
    assert!(limits.take(AddressLimit::Token, me).await.is_ok());
    let wait = limits.take(AddressLimit::Token, me).await.unwrap_err();
    assert!(
        wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    assert!(limits.take(AddressLimit::Token, other).await.is_ok());
    // Another limit of the same address has its own bucket.
    assert!(limits.take(AddressLimit::SignIn, me).await.is_ok());
    // A limit that is off never refuses.
    for _ in 0..50 {
        assert!(limits.take(AddressLimit::Registration, me).await.is_ok());
    }
}

#[tokio::test]
async fn redis_buckets_follow_gcra() {
    let Some(url) = redis_url() else { return };
    let limiter = RedisLimiter::connect(&url).await.unwrap();
    let key = unique("gcra");
    let rate = Rate::parse("3/min").unwrap();
    for _ in 0..3 {
        assert_eq!(limiter.take(&key, rate, Instant::now()).await, Ok(()));
    }
    let wait = limiter.take(&key, rate, Instant::now()).await.unwrap_err();
    // One interval (20 s) less the little time the takes took.
    assert!(
        wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
        "{wait:?}"
    );
    // Other keys are untouched.
    assert_eq!(
        limiter.take(&unique("other"), rate, Instant::now()).await,
        Ok(())
    );
    // The key expires once its bucket would be full again, not before.
    let mut connection = limiter.connection.clone();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{REDIS_PREFIX}{key}"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 59_000 && ttl <= 60_001, "{ttl}");
}

#[tokio::test]
async fn redis_buckets_are_shared_between_limiters() {
    let Some(url) = redis_url() else { return };
    let first = RedisLimiter::connect(&url).await.unwrap();
    let second = RedisLimiter::connect(&url).await.unwrap();
    let key = unique("shared");
    let rate = Rate::parse("4/min").unwrap();
    let mut allowed = 0;
    for i in 0..10 {
        let limiter = if i % 2 == 0 { &first } else { &second };
        if limiter.take(&key, rate, Instant::now()).await.is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 4);
}

#[tokio::test]
async fn redis_forgetting_the_script_is_survived() {
    let Some(url) = redis_url() else { return };
    let limiter = RedisLimiter::connect(&url).await.unwrap();
    let mut connection = limiter.connection.clone();
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut connection)
        .await
        .unwrap();
    let key = unique("flushed");
    let rate = Rate::parse("1/min").unwrap();
    assert_eq!(limiter.take(&key, rate, Instant::now()).await, Ok(()));
    assert!(limiter.take(&key, rate, Instant::now()).await.is_err());
}

#[tokio::test]
async fn a_failing_redis_falls_back_to_local_buckets() {
    let Some(url) = redis_url() else { return };
    let limiter = RedisLimiter::connect(&url).await.unwrap();
    // A bucket Redis cannot read makes the script fail: the decision is this process's.
    let key = unique("broken");
    let mut connection = limiter.connection.clone();
    let () = redis::cmd("SET")
        .arg(format!("{REDIS_PREFIX}{key}"))
        .arg("not a number")
        .arg("EX")
        .arg(60)
        .query_async(&mut connection)
        .await
        .unwrap();
    let rate = Rate::parse("1/min").unwrap();
    assert_eq!(limiter.take(&key, rate, Instant::now()).await, Ok(()));
    // Still a limit: the fallback never opens the gate.
    assert!(limiter.take(&key, rate, Instant::now()).await.is_err());
    assert_eq!(limiter.local.tracked(), 1);
}

use std::time::{Duration, Instant};

use super::*;

fn rate(text: &str) -> Rate {
    Rate::parse(text).unwrap()
}

#[test]
fn rates_parse() {
    let ok: &[(&str, u32, u64)] = &[
        ("10/s", 10, 1),
        ("600/min", 600, 60),
        (" 1000 / h ", 1000, 3600),
        ("5/day", 5, 86_400),
        ("1/second", 1, 1),
        ("30/minute", 30, 60),
        ("1000000/s", 1_000_000, 1),
    ];
    for (text, count, secs) in ok {
        let parsed = rate(text);
        assert_eq!(parsed.count(), *count, "{text}");
        assert_eq!(parsed.period, Duration::from_secs(*secs), "{text}");
    }
    let bad: &[(&str, &str)] = &[
        ("", "expected a count"),
        ("10", "expected a count"),
        ("10/week", "the period"),
        ("0/s", "between 1 and"),
        ("1000001/s", "between 1 and"),
        ("-1/s", "whole number"),
        ("ten/s", "whole number"),
        ("1.5/s", "whole number"),
        ("10/ms", "the period"),
    ];
    for (text, needle) in bad {
        let error = Rate::parse(text).unwrap_err().to_string();
        assert!(error.contains(needle), "{text}: {error}");
    }
}

#[test]
fn rates_display_as_written() {
    for text in ["10/s", "600/min", "1000/h", "5/d"] {
        assert_eq!(rate(text).to_string(), text);
    }
    assert_eq!(rate("2/minute").to_string(), "2/min");
}

#[test]
fn interval_and_tolerance() {
    let cases: &[(&str, Duration, Duration)] = &[
        (
            "10/s",
            Duration::from_millis(100),
            Duration::from_millis(900),
        ),
        ("10/min", Duration::from_secs(6), Duration::from_secs(54)),
        ("1/h", Duration::from_secs(3600), Duration::ZERO),
        (
            "3/s",
            Duration::from_nanos(333_333_333),
            Duration::from_nanos(666_666_666),
        ),
    ];
    for (text, interval, tolerance) in cases {
        assert_eq!(rate(text).interval(), *interval, "{text}");
        assert_eq!(rate(text).tolerance(), *tolerance, "{text}");
    }
}

/// Runs requests at the given offsets (milliseconds from a start) against one key and
/// returns each outcome: `Ok` or the wait in milliseconds.
fn run(rate_text: &str, offsets_ms: &[u64]) -> Vec<Result<(), u64>> {
    let start = Instant::now();
    let rate = rate(rate_text);
    let mut tat = None;
    offsets_ms
        .iter()
        .map(|ms| {
            let now = start + Duration::from_millis(*ms);
            match gcra(tat, now, rate) {
                Ok(next) => {
                    tat = Some(next);
                    Ok(())
                }
                Err(wait) => Err(u64::try_from(wait.as_millis()).unwrap()),
            }
        })
        .collect()
}

/// A rate, request offsets in milliseconds, and each request's expected outcome.
type Case<'a> = (&'a str, &'a [u64], &'a [Result<(), u64>]);

#[test]
fn gcra_allows_a_burst_then_the_rate() {
    let cases: &[Case] = &[
        // A burst of three, then refused until one interval has passed.
        ("3/s", &[0, 0, 0, 0], &[Ok(()), Ok(()), Ok(()), Err(333)]),
        // One interval later, one more (and only one).
        (
            "3/s",
            &[0, 0, 0, 334, 334],
            &[Ok(()), Ok(()), Ok(()), Ok(()), Err(332)],
        ),
        // Refused requests take nothing: the wait shrinks as time passes.
        (
            "1/s",
            &[0, 100, 500, 999, 1000],
            &[Ok(()), Err(900), Err(500), Err(1), Ok(())],
        ),
        // A key idle for a period is back to a full burst, never more.
        (
            "2/s",
            &[0, 0, 5000, 5000, 5000],
            &[Ok(()), Ok(()), Ok(()), Ok(()), Err(500)],
        ),
        // Steady traffic at the rate always passes.
        ("10/s", &[0, 100, 200, 300, 400, 500], &[Ok(()); 6]),
        // Ten a minute as registration had it: ten at once, the next after six seconds.
        (
            "10/min",
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5000, 6000, 7000],
            &[
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Err(6000),
                Err(1000),
                Ok(()),
                Err(5000),
            ],
        ),
    ];
    for (rate_text, offsets, expected) in cases {
        assert_eq!(
            &run(rate_text, offsets),
            expected,
            "{rate_text} at {offsets:?}"
        );
    }
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    let cases: &[(Duration, u64)] = &[
        (Duration::ZERO, 1),
        (Duration::from_nanos(1), 1),
        (Duration::from_millis(999), 1),
        (Duration::from_secs(1), 1),
        (Duration::from_millis(1001), 2),
        (Duration::from_secs(59), 59),
    ];
    for (wait, secs) in cases {
        assert_eq!(retry_after_secs(*wait), *secs, "{wait:?}");
    }
}

#[test]
fn local_limiter_keeps_keys_apart() {
    let limiter = LocalLimiter::default();
    let now = Instant::now();
    let rate = rate("2/min");
    assert!(limiter.take_now("a", rate, now).is_ok());
    assert!(limiter.take_now("a", rate, now).is_ok());
    assert_eq!(
        limiter.take_now("a", rate, now),
        Err(Duration::from_secs(30))
    );
    assert!(limiter.take_now("b", rate, now).is_ok());
}

#[test]
fn local_limiter_memory_is_bounded_without_forgetting_limits() {
    let limiter = LocalLimiter::new(3);
    let now = Instant::now();
    let rate = rate("1/min");
    for key in ["a", "b", "c"] {
        assert!(limiter.take_now(key, rate, now).is_ok());
    }
    // Full, and every key is busy: a newcomer is refused, the busy keys stay limited.
    assert_eq!(
        limiter.take_now("d", rate, now),
        Err(Duration::from_secs(60))
    );
    assert_eq!(limiter.tracked(), 3);
    assert!(limiter.take_now("a", rate, now).is_err());
    // Once their limits have passed, idle keys are dropped to make room.
    let later = now + Duration::from_secs(60);
    assert!(limiter.take_now("d", rate, later).is_ok());
    assert_eq!(limiter.tracked(), 1);
    assert!(limiter.take_now("d", rate, later).is_err());
}

#[test]
fn rates_deserialize_with_off() {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Holder {
        #[serde(with = "rate_or_off")]
        limit: Option<Rate>,
        plain: Rate,
    }
    let held: Holder = toml::from_str("limit = \"off\"\nplain = \"5/s\"").unwrap();
    assert_eq!(held.limit, None);
    assert_eq!(held.plain, rate("5/s"));
    assert_eq!(
        toml::to_string(&held).unwrap(),
        "limit = \"off\"\nplain = \"5/s\"\n"
    );
    let error = toml::from_str::<Holder>("limit = \"5/fortnight\"\nplain = \"5/s\"")
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("the period must be one of"), "{error}");
}

#[test]
fn addresses_share_buckets_by_host_or_64() {
    let cases = [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::"),
        ("2001:db8:1:3::1", "2001:db8:1:3::"),
    ];
    for (address, bucket) in cases {
        let address: std::net::IpAddr = address.parse().unwrap();
        assert_eq!(bucket_address(address).to_string(), bucket, "{address}");
    }
}

//! `portcullis-bench-validators`: the CPU cost of verifying one credential, per validator kind and
//! signature algorithm, uncached (every request verified: signature, claims, or a store lookup)
//! and from the gateway's verified-result cache (what every request after the first pays).
//!
//! Keys are generated in-process and served by a fake fetch, so nothing touches the network and
//! the JWKS is warm: what is measured is verification, not key fetching. Runs on one thread;
//! prints a table and, with `--json`, one JSON document.
//!
//!     portcullis-bench-validators [--iterations N] [--json]

// A benchmark binary: a failed step is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use portcullis_core::auth::testing::{FakeFetch, TestKey, Token, jwks};
use portcullis_core::auth::{
    ApiKeyValidator, Context, Credential, Validator, api_key, build_validators,
    install_crypto_provider,
};
use portcullis_core::config::Config;
use portcullis_gateway::Authenticator;
use portcullis_store::{ApiKey, ApiKeyKind, MemoryStore, Store};
use serde_json::json;

const ISSUER: &str = "https://issuer.bench.example";
const JWKS_URI: &str = "https://issuer.bench.example/jwks";
const RESOURCE: &str = "https://gw.bench.example/servers/bench/mcp";
const SECRET: &[u8] = b"a bench secret of at least thirty-two bytes";

struct Row {
    name: String,
    micros: f64,
}

/// Average wall time per call of `f` over `iterations` calls, after a tenth as many unmeasured.
async fn measure<F, Fut>(iterations: u32, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iterations / 10 + 1 {
        f().await;
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f().await;
    }
    duration_micros(started.elapsed()) / f64::from(iterations)
}

fn duration_micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn context() -> Context<'static> {
    Context {
        resource: RESOURCE,
        now: time::OffsetDateTime::now_utc().unix_timestamp(),
    }
}

fn validator(kind_toml: &str, fetch: Arc<FakeFetch>) -> Arc<dyn Validator> {
    let text = format!("version = 1\n[[validators]]\nid = \"bench\"\n{kind_toml}");
    let config = Config::load(&text, std::iter::empty::<(&str, &str)>()).unwrap();
    let env = |name: &str| (name == "BENCH_SECRET").then(|| SECRET.to_vec());
    build_validators(&config, fetch, &env).unwrap().remove(0)
}

/// A `jwt` validator whose keys (served by a fake fetch) are `key`, and a valid token for it.
fn jwt_validator(key: &TestKey) -> (Arc<dyn Validator>, String) {
    let fetch = FakeFetch::new();
    fetch.answer(JWKS_URI, 200, jwks(&[key]));
    let v = validator(
        &format!("kind = \"jwt\"\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\n"),
        fetch,
    );
    let token = Token::valid(key, ISSUER, RESOURCE)
        .claim("exp", json!(context().now + 3600))
        .sign(key);
    (v, token)
}

async fn check(validator: &dyn Validator, credential: Credential<'_>) {
    validator
        .validate(credential, context())
        .await
        .expect("the benchmark credential verifies");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    install_crypto_provider();
    let mut iterations = 2000u32;
    let mut as_json = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--iterations" => iterations = args.next().and_then(|n| n.parse().ok()).unwrap(),
            "--json" => as_json = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let mut rows = Vec::new();

    // `jwt`, one algorithm at a time.
    for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
        let key = TestKey::new(alg, "k1");
        let fetch = FakeFetch::new();
        fetch.answer(JWKS_URI, 200, jwks(&[&key]));
        let v = validator(
            &format!("kind = \"jwt\"\nissuer = \"{ISSUER}\"\njwks_uri = \"{JWKS_URI}\"\n"),
            fetch,
        );
        let token = Token::valid(&key, ISSUER, RESOURCE)
            .claim("exp", json!(context().now + 3600))
            .sign(&key);
        let micros = measure(iterations, || check(v.as_ref(), Credential::Bearer(&token))).await;
        rows.push(Row {
            name: format!("jwt {alg}"),
            micros,
        });
    }

    // `hs256`.
    {
        let v = validator(
            &format!("kind = \"hs256\"\nissuer = \"{ISSUER}\"\nsecret_env = \"BENCH_SECRET\"\n"),
            FakeFetch::new(),
        );
        let key = TestKey::new("ES256", "unused");
        let token = Token::valid(&key, ISSUER, RESOURCE)
            .header("alg", json!("HS256"))
            .claim("exp", json!(context().now + 3600))
            .sign_hs256(SECRET);
        let micros = measure(iterations, || check(v.as_ref(), Credential::Bearer(&token))).await;
        rows.push(Row {
            name: "hs256".to_owned(),
            micros,
        });
    }

    // `api_key` against the in-memory store (a SQL store adds its own round trip).
    let store = Arc::new(MemoryStore::new());
    let key = api_key::new_api_key(&mut rand::rng());
    let now = time::OffsetDateTime::now_utc();
    store
        .api_key_insert(&ApiKey {
            id: "key_bench".to_owned(),
            secret_hash: key.hash,
            subject: "service:bench".to_owned(),
            name: "bench".to_owned(),
            kind: ApiKeyKind::ApiKey,
            scopes: String::new(),
            created_at: now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    let api_keys: Arc<dyn Validator> = Arc::new(ApiKeyValidator::new(store));
    let micros = measure(iterations, || {
        check(api_keys.as_ref(), Credential::Bearer(&key.secret))
    })
    .await;
    rows.push(Row {
        name: "api_key (memory store)".to_owned(),
        micros,
    });

    // The gateway's verified-result cache: what every request after the first pays.
    let (v, token) = jwt_validator(&TestKey::new("ES256", "k1"));
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let validators = [v];
    let authenticator = Authenticator::new();
    let micros = measure(iterations * 10, || async {
        authenticator
            .authenticate(
                "bench",
                RESOURCE,
                &validators,
                &headers,
                None,
                context().now,
            )
            .await
            .expect("cached");
    })
    .await;
    rows.push(Row {
        name: "cached (any kind)".to_owned(),
        micros,
    });

    if as_json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| json!({"validator": r.name, "micros_per_verification": r.micros}))
            .collect();
        println!("{}", json!({ "iterations": iterations, "results": rows }));
    } else {
        println!("{:<26} {:>12}", "credential", "µs/verify");
        for row in &rows {
            println!("{:<26} {:>12.2}", row.name, row.micros);
        }
    }
}

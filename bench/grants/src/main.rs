//! `portcullis-bench-grants`: how many token grants a running Portcullis issues per second, and
//! what each costs it in CPU time. `bench/grants/run` starts Portcullis, registers the clients
//! and the person, and runs this once per grant type and store.
//!
//! Every worker owns one keep-alive HTTP/1.1 connection and has one request in flight: a closed
//! loop, like wrk in `bench/run`. Each answer must be `200` with an `access_token` (and, for
//! refresh, a `refresh_token`); a worker stops at its first failure, and any failure makes the
//! exit status 1.
//!
//! - `client-credentials`: `POST /token` with `grant_type=client_credentials` and `resource`, the
//!   confidential client authenticating with `client_secret_basic`.
//! - `refresh`: first one authorization-code grant per worker, the way a person gives it (sign in
//!   on `/login` once, then per worker `/authorize` with PKCE, Allow on the consent page, the
//!   code exchanged at `/token`); then each worker chains its own refresh token: rotation makes
//!   every refresh token single-use, so each request presents the one the previous answer gave.
//!
//! The measured window follows an unmeasured warm-up. Around it, `utime + stime` of the process
//! `--pid` (Portcullis) is read from `/proc/<pid>/stat`, giving its CPU time per grant. Figures
//! are printed as `BENCH key=value` lines (latencies in microseconds), like `bench/run`'s wrk
//! script, for the shell script to collect.
//!
//!     BENCH_GRANTS_CLIENT_SECRET=… portcullis-bench-grants --grant client-credentials \
//!         --base http://127.0.0.1:8080 --resource http://127.0.0.1:8080/servers/files/mcp \
//!         --client-id client_… [--connections 32] [--duration 10] [--warmup 2] [--pid PID]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::{Parser, ValueEnum};
use rand::RngCore;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// How long one request may take before it counts as a failure (wrk's `--timeout` in
/// `bench/run`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Grant {
    ClientCredentials,
    Refresh,
}

#[derive(Debug, Parser)]
#[command(about = "Token grants per second against a running Portcullis")]
struct Args {
    /// The grant to request.
    #[arg(long, value_enum)]
    grant: Grant,
    /// Portcullis's public URL, on a loopback address: http://127.0.0.1:PORT.
    #[arg(long)]
    base: String,
    /// The resource (an MCP server's URL) the tokens are for.
    #[arg(long)]
    resource: String,
    /// The client: confidential with the client_credentials grant, or one with
    /// authorization_code and refresh_token (public, or confidential with --client-secret).
    #[arg(long)]
    client_id: String,
    /// The client's secret (client_secret_basic); required for client-credentials.
    #[arg(long, env = "BENCH_GRANTS_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// refresh: the person who signs in and consents.
    #[arg(long)]
    username: Option<String>,
    #[arg(long, env = "BENCH_GRANTS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// refresh: a redirect URI registered for the client (never visited).
    #[arg(long, default_value = "http://127.0.0.1:9/callback")]
    redirect_uri: String,
    /// The scope to ask for; none (the resource's, or the client's default) when absent.
    #[arg(long)]
    scope: Option<String>,
    /// Concurrent connections, one request in flight each.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Unmeasured seconds of the same load first.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Portcullis's process id: its CPU time over the measured window is reported.
    #[arg(long)]
    pid: Option<u32>,
    /// Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    if let Err(problem) = outcome {
        eprintln!("portcullis-bench-grants: {problem}");
        std::process::exit(1);
    }
}

/// What every worker sends, apart from its own refresh token.
#[derive(Debug)]
struct Target {
    grant: Grant,
    token_url: String,
    resource: String,
    client_id: String,
    /// `Authorization: Basic …` when the client has a secret.
    basic: Option<String>,
    scope: Option<String>,
}

async fn run(args: Args) -> Result<(), String> {
    check_loopback(&args.base)?;
    if args.connections == 0 || args.duration == 0 {
        return Err("--connections and --duration must be at least 1".to_owned());
    }
    let base = args.base.trim_end_matches('/').to_owned();
    let basic = args
        .client_secret
        .as_deref()
        .map(|secret| basic(&args.client_id, secret));
    if args.grant == Grant::ClientCredentials && basic.is_none() {
        return Err(
            "client-credentials needs the client's secret (BENCH_GRANTS_CLIENT_SECRET)".to_owned(),
        );
    }
    let target = Arc::new(Target {
        grant: args.grant,
        token_url: format!("{base}/token"),
        resource: args.resource.clone(),
        client_id: args.client_id.clone(),
        basic,
        scope: args.scope.clone(),
    });

    let setup_started = Instant::now();
    let mut workers = Vec::with_capacity(args.connections);
    let refresh_tokens = match args.grant {
        Grant::ClientCredentials => vec![None; args.connections],
        Grant::Refresh => first_refresh_tokens(&args, &base, &target)
            .await?
            .into_iter()
            .map(Some)
            .collect(),
    };
    for refresh_token in refresh_tokens {
        workers.push(Worker {
            http: connection()?,
            refresh_token,
        });
    }
    println!("BENCH setup_ms={}", setup_started.elapsed().as_millis());

    if args.warmup > 0 {
        let (warm, tally, _) = phase(workers, &target, args.warmup).await;
        if tally.errors > 0 {
            return Err(format!(
                "{} errors in the warm-up; the first: {}",
                tally.errors,
                tally.first_error.unwrap_or_default()
            ));
        }
        workers = warm;
    }

    let ticks_before = args.pid.map(cpu_ticks).transpose()?;
    let (_, tally, elapsed) = phase(workers, &target, args.duration).await;
    let ticks_after = args.pid.map(cpu_ticks).transpose()?;

    let mut latencies = tally.latencies_us;
    latencies.sort_unstable();
    let requests = latencies.len();
    let seconds = elapsed.as_secs_f64();
    println!("BENCH requests={requests}");
    println!("BENCH duration_us={}", elapsed.as_micros());
    println!("BENCH rps={:.1}", requests as f64 / seconds);
    for (key, q) in [("p50_us", 0.50), ("p90_us", 0.90), ("p99_us", 0.99)] {
        println!("BENCH {key}={}", percentile(&latencies, q));
    }
    println!("BENCH max_us={}", latencies.last().copied().unwrap_or(0));
    let mean = if requests == 0 {
        0.0
    } else {
        latencies.iter().map(|&l| f64::from(l)).sum::<f64>() / requests as f64
    };
    println!("BENCH mean_us={mean:.1}");
    println!("BENCH errors={}", tally.errors);
    if let (Some(before), Some(after)) = (ticks_before, ticks_after) {
        let user = after.user.saturating_sub(before.user);
        let system = after.system.saturating_sub(before.system);
        println!("BENCH portcullis_cpu_ticks={}", user + system);
        println!("BENCH portcullis_user_ticks={user}");
        println!("BENCH portcullis_system_ticks={system}");
        if requests > 0 {
            let per_grant = |ticks: u64| ticks as f64 / args.clk_tck as f64 * 1e6 / requests as f64;
            println!("BENCH portcullis_cpu_us={:.2}", per_grant(user + system));
            println!("BENCH portcullis_system_cpu_us={:.2}", per_grant(system));
        }
    }
    if let Some(first) = tally.first_error {
        return Err(format!("{} errors; the first: {first}", tally.errors));
    }
    if requests == 0 {
        return Err("no grant completed".to_owned());
    }
    Ok(())
}

/// All traffic stays on this machine.
fn check_loopback(base: &str) -> Result<(), String> {
    let url = url::Url::parse(base).map_err(|e| format!("--base {base}: {e}"))?;
    match url.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
        _ => Err(format!(
            "--base {base}: only loopback addresses are benchmarked"
        )),
    }
}

/// A client with one keep-alive connection, following no redirects.
fn connection() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// `Authorization: Basic` for a client id and secret (RFC 6749 §2.3.1: each form-encoded).
fn basic(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    format!("Basic {}", STANDARD.encode(pair))
}

// --- the measured loop --------------------------------------------------------------------------

#[derive(Debug)]
struct Worker {
    http: reqwest::Client,
    /// refresh: the token the next request presents (the latest one issued).
    refresh_token: Option<String>,
}

#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
}

impl Worker {
    /// One grant; for refresh, keeps the rotated token.
    async fn grant(&mut self, target: &Target) -> Result<(), String> {
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(4);
        match target.grant {
            Grant::ClientCredentials => {
                form.push(("grant_type", "client_credentials"));
                form.push(("resource", &target.resource));
            }
            Grant::Refresh => {
                let token = self
                    .refresh_token
                    .as_deref()
                    .ok_or("no refresh token left")?;
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", token));
            }
        }
        if let Some(scope) = &target.scope {
            form.push(("scope", scope));
        }
        let answer = token_request(&self.http, target, form).await?;
        if target.grant == Grant::Refresh {
            // Without its successor the chain ends: the presented token is spent.
            self.refresh_token = None;
            let next = answer
                .refresh_token
                .ok_or("a refresh answered 200 without a new refresh_token")?;
            self.refresh_token = Some(next);
        }
        Ok(())
    }
}

/// `POST /token` with `form` and the client's authentication; the answer must be `200` with an
/// `access_token`.
async fn token_request(
    http: &reqwest::Client,
    target: &Target,
    mut form: Vec<(&str, &str)>,
) -> Result<TokenAnswer, String> {
    let mut request = http.post(&target.token_url);
    match &target.basic {
        Some(basic) => request = request.header(AUTHORIZATION, basic),
        None => form.push(("client_id", &target.client_id)),
    }
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("POST /token: {e}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("POST /token: reading the answer: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!(
            "POST /token answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| format!("POST /token: the answer is not a token response: {e}"))?;
    if answer.access_token.as_deref().is_none_or(str::is_empty) {
        return Err("POST /token answered 200 without an access_token".to_owned());
    }
    Ok(answer)
}

/// Runs every worker for `seconds` (each finishes the request it has started); returns the
/// workers, their merged tally, and the wall time until the last one finished.
async fn phase(
    workers: Vec<Worker>,
    target: &Arc<Target>,
    seconds: u64,
) -> (Vec<Worker>, Tally, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let target = Arc::clone(target);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let result = worker.grant(&target).await;
                    let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                    if let Err(problem) = result {
                        // One failure ends this worker: its refresh chain may be broken, and
                        // the run has failed anyway.
                        tally.errors += 1;
                        tally.first_error = Some(problem);
                        break;
                    }
                    tally.latencies_us.push(micros);
                }
                (worker, tally)
            })
        })
        .collect();
    let mut workers = Vec::with_capacity(tasks.len());
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok((worker, tally)) => {
                workers.push(worker);
                total.latencies_us.extend(tally.latencies_us);
                total.errors += tally.errors;
                if total.first_error.is_none() {
                    total.first_error = tally.first_error;
                }
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert(format!("a worker failed: {e}"));
            }
        }
    }
    (workers, total, started.elapsed())
}

/// The nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0)
}

/// CPU time of a process in clock ticks, all threads: user and system.
#[derive(Debug, Clone, Copy)]
struct Ticks {
    user: u64,
    system: u64,
}

/// `utime` and `stime` of a process (fields 14 and 15 of `/proc/PID/stat`, counted after the
/// parenthesised command name, which may hold spaces).
fn cpu_ticks(pid: u32) -> Result<Ticks, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let after_name = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: no command name"))?;
    // The first field after the name is field 3 (state): utime and stime are the 12th and 13th.
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let mut next = || -> Result<u64, String> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path}: unreadable CPU times"))
    };
    Ok(Ticks {
        user: next()?,
        system: next()?,
    })
}

// --- the first refresh tokens: a person signs in and consents -----------------------------------

/// One browser: its cookies, and the public URL its forms are posted from.
#[derive(Debug)]
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

/// A response, read.
#[derive(Debug)]
struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Browser {
    async fn send(&mut self, request: reqwest::RequestBuilder, what: &str) -> Result<Page, String> {
        let cookie = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request
            .header(COOKIE, cookie)
            .send()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap_or_default();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            if let Some((name, value)) = pair.split_once('=') {
                if attributes.to_ascii_lowercase().contains("max-age=0") {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| format!("{what}: reading the answer: {e}"))?;
        Ok(Page {
            status,
            location,
            body,
        })
    }

    async fn get(&mut self, path_and_query: &str) -> Result<Page, String> {
        let request = self.http.get(format!("{}{path_and_query}", self.base));
        self.send(request, &format!("GET {}", path_only(path_and_query)))
            .await
    }

    /// A form post as a browser sends it from a page of this origin.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Result<Page, String> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(ORIGIN, &self.base)
            .form(fields);
        self.send(request, &format!("POST {path}")).await
    }
}

fn path_only(path_and_query: &str) -> &str {
    path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path)
}

/// Signs the person in once, then runs one authorization-code grant per worker: the refresh
/// token each worker starts its chain with.
async fn first_refresh_tokens(
    args: &Args,
    base: &str,
    target: &Target,
) -> Result<Vec<String>, String> {
    let (Some(username), Some(password)) = (&args.username, &args.password) else {
        return Err("refresh needs --username and the password (BENCH_GRANTS_PASSWORD)".to_owned());
    };
    let mut browser = Browser {
        http: connection()?,
        base: base.to_owned(),
        cookies: BTreeMap::new(),
    };
    let login = browser.get("/login").await?;
    if login.status != StatusCode::OK {
        return Err(format!("GET /login answered {}", login.status));
    }
    let csrf =
        hidden_field(&login.body, "csrf_token").ok_or("the sign-in page has no CSRF token")?;
    let signed_in = browser
        .post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await?;
    if signed_in.status != StatusCode::SEE_OTHER
        || signed_in
            .location
            .as_deref()
            .is_some_and(|l| l.contains("/login"))
    {
        return Err(format!(
            "signing in as {username} answered {} (to {})",
            signed_in.status,
            signed_in.location.unwrap_or_default()
        ));
    }

    let mut tokens = Vec::with_capacity(args.connections);
    for n in 0..args.connections {
        let code_verifier = random_secret();
        let code = authorization_code(&mut browser, args, target, &code_verifier, n).await?;
        let form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", args.redirect_uri.as_str()),
            ("code_verifier", code_verifier.as_str()),
            ("resource", target.resource.as_str()),
        ];
        let answer = token_request(&browser.http, target, form)
            .await
            .map_err(|e| format!("exchanging a code: {e}"))?;
        let refresh = answer.refresh_token.ok_or(
            "exchanging a code gave no refresh_token: is the client registered for the refresh_token grant?",
        )?;
        tokens.push(refresh);
    }
    Ok(tokens)
}

/// One authorization request, allowed on the consent page (or remembered: Portcullis then
/// redirects at once); returns the code.
async fn authorization_code(
    browser: &mut Browser,
    args: &Args,
    target: &Target,
    code_verifier: &str,
    n: usize,
) -> Result<String, String> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    let state = format!("bench-{n}");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &target.client_id)
        .append_pair("redirect_uri", &args.redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("resource", &target.resource);
    if let Some(scope) = &target.scope {
        query.append_pair("scope", scope);
    }
    let mut page = browser
        .get(&format!("/authorize?{}", query.finish()))
        .await?;
    if page.status == StatusCode::OK {
        let csrf =
            hidden_field(&page.body, "csrf_token").ok_or("the consent page has no CSRF token")?;
        let request =
            hidden_field(&page.body, "request").ok_or("the consent page has no request field")?;
        page = browser
            .post(
                "/authorize",
                &[
                    ("csrf_token", &csrf),
                    ("request", &request),
                    ("decision", "allow"),
                ],
            )
            .await?;
    }
    let location = match (page.status, &page.location) {
        (StatusCode::SEE_OTHER | StatusCode::FOUND, Some(location)) => location.clone(),
        _ => {
            let start: String = page.body.chars().take(300).collect();
            return Err(format!(
                "the authorization request answered {}: {start}",
                page.status
            ));
        }
    };
    if !location.starts_with(&args.redirect_uri) {
        return Err(format!(
            "the authorization request sent the browser to {}, not back to the client",
            path_only(&location)
        ));
    }
    let back = url::Url::parse(&location).map_err(|e| format!("the redirect back: {e}"))?;
    let param = |name: &str| {
        back.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    if param("state").as_deref() != Some(state.as_str()) {
        return Err("the redirect back carries another state".to_owned());
    }
    match param("code") {
        Some(code) => Ok(code),
        None => Err(format!(
            "the authorization request was refused: {}",
            param("error").unwrap_or_default()
        )),
    }
}

/// 32 random bytes, base64url: a PKCE verifier (RFC 7636 §4.1).
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of the hidden form field `name`, HTML-unescaped.
fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let rest = html.get(start..)?;
    let end = rest.find('"')?;
    Some(html_unescape(rest.get(..end)?))
}

/// Undoes HTML escaping: the named references askama writes, and numeric ones.
fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let tail = rest.get(at..).unwrap_or_default();
        let Some(end) = tail.find(';') else {
            break;
        };
        let entity = tail.get(1..end).unwrap_or_default();
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix('#').and_then(|number| {
                match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse().ok(),
                }
                .and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = tail.get(end + 1..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.50), 50);
        assert_eq!(percentile(&values, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn hidden_fields_are_unescaped() {
        let html = r#"<input type="hidden" name="request" value="a&amp;b=&quot;c&#x27;&#39;&lt;"><input name="csrf_token" value="t0k">"#;
        assert_eq!(hidden_field(html, "request").as_deref(), Some("a&b=\"c''<"));
        assert_eq!(hidden_field(html, "csrf_token").as_deref(), Some("t0k"));
        assert_eq!(hidden_field(html, "state"), None);
        assert_eq!(html_unescape("a & b; &bogus;"), "a & b; &bogus;");
    }

    #[test]
    fn basic_encodes_each_part() {
        // RFC 6749 §2.3.1: "client:id" and "s3cr+t" form-encoded, then base64.
        assert_eq!(
            basic("client:id", "s3cr+t"),
            format!("Basic {}", STANDARD.encode("client%3Aid:s3cr%2Bt"))
        );
    }

    #[test]
    fn only_loopback_is_a_target() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://[::1]:8080").is_ok());
        assert!(check_loopback("http://10.0.0.1:8080").is_err());
        assert!(check_loopback("http://example.com").is_err());
    }

    #[test]
    fn cpu_ticks_of_this_process() {
        assert!(cpu_ticks(std::process::id()).is_ok());
    }
}

//! A whole deployment in a real process: `portcullis serve` on an SQLite file in a temporary
//! directory, in front of a mock MCP server, with an account, and the complete OAuth flow a
//! client and a person run against it — for tests about what the process leaves behind (store
//! files, logs).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use portcullis_testkit::{MockConfig, MockUpstream};
use serde_json::{Value, json};

use super::browser::Browser;
use super::oauth::{
    CHALLENGE, PASSWORD, REDIRECT, STATE, VERIFIER, basic, html_unescape, query_of,
};
use super::{
    free_port, metric_value, metrics_at, portcullis, serve_child_ready, serve_command, stop,
};

pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub config: PathBuf,
    /// Where the process's stderr (its logs) goes.
    pub log: PathBuf,
    child: Option<tokio::process::Child>,
    _upstream: MockUpstream,
}

/// The secrets a [`Deployment::full_flow`] handled, by what they are, and the client's id (not
/// a secret: proof that what was searched holds the flow at all).
#[derive(Clone)]
pub struct FlowSecrets {
    pub client_id: String,
    pub secrets: Vec<(&'static str, String)>,
}

impl Deployment {
    /// Starts `portcullis serve` with `extra` appended to its configuration and `env` set, once
    /// the account `alice` (password [`PASSWORD`]) exists.
    pub async fn start(extra: &str, env: &[(&str, &str)]) -> Deployment {
        let upstream = MockUpstream::start(MockConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let config = dir.path().join("c.toml");
        std::fs::write(
            &config,
            format!(
                "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\"\n\
                 [store]\nurl = \"sqlite://{}/p.db\"\n\
                 [accounts]\ndefault_roles = [\"developer\"]\n\
                 [[upstreams]]\nname = \"files\"\nurl = \"{}\"\n{extra}",
                dir.path().display(),
                upstream.url()
            ),
        )
        .unwrap();
        create_alice(&config, env);
        let log = dir.path().join("portcullis.log");
        let mut command = serve_command();
        command
            .arg("--config")
            .arg(&config)
            .envs(env.iter().copied())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = serve_child_ready(command, port).await;
        Deployment {
            dir,
            base,
            config,
            log,
            child: Some(child),
            _upstream: upstream,
        }
    }

    /// Returns once the running process has loaded every role, grant and group change the store
    /// holds now: its `portcullis_authorization_policy_version` gauge reached the store's
    /// authorization version (within its change poll).
    pub async fn policy_loaded(&self) {
        use portcullis_store::Store as _;
        let store = portcullis_store_sqlite::SqliteStore::connect(&format!(
            "sqlite://{}/p.db",
            self.dir.path().display()
        ))
        .await
        .unwrap();
        let wanted = store.authorization_version().await.unwrap();
        let http = reqwest::Client::new();
        let mut loaded = None;
        for _ in 0..100 {
            let metrics = metrics_at(&http, &format!("{}/metrics", self.base)).await;
            loaded = metric_value(&metrics, "portcullis_authorization_policy_version");
            if loaded.is_some_and(|version| version >= wanted as f64) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the process loaded authorization version {loaded:?}, the store is at {wanted}");
    }

    /// Stops the process (SIGTERM, exit 0).
    pub async fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child).await;
        }
    }

    /// Every byte of every file the deployment wrote in its directory.
    pub fn files(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                bytes.extend(std::fs::read(&path).unwrap());
            }
        }
        bytes
    }

    /// A client registers itself (RFC 7591, with a secret), alice signs in and allows it for
    /// `resource`, and the client redeems the code.
    pub async fn authorized(&self, resource: &str) -> Authorized {
        let base = &self.base;
        let http = reqwest::Client::new();
        let created: Value = http
            .post(format!("{base}/register"))
            .json(&json!({"client_name": "Backend", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let client_id = created["client_id"].as_str().unwrap().to_owned();
        let client_secret = created["client_secret"].as_str().unwrap().to_owned();
        let registration_token = created["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("state", STATE),
                ("resource", resource),
            ])
            .finish();
        let mut browser = Browser::remote(base);
        let signed = browser
            .sign_in("alice", PASSWORD, Some(&format!("/authorize?{query}")))
            .await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        let consent = browser.get(&format!("/authorize?{query}")).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let csrf = consent.csrf();
        let allowed = browser
            .post(
                "/authorize",
                &[
                    ("csrf_token", &csrf),
                    ("request", &html_unescape(&consent.field("request"))),
                    ("decision", "allow"),
                ],
            )
            .await;
        let back = url::Url::parse(allowed.location()).unwrap();
        let code = query_of(&back)("code").unwrap();
        let tokens = token_request(
            &http,
            base,
            &client_id,
            &client_secret,
            vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code.clone()),
                ("redirect_uri", REDIRECT.to_owned()),
                ("code_verifier", VERIFIER.to_owned()),
                ("resource", resource.to_owned()),
            ],
        )
        .await;
        let session = browser.session(false).unwrap().clone();
        Authorized {
            client_id,
            client_secret,
            registration_token,
            code,
            tokens,
            session,
            csrf,
        }
    }

    /// [`Deployment::authorized`] for the MCP server, then the client refreshes, calls a tool
    /// with the access token and revokes it.
    pub async fn full_flow(&self) -> FlowSecrets {
        let base = &self.base;
        let http = reqwest::Client::new();
        let resource = format!("{base}/servers/files/mcp");
        let Authorized {
            client_id,
            client_secret,
            registration_token,
            code,
            tokens,
            session,
            csrf,
        } = self.authorized(&resource).await;
        let token = |form: Vec<(&'static str, String)>| {
            token_request(&http, base, &client_id, &client_secret, form)
        };
        let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let refreshed = token(vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", first_refresh.clone()),
        ])
        .await;
        let second_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
        let access = refreshed["access_token"].as_str().unwrap().to_owned();
        // Twice (the second verification comes from the cache), then a method nobody may use.
        let mcp = |body: Value| {
            http.post(&resource)
                .header("authorization", format!("Bearer {access}"))
                .header("accept", "application/json, text/event-stream")
                .json(&body)
                .send()
        };
        for _ in 0..2 {
            let init = mcp(super::initialize_body()).await.unwrap();
            assert_eq!(init.status(), 200, "the access token works");
        }
        let refused = mcp(json!({"jsonrpc": "2.0", "id": 9, "method": "vendor/unknown"}))
            .await
            .unwrap();
        assert_eq!(refused.status(), 200);
        assert!(refused.text().await.unwrap().contains("-32601"));
        let revoked = http
            .post(format!("{base}/revoke"))
            .header("authorization", basic(&client_id, &client_secret))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        FlowSecrets {
            client_id,
            secrets: vec![
                ("code", code),
                ("PKCE verifier", VERIFIER.to_owned()),
                (
                    "first access token",
                    tokens["access_token"].as_str().unwrap().to_owned(),
                ),
                ("first refresh token", first_refresh),
                ("second access token", access),
                ("second refresh token", second_refresh),
                ("client secret", client_secret),
                ("registration access token", registration_token),
                ("password", PASSWORD.to_owned()),
                ("browser session", session),
                ("CSRF token", csrf),
            ],
        }
    }
}

/// What [`Deployment::authorized`] went through: the client, the code and the tokens it got,
/// alice's browser session and the consent form's CSRF token.
pub struct Authorized {
    pub client_id: String,
    pub client_secret: String,
    pub registration_token: String,
    pub code: String,
    pub tokens: Value,
    pub session: String,
    pub csrf: String,
}

/// A token request of a confidential client (Basic authentication) that must succeed.
async fn token_request(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    client_secret: &str,
    form: Vec<(&'static str, String)>,
) -> Value {
    let answer: Value = http
        .post(format!("{base}/token"))
        .header("authorization", basic(client_id, client_secret))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer["access_token"].is_string(), "{answer}");
    answer
}

fn create_alice(config: &Path, env: &[(&str, &str)]) {
    let mut create = portcullis()
        .args([
            "admin",
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
            "--config",
        ])
        .arg(config)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let output = create.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether `haystack` holds `needle`'s bytes anywhere.
pub fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

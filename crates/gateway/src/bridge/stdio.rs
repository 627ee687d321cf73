//! stdio upstreams: a managed child process speaking newline-delimited JSON-RPC.
//!
//! The supervisor starts the child with a clean environment (a few basics plus the configured
//! `env`), sends its stderr to the logs line by line, restarts it with exponential backoff when
//! it dies (every session on the old process ends: clients see 404 and initialize again), and
//! stops it cleanly: stdin closed, then SIGTERM, then SIGKILL.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use portcullis_core::config::UpstreamConfig;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::sync::CancellationToken;

use super::{Core, lock};

/// The longest line accepted from a child (one JSON-RPC message).
const MAX_LINE: usize = 16 * 1024 * 1024;
/// Environment variables a child inherits from Portcullis; everything else must be configured.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "TMPDIR", "USER"];
/// A child that ran this long resets the restart backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) struct Supervisor {
    name: String,
    command: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    backoff_max: Duration,
    core: Arc<Core>,
    stdin: Mutex<Option<mpsc::UnboundedSender<Bytes>>>,
    generation: AtomicU64,
    running: AtomicBool,
    stop: CancellationToken,
    stopped: Notify,
    first_spawn: Notify,
}

impl Supervisor {
    pub(crate) fn new(
        up: &UpstreamConfig,
        command: &[String],
        core: Arc<Core>,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, String> {
        if command.is_empty() {
            return Err("command is empty".to_owned());
        }
        Ok(Arc::new(Supervisor {
            name: up.name.clone(),
            command: command.to_vec(),
            env: up.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            cwd: up.cwd.clone(),
            backoff_max: up.restart_backoff_max,
            core,
            stdin: Mutex::new(None),
            generation: AtomicU64::new(0),
            running: AtomicBool::new(false),
            stop: shutdown.child_token(),
            stopped: Notify::new(),
            first_spawn: Notify::new(),
        }))
    }

    pub(crate) fn program(&self) -> &str {
        self.command.first().map_or("", String::as_str)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn send(&self, bytes: Bytes) -> Result<(), &'static str> {
        match lock(&self.stdin).as_ref() {
            Some(tx) => tx
                .send(bytes)
                .map_err(|_| "the MCP server process is not running"),
            None => Err("the MCP server process is not running"),
        }
    }

    /// Starts supervising; returns after the first spawn attempt.
    pub(crate) async fn start(self: Arc<Self>) {
        let first = self.first_spawn.notified();
        tokio::spawn(self.clone().supervise());
        first.await;
    }

    /// Stops the child and the supervisor.
    pub(crate) async fn stop(&self) {
        let stopped = self.stopped.notified();
        self.stop.cancel();
        if tokio::time::timeout(Duration::from_secs(10), stopped)
            .await
            .is_err()
        {
            tracing::warn!(upstream = %self.name, "the MCP server process did not stop in time");
        }
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let mut cmd = Command::new(self.program());
        cmd.args(self.command.iter().skip(1))
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for key in INHERITED_ENV {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.spawn()
    }

    async fn supervise(self: Arc<Self>) {
        let mut backoff = FIRST_BACKOFF;
        let mut announced = false;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            let started = Instant::now();
            match self.spawn() {
                Err(e) => {
                    tracing::error!(upstream = %self.name, program = %self.program(), error = %e, "cannot start the MCP server process");
                    metrics::counter!("portcullis_stdio_restarts_total", "upstream" => self.name.clone(), "reason" => "spawn_failed").increment(1);
                    if !announced {
                        announced = true;
                        self.first_spawn.notify_one();
                    }
                }
                Ok(child) => {
                    if !announced {
                        announced = true;
                        // notify_one stores a permit, so start() wakes even if it polls later.
                        self.first_spawn.notify_one();
                    }
                    let status = self.run(child).await;
                    if self.stop.is_cancelled() {
                        break;
                    }
                    tracing::warn!(upstream = %self.name, status = %status, "the MCP server process exited; restarting after {backoff:?}");
                    metrics::counter!("portcullis_stdio_restarts_total", "upstream" => self.name.clone(), "reason" => "exited").increment(1);
                }
            }
            if started.elapsed() >= HEALTHY_AFTER {
                backoff = FIRST_BACKOFF;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stop.cancelled() => break,
            }
            backoff = (backoff * 2).min(self.backoff_max);
        }
        self.stopped.notify_one();
    }

    /// Runs one child until it exits or a stop is asked for; returns how it ended.
    async fn run(&self, mut child: Child) -> String {
        let pid = child.id();
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill().await;
            return "without pipes".to_owned();
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        *lock(&self.stdin) = Some(tx.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.running.store(true, Ordering::Release);
        tracing::info!(upstream = %self.name, pid, "MCP server process started");

        let name = self.name.clone();
        let writer = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if stdin.write_all(&bytes).await.is_err()
                    || stdin.write_all(b"\n").await.is_err()
                    || stdin.flush().await.is_err()
                {
                    break;
                }
            }
            // Dropping stdin closes the child's input: the polite way to ask it to exit.
        });
        let stderr_name = name.clone();
        let stderr_task = tokio::spawn(async move {
            let mut lines = FramedRead::new(stderr, LinesCodec::new_with_max_length(64 * 1024));
            while let Some(line) = lines.next().await {
                match line {
                    Ok(line) => {
                        tracing::info!(upstream = %stderr_name, stream = "stderr", "{line}")
                    }
                    Err(_) => break,
                }
            }
        });
        let core = self.core.clone();
        let reply_tx = tx;
        let reader = tokio::spawn(async move {
            let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
            while let Some(line) = lines.next().await {
                match line {
                    Ok(line) if line.trim().is_empty() => {}
                    Ok(line) => {
                        if let Some(reply) = core.inbound(line.as_bytes(), None) {
                            let _ = reply_tx.send(reply);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(upstream = %name, error = %e, "unreadable output from the MCP server process");
                        break;
                    }
                }
            }
        });

        let status = tokio::select! {
            status = child.wait() => status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            () = self.stop.cancelled() => {
                *lock(&self.stdin) = None;
                writer.abort();
                graceful_stop(&mut child, pid).await
            }
        };
        self.running.store(false, Ordering::Release);
        *lock(&self.stdin) = None;
        writer.abort();
        reader.abort();
        stderr_task.abort();
        self.core.fail_all("the MCP server process exited");
        status
    }
}

/// Closed stdin already asked politely; then SIGTERM, then SIGKILL.
async fn graceful_stop(child: &mut Child, pid: Option<u32>) -> String {
    if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        return status.to_string();
    }
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(3), child.wait()).await {
        return status.to_string();
    }
    let _ = child.kill().await;
    "killed".to_owned()
}

//! `mock-stdio-mcp`: an MCP server over stdio (newline-delimited JSON-RPC on stdin and
//! stdout, logs on stderr) for testing the gateway's child-process relay.
//!
//! It answers `initialize` (2024-11-05 to 2025-11-25; it is a handshake-era server, so
//! `server/discover` is -32601 and dual-era clients fall back), `ping`, `tools/list` and
//! `tools/call` for:
//! - `echo {message}`: returns the message.
//! - `slow {ms?}`: sends `notifications/progress` when the request has
//!   `_meta.progressToken`, then answers after `ms` (or `--slow-ms`, default 200) ms;
//!   `notifications/cancelled` for it stops it without an answer.
//! - `crash`: writes a line to stderr and exits with code 3 without answering.
//! - `whoami`: returns the process id, so a test can see a restart.
//! - `ask {kind?, question?}`: sends the client its own request (`elicitation/create`, or
//!   `sampling/createMessage` when `kind` is `"sampling"`) and answers the tool call
//!   only once the client's response arrives, quoting it.
//!
//! Options: `--slow-ms N`, `--name NAME` (the `serverInfo.name`, default
//! `mock-stdio-mcp`), `--exit-at-start CODE` (log and exit at once, to test children that
//! fail to start), `--sessions-only` (no `server/discover`: a server that only speaks the
//! `initialize` revisions). Without it, `server/discover` lists 2025-11-25 and 2026-07-28. It writes `mock-stdio-mcp started pid=<pid>` to stderr at start and
//! exits 0 when stdin closes.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use portcullis_testkit::jsonrpc::{
    self, INVALID_PARAMS, INVALID_REQUEST, Incoming, METHOD_NOT_FOUND, PARSE_ERROR,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};

/// How long to let requests in flight finish after stdin closes before exiting anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Options {
    slow_ms: u64,
    name: String,
    exit_at_start: Option<u8>,
    sessions_only: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        slow_ms: 200,
        name: "mock-stdio-mcp".to_owned(),
        exit_at_start: None,
        sessions_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--slow-ms" => {
                options.slow_ms = value()?
                    .parse()
                    .map_err(|_| "--slow-ms needs a number of milliseconds".to_owned())?;
            }
            "--name" => options.name = value()?,
            "--sessions-only" => options.sessions_only = true,
            "--exit-at-start" => {
                options.exit_at_start = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--exit-at-start needs an exit code 0-255".to_owned())?,
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("mock-stdio-mcp: {message}");
            return ExitCode::from(2);
        }
    };
    eprintln!("mock-stdio-mcp started pid={}", std::process::id());
    if let Some(code) = options.exit_at_start {
        eprintln!("mock-stdio-mcp: exiting at start with code {code}, as asked");
        return ExitCode::from(code);
    }

    // One writer owns stdout so concurrent answers never interleave within a line.
    let (out, mut outgoing) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(message) = outgoing.recv().await {
            let mut line = message.to_string();
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });

    let server = Arc::new(Server {
        options,
        out,
        pending: Mutex::new(HashMap::new()),
        in_flight: Mutex::new(HashMap::new()),
        next_request: AtomicU64::new(1),
    });
    let mut tasks = JoinSet::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => server.handle_line(&line, &mut tasks),
                Ok(None) => break,
                Err(e) => {
                    eprintln!("mock-stdio-mcp: reading stdin failed: {e}");
                    break;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    eprintln!("mock-stdio-mcp: stdin closed, exiting");
    // Nobody can answer our own requests any more; let the tools waiting on them finish.
    lock(&server.pending).clear();
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    drop(server);
    let _ = writer.await;
    ExitCode::SUCCESS
}

struct Server {
    options: Options,
    out: mpsc::UnboundedSender<Value>,
    /// Our own requests to the client awaiting its response, by the id's JSON text.
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    /// The client's requests being answered, by the id's JSON text, for cancellation.
    in_flight: Mutex<HashMap<String, AbortHandle>>,
    next_request: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Server {
    fn send(&self, message: Value) {
        // Fails only when the writer stopped because stdout is gone; nothing to do then.
        let _ = self.out.send(message);
    }

    fn handle_line(self: &Arc<Self>, line: &str, tasks: &mut JoinSet<()>) {
        if line.trim().is_empty() {
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            eprintln!("mock-stdio-mcp: unparseable line");
            self.send(jsonrpc::failure(None, PARSE_ERROR, "parse error"));
            return;
        };
        match jsonrpc::classify(value) {
            Incoming::Request { id, method, params } => {
                eprintln!("mock-stdio-mcp: request {method} id={id}");
                let key = id.to_string();
                let server = Arc::clone(self);
                let task_key = key.clone();
                // Hold the map while spawning so the task's own removal comes after
                // the insertion.
                let mut in_flight = lock(&self.in_flight);
                let abort = tasks.spawn(async move {
                    server.answer(id, &method, params).await;
                    lock(&server.in_flight).remove(&task_key);
                });
                in_flight.insert(key, abort);
            }
            Incoming::Notification { method, params } => {
                eprintln!("mock-stdio-mcp: notification {method}");
                if method == "notifications/cancelled"
                    && let Some(request_id) = params.get("requestId")
                    && let Some(task) = lock(&self.in_flight).remove(&request_id.to_string())
                {
                    task.abort();
                    eprintln!("mock-stdio-mcp: cancelled request {request_id}");
                }
            }
            Incoming::Response { id, outcome } => {
                match lock(&self.pending).remove(&id.to_string()) {
                    Some(waiter) => {
                        let _ = waiter.send(outcome);
                    }
                    None => eprintln!("mock-stdio-mcp: response to unknown request {id}"),
                }
            }
            Incoming::Invalid(reason) => {
                self.send(jsonrpc::failure(None, INVALID_REQUEST, &reason));
            }
        }
    }

    async fn answer(&self, id: Value, method: &str, params: Value) {
        let result = match method {
            "initialize" => Ok(json!({
                "protocolVersion": jsonrpc::negotiate(&params),
                "capabilities": { "tools": {} },
                "serverInfo": { "name": self.options.name, "version": env!("CARGO_PKG_VERSION") },
            })),
            "ping" => Ok(json!({})),
            "server/discover" if !self.options.sessions_only => Ok(json!({
                "supportedVersions": ["2025-11-25", "2026-07-28"],
                "capabilities": { "tools": {} },
                "serverInfo": { "name": self.options.name, "version": env!("CARGO_PKG_VERSION") },
            })),
            "tools/list" => Ok(json!({ "tools": tool_definitions() })),
            "tools/call" => self.call_tool(&params).await,
            other => Err((METHOD_NOT_FOUND, format!("method not found: {other}"))),
        };
        self.send(match result {
            Ok(result) => jsonrpc::success(&id, result),
            Err((code, message)) => jsonrpc::failure(Some(&id), code, &message),
        });
    }

    async fn call_tool(&self, params: &Value) -> Result<Value, (i64, String)> {
        let name = params.get("name").and_then(Value::as_str).ok_or_else(|| {
            (
                INVALID_PARAMS,
                "tools/call needs a `name` string".to_owned(),
            )
        })?;
        let arguments = params
            .get("arguments")
            .cloned()
            .unwrap_or_else(|| json!({}));
        match name {
            "echo" => {
                let message = arguments
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| arguments.to_string(), str::to_owned);
                Ok(jsonrpc::text_result(&message, false))
            }
            "slow" => {
                let ms = arguments
                    .get("ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(self.options.slow_ms);
                if let Some(token) = jsonrpc::progress_token(params) {
                    self.send(jsonrpc::notification(
                        "notifications/progress",
                        json!({ "progressToken": token, "progress": 0, "total": 1, "message": "slow started" }),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(jsonrpc::text_result(&format!("slept {ms} ms"), false))
            }
            "crash" => {
                eprintln!("mock-stdio-mcp: crashing as asked (exit code 3)");
                std::process::exit(3);
            }
            "whoami" => {
                let pid = std::process::id();
                let mut result = jsonrpc::text_result(&pid.to_string(), false);
                if let Some(object) = result.as_object_mut() {
                    object.insert("structuredContent".to_owned(), json!({ "pid": pid }));
                }
                Ok(result)
            }
            "ask" => Ok(self.ask(&arguments).await),
            other => Err((INVALID_PARAMS, format!("unknown tool: {other}"))),
        }
    }

    /// Sends the client a request of our own and waits for its response.
    async fn ask(&self, arguments: &Value) -> Value {
        let question = arguments
            .get("question")
            .and_then(Value::as_str)
            .unwrap_or("What is the answer?");
        let (method, params) = match arguments.get("kind").and_then(Value::as_str) {
            Some("sampling") => (
                "sampling/createMessage",
                json!({
                    "messages": [{ "role": "user", "content": { "type": "text", "text": question } }],
                    "maxTokens": 100
                }),
            ),
            _ => (
                "elicitation/create",
                json!({
                    "mode": "form",
                    "message": question,
                    "requestedSchema": {
                        "type": "object",
                        "properties": { "answer": { "type": "string", "description": "Your answer" } },
                        "required": ["answer"]
                    }
                }),
            ),
        };
        let id = json!(format!(
            "mock-stdio-mcp-{}",
            self.next_request.fetch_add(1, Ordering::Relaxed)
        ));
        let (waiter, answer) = oneshot::channel();
        lock(&self.pending).insert(id.to_string(), waiter);
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        match answer.await {
            Ok(Ok(result)) => {
                let mut answered =
                    jsonrpc::text_result(&format!("client answered: {result}"), false);
                if let Some(object) = answered.as_object_mut() {
                    object.insert("structuredContent".to_owned(), json!({ "answer": result }));
                }
                answered
            }
            Ok(Err(error)) => jsonrpc::text_result(&format!("client refused: {error}"), true),
            Err(_) => jsonrpc::text_result("no answer: the client went away", true),
        }
    }
}

fn tool_definitions() -> Value {
    json!([
        {
            "name": "echo",
            "description": "Returns arguments.message as text.",
            "inputSchema": { "type": "object", "properties": { "message": { "type": "string" } }, "required": ["message"] }
        },
        {
            "name": "slow",
            "description": "Sends progress (with a progress token), then answers after `ms` milliseconds.",
            "inputSchema": { "type": "object", "properties": { "ms": { "type": "integer", "minimum": 0 } } }
        },
        {
            "name": "crash",
            "description": "Exits the server process with code 3 without answering.",
            "inputSchema": { "type": "object" }
        },
        {
            "name": "whoami",
            "description": "Returns the server's process id.",
            "inputSchema": { "type": "object" }
        },
        {
            "name": "ask",
            "description": "Asks the client (elicitation, or sampling with kind=sampling) and answers with its reply.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "kind": { "type": "string", "enum": ["elicitation", "sampling"] },
                    "question": { "type": "string" }
                }
            }
        }
    ])
}

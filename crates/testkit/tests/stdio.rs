//! Proves the `mock-stdio-mcp` binary behaves as documented: it answers over stdin/stdout,
//! logs on stderr, sends progress, honours cancellation, asks the client its own
//! questions, and crashes on request.

// Test code: a failed unwrap or index is a failed assertion. Clippy's test exemptions only
// cover `#[test]` functions, not the helpers of an integration-test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(10);
const BINARY: &str = env!("CARGO_BIN_EXE_mock-stdio-mcp");

struct Mock {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Mock {
    async fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(BINARY)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("timed out waiting for a message")
            .unwrap()
            .expect("stdout closed");
        serde_json::from_str(&line).unwrap()
    }

    async fn stderr_line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.stderr.next_line())
            .await
            .expect("timed out waiting for stderr")
            .unwrap()
            .expect("stderr closed")
    }

    async fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))
            .await;
        self.recv().await
    }

    async fn initialize(&mut self) {
        let init = self
            .request(
                0,
                "initialize",
                json!({"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},
                       "clientInfo":{"name":"t","version":"0"}}),
            )
            .await;
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
        self.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
    }
}

#[tokio::test]
async fn answers_lists_echoes_and_reports_its_pid() {
    let mut mock = Mock::spawn(&["--name", "files"]).await;
    let pid = mock.child.id().unwrap();
    assert_eq!(
        mock.stderr_line().await,
        format!("mock-stdio-mcp started pid={pid}")
    );
    let init = mock
        .request(1, "initialize", json!({"protocolVersion":"2024-11-05"}))
        .await;
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(init["result"]["serverInfo"]["name"], "files");

    let tools = mock.request(2, "tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "slow", "crash", "whoami", "ask"]);

    let echo = mock
        .request(
            3,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"over stdio"}}),
        )
        .await;
    assert_eq!(echo["result"]["content"][0]["text"], "over stdio");

    let whoami = mock
        .request(4, "tools/call", json!({"name":"whoami"}))
        .await;
    assert_eq!(whoami["result"]["structuredContent"]["pid"], pid);

    let discover = mock.request(5, "server/discover", json!({})).await;
    assert_eq!(discover["result"]["supportedVersions"][1], "2026-07-28");
    let unknown = mock.request(8, "resources/list", json!({})).await;
    assert_eq!(unknown["error"]["code"], -32601);
    let unknown_tool = mock.request(6, "tools/call", json!({"name":"nope"})).await;
    assert_eq!(unknown_tool["error"]["code"], -32602);

    mock.stdin.write_all(b"not json\n").await.unwrap();
    let parse = mock.recv().await;
    assert_eq!(parse["error"]["code"], -32700);
    assert_eq!(parse["id"], Value::Null);

    // Closing stdin ends the process cleanly.
    drop(mock.stdin);
    let status = tokio::time::timeout(WAIT, mock.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn slow_sends_progress_and_can_be_cancelled() {
    let mut mock = Mock::spawn(&["--slow-ms", "100"]).await;
    mock.initialize().await;

    mock.send(json!({"jsonrpc":"2.0","id":10,"method":"tools/call",
        "params":{"name":"slow","_meta":{"progressToken":"p-1"}}}))
        .await;
    let progress = mock.recv().await;
    assert_eq!(progress["method"], "notifications/progress");
    assert_eq!(progress["params"]["progressToken"], "p-1");
    let done = mock.recv().await;
    assert_eq!(done["id"], 10);
    assert_eq!(done["result"]["content"][0]["text"], "slept 100 ms");

    // A cancelled call is never answered; later requests still are.
    mock.send(json!({"jsonrpc":"2.0","id":11,"method":"tools/call",
        "params":{"name":"slow","arguments":{"ms":300}}}))
        .await;
    mock.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled",
        "params":{"requestId":11,"reason":"test"}}))
        .await;
    let ping = mock.request(12, "ping", json!({})).await;
    assert_eq!(ping, json!({"jsonrpc":"2.0","id":12,"result":{}}));
    let nothing = tokio::time::timeout(Duration::from_millis(500), mock.stdout.next_line()).await;
    assert!(
        nothing.is_err(),
        "the cancelled call must not be answered: {nothing:?}"
    );
}

#[tokio::test]
async fn ask_waits_for_the_clients_answer() {
    let mut mock = Mock::spawn(&[]).await;
    mock.initialize().await;

    mock.send(json!({"jsonrpc":"2.0","id":20,"method":"tools/call",
        "params":{"name":"ask","arguments":{"question":"Favourite colour?"}}}))
        .await;
    let question = mock.recv().await;
    assert_eq!(question["method"], "elicitation/create");
    assert_eq!(question["params"]["message"], "Favourite colour?");
    let server_request_id = question["id"].clone();
    assert!(server_request_id.is_string());

    // Other traffic flows while the tool waits.
    let ping = mock.request(21, "ping", json!({})).await;
    assert_eq!(ping["id"], 21);

    mock.send(json!({"jsonrpc":"2.0","id":server_request_id,
        "result":{"action":"accept","content":{"answer":"blue"}}}))
        .await;
    let answer = mock.recv().await;
    assert_eq!(answer["id"], 20);
    assert_eq!(answer["result"]["isError"], false);
    assert_eq!(
        answer["result"]["structuredContent"]["answer"]["content"]["answer"],
        "blue"
    );

    mock.send(json!({"jsonrpc":"2.0","id":22,"method":"tools/call",
        "params":{"name":"ask","arguments":{"kind":"sampling"}}}))
        .await;
    let question = mock.recv().await;
    assert_eq!(question["method"], "sampling/createMessage");
    mock.send(json!({"jsonrpc":"2.0","id":question["id"],
        "error":{"code":-1,"message":"user rejected sampling"}}))
        .await;
    let refused = mock.recv().await;
    assert_eq!(refused["id"], 22);
    assert_eq!(refused["result"]["isError"], true);
    assert!(
        refused["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("user rejected sampling")
    );
}

#[tokio::test]
async fn crash_exits_with_code_3_without_answering() {
    let mut mock = Mock::spawn(&[]).await;
    assert!(
        mock.stderr_line()
            .await
            .starts_with("mock-stdio-mcp started")
    );
    mock.initialize().await;
    mock.send(json!({"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"crash"}}))
        .await;
    let status = tokio::time::timeout(WAIT, mock.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let mut stderr = Vec::new();
    while let Ok(Some(line)) = mock.stderr.next_line().await {
        stderr.push(line);
    }
    assert!(stderr.iter().any(|l| l.contains("crashing")), "{stderr:?}");
    assert_eq!(
        mock.stdout.next_line().await.unwrap(),
        None,
        "no answer on stdout"
    );
}

#[tokio::test]
async fn exit_at_start_fails_immediately() {
    let mut mock = Mock::spawn(&["--exit-at-start", "7"]).await;
    let status = tokio::time::timeout(WAIT, mock.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    assert!(
        mock.stderr_line()
            .await
            .starts_with("mock-stdio-mcp started")
    );
}

#[test]
fn the_path_helper_finds_the_built_binary() {
    let found = portcullis_testkit::mock_stdio_mcp_path().unwrap();
    assert_eq!(
        found.canonicalize().unwrap(),
        Path::new(BINARY).canonicalize().unwrap()
    );
}

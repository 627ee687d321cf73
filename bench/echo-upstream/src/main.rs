//! A minimal MCP echo upstream: the baseline that `bench/run` measures Portcullis against.
//!
//! It speaks just enough Streamable HTTP (2025-11-25) for the benchmark: `POST /mcp` answers
//! `initialize` with a session id, `notifications/*` with 202, `tools/list` with the one `echo`
//! tool, and every other request with an `echo` tool result carrying `params.arguments.text`.
//! It does no session bookkeeping and no validation beyond parsing the JSON-RPC envelope, because
//! it stands for "the cheapest reasonable Rust MCP server": whatever Portcullis adds on top of it
//! is the gateway's cost.
//!
//! Usage: `portcullis-bench-echo [--listen 127.0.0.1:PORT]`; without `--listen` it binds
//! `127.0.0.1:$PORT`, or `127.0.0.1:0` when `PORT` is unset too. Once bound it prints
//! `listening on http://ADDR/mcp` on stdout, which the harness reads to learn a port-0 address.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::error::Error;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::net::TcpListener;

/// The protocol revision this server answers `initialize` with.
const PROTOCOL_VERSION: &str = "2025-11-25";
/// Request bodies larger than this are refused with 413; the benchmark sends a few hundred bytes.
const MAX_BODY_BYTES: usize = 1 << 20;

type BoxError = Box<dyn Error + Send + Sync>;

/// The parts of a JSON-RPC request this server looks at; everything else is skipped unparsed.
#[derive(Deserialize)]
struct JsonRpcRequest<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default)]
    arguments: Option<Arguments<'a>>,
}

#[derive(Deserialize)]
struct Arguments<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct JsonRpcResult<'a, R> {
    jsonrpc: &'static str,
    /// The request's id, copied byte for byte; `null` when the request had none.
    id: Option<&'a RawValue>,
    result: R,
}

#[derive(Serialize)]
struct ToolResult<'a> {
    content: [TextContent<'a>; 1],
}

#[derive(Serialize)]
struct TextContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), BoxError> {
    let addr = listen_addr()?;
    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{}/mcp", listener.local_addr()?);

    tokio::select! {
        () = accept_loop(listener) => Ok(()),
        result = shutdown_signal() => result,
    }
}

/// `--listen ADDR` (or `--listen=ADDR`) wins, then `PORT` on loopback, then an ephemeral port.
fn listen_addr() -> Result<SocketAddr, BoxError> {
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = Some(
                args.next()
                    .ok_or("--listen needs an address, e.g. 127.0.0.1:9001")?,
            );
        } else if let Some(value) = arg.strip_prefix("--listen=") {
            listen = Some(value.to_owned());
        } else if arg == "--help" || arg == "-h" {
            println!("usage: portcullis-bench-echo [--listen 127.0.0.1:PORT]  (or PORT=N)");
            std::process::exit(0);
        } else {
            return Err(format!("unknown argument {arg:?}; usage: --listen 127.0.0.1:PORT").into());
        }
    }
    let listen = match listen {
        Some(listen) => listen,
        None => format!(
            "127.0.0.1:{}",
            std::env::var("PORT").unwrap_or_else(|_| "0".into())
        ),
    };
    listen
        .parse()
        .map_err(|err| format!("invalid listen address {listen:?}: {err}").into())
}

async fn accept_loop(listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Typically EMFILE under an oversized load; back off instead of spinning.
                eprintln!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Small request/response pairs on keep-alive connections: Nagle would only add latency.
        if let Err(err) = stream.set_nodelay(true) {
            eprintln!("set_nodelay failed: {err}");
        }
        tokio::spawn(async move {
            // Errors here are peers going away mid-request (wrk closes its sockets when its time
            // is up); there is nothing to do about them.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

async fn shutdown_signal() -> Result<(), BoxError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/mcp" {
        return Ok(empty(StatusCode::NOT_FOUND));
    }
    match *request.method() {
        Method::POST => {}
        // Sessions hold no state here, so ending one is a no-op.
        Method::DELETE => return Ok(empty(StatusCode::NO_CONTENT)),
        // No server-initiated stream: a client's GET is told so, as the transport allows.
        _ => {
            let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, DELETE"));
            return Ok(response);
        }
    }
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(empty(StatusCode::PAYLOAD_TOO_LARGE)),
    };
    Ok(answer(&body))
}

/// The reply to one JSON-RPC message.
fn answer(body: &[u8]) -> Response<Full<Bytes>> {
    let request: JsonRpcRequest<'_> = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(_) => return json_rpc_error(-32700, "parse error"),
    };
    let method = request.method.as_ref();
    if method.starts_with("notifications/") {
        return empty(StatusCode::ACCEPTED);
    }
    match method {
        "initialize" => {
            let result = serde_json::json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": { "tools": {} },
                "serverInfo": { "name": "portcullis-bench-echo", "version": env!("CARGO_PKG_VERSION") },
            });
            let mut response = json(StatusCode::OK, &result_envelope(request.id, result));
            if let Ok(value) = HeaderValue::from_str(&session_id()) {
                response.headers_mut().insert("mcp-session-id", value);
            }
            response
        }
        "tools/list" => {
            let result = serde_json::json!({
                "tools": [{
                    "name": "echo",
                    "description": "Returns its text argument",
                    "inputSchema": {
                        "type": "object",
                        "properties": { "text": { "type": "string" } },
                        "required": ["text"],
                    },
                }],
            });
            json(StatusCode::OK, &result_envelope(request.id, result))
        }
        _ => {
            let text = request
                .params
                .as_ref()
                .and_then(|params| params.arguments.as_ref())
                .and_then(|arguments| arguments.text.as_deref())
                .unwrap_or("");
            let result = ToolResult {
                content: [TextContent { kind: "text", text }],
            };
            json(StatusCode::OK, &result_envelope(request.id, result))
        }
    }
}

fn result_envelope<R>(id: Option<&RawValue>, result: R) -> JsonRpcResult<'_, R> {
    JsonRpcResult {
        jsonrpc: "2.0",
        id,
        result,
    }
}

fn json_rpc_error(code: i64, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    json(StatusCode::BAD_REQUEST, &body)
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = Response::new(Full::new(Bytes::from(bytes)));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(_) => empty(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// `bench-` and 32 hex digits. Unique and unguessable enough for a benchmark; not a security token.
fn session_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Each `RandomState` carries fresh per-process random SipHash keys.
    let high = RandomState::new().hash_one(n);
    let low = RandomState::new().hash_one(!n);
    format!("bench-{high:016x}{low:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response<Full<Bytes>>) -> (StatusCode, String) {
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn tools_call_echoes_text_and_id() {
        let body = br#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi \"there\""}}}"#;
        let (status, body) = body_of(answer(body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            r#"{"jsonrpc":"2.0","id":"a-1","result":{"content":[{"type":"text","text":"hi \"there\""}]}}"#
        );
    }

    #[tokio::test]
    async fn initialize_sets_a_session_id() {
        let body = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let response = answer(body);
        let session = response
            .headers()
            .get("mcp-session-id")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            session.starts_with("bench-") && session.len() == 6 + 32,
            "{session}"
        );
        let (_, body) = body_of(response).await;
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["id"], 0);
        assert_eq!(value["result"]["protocolVersion"], PROTOCOL_VERSION);
    }

    #[tokio::test]
    async fn notifications_are_accepted_and_garbage_is_a_parse_error() {
        let (status, body) = body_of(answer(
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ))
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, ""));
        let (status, body) = body_of(answer(b"{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("-32700"), "{body}");
    }
}

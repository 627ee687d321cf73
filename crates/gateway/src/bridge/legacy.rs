//! Legacy HTTP+SSE upstreams (MCP 2024-11-05): one SSE connection per client session.
//!
//! `GET url` opens the stream; its first event, `endpoint`, names the URL that takes the
//! session's POSTs; answers and server messages arrive as `message` events on the stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portcullis_core::config::UpstreamConfig;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Core;
use super::sse::Parser;

type Https = crate::http::Connector;

/// The most bytes of one SSE event accepted from an upstream.
const MAX_EVENT: usize = 16 * 1024 * 1024;

/// Opens connections to one legacy upstream.
pub(crate) struct Connector {
    name: String,
    url: url::Url,
    client: Client<Https, Body>,
    first_byte_timeout: Duration,
    core: Arc<Core>,
    shutdown: CancellationToken,
}

/// One session's SSE connection.
pub(crate) struct Connection {
    name: String,
    endpoint: OnceLock<Uri>,
    /// Headers Portcullis adds to every request of this session (the caller's identity, the
    /// upstream's own credential): a legacy session belongs to one principal.
    added: HeaderMap,
    client: Client<Https, Body>,
    alive: AtomicBool,
    closed: CancellationToken,
}

impl Connector {
    pub(crate) fn new(
        up: &UpstreamConfig,
        url: &str,
        core: Arc<Core>,
        shutdown: CancellationToken,
    ) -> Result<Connector, String> {
        let url = url::Url::parse(url).map_err(|e| format!("invalid url: {e}"))?;
        let tls = crate::http::connector(up.connect_timeout)?;
        let client = Client::builder(TokioExecutor::new()).build(tls);
        Ok(Connector {
            name: up.name.clone(),
            url,
            client,
            first_byte_timeout: up.first_byte_timeout,
            core,
            shutdown,
        })
    }

    pub(crate) fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Opens the SSE stream for `session` and waits for its `endpoint` event. `added` goes with
    /// the stream's request and every message POSTed on the session.
    pub(crate) async fn connect(
        &self,
        session: &str,
        added: &HeaderMap,
    ) -> Result<Arc<Connection>, &'static str> {
        let uri: Uri = self
            .url
            .as_str()
            .parse()
            .map_err(|_| "invalid upstream URL")?;
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(ACCEPT, "text/event-stream")
            .body(Body::empty())
            .map_err(|_| "invalid upstream URL")?;
        add_headers(request.headers_mut(), added);
        let response =
            match tokio::time::timeout(self.first_byte_timeout, self.client.request(request)).await
            {
                Err(_) => return Err("the SSE endpoint did not answer in time"),
                Ok(Err(e)) => {
                    tracing::warn!(upstream = %self.name, error = %e, "cannot open the SSE stream");
                    return Err("connection refused or failed");
                }
                Ok(Ok(r)) => r,
            };
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !response.status().is_success() || !is_sse {
            tracing::warn!(upstream = %self.name, status = %response.status(), "the SSE endpoint did not open an event stream");
            return Err("the SSE endpoint did not open an event stream");
        }
        let connection = Arc::new(Connection {
            name: self.name.clone(),
            endpoint: OnceLock::new(),
            added: added.clone(),
            client: self.client.clone(),
            alive: AtomicBool::new(true),
            closed: self.shutdown.child_token(),
        });
        let endpoint_known = Arc::new(Notify::new());
        let reader = Reader {
            connection: connection.clone(),
            base: self.url.clone(),
            core: self.core.clone(),
            session: session.to_owned(),
            endpoint_known: endpoint_known.clone(),
        };
        let known = endpoint_known.notified();
        tokio::spawn(reader.run(response.into_body()));
        match tokio::time::timeout(self.first_byte_timeout, known).await {
            Ok(()) if connection.endpoint.get().is_some() => Ok(connection),
            _ => {
                connection.close();
                Err("the SSE stream sent no endpoint event")
            }
        }
    }
}

struct Reader {
    connection: Arc<Connection>,
    base: url::Url,
    core: Arc<Core>,
    session: String,
    endpoint_known: Arc<Notify>,
}

impl Reader {
    async fn run(self, mut body: hyper::body::Incoming) {
        let mut parser = Parser::default();
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                () = self.connection.closed.cancelled() => break,
            };
            let Some(Ok(frame)) = frame else { break };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            for event in parser.feed(&data) {
                match event.event.as_str() {
                    "endpoint" if self.connection.endpoint.get().is_none() => {
                        match self
                            .base
                            .join(event.data.trim())
                            .ok()
                            .and_then(|u| u.as_str().parse::<Uri>().ok())
                        {
                            Some(uri) => {
                                let _ = self.connection.endpoint.set(uri);
                            }
                            None => {
                                tracing::warn!(upstream = %self.connection.name, "the endpoint event is not a URL")
                            }
                        }
                        self.endpoint_known.notify_one();
                    }
                    "message" => {
                        if let Some(reply) = self
                            .core
                            .inbound(event.data.as_bytes(), Some(&self.session))
                        {
                            let _ = self.connection.send(reply).await;
                        }
                    }
                    _ => {}
                }
            }
            if parser.pending() > MAX_EVENT {
                tracing::warn!(upstream = %self.connection.name, "an SSE event is too large; closing the session");
                break;
            }
        }
        self.connection.alive.store(false, Ordering::Release);
        self.endpoint_known.notify_one();
        self.core
            .fail_session(&self.session, "the upstream closed the SSE stream");
    }
}

impl Connection {
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        self.alive.store(false, Ordering::Release);
        self.closed.cancel();
    }

    /// POSTs one message to the session's endpoint.
    pub(crate) async fn send(&self, bytes: Bytes) -> Result<(), &'static str> {
        let Some(endpoint) = self.endpoint.get() else {
            return Err("the session has no endpoint");
        };
        if !self.is_alive() {
            return Err("the upstream closed the SSE stream");
        }
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(bytes))
            .map_err(|_| "invalid endpoint")?;
        add_headers(request.headers_mut(), &self.added);
        match self.client.request(request).await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                tracing::warn!(upstream = %self.name, status = %r.status(), "the upstream refused a message");
                Err("the upstream refused the message")
            }
            Err(_) => Err("connection refused or failed"),
        }
    }
}

fn add_headers(to: &mut HeaderMap, added: &HeaderMap) {
    for (name, value) in added {
        to.insert(name.clone(), value.clone());
    }
}

//! The connections to one Streamable HTTP upstream.
//!
//! HTTP/1.1 connections are hyper `client::conn::http1` senders kept on a stack: a request takes
//! the most recently used idle connection (LIFO, so a quiet period lets the others age out) or
//! dials a new one, and its connection goes back on the stack when the answer's body has been
//! read to its end ([`Lease`]). An HTTPS upstream that negotiates HTTP/2 (ALPN) gets one shared,
//! multiplexed connection instead.
//!
//! An idle connection the upstream closed is noticed when it is taken (hyper marks its sender
//! closed) and dropped. If the close is only noticed when the request is handed to it, hyper
//! gives the request back unsent, and the request is sent once more on a fresh connection; a
//! request that may have reached the upstream is never sent twice.
//!
//! Dialling goes through the same connector as before this pool existed (`http::connector`:
//! connect timeout, `TCP_NODELAY`, rustls with the system's roots, ALPN `h2` and `http/1.1`).
//! At most `max_idle` connections wait idle, each for at most `idle_timeout`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::Connection as _;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::Service as _;

use crate::http::Connector;

/// The body of every relayed request: the bytes that were inspected, or nothing.
pub(crate) type RequestBody = Full<Bytes>;

/// Why a request got no answer from the upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    /// No connection could be made (DNS, refused, connect timeout, TLS).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection failed while the request was sent or the answer awaited.
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// Where and how a pool connects, and how long connections may wait.
#[derive(Debug, Clone)]
pub(crate) struct PoolSettings {
    pub max_idle: usize,
    pub idle_timeout: Duration,
}

impl Default for PoolSettings {
    /// 90 s of idleness, as the hyper client this replaced allowed; 256 idle connections.
    fn default() -> Self {
        PoolSettings {
            max_idle: 256,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// The connections to one upstream.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    connector: Connector,
    /// `scheme://authority/`, what the connector dials.
    dial: Uri,
    /// The request target on an HTTP/1.1 connection (origin form).
    path: Uri,
    /// The request target on an HTTP/2 connection (absolute form).
    absolute: Uri,
    /// The `Host` header of HTTP/1.1 requests.
    host: HeaderValue,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("dial", &self.dial)
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

/// What requests and leases share.
struct Shared {
    settings: PoolSettings,
    /// Idle HTTP/1.1 connections, the most recently used at the back.
    idle: Mutex<VecDeque<Idle>>,
    /// The upstream's HTTP/2 connection, once one was negotiated.
    h2: Mutex<Option<http2::SendRequest<RequestBody>>>,
    /// Whether the task that closes connections idle for too long runs.
    reaper: AtomicBool,
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    since: Instant,
}

impl Idle {
    fn usable(&self, now: Instant, timeout: Duration) -> bool {
        !self.sender.is_closed() && now.duration_since(self.since) < timeout
    }
}

/// An HTTP/1.1 connection lent to one request: back to the pool when the answer has been read
/// to its end ([`Lease::complete`]), closed if the answer was abandoned half-way.
pub(crate) struct Lease {
    shared: Arc<Shared>,
    sender: Option<http1::SendRequest<RequestBody>>,
    complete: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("complete", &self.complete)
            .finish()
    }
}

impl Lease {
    /// The answer was read to its end: the connection can serve another request.
    pub(crate) fn complete(&mut self) {
        self.complete = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take()
            && self.complete
        {
            self.shared.put_back(sender);
        }
    }
}

/// A connection taken for one request.
enum Taken {
    H1(http1::SendRequest<RequestBody>),
    H2(http2::SendRequest<RequestBody>),
}

impl Shared {
    /// Returns an HTTP/1.1 connection to the stack, unless it closed or the stack is full;
    /// drops from the bottom whatever has waited too long.
    fn put_back(&self, sender: http1::SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        while idle
            .front()
            .is_some_and(|oldest| !oldest.usable(now, self.settings.idle_timeout))
        {
            idle.pop_front();
        }
        if idle.len() < self.settings.max_idle {
            idle.push_back(Idle { sender, since: now });
        }
    }

    /// The most recently used idle connection that is still open and not too old.
    async fn take_idle(&self) -> Option<http1::SendRequest<RequestBody>> {
        loop {
            let candidate = {
                let mut idle = self.idle.lock().ok()?;
                idle.pop_back()?
            };
            if !candidate.usable(Instant::now(), self.settings.idle_timeout) {
                continue;
            }
            let mut sender = candidate.sender;
            if sender.is_ready() {
                return Some(sender);
            }
            // Its last answer was read to the end a moment ago and hyper has not yet marked it
            // idle: it is ready at once, or it closed.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Drops the connections that have waited too long.
    fn reap(&self) {
        let now = Instant::now();
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain(|c| c.usable(now, self.settings.idle_timeout));
        }
    }
}

impl Pool {
    /// A pool for the upstream at `uri` (`http` or `https`), dialling with `connector`.
    pub(crate) fn new(
        uri: &Uri,
        connector: Connector,
        settings: PoolSettings,
    ) -> Result<Self, String> {
        let scheme = uri.scheme().cloned().ok_or("the URL has no scheme")?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(format!("the scheme {scheme} is not http or https"));
        }
        let authority = uri.authority().cloned().ok_or("the URL has no host")?;
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or(PathAndQuery::from_static("/"));
        let dial = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| format!("invalid upstream URL: {e}"))?;
        let absolute = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query(path.clone())
            .build()
            .map_err(|e| format!("invalid upstream URL: {e}"))?;
        let host = host_header(&scheme, &authority)?;
        Ok(Pool {
            shared: Arc::new(Shared {
                settings,
                idle: Mutex::new(VecDeque::new()),
                h2: Mutex::new(None),
                reaper: AtomicBool::new(false),
            }),
            connector,
            dial,
            path: Uri::from(path),
            absolute,
            host,
        })
    }

    /// Sends `request` (its target and `Host` are set here) and returns the answer, with the
    /// lease of its HTTP/1.1 connection, which must live as long as the answer's body is read.
    pub(crate) async fn send(
        &self,
        mut request: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Option<Lease>), PoolError> {
        // Dialling is boxed: it is rare, and its future (TLS, HTTP/2 handshake) is large.
        let (taken, reused) = match self.take().await {
            Some(taken) => (taken, true),
            None => (Box::pin(self.connect()).await?, false),
        };
        match self.send_on(taken, request).await {
            Ok(answer) => Ok(answer),
            // The connection was gone before the request was written: once more, fresh.
            Err(Unsent(Some(unsent), _)) if reused => {
                request = unsent;
                let fresh = Box::pin(self.connect()).await?;
                self.send_on(fresh, request)
                    .await
                    .map_err(|Unsent(_, e)| e.into())
            }
            Err(Unsent(_, e)) => Err(e.into()),
        }
    }

    /// The shared HTTP/2 connection if there is a live one, else an idle HTTP/1.1 connection.
    async fn take(&self) -> Option<Taken> {
        if let Some(h2) = self.live_h2() {
            return Some(Taken::H2(h2));
        }
        self.shared.take_idle().await.map(Taken::H1)
    }

    fn live_h2(&self) -> Option<http2::SendRequest<RequestBody>> {
        let mut slot = self.shared.h2.lock().ok()?;
        match slot.as_ref() {
            Some(h2) if !h2.is_closed() => Some(h2.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }

    async fn send_on(
        &self,
        taken: Taken,
        mut request: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Option<Lease>), Unsent> {
        match taken {
            Taken::H1(mut sender) => {
                *request.uri_mut() = self.path.clone();
                request.headers_mut().insert(HOST, self.host.clone());
                match sender.try_send_request(request).await {
                    Ok(response) => {
                        let lease = Lease {
                            shared: self.shared.clone(),
                            sender: Some(sender),
                            complete: false,
                        };
                        Ok((response, Some(lease)))
                    }
                    Err(mut e) => Err(Unsent(e.take_message(), e.into_error())),
                }
            }
            Taken::H2(mut sender) => {
                *request.uri_mut() = self.absolute.clone();
                match sender.try_send_request(request).await {
                    Ok(response) => Ok((response, None)),
                    Err(mut e) => Err(Unsent(e.take_message(), e.into_error())),
                }
            }
        }
    }

    /// Dials a new connection: HTTP/2 when TLS negotiated it (it then becomes the shared one),
    /// HTTP/1.1 otherwise.
    async fn connect(&self) -> Result<Taken, PoolError> {
        let mut connector = self.connector.clone();
        let io = connector
            .call(self.dial.clone())
            .await
            .map_err(|e| PoolError::Connect(describe(e.as_ref())))?;
        self.start_reaper();
        if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "upstream HTTP/2 connection ended");
                }
            });
            if let Ok(mut slot) = self.shared.h2.lock() {
                *slot = Some(sender.clone());
            }
            return Ok(Taken::H2(sender));
        }
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(Taken::H1(sender))
    }

    /// Starts, once, the task that closes connections idle for longer than `idle_timeout`,
    /// which ends with the pool.
    fn start_reaper(&self) {
        if self.shared.reaper.swap(true, Ordering::Relaxed) {
            return;
        }
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        let every = self.shared.settings.idle_timeout / 2;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
            tick.tick().await;
            loop {
                tick.tick().await;
                match shared.upgrade() {
                    Some(shared) => shared.reap(),
                    None => return,
                }
            }
        });
    }

    /// How many HTTP/1.1 connections wait idle (for tests).
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.shared.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }
}

/// A failed send, with the request when it was never written to the connection.
struct Unsent(Option<Request<RequestBody>>, hyper::Error);

/// `Host` as an HTTP/1.1 client sends it: the host, and the port unless it is the scheme's
/// default.
fn host_header(scheme: &Scheme, authority: &Authority) -> Result<HeaderValue, String> {
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    let value = match authority.port_u16() {
        Some(port) if port != default_port => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    };
    HeaderValue::from_str(&value)
        .map_err(|_| "the URL's host is not a valid Host header".to_owned())
}

/// The error and its causes on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests;

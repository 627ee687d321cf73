//! The built-in demo MCP server that `portcullis serve` publishes as the upstream `demo`.
//!
//! It is a small but spec-correct Streamable HTTP MCP server on `/mcp`, speaking both the
//! 2025 session-based wire form (protocol versions 2025-03-26, 2025-06-18 and 2025-11-25:
//! `initialize`, `Mcp-Session-Id`, GET stream, DELETE) and the stateless 2026-07-28 form
//! (`server/discover`, per-request `_meta`, `Mcp-Method` / `Mcp-Name` headers). Its tools
//! (`echo`, `add`, `current_time`, `generate_uuid`, `sha256`, `word_count`) are read-only
//! and mostly deterministic, so a newcomer's first call and the gateway's tests see the
//! same answers. Portcullis relays to it over loopback HTTP; it has no authentication of
//! its own, which is the point: the gateway in front supplies it.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! portcullis_demo::serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod jsonrpc;
mod session;
mod tools;
mod transport;

use std::future::Future;
use std::sync::Arc;

use time::OffsetDateTime;

/// The `serverInfo.name` the demo reports.
pub const SERVER_NAME: &str = "portcullis-demo";

/// The stateless protocol version, selected per request by `MCP-Protocol-Version`.
pub const MODERN_PROTOCOL_VERSION: &str = "2026-07-28";

/// The handshake (`initialize`) protocol versions the demo negotiates, oldest first.
pub const LEGACY_PROTOCOL_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

/// The version `initialize` answers with when the client asks for one the demo does not
/// speak.
pub const LATEST_LEGACY_PROTOCOL_VERSION: &str = "2025-11-25";

/// Where the demo reads the time for `current_time`; a parameter so tests can fix it.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The demo's routes (`/mcp`), reading the system clock.
///
/// Open GET streams stay open until their session ends or the client leaves; use
/// [`serve`] when the server must also shut down cleanly.
pub fn router() -> axum::Router {
    router_with_clock(system_clock())
}

/// The demo's routes with the given clock for `current_time`.
pub fn router_with_clock(clock: Clock) -> axum::Router {
    transport::router(transport::DemoState::new(clock))
}

/// Serves the demo on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (ending any open GET streams) and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = transport::DemoState::new(system_clock());
    let app = transport::router(Arc::clone(&state));
    // Its SSE events go out as they are written (see `portcullis_server`'s listener).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.close_streams();
        })
        .await
}

fn system_clock() -> Clock {
    // The demo is an edge of the system, the one place allowed to read the wall clock.
    Arc::new(OffsetDateTime::now_utc)
}

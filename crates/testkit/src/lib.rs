//! Test support for Portcullis: mock upstream MCP servers that record what they receive
//! and misbehave on request, and a stdio MCP server binary for the child-process relay.
//!
//! - [`MockUpstream`] ([`mock_upstream`]): Streamable HTTP (`/mcp`) or legacy HTTP+SSE
//!   (`/sse`) on 127.0.0.1 with a free port, configured by [`MockConfig`].
//! - `mock-stdio-mcp`, a binary of this package speaking MCP over stdin/stdout; other
//!   crates' tests find it with [`mock_stdio_mcp_path`].
//! - [`sse`]: an incremental SSE parser for reading event streams in tests.
//! - [`jsonrpc`]: the small JSON-RPC helpers both mocks share.
//! - [`MockIdp`] ([`mock_idp`]): an OpenID Connect provider and a GitHub-shaped OAuth app on
//!   loopback, signing in whoever the test says and misbehaving on request.

pub mod jsonrpc;
pub mod mock_idp;
pub mod mock_upstream;
mod serve;
pub mod sse;
mod stdio;

pub use mock_idp::{IdpUser, Mischief, MockIdp};
pub use mock_upstream::{
    Behavior, MockConfig, MockUpstream, RecordedRequest, ResponseMode, SessionMode,
};
pub use sse::{SseEvent, SseParser};
pub use stdio::{MOCK_STDIO_MCP, MOCK_STDIO_MCP_ENV, mock_stdio_mcp_path};

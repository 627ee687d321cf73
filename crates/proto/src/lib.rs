//! Wire types: JSON-RPC envelopes and their inspection, MCP protocol versions, header names and
//! error codes. Serde only, no I/O: every other crate agrees on the protocol through this one.

pub mod jsonrpc;
pub mod mcp;
pub mod oauth;

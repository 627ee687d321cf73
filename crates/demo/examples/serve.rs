//! Runs the demo MCP server on its own, for poking at it with an MCP client or the MCP
//! Inspector without the gateway: `cargo run -p portcullis-demo --example serve -- 127.0.0.1:9100`
//! (the address defaults to 127.0.0.1:9100). Stops on Ctrl-C.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".to_owned());
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("portcullis-demo listening on http://{address}/mcp");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match portcullis_demo::serve(listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

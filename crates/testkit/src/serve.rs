//! A loopback HTTP server for the mocks whose every connection can be cut at once.
//!
//! `axum::serve` spawns each connection as a detached task and its graceful shutdown waits
//! for them, which never finishes when a mock is deliberately hanging. Here the
//! connections live in a `JoinSet` owned by the accept task, so aborting that one task
//! drops every connection, hung or not, the way a crashed upstream would.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A running server; dropping it cuts every connection.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds 127.0.0.1 on a free port and serves `router` there.
    pub(crate) async fn start(router: Router) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Self::start_on(listener, router)
    }

    /// Serves `router` on a listener already bound (when the router must know the address).
    pub(crate) fn start_on(listener: TcpListener, router: Router) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, router));
        Ok(Self { addr, task })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every open connection, then waits for that to happen.
    pub(crate) async fn stop(mut self) {
        self.task.abort();
        // The task can only end by being aborted; there is nothing to report.
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Accept errors (for example too many open files) are transient;
                    // the next accept may succeed.
                    continue;
                };
                let service = TowerToHyperService::new(router.clone());
                connections.spawn(async move {
                    // A connection ending in an error (the client went away) is normal
                    // for a mock and not worth reporting.
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

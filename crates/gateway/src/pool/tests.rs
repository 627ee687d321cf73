// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::RelayError;
use crate::http::HttpUpstream;

/// How a loopback upstream answers, and treats a connection after answering a request.
#[derive(Clone, Copy, PartialEq)]
enum AfterAnswer {
    KeepAlive,
    /// Closes the connection shortly after the answer, without saying so in the answer (as an
    /// upstream whose keep-alive timeout is shorter than the pool's does).
    CloseSoon,
    /// Sends the answer in two chunks 30 ms apart (chunked encoding), then keeps the connection.
    Slowly,
    /// Sends the head and the first byte of a two-byte body, then nothing more.
    Stall,
}

/// A plain HTTP/1.1 upstream on loopback answering `ok` to everything; counts the connections
/// it accepted.
struct Upstream {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn upstream(after: AfterAnswer) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer(stream, after));
        }
    });
    Upstream { url, connections }
}

async fn answer(mut stream: TcpStream, after: AfterAnswer) {
    let mut buffer = Vec::new();
    loop {
        // The head, then as many body bytes as it announces.
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..head_end + length);
        match after {
            AfterAnswer::Slowly => {
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\no\r\n";
                if stream.write_all(head).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                if stream.write_all(b"1\r\nk\r\n0\r\n\r\n").await.is_err() {
                    return;
                }
                continue;
            }
            AfterAnswer::Stall => {
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\no";
                let _ = stream.write_all(head).await;
                // Holds the connection open without finishing the answer.
                let _ = stream.read(&mut [0u8; 1]).await;
                return;
            }
            AfterAnswer::KeepAlive | AfterAnswer::CloseSoon => {}
        }
        let answer =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\nok";
        if stream.write_all(answer).await.is_err() {
            return;
        }
        if after == AfterAnswer::CloseSoon {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return;
        }
    }
}

/// A pool for `server`'s URL, dialling as the relay does.
fn pool(server: &Upstream, settings: PoolSettings) -> Pool {
    let uri: Uri = server.url.parse().unwrap();
    Pool::new(
        &uri,
        crate::http::connector(Duration::from_secs(2)).unwrap(),
        settings,
    )
    .unwrap()
}

fn relay(url: &str) -> HttpUpstream {
    HttpUpstream::new(
        "test",
        url,
        Duration::from_secs(2),
        Duration::from_secs(5),
        Duration::from_secs(5),
    )
    .unwrap()
}

/// Relays one POST and reads the answer to its end.
async fn call(upstream: &HttpUpstream) -> Result<(StatusCode, Bytes), RelayError> {
    let response = upstream
        .send(
            Method::POST,
            &http::HeaderMap::new(),
            &crate::Added::default(),
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            None,
            None,
            None,
        )
        .await?;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, body))
}

#[tokio::test]
async fn a_connection_is_reused_once_its_answer_was_read() {
    let server = upstream(AfterAnswer::KeepAlive).await;
    let relay = relay(&server.url);
    for _ in 0..5 {
        let (status, body) = call(&relay).await.unwrap();
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(relay.pool().idle_count(), 1);
}

/// An answer whose body arrives after its head, read in one task: the connection serves the
/// next request, from another task, once the body was read to its end.
#[tokio::test]
async fn a_connection_whose_answer_arrived_in_parts_is_reused_from_another_task() {
    let server = upstream(AfterAnswer::Slowly).await;
    let relay = Arc::new(relay(&server.url));
    for _ in 0..3 {
        let relay = relay.clone();
        let (status, body) = tokio::spawn(async move { call(&relay).await })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(relay.pool().idle_count(), 1);
}

/// An answer dropped before its end leaves its connection unusable: it is closed, not pooled,
/// and the next request dials a new one.
#[tokio::test]
async fn an_answer_abandoned_half_way_closes_its_connection() {
    let server = upstream(AfterAnswer::Stall).await;
    let pool = pool(&server, PoolSettings::default());
    let (mut response, lease) = pool.send(post()).await.unwrap();
    let first = response.body_mut().frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), &b"o"[..]);
    drop((response, lease));
    assert_eq!(pool.idle_count(), 0);
    let (second, _lease) = pool.send(post()).await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_replaced() {
    let server = upstream(AfterAnswer::CloseSoon).await;
    let relay = relay(&server.url);
    for round in 1..=3 {
        let (status, _) = call(&relay).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.connections.load(Ordering::SeqCst), round);
        // The upstream closes the connection while it waits in the pool.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_request_handed_to_a_connection_closed_unnoticed_is_sent_again_on_a_fresh_one() {
    let server = upstream(AfterAnswer::CloseSoon).await;
    let relay = relay(&server.url);
    call(&relay).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Whether hyper noticed the close before the request was handed over (the connection is
    // skipped) or after (the request comes back unsent and is sent again), the caller gets the
    // answer, and the upstream saw the request on a second connection only.
    let (status, _) = call(&relay).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_refused_connection_is_an_unavailable_upstream() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    drop(listener);
    let relay = relay(&url);
    match call(&relay).await {
        Err(RelayError::Unavailable { reason, .. }) => {
            assert_eq!(reason, "connection refused or failed");
        }
        other => panic!("expected Unavailable (502), got {other:?}"),
    }
}

#[tokio::test]
async fn the_idle_stack_is_bounded() {
    let server = upstream(AfterAnswer::KeepAlive).await;
    let pool = pool(
        &server,
        PoolSettings {
            max_idle: 1,
            idle_timeout: Duration::from_secs(60),
        },
    );
    // Two requests at once need two connections; only one may wait afterwards.
    let (a, b) = tokio::join!(pool.send(post()), pool.send(post()));
    for (response, lease) in [a.unwrap(), b.unwrap()] {
        response.into_body().collect().await.unwrap();
        let mut lease = lease.unwrap();
        lease.complete();
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(pool.idle_count(), 1);
}

#[tokio::test]
async fn connections_idle_for_too_long_are_not_used() {
    let server = upstream(AfterAnswer::KeepAlive).await;
    let pool = pool(
        &server,
        PoolSettings {
            max_idle: 8,
            idle_timeout: Duration::from_millis(50),
        },
    );
    for _ in 0..2 {
        let (response, lease) = pool.send(post()).await.unwrap();
        response.into_body().collect().await.unwrap();
        lease.unwrap().complete();
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

fn post() -> Request<RequestBody> {
    let mut request = Request::new(RequestBody::new(Bytes::from_static(b"{}")));
    *request.method_mut() = Method::POST;
    request
}

/// An HTTPS upstream that speaks HTTP/2 only (ALPN `h2`), with a certificate for `localhost`
/// from the test CA in `test-ca.pem`.
#[tokio::test]
async fn an_https_upstream_that_negotiates_http2_shares_one_connection() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = vec![CertificateDer::from_pem_slice(include_bytes!("test-localhost.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("test-localhost.key")).unwrap();
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    server_config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let tls = acceptor.accept(tcp).await.unwrap();
                let service = hyper::service::service_fn(|request: Request<Incoming>| async move {
                    let version = format!("{:?}", request.version());
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                        version,
                    ))))
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(include_bytes!("test-ca.pem")).unwrap())
        .unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let uri: Uri = format!("https://localhost:{port}/mcp").parse().unwrap();
    let pool = Pool::new(&uri, connector, PoolSettings::default()).unwrap();

    let (a, b) = tokio::join!(pool.send(post()), pool.send(post()));
    let (first, lease) = a.unwrap();
    assert!(lease.is_none(), "HTTP/2 connections are shared, not lent");
    assert_eq!(first.version(), Version::HTTP_2);
    let body = first.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"HTTP/2.0");
    b.unwrap();
    let (third, _) = pool.send(post()).await.unwrap();
    assert_eq!(third.version(), Version::HTTP_2);
    // The two concurrent requests may each have dialled; from then on one connection serves.
    let dialled = connections.load(Ordering::SeqCst);
    assert!((1..=2).contains(&dialled), "{dialled} connections");
    pool.send(post()).await.unwrap();
    assert_eq!(connections.load(Ordering::SeqCst), dialled);
}

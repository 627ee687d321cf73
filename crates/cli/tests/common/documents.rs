//! A loopback server for documents Portcullis fetches (client ID metadata documents, key sets):
//! canned answers by path, and counts of the requests each path received and of the
//! connections made at all, so a test can show that a refused URL was never fetched.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server for client ID metadata documents: canned answers by path, and a count of
/// the requests each path received.
pub struct DocumentServer {
    pub base: String,
    /// Connections accepted, whatever they carried (a TLS handshake counts too).
    connections: Arc<AtomicUsize>,
    answers: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl DocumentServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let connections: Arc<AtomicUsize> = Arc::default();
        let (a, h, c) = (answers.clone(), hits.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (answers, hits) = (a.clone(), h.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let answer = answers
                        .lock()
                        .unwrap()
                        .get(&path)
                        .cloned()
                        .unwrap_or_else(|| {
                            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned()
                        });
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        DocumentServer {
            base,
            connections,
            answers,
            hits,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `body` at `path` with `status` and extra header lines.
    pub fn serve(&self, path: &str, status: &str, headers: &str, body: &str) {
        let answer = format!(
            "HTTP/1.1 {status}\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
    }

    /// Serves `answer`, a whole HTTP response written as is, at `path`.
    pub fn serve_raw(&self, path: &str, answer: &str) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), answer.to_owned());
    }

    pub fn document(&self, path: &str, change: impl Fn(&mut Value)) -> String {
        let mut document = json!({
            "client_id": self.url(path),
            "client_name": "Loopback tools",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        change(&mut document);
        document.to_string()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// How many connections reached the server.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }
}

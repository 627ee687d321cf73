//! Outbound requests of validators (JWKS, discovery, introspection, user APIs), behind a trait so
//! that `core` stays free of HTTP and tests can answer with anything.
//!
//! The implementation (`portcullis_gateway::fetch`) enforces, on every request: no redirects,
//! a response size limit, a total time limit, and the SSRF guard (loopback, private, link-local
//! and other special addresses are refused unless the request says `allow_private_network`).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMethod {
    Get,
    /// POST with an `application/x-www-form-urlencoded` body.
    PostForm,
}

/// One outbound request.
#[derive(Clone)]
pub struct FetchRequest<'a> {
    pub method: FetchMethod,
    pub url: &'a str,
    /// Extra request headers (`Authorization`, `Accept`, …).
    pub headers: Vec<(&'static str, String)>,
    /// The form fields of a `PostForm` request.
    pub form: Vec<(&'static str, String)>,
    /// Whether the target may be a loopback or private address.
    pub allow_private_network: bool,
    /// A smaller response size limit than the fetcher's own, for documents that are meant to be
    /// small (a client ID metadata document is at most 5 KB); `None` for the fetcher's limit.
    pub max_body_bytes: Option<usize>,
    /// A shorter deadline than the fetcher's own for the whole exchange; `None` for the
    /// fetcher's.
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for FetchRequest<'_> {
    // Header values and form fields carry credentials (`Authorization`, the token being
    // introspected): only their names are printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names =
            |pairs: &[(&'static str, String)]| pairs.iter().map(|(n, _)| *n).collect::<Vec<_>>();
        f.debug_struct("FetchRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names(&self.headers))
            .field("form", &names(&self.form))
            .field("allow_private_network", &self.allow_private_network)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<'a> FetchRequest<'a> {
    pub fn get(url: &'a str, allow_private_network: bool) -> Self {
        FetchRequest {
            method: FetchMethod::Get,
            url,
            headers: Vec::new(),
            form: Vec::new(),
            allow_private_network,
            max_body_bytes: None,
            timeout: None,
        }
    }
}

/// The answer: status, the caching instructions and the body (already limited in size).
#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub status: u16,
    /// The `Cache-Control` header (several are joined with `, `), for callers that cache what
    /// they fetch as the server allows.
    pub cache_control: Option<String>,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the URL is not allowed: {0}")]
    Forbidden(String),
    #[error("the request failed: {0}")]
    Failed(String),
    #[error("the request timed out")]
    Timeout,
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
}

/// Sends validators' outbound requests.
#[async_trait]
pub trait Fetch: Send + Sync + std::fmt::Debug {
    async fn fetch(&self, request: FetchRequest<'_>) -> Result<FetchResponse, FetchError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_header_values_or_form_fields() {
        let mut request = FetchRequest::get("https://api.example/user", false);
        request.headers = vec![("authorization", "Bearer secret-token".to_owned())];
        request.form = vec![("token", "secret-token".to_owned())];
        let debug = format!("{request:?}");
        assert!(!debug.contains("secret-token"), "{debug}");
        assert!(debug.contains("authorization") && debug.contains("https://api.example/user"));
    }
}

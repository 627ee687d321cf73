//! Outbound requests of validators (JWKS, discovery, introspection, user APIs), behind a trait so
//! that `core` stays free of HTTP and tests can answer with anything.
//!
//! The implementation (`portcullis_gateway::fetch`) enforces, on every request: no redirects,
//! a response size limit, a total time limit, and the SSRF guard (loopback, private, link-local
//! and other special addresses are refused unless the request says `allow_private_network`).

use async_trait::async_trait;
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMethod {
    Get,
    /// POST with an `application/x-www-form-urlencoded` body.
    PostForm,
}

/// One outbound request.
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    pub method: FetchMethod,
    pub url: &'a str,
    /// Extra request headers (`Authorization`, `Accept`, …).
    pub headers: Vec<(&'static str, String)>,
    /// The form fields of a `PostForm` request.
    pub form: Vec<(&'static str, String)>,
    /// Whether the target may be a loopback or private address.
    pub allow_private_network: bool,
}

impl<'a> FetchRequest<'a> {
    pub fn get(url: &'a str, allow_private_network: bool) -> Self {
        FetchRequest {
            method: FetchMethod::Get,
            url,
            headers: Vec::new(),
            form: Vec::new(),
            allow_private_network,
        }
    }
}

/// The answer: status and body (already limited in size).
#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub status: u16,
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

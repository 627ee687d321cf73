//! Client ID metadata documents (`draft-ietf-oauth-client-id-metadata-document`, MCP
//! 2026-07-28): a client whose `client_id` is an `https` URL publishes its metadata at that URL.
//!
//! The URL is checked before anything is fetched (reference G5: `https`, a path, no dot segments,
//! fragment, userinfo or query), and fetched through [`Fetch`], whose SSRF guard refuses private
//! and special-use addresses at dial time (G8). Loopback hosts are refused too unless the test
//! setting `allow_loopback_client_id_documents` is on, and even then only loopback: a name that
//! resolves to another private address stays refused. The fetch follows no redirect (a 3xx is an
//! error), takes at most 5 s and 5 KB (G6, G9), and only a 200 is a document. The document must
//! be a JSON object whose `client_id` is the URL by simple string comparison, with a
//! `client_name` and valid `redirect_uris`, and without a shared secret (G7); the rest is RFC 7591
//! client metadata, read by [`super::metadata`].
//!
//! Good documents are cached for their `Cache-Control: max-age`, kept between 30 s and
//! `client_id_document_cache_max`; `no-store` (or `no-cache`) documents are not cached; failures
//! and invalid documents never are (G6). Concurrent resolutions of one URL share one fetch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::OnceCell;
use url::Url;

use super::metadata::{self, MetadataRules, MetadataSource};
use super::{Client, ClientError, ClientSource};
use crate::auth::jwt::json_object;
use crate::auth::{Fetch, FetchError, FetchRequest};

/// The largest document accepted (the draft's recommended limit, reference G9).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// The deadline of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest time a good document is cached, whatever its `max-age` says.
pub const MIN_CACHE: Duration = Duration::from_secs(30);
/// The most documents kept in the cache.
const MAX_CACHED: usize = 1024;

/// How documents are fetched and cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CimdSettings {
    /// Fetch documents from loopback hosts, over plain http too (tests only).
    pub allow_loopback: bool,
    /// The longest a document is cached.
    pub cache_max: Duration,
}

/// Checks a `client_id` URL against the rules of the draft's §3 before anything is fetched, and
/// returns it parsed.
pub fn check_client_id_url(client_id: &str, allow_loopback: bool) -> Result<Url, ClientError> {
    let invalid = |reason: &str| {
        ClientError::InvalidClientId(format!("a client ID metadata document URL {reason}"))
    };
    if client_id.len() > super::redirect_uri::MAX_LENGTH
        || !client_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid("must be at most 2000 printable ASCII characters"));
    }
    if client_id.contains('#') {
        return Err(invalid("must not contain a fragment"));
    }
    if client_id.contains('\\') {
        return Err(invalid("must not contain a backslash"));
    }
    let url = Url::parse(client_id).map_err(|_| invalid("must be a valid URL"))?;
    if !url.username().is_empty() || url.password().is_some() || authority_has_at(client_id) {
        return Err(invalid("must not contain a username or password"));
    }
    if client_id.contains('?') {
        return Err(invalid("must not contain a query"));
    }
    let loopback = url
        .host_str()
        .is_some_and(crate::config::validate::is_loopback_host);
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback => {}
        _ => return Err(invalid("must use https")),
    }
    if loopback && !allow_loopback {
        return Err(invalid(
            "must not name a loopback host (allowed only with registration.allow_loopback_client_id_documents)",
        ));
    }
    let after_authority = client_id
        .split_once("://")
        .map(|(_, rest)| rest.find('/').map_or("", |i| rest.get(i..).unwrap_or("")))
        .unwrap_or("");
    if after_authority.len() < 2 {
        return Err(invalid("must contain a path"));
    }
    if after_authority.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    }) {
        return Err(invalid("must not contain . or .. path segments"));
    }
    // The document's client_id is compared with this string exactly, and the consent page shows
    // this URL's host: one client must not have several spellings (upper-case hosts, default
    // ports, needless percent-encoding).
    if url.as_str() != client_id {
        return Err(invalid(
            "must be in canonical form (lower-case scheme and host, no default port)",
        ));
    }
    Ok(url)
}

fn authority_has_at(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .is_some_and(|authority| authority.contains('@'))
}

/// How long a good document may be cached, from its `Cache-Control`: `None` for `no-store` or
/// `no-cache`, otherwise `max-age` (the minimum when absent or unreadable) kept between
/// [`MIN_CACHE`] and `max`.
pub fn cache_lifetime(cache_control: Option<&str>, max: Duration) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let directive = directive.trim();
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (directive, None),
        };
        match name.to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return None,
            "max-age" => max_age = value.and_then(|v| v.parse::<u64>().ok()),
            _ => {}
        }
    }
    let lifetime = max_age.map_or(MIN_CACHE, Duration::from_secs);
    Some(lifetime.clamp(MIN_CACHE, max.max(MIN_CACHE)))
}

/// Reads a fetched document for `client_id` and returns the client it describes.
pub fn parse_document(
    client_id: &str,
    body: &[u8],
    allow_loopback: bool,
    now: OffsetDateTime,
) -> Result<Client, ClientError> {
    let invalid = |reason: String| ClientError::InvalidDocument(reason);
    let object = json_object(body)
        .ok_or_else(|| invalid("it is not a JSON object (with unique members)".to_owned()))?;
    match object.get("client_id").and_then(|v| v.as_str()) {
        // Simple string comparison (draft §4.1): no normalisation, no trailing-slash leniency.
        Some(id) if id == client_id => {}
        Some(_) => {
            return Err(invalid(
                "its client_id is not the URL it was fetched from".to_owned(),
            ));
        }
        None => return Err(invalid("client_id is missing or not a string".to_owned())),
    }
    for forbidden in ["client_secret", "client_secret_expires_at"] {
        if object.contains_key(forbidden) {
            return Err(invalid(format!("{forbidden} must not be used")));
        }
    }
    let rules = MetadataRules {
        source: MetadataSource::Document,
        allow_loopback_jwks_uri: allow_loopback,
    };
    let metadata = metadata::parse(&object, rules).map_err(|e| match e {
        ClientError::InvalidRedirectUri(reason) | ClientError::InvalidMetadata(reason) => {
            ClientError::InvalidDocument(reason)
        }
        other => other,
    })?;
    Ok(metadata.into_client(client_id.to_owned(), ClientSource::MetadataDocument, now))
}

/// A cached document: the client, and until when (seconds since the epoch) it may be used.
#[derive(Debug, Clone)]
struct Cached {
    client: Client,
    until: i64,
}

/// One fetch of one URL that concurrent resolutions wait for.
type Flight = Arc<OnceCell<Result<Client, ClientError>>>;

/// Fetches, checks and caches client ID metadata documents.
#[derive(Debug)]
pub struct CimdResolver {
    fetch: Arc<dyn Fetch>,
    settings: CimdSettings,
    cache: Mutex<HashMap<String, Cached>>,
    flights: Mutex<HashMap<String, Flight>>,
}

impl CimdResolver {
    pub fn new(fetch: Arc<dyn Fetch>, settings: CimdSettings) -> Self {
        CimdResolver {
            fetch,
            settings,
            cache: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        // Entries are inserted and removed whole: a panic elsewhere leaves the map consistent.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flights(&self) -> MutexGuard<'_, HashMap<String, Flight>> {
        // As for the cache.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, client_id: &str, now: i64) -> Option<Client> {
        self.cache()
            .get(client_id)
            .filter(|entry| entry.until > now)
            .map(|entry| entry.client.clone())
    }

    /// The client whose `client_id` is this document URL, from the cache or fetched now.
    pub async fn resolve(
        &self,
        client_id: &str,
        now: OffsetDateTime,
    ) -> Result<Client, ClientError> {
        let url = check_client_id_url(client_id, self.settings.allow_loopback)?;
        let now_secs = now.unix_timestamp();
        if let Some(client) = self.cached(client_id, now_secs) {
            return Ok(client);
        }
        let flight = self
            .flights()
            .entry(client_id.to_owned())
            .or_default()
            .clone();
        let result = flight
            .get_or_init(|| async {
                // Another flight may have finished between the cache check and now.
                match self.cached(client_id, now_secs) {
                    Some(client) => Ok(client),
                    None => self.fetch_and_cache(client_id, &url, now).await,
                }
            })
            .await
            .clone();
        let mut flights = self.flights();
        if flights
            .get(client_id)
            .is_some_and(|current| Arc::ptr_eq(current, &flight))
        {
            flights.remove(client_id);
        }
        result
    }

    async fn fetch_and_cache(
        &self,
        client_id: &str,
        url: &Url,
        now: OffsetDateTime,
    ) -> Result<Client, ClientError> {
        let loopback = url
            .host_str()
            .is_some_and(crate::config::validate::is_loopback_host);
        let mut request = FetchRequest::get(
            client_id,
            // Only a loopback host gets past the guard, and only with the test setting: any other
            // name still goes through the resolver that refuses private addresses.
            self.settings.allow_loopback && loopback,
        );
        request.headers = vec![("accept", "application/json".to_owned())];
        request.max_body_bytes = Some(MAX_DOCUMENT_BYTES);
        request.timeout = Some(FETCH_TIMEOUT);
        let response = self.fetch.fetch(request).await.map_err(|e| match e {
            FetchError::TooLarge(_) => ClientError::InvalidDocument(format!(
                "it is larger than {MAX_DOCUMENT_BYTES} bytes"
            )),
            FetchError::Timeout => {
                ClientError::DocumentUnavailable("the request timed out".to_owned())
            }
            FetchError::Forbidden(why) | FetchError::Failed(why) => {
                ClientError::DocumentUnavailable(why)
            }
        })?;
        match response.status {
            200 => {}
            300..=399 => {
                return Err(ClientError::DocumentUnavailable(format!(
                    "the server answered a redirect (HTTP {}), which is not followed",
                    response.status
                )));
            }
            status => {
                return Err(ClientError::DocumentUnavailable(format!(
                    "the server answered HTTP {status}"
                )));
            }
        }
        if response.body.len() > MAX_DOCUMENT_BYTES {
            return Err(ClientError::InvalidDocument(format!(
                "it is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        let client = parse_document(client_id, &response.body, self.settings.allow_loopback, now)?;
        if let Some(lifetime) =
            cache_lifetime(response.cache_control.as_deref(), self.settings.cache_max)
        {
            let until = now
                .unix_timestamp()
                .saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
            self.remember(client_id, client.clone(), now.unix_timestamp(), until);
        }
        Ok(client)
    }

    fn remember(&self, client_id: &str, client: Client, now: i64, until: i64) {
        let mut cache = self.cache();
        if cache.len() >= MAX_CACHED && !cache.contains_key(client_id) {
            cache.retain(|_, entry| entry.until > now);
            if cache.len() >= MAX_CACHED
                && let Some(soonest) = cache
                    .iter()
                    .min_by_key(|(_, entry)| entry.until)
                    .map(|(id, _)| id.clone())
            {
                cache.remove(&soonest);
            }
        }
        cache.insert(client_id.to_owned(), Cached { client, until });
    }

    /// Forgets a cached document (an operator or a test wants it fetched again).
    pub fn forget(&self, client_id: &str) {
        self.cache().remove(client_id);
    }
}

/// The host of a metadata document client's URL, for the consent page.
pub fn document_host(client_id: &str) -> Option<String> {
    Url::parse(client_id)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
}

#[cfg(test)]
mod tests;

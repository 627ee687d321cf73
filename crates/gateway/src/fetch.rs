//! Validators' outbound HTTP (JWKS, discovery, introspection, user APIs): the implementation of
//! [`portcullis_core::auth::Fetch`].
//!
//! Every request is bounded: redirects are never followed (a 3xx comes back as it is), the whole
//! exchange has a deadline, and the body is read as a stream and cut at a size cap. Only `http`
//! and `https` URLs without userinfo are sent.
//!
//! The SSRF guard works at dial time. A URL string says little about where a connection goes
//! (octal and hex IPv4 spellings, IPv4-mapped IPv6, names that resolve to private addresses or
//! change between a check and the dial), so the guarded client resolves names through
//! [`PublicResolver`], which drops every address that is not publicly routable; the connector
//! only ever sees what the resolver returned. IP literals never reach a resolver, so they are
//! checked against the same classifier before the request is sent. A request that says
//! `allow_private_network` goes through a second client with the system resolver and no guard.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ipnet::{Ipv4Net, Ipv6Net};
use portcullis_core::auth::{Fetch, FetchError, FetchMethod, FetchRequest, FetchResponse};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue};
use url::{Host, Url};

/// Limits of [`HttpFetch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpFetchSettings {
    /// Deadline for the whole exchange: connect, TLS, request, answer and body.
    pub timeout: Duration,
    /// Deadline for establishing the TCP connection.
    pub connect_timeout: Duration,
    /// Largest response body accepted, in bytes; larger answers fail with
    /// [`FetchError::TooLarge`].
    pub max_body_bytes: usize,
}

impl Default for HttpFetchSettings {
    /// 10 s in total, 5 s to connect, 256 KiB of body: generous for JSON documents (JWKS,
    /// discovery, introspection, user APIs), small enough that a hostile server cannot make the
    /// gateway buffer much.
    fn default() -> Self {
        HttpFetchSettings {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
        }
    }
}

/// Sends validators' outbound requests with reqwest, under the SSRF guard and the limits of
/// [`HttpFetchSettings`].
#[derive(Clone)]
pub struct HttpFetch {
    /// Resolves through [`PublicResolver`]: the default for every request.
    guarded: reqwest::Client,
    /// The system resolver, no address filter: only for `allow_private_network` requests.
    open: reqwest::Client,
    settings: HttpFetchSettings,
}

impl fmt::Debug for HttpFetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetch")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// `User-Agent` of every outbound request (GitHub's API refuses requests without one).
const USER_AGENT: &str = concat!("portcullis/", env!("CARGO_PKG_VERSION"));

impl HttpFetch {
    /// Builds both clients. Fails only when the TLS stack cannot be set up (no usable roots).
    pub fn new(settings: HttpFetchSettings) -> Result<Self, String> {
        let guarded = client(settings, Some(Arc::new(PublicResolver)))?;
        let open = client(settings, None)?;
        Ok(HttpFetch {
            guarded,
            open,
            settings,
        })
    }

    pub fn settings(&self) -> &HttpFetchSettings {
        &self.settings
    }
}

fn client(
    settings: HttpFetchSettings,
    resolver: Option<Arc<PublicResolver>>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .connect_timeout(settings.connect_timeout)
        .user_agent(USER_AGENT)
        // A proxy would be dialled instead of the target, and the resolver would vet the
        // proxy's address rather than the target's: no proxies, whatever the environment says.
        .no_proxy()
        .tcp_nodelay(true);
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(resolver);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the outbound HTTP client: {}", describe(&e)))
}

#[async_trait]
impl Fetch for HttpFetch {
    async fn fetch(&self, request: FetchRequest<'_>) -> Result<FetchResponse, FetchError> {
        let url = checked_url(request.url, request.allow_private_network)?;
        let client = if request.allow_private_network {
            &self.open
        } else {
            &self.guarded
        };
        let mut builder = match request.method {
            FetchMethod::Get => client.get(url),
            FetchMethod::PostForm => client.post(url).form(&request.form),
        };
        // A request may tighten the limits, never loosen them.
        if let Some(timeout) = request.timeout {
            builder = builder.timeout(timeout.min(self.settings.timeout));
        }
        let limit = request
            .max_body_bytes
            .map_or(self.settings.max_body_bytes, |max| {
                max.min(self.settings.max_body_bytes)
            });
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FetchError::Failed(format!("invalid request header name {name:?}")))?;
            // The value is not quoted: it is often a credential.
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| FetchError::Failed(format!("invalid value for header {name}")))?;
            // Keeps credentials out of HTTP/2 header compression tables and out of `Debug`.
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(fetch_error)?;
        let status = response.status().as_u16();
        let cache_control = cache_control(response.headers());
        let body = read_body(response, limit).await?;
        Ok(FetchResponse {
            status,
            cache_control,
            body,
        })
    }
}

/// Parses the URL and applies the rules that do not need DNS: scheme, userinfo, and (for guarded
/// requests) the address of an IP-literal host.
fn checked_url(raw: &str, allow_private_network: bool) -> Result<Url, FetchError> {
    let url = Url::parse(raw).map_err(|e| FetchError::Forbidden(format!("invalid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Forbidden(format!(
            "the scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    // The userinfo itself is never repeated: it is a credential.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::Forbidden(
            "URLs with userinfo (user:password@) are not allowed".to_owned(),
        ));
    }
    // The URL parser has already turned every IPv4 spelling (`0x7f.1`, `2130706433`,
    // `127.0.0.1.`) into an address, so this sees what the connector will dial.
    let literal = match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => None,
        None => return Err(FetchError::Forbidden("the URL has no host".to_owned())),
    };
    if let Some(ip) = literal
        && !allow_private_network
        && !is_public(ip)
    {
        return Err(FetchError::Forbidden(format!(
            "{ip} is not a public address"
        )));
    }
    Ok(url)
}

/// Every `Cache-Control` header of an answer, joined as one list (RFC 9110 §5.3).
fn cache_control(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Bytes, FetchError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(FetchError::TooLarge(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
        if chunk.len() > limit.saturating_sub(body.len()) {
            return Err(FetchError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn fetch_error(error: reqwest::Error) -> FetchError {
    if let Some(refused) = find_refusal(&error) {
        return FetchError::Forbidden(refused.to_string());
    }
    if error.is_timeout() {
        return FetchError::Timeout;
    }
    FetchError::Failed(describe(&error.without_url()))
}

/// The error and its causes on one line. reqwest's errors never carry request headers, and the
/// URL has been removed by the caller.
fn describe(error: &dyn StdError) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn find_refusal<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a PrivateAddress> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<PrivateAddress>() {
            return Some(refusal);
        }
        current = error.source();
    }
    None
}

/// A name that resolved only to addresses the guard refuses.
#[derive(Debug)]
struct PrivateAddress {
    host: String,
    address: IpAddr,
}

impl fmt::Display for PrivateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves to {}, which is not a public address",
            self.host, self.address
        )
    }
}

impl StdError for PrivateAddress {}

/// Resolves names with the system resolver (through tokio) and keeps only public addresses.
///
/// Because reqwest dials exactly the addresses a resolver returns, filtering here closes the
/// DNS-rebinding gap between checking a name and connecting to it. A name with both public and
/// private addresses is dialled on its public ones only; a name with none fails with the first
/// refused address in the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let mut refused = None;
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| {
                    let public = is_public(addr.ip());
                    if !public {
                        refused.get_or_insert(addr.ip());
                    }
                    public
                })
                .collect();
            match refused {
                Some(address) if public.is_empty() => {
                    Err(Box::new(PrivateAddress { host, address }) as _)
                }
                _ => Ok(Box::new(public.into_iter()) as Addrs),
            }
        })
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// IPv4 ranges that are not globally reachable (IANA special-purpose registry) beyond those
/// `Ipv4Addr`'s stable methods cover (private, loopback, link-local, documentation, multicast,
/// broadcast, unspecified).
const NON_PUBLIC_V4: [Ipv4Net; 6] = [
    v4(0, 0, 0, 0, 8),      // "this network" (RFC 791)
    v4(100, 64, 0, 0, 10),  // shared address space, carrier-grade NAT (RFC 6598)
    v4(192, 0, 0, 0, 24),   // IETF protocol assignments (RFC 6890)
    v4(192, 88, 99, 0, 24), // deprecated 6to4 relay anycast (RFC 7526)
    v4(198, 18, 0, 0, 15),  // benchmarking (RFC 2544)
    v4(240, 0, 0, 0, 4),    // reserved (RFC 1112), with the broadcast address
];

/// The only IPv6 unicast space IANA allocates for global use; everything outside it (loopback,
/// unique-local fc00::/7, link-local fe80::/10, site-local, multicast, discard, SRv6, …) is not
/// public, apart from the IPv4-embedding forms handled first.
const GLOBAL_UNICAST_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// Parts of 2000::/3 that are not globally reachable.
const NON_PUBLIC_V6: [Ipv6Net; 3] = [
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments: Teredo, benchmarking, ORCHID
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation (RFC 3849)
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
];

/// NAT64 well-known prefix (RFC 6052): the last 32 bits are an IPv4 address.
const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// 6to4 (RFC 3056): bits 16 to 48 are an IPv4 address.
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// Whether `ip` is a publicly routable unicast address, the only kind the guard lets a
/// validator's request reach. IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64,
/// 6to4) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_broadcast()
        || NON_PUBLIC_V4.iter().any(|net| net.contains(&ip)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(embedded) = embedded_ipv4(ip) {
        return is_public_v4(embedded);
    }
    GLOBAL_UNICAST_V6.contains(&ip) && !NON_PUBLIC_V6.iter().any(|net| net.contains(&ip))
}

/// The IPv4 address an IPv6 address stands for, if it is of a form that reaches one.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated). The latter includes ::
    // and ::1, which come out as 0.0.0.0 and 0.0.0.1 and so are refused with 0.0.0.0/8.
    if let Some(v4) = ip.to_ipv4() {
        return Some(v4);
    }
    let octets = ip.octets();
    if NAT64.contains(&ip) {
        let [.., a, b, c, d] = octets;
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    if SIX_TO_FOUR.contains(&ip) {
        let [_, _, a, b, c, d, ..] = octets;
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

#[cfg(test)]
mod tests;

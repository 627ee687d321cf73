//! Redirect URIs: which may be registered, and whether a presented one is a registered one.
//!
//! Matching is exact string comparison (RFC 9700 §2.1, §4.1.3; reference R1) with one exception:
//! the port of a loopback redirect (`http://127.0.0.1`, `http://[::1]`, `http://localhost`), which
//! a native app picks when it starts listening (RFC 8252 §7.3, R2). Host, path and query still
//! match exactly, and `localhost` never matches an IP literal or the other way round. Matching
//! works on the strings themselves, never on a parser's normalised form, so no parser difference
//! can make two URIs that differ as strings match (R9).
//!
//! Registration is strict (R3, R8, R9): `https`, or `http` on the three loopback hosts only; no
//! fragment, no userinfo, no dot segments, no whitespace, control or non-ASCII characters, no
//! backslash; dangerous schemes (`javascript:`, `data:`, …) are recognised even when hidden by
//! case, whitespace or control characters. A native app may also use a private-use scheme, and
//! then only one in reverse domain name form (`com.example.app:/cb`, RFC 8252 §7.1).

use url::Url;

use super::{ApplicationType, ClientError};

/// The longest redirect URI accepted.
pub const MAX_LENGTH: usize = 2000;

/// The hosts of loopback redirects, spelled as they must be registered.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// Schemes that run code or read local data in a browser: refused whatever else is said.
const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "jar",
    "chrome",
    "ms-appx",
];

fn invalid(reason: &str) -> ClientError {
    ClientError::InvalidRedirectUri(reason.to_owned())
}

/// Checks that `uri` may be registered by a client of `application_type`.
pub fn validate(uri: &str, application_type: ApplicationType) -> Result<(), ClientError> {
    // First the scheme as a browser would read it: browsers drop whitespace and control
    // characters and ignore case, so `java\tscript:` and ` JavaScript:` are `javascript:`.
    let normalised: String = uri
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(scheme) = DANGEROUS_SCHEMES.iter().find(|s| {
        normalised
            .strip_prefix(**s)
            .is_some_and(|r| r.starts_with(':'))
    }) {
        return Err(ClientError::InvalidRedirectUri(format!(
            "the {scheme}: scheme is never allowed"
        )));
    }
    if uri.is_empty() || uri.len() > MAX_LENGTH {
        return Err(ClientError::InvalidRedirectUri(format!(
            "must be 1 to {MAX_LENGTH} characters"
        )));
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "must not contain spaces, control or non-ASCII characters (percent-encode them)",
        ));
    }
    if uri.contains('\\') {
        return Err(invalid("must not contain a backslash"));
    }
    if uri.contains('#') {
        return Err(invalid("must not contain a fragment"));
    }
    let Some((raw_scheme, after_scheme)) = uri.split_once(':') else {
        return Err(invalid("must be an absolute URI"));
    };
    let parsed = Url::parse(uri).map_err(|_| invalid("must be an absolute URI"))?;
    if raw_scheme != parsed.scheme() {
        return Err(invalid("the scheme must be written in lower case"));
    }
    let (authority, path) = split_authority(after_scheme);
    if authority.is_some_and(|a| a.contains('@'))
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(invalid("must not contain userinfo (user:password@)"));
    }
    if has_dot_segment(path) {
        return Err(invalid("must not contain . or .. path segments"));
    }
    // The URL parser repairs `https:/x` and `https:///x` into `https://x/`: what is registered
    // must already be what the parser reads.
    if matches!(parsed.scheme(), "http" | "https") && authority.is_none_or(str::is_empty) {
        return Err(invalid(
            "must be an absolute URI with a host (scheme://host/…)",
        ));
    }
    match parsed.scheme() {
        "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(invalid("an https redirect URI needs a host"));
            }
            Ok(())
        }
        "http" => {
            if loopback_parts(uri).is_some() {
                Ok(())
            } else {
                Err(invalid(
                    "plain http is only allowed for loopback redirects on 127.0.0.1, [::1] or localhost; use https",
                ))
            }
        }
        scheme => match application_type {
            ApplicationType::Native if is_reverse_domain_scheme(scheme) => Ok(()),
            ApplicationType::Native => Err(invalid(
                "a private-use scheme must be a reverse domain name such as com.example.app (RFC 8252 §7.1)",
            )),
            ApplicationType::Web => Err(invalid(
                "a web application's redirect URIs must be https (or loopback http); private-use schemes need application_type native",
            )),
        },
    }
}

/// Splits what follows `scheme:` into the authority (when there is a `//`) and the path with its
/// query.
fn split_authority(after_scheme: &str) -> (Option<&str>, &str) {
    match after_scheme.strip_prefix("//") {
        Some(rest) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            (Some(authority), path)
        }
        None => (None, after_scheme),
    }
}

/// Whether a path (with its query) has a `.` or `..` segment, plainly or percent-encoded.
fn has_dot_segment(path_and_query: &str) -> bool {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

/// RFC 8252 §7.1: a private-use scheme is a reverse domain name (`com.example.app`): at least two
/// dot-separated labels of letters, digits and `-`, starting with a letter.
fn is_reverse_domain_scheme(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && labels.iter().all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A loopback redirect's host as written and everything after its port; `None` when `uri` is not
/// `http://` on one of the loopback hosts with an optional valid port.
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = LOOPBACK_HOSTS
        .into_iter()
        .find(|host| authority.starts_with(host))?;
    let port = authority.get(host.len()..)?;
    let valid_port = port.is_empty()
        || port.strip_prefix(':').is_some_and(|digits| {
            !digits.is_empty()
                && digits.len() <= 5
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits
                    .parse::<u32>()
                    .is_ok_and(|p| (1..=65_535).contains(&p))
        });
    valid_port.then_some((host, tail))
}

/// Whether `uri` is a loopback redirect (whose port the authorization request chooses).
pub fn is_loopback(uri: &str) -> bool {
    loopback_parts(uri).is_some()
}

/// Whether the `presented` redirect URI of a request is the `registered` one: the same string,
/// or for a loopback redirect the same string but for the port.
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(presented)) {
        (Some((host, tail)), Some((presented_host, presented_tail))) => {
            host == presented_host && tail == presented_tail
        }
        _ => false,
    }
}

/// What the consent page shows as where the user will be sent: the host of an `http(s)` redirect
/// URI, or the scheme of a native app's private-use URI.
pub fn display_host(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(url) => match url.host_str() {
            Some(host) if !host.is_empty() => host.to_owned(),
            _ => format!("{}:", url.scheme()),
        },
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests;

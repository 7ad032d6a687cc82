//! Absolute http(s) URLs in the normal form of RFC 3986 section 6.2.2 and 6.2.3: what a
//! protected resource's identifier, its metadata URL, an external base URL and a DPoP
//! proof's `htu` are compared in.

use std::fmt;

/// True for an authority naming a loopback host: `localhost`, 127.0.0.0/8 or the IPv6
/// loopback (in any spelling), with or without a port.
pub(crate) fn is_loopback(authority: &[u8]) -> bool {
    let Ok(authority) = std::str::from_utf8(authority) else { return false };
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
        None => authority.split(':').next().unwrap_or(authority),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An absolute `http` or `https` URL without query or fragment, normalised: scheme and
/// host lowercased, the scheme's default port dropped, percent-encodings uppercased (and
/// those of unreserved characters decoded), dot segments removed, an empty path made `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// `scheme://host[:port]`, normalised.
    origin: String,
    /// The path, normalised; starts with `/`.
    path: String,
}

/// Why a text is not an [`HttpUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// Not an absolute http(s) URL with a host.
    NotHttp,
    /// It has a query or a fragment.
    QueryOrFragment,
}

impl HttpUrl {
    /// Parses an absolute http(s) URL without query and fragment.
    pub(crate) fn parse(text: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::NotHttp)?;
        let (scheme, default_port) = http_scheme(scheme)?;
        if rest.contains(['?', '#']) {
            return Err(UrlError::QueryOrFragment);
        }
        let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
        Self::from_parts(&scheme, default_port, authority, path)
    }

    /// The URL of a request: `scheme://authority` and its path (the query dropped).
    pub(crate) fn from_request(scheme: &str, authority: &str, path: &str) -> Result<Self, UrlError> {
        let (scheme, default_port) = http_scheme(scheme)?;
        Self::from_parts(&scheme, default_port, authority, path)
    }

    fn from_parts(scheme: &str, default_port: &str, authority: &str, path: &str) -> Result<Self, UrlError> {
        // No user information, a host, only allowed characters.
        if authority.is_empty()
            || authority.contains('@')
            || !authority.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:[]".contains(&b))
        {
            return Err(UrlError::NotHttp);
        }
        let authority = authority.to_ascii_lowercase();
        let (host, port) = match authority.rfind(':') {
            Some(at) if !authority[at..].contains(']') => (&authority[..at], Some(&authority[at + 1..])),
            _ => (authority.as_str(), None),
        };
        if host.is_empty() || port.is_some_and(|port| !port.bytes().all(|b| b.is_ascii_digit())) {
            return Err(UrlError::NotHttp);
        }
        let origin = match port {
            None | Some("") => format!("{scheme}://{host}"),
            Some(port) if port.trim_start_matches('0') == default_port => format!("{scheme}://{host}"),
            Some(port) => format!("{scheme}://{host}:{}", port.trim_start_matches('0')),
        };
        Ok(Self { origin, path: normalize_path(path).ok_or(UrlError::NotHttp)? })
    }

    /// `scheme://host[:port]`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The path, `/` at least.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// True for `https`, or `http` on a loopback host.
    pub(crate) fn is_secure_or_loopback(&self) -> bool {
        self.origin.starts_with("https://")
            || self.origin.strip_prefix("http://").is_some_and(|authority| is_loopback(authority.as_bytes()))
    }

    /// This URL with `path` appended to its own (a `/` between them, not doubled).
    pub(crate) fn join(&self, path: &str) -> Self {
        let own = self.path.trim_end_matches('/');
        let path = normalize_path(&format!("{own}/{}", path.trim_start_matches('/'))).unwrap_or_default();
        Self { origin: self.origin.clone(), path }
    }
}

/// `http` or `https` in lower case, and its default port.
fn http_scheme(scheme: &str) -> Result<(String, &'static str), UrlError> {
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(UrlError::NotHttp),
    };
    Ok((scheme, default_port))
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin, self.path)
    }
}

/// True when `path` is already in normal form: no dot segments, no percent-encoded
/// unreserved character, uppercase percent-encodings, only characters a path may hold.
pub(crate) fn is_normal_path(path: &str) -> bool {
    normalize_path(path).as_deref() == Some(path)
}

/// A path in normal form, or `None` when it holds a character a URL path cannot.
fn normalize_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len() + 1);
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte == b'%' {
            let hex = path.get(at + 1..at + 3).filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                decoded.push(char::from(value));
            } else {
                decoded.push('%');
                decoded.push_str(&hex.to_ascii_uppercase());
            }
            at += 3;
            continue;
        }
        if !(byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte)) {
            return None;
        }
        decoded.push(char::from(byte));
        at += 1;
    }
    // RFC 3986 section 5.2.4, on whole segments.
    let mut segments: Vec<&str> = Vec::new();
    let trailing = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for segment in decoded.split('/').skip(usize::from(decoded.starts_with('/'))) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        HttpUrl::parse(text).unwrap().to_string()
    }

    #[test]
    fn urls_compare_in_their_normal_form() {
        assert_eq!(norm("HTTPS://API.Example.COM:443/a/./b/../c"), "https://api.example.com/a/c");
        assert_eq!(norm("http://127.0.0.1:80"), "http://127.0.0.1/");
        assert_eq!(norm("http://127.0.0.1:8080/x/"), "http://127.0.0.1:8080/x/");
        assert_eq!(norm("https://h/%7euser/%2f%41"), "https://h/~user/%2FA");
        assert_eq!(norm("https://[::1]:8443/p"), "https://[::1]:8443/p");
        assert_eq!(norm("https://h/a/.."), "https://h/");
    }

    #[test]
    fn only_absolute_http_urls_without_query_or_fragment() {
        assert_eq!(HttpUrl::parse("ftp://h/"), Err(UrlError::NotHttp));
        assert_eq!(HttpUrl::parse("/relative"), Err(UrlError::NotHttp));
        assert_eq!(HttpUrl::parse("https://user@h/"), Err(UrlError::NotHttp));
        assert_eq!(HttpUrl::parse("https://h:x/"), Err(UrlError::NotHttp));
        assert_eq!(HttpUrl::parse("https:///p"), Err(UrlError::NotHttp));
        assert_eq!(HttpUrl::parse("https://h/p?q=1"), Err(UrlError::QueryOrFragment));
        assert_eq!(HttpUrl::parse("https://h/p#f"), Err(UrlError::QueryOrFragment));
        assert_eq!(HttpUrl::parse("https://h/a b"), Err(UrlError::NotHttp));
    }

    #[test]
    fn a_path_is_normal_only_as_routers_see_it() {
        assert!(is_normal_path("/users/me"));
        assert!(is_normal_path("/a%2Fb"));
        for path in ["/x/../admin", "/./a", "/%61dmin", "/a%2fb", "/a%+1", "/a b"] {
            assert!(!is_normal_path(path), "{path}");
        }
    }

    #[test]
    fn joining_paths_and_loopback() {
        let base = HttpUrl::parse("https://example.com/api/").unwrap();
        assert_eq!(base.join("/orders").to_string(), "https://example.com/api/orders");
        assert!(base.is_secure_or_loopback());
        assert!(HttpUrl::parse("http://localhost:3000").unwrap().is_secure_or_loopback());
        assert!(!HttpUrl::parse("http://example.com").unwrap().is_secure_or_loopback());
    }
}

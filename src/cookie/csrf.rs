//! Cross-site request forgery protection for requests authenticated by a cookie: the rule
//! and its settings are documented on [`CsrfPolicy`].

use crate::url::is_loopback;
use http::Method;
use http::header::{HOST, HeaderName, HeaderValue, ORIGIN, SEC_WEBSOCKET_KEY, UPGRADE};

use crate::error::ConfigError;
use crate::response::RequestHead;

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// How requests authenticated by a cookie are protected against cross-site request forgery.
/// Set it with [`JwtAuthConfigBuilder::csrf`](crate::JwtAuthConfigBuilder::csrf).
///
/// A browser attaches cookies to requests that other sites start: a form on another site
/// that posts to your API carries the token cookie along. So when a request's credential
/// came from a [`TokenSource::cookie`](crate::TokenSource::cookie) and its method changes
/// state (anything but GET, HEAD, OPTIONS and TRACE), the layer checks that the request
/// comes from your own pages, before any signature check. A credential from the
/// `Authorization` header, another header or the query needs no check: another site cannot
/// make a browser send it.
///
/// The rule, on by default whenever a cookie source is configured:
///
/// - With `Sec-Fetch-Site` (sent by every current browser): `same-origin` and `none` (the
///   user started the request) pass; `same-site` and `cross-site` pass only when the
///   `Origin` is one of the [trusted origins](CsrfPolicy::trusted_origin). A sibling
///   subdomain is `same-site`, so it needs trusting too.
/// - Without `Sec-Fetch-Site`: an `Origin` passes when it is trusted, or when it is the
///   request's own origin: the same host and port (the `Host` header, or the URI's authority
///   on HTTP/2) and the same scheme (the URI's on HTTP/2; else `https`, or `http` for a
///   loopback host in development). A page served over plain http on the site's host is
///   another origin. A site served over plain http on another host trusts its own origin
///   with [`trusted_origin`](CsrfPolicy::trusted_origin). `Origin: null` never passes. No `Origin` either passes: the request comes from
///   something that is not a browser (which has no ambient cookies to abuse), or from a
///   browser too old to send either header, which this check cannot protect (`SameSite`
///   cookies still do).
///
/// Refused requests get 403 with the fixed sentence of
/// [`ErrorKind::CrossSiteRequest`](crate::ErrorKind::CrossSiteRequest)
/// (gRPC: 7 PERMISSION_DENIED) and no `WWW-Authenticate` challenge.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, TokenIssuer, cookie::{CsrfPolicy, TokenCookie}};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let cookie = TokenCookie::new("access_token")?;
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(&secret)
///     .token_sources([cookie.source()])
///     .csrf(CsrfPolicy::default().trusted_origin("https://app.example.com"))
///     .build()?;
/// let service = ServiceBuilder::new()
///     .layer(JwtAuthLayer::new(config))
///     .service(service_fn(|_: Request<Full<Bytes>>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("done"))))
///     }));
///
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
/// let post = |site: &str, origin: &str| {
///     Request::post("/orders")
///         .header("cookie", format!("access_token={token}"))
///         .header("sec-fetch-site", site)
///         .header("origin", origin)
///         .body(Full::default())
/// };
///
/// // A form on another site posting with the user's cookie: refused.
/// let response = service.clone().oneshot(post("cross-site", "https://evil.example")?).await?;
/// assert_eq!(response.status(), StatusCode::FORBIDDEN);
/// // The application's own pages, and the trusted front end: accepted.
/// let response = service.clone().oneshot(post("same-origin", "https://api.example.com")?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// let response = service.oneshot(post("cross-site", "https://app.example.com")?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfPolicy {
    enabled: bool,
    trusted: Vec<String>,
}

impl Default for CsrfPolicy {
    /// The check on, with no trusted origin: only the application's own origin passes.
    fn default() -> Self {
        Self { enabled: true, trusted: Vec::new() }
    }
}

impl CsrfPolicy {
    /// Also accepts state-changing requests from pages of this origin, such as a front end
    /// served from another host: `scheme://host[:port]` with `http` or `https` and no path
    /// (`https://app.example.com`). Checked by
    /// [`build`](crate::JwtAuthConfigBuilder::build). Call again to trust several.
    #[must_use]
    pub fn trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted.push(origin.into());
        self
    }

    /// No check at all. Dangerous with cookie authentication: any site the user visits can
    /// then send state-changing requests with their token, and only `SameSite` cookies
    /// stand in the way. For an API that reads tokens from headers only, the check never
    /// runs anyway.
    pub fn disabled() -> Self {
        Self { enabled: false, trusted: Vec::new() }
    }

    /// The check to run, or `None` when disabled; refuses a malformed trusted origin.
    pub(crate) fn prepare(self) -> Result<Option<OriginCheck>, ConfigError> {
        let trusted = self.trusted.iter().map(|origin| normalize_origin(origin)).collect::<Result<_, _>>()?;
        Ok(self.enabled.then_some(OriginCheck { trusted }))
    }
}

/// The prepared check: trusted origins lowercased, without a default port.
#[derive(Debug)]
pub(crate) struct OriginCheck {
    trusted: Vec<String>,
}

impl OriginCheck {
    /// True when a request whose credential came from a cookie may go on.
    pub(crate) fn allows(&self, request: &RequestHead<'_>) -> bool {
        let headers = request.headers;
        // A WebSocket handshake is a GET, but opens a channel that changes state, and CORS
        // does not guard it: checked like a POST (browsers always send `Origin` with it).
        let websocket = headers.contains_key(SEC_WEBSOCKET_KEY)
            || headers.get_all(UPGRADE).iter().any(|value| {
                value
                    .as_bytes()
                    .split(|b| *b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"websocket"))
            });
        if !websocket
            && matches!(*request.method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
        {
            return true;
        }
        let origin = headers.get(ORIGIN).map(HeaderValue::as_bytes);
        match headers.get(SEC_FETCH_SITE).map(HeaderValue::as_bytes) {
            Some(b"same-origin" | b"none") => true,
            Some(_) => origin.is_some_and(|origin| self.trusts(origin)),
            None => match origin {
                None => true,
                Some(origin) => self.trusts(origin) || same_origin(origin, request),
            },
        }
    }

    fn trusts(&self, origin: &[u8]) -> bool {
        self.trusted.iter().any(|trusted| trusted.as_bytes().eq_ignore_ascii_case(origin))
    }
}

/// The port a scheme implies, as written after the host.
fn default_port(scheme: &[u8]) -> Option<&'static [u8]> {
    if scheme.eq_ignore_ascii_case(b"https") {
        Some(b":443")
    } else if scheme.eq_ignore_ascii_case(b"http") {
        Some(b":80")
    } else {
        None
    }
}

/// True when the origin is the request's own: the same scheme, host and port, compared
/// without regard to case, a default port on either side ignored. The host and port come
/// from `Host` (or the URI's authority on HTTP/2); the scheme from the URI when it has one
/// (HTTP/2), else it is `https`, or `http` for a loopback host (127.0.0.0/8, `::1`,
/// `localhost`: development). `null` and anything that is not `scheme://authority` never
/// match.
fn same_origin(origin: &[u8], request: &RequestHead<'_>) -> bool {
    let Some(at) = origin.windows(3).position(|window| window == b"://") else {
        return false;
    };
    let (scheme, host) = (&origin[..at], &origin[at + 3..]);
    if host.is_empty() || host.contains(&b'/') {
        return false;
    }
    let authority = match request.headers.get(HOST) {
        Some(host) => host.as_bytes(),
        None => match request.uri.authority() {
            Some(authority) => authority.as_str().as_bytes(),
            None => return false,
        },
    };
    let own_scheme = match request.uri.scheme_str() {
        Some(scheme) => scheme.as_bytes(),
        None if is_loopback(authority) => b"http",
        None => b"https",
    };
    if !scheme.eq_ignore_ascii_case(own_scheme) {
        return false;
    }
    let port = default_port(scheme);
    without_port(host, port).eq_ignore_ascii_case(without_port(authority, port))
}

/// `value` without a trailing default `port`.
fn without_port<'v>(value: &'v [u8], port: Option<&[u8]>) -> &'v [u8] {
    port.and_then(|port| value.strip_suffix(port)).unwrap_or(value)
}

/// `scheme://host[:port]` lowercased, without a default port, or a sentence saying why not.
fn normalize_origin(origin: &str) -> Result<String, ConfigError> {
    let refuse = || {
        ConfigError::value(format!(
            "{origin:?} is not a valid trusted origin; write it as scheme://host[:port] with http or \
             https and no path, like \"https://app.example.com\""
        ))
    };
    let (scheme, authority) = origin.split_once("://").ok_or_else(refuse)?;
    let scheme = scheme.to_ascii_lowercase();
    let Some(default) = default_port(scheme.as_bytes()) else {
        return Err(refuse());
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']').ok_or_else(refuse)?;
            if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
                return Err(refuse());
            }
            (&authority[..inside.len() + 2], after)
        }
        None => {
            let end = authority.find(':').unwrap_or(authority.len());
            let host = &authority[..end];
            if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                return Err(refuse());
            }
            (host, &authority[end..])
        }
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => "",
        None => return Err(refuse()),
        Some(digits) => match digits.parse::<u16>() {
            Ok(number) if number > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => return Err(refuse()),
        },
    };
    let port = if port.as_bytes() == default { "" } else { port };
    Ok(format!("{scheme}://{}{port}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Uri};

    fn allows(check: &OriginCheck, method: Method, uri: &str, pairs: &[(&str, &str)]) -> bool {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        let uri: Uri = uri.parse().unwrap();
        check.allows(&RequestHead { method: &method, uri: &uri, headers: &headers })
    }

    fn check(trusted: &[&str]) -> OriginCheck {
        trusted
            .iter()
            .fold(CsrfPolicy::default(), |policy, origin| policy.trusted_origin(*origin))
            .prepare()
            .unwrap()
            .unwrap()
    }

    #[test]
    fn safe_methods_are_never_checked() {
        let check = check(&[]);
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            assert!(allows(&check, method, "/", &[("sec-fetch-site", "cross-site")]));
        }
        for method in
            [Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::from_bytes(b"PURGE").unwrap()]
        {
            assert!(!allows(&check, method, "/", &[("sec-fetch-site", "cross-site")]));
        }
    }

    #[test]
    fn fetch_metadata_passes_same_origin_and_none_and_trusted_origins_only() {
        let check = check(&["https://app.example.com"]);
        let post = |pairs: &[(&str, &str)]| allows(&check, Method::POST, "/", pairs);
        assert!(post(&[("sec-fetch-site", "same-origin")]));
        assert!(post(&[("sec-fetch-site", "none")]));
        assert!(!post(&[("sec-fetch-site", "same-site"), ("origin", "https://other.example.com")]));
        assert!(!post(&[("sec-fetch-site", "cross-site")]));
        assert!(post(&[("sec-fetch-site", "cross-site"), ("origin", "https://APP.example.com")]));
        assert!(post(&[("sec-fetch-site", "same-site"), ("origin", "https://app.example.com")]));
        // The Host is not enough once the browser says the request is cross-site.
        assert!(!post(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://api.test"),
            ("host", "api.test")
        ]));
    }

    #[test]
    fn without_fetch_metadata_the_origin_must_be_trusted_or_the_host() {
        let check = check(&["http://localhost:5173"]);
        let post = |uri: &str, pairs: &[(&str, &str)]| allows(&check, Method::POST, uri, pairs);
        assert!(post("/", &[]));
        assert!(post("/", &[("host", "api.test")]));
        assert!(post("/", &[("origin", "http://localhost:5173")]));
        assert!(post("/", &[("origin", "https://API.test"), ("host", "api.test")]));
        assert!(post("/", &[("origin", "https://api.test"), ("host", "api.test:443")]));
        assert!(!post("/", &[("origin", "https://api.test:8081"), ("host", "api.test:8080")]));
        assert!(post("/", &[("origin", "https://api.test:8080"), ("host", "api.test:8080")]));
        assert!(!post("/", &[("origin", "https://evil.test"), ("host", "api.test")]));
        assert!(!post("/", &[("origin", "https://api.test.evil.test"), ("host", "api.test")]));
        assert!(!post("/", &[("origin", "null"), ("host", "null")]));
        assert!(!post("/", &[("origin", "null")]));
        assert!(!post("/", &[("origin", "https://api.test")]));
        // HTTP/2: the authority is in the URI.
        assert!(post("https://api.test/orders", &[("origin", "https://api.test")]));
        assert!(!post("https://api.test/orders", &[("origin", "https://evil.test")]));
    }

    /// The scheme counts: a page served over plain http on the same host is another origin.
    #[test]
    fn without_fetch_metadata_the_origin_scheme_must_be_the_sites() {
        let check = check(&[]);
        let post = |uri: &str, pairs: &[(&str, &str)]| allows(&check, Method::POST, uri, pairs);
        // No scheme in the request (HTTP/1.1): the site is https, unless it is on loopback.
        assert!(!post("/", &[("origin", "http://api.example"), ("host", "api.example")]));
        assert!(!post("/", &[("origin", "http://api.example:8080"), ("host", "api.example:8080")]));
        assert!(post("/", &[("origin", "https://api.example"), ("host", "api.example")]));
        assert!(post("/", &[("origin", "http://localhost:3000"), ("host", "localhost:3000")]));
        assert!(post("/", &[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")]));
        assert!(post("/", &[("origin", "http://[::1]:3000"), ("host", "[::1]:3000")]));
        assert!(post(
            "/",
            &[("origin", "http://[0:0:0:0:0:0:0:1]:3000"), ("host", "[0:0:0:0:0:0:0:1]:3000")]
        ));
        assert!(!post("/", &[("origin", "http://[::2]:3000"), ("host", "[::2]:3000")]));
        assert!(!post(
            "/",
            &[("origin", "http://localhost.evil.example"), ("host", "localhost.evil.example")]
        ));
        // The request's own scheme, where it has one (HTTP/2).
        assert!(post("http://api.example/orders", &[("origin", "http://api.example")]));
        assert!(!post("https://api.example/orders", &[("origin", "http://api.example")]));
        assert!(!post("http://api.example/orders", &[("origin", "https://api.example")]));
    }

    #[test]
    fn disabled_policy_checks_nothing() {
        assert!(CsrfPolicy::disabled().prepare().unwrap().is_none());
    }

    #[test]
    fn trusted_origins_are_normalized() {
        assert_eq!(normalize_origin("HTTPS://App.Example.com").unwrap(), "https://app.example.com");
        assert_eq!(normalize_origin("https://app.example.com:443").unwrap(), "https://app.example.com");
        assert_eq!(normalize_origin("http://app.example.com:80").unwrap(), "http://app.example.com");
        assert_eq!(normalize_origin("http://localhost:5173").unwrap(), "http://localhost:5173");
        assert_eq!(normalize_origin("https://[::1]:8443").unwrap(), "https://[::1]:8443");
    }

    #[test]
    fn trusted_origins_with_a_path_or_another_scheme_are_refused() {
        for origin in [
            "",
            "null",
            "app.example.com",
            "https://",
            "https://app.example.com/",
            "https://app.example.com/app",
            "https://app.example.com?x",
            "https://user@app.example.com",
            "https://app.example.com:",
            "https://app.example.com:0",
            "https://app.example.com:+80",
            "https://app.example.com:99999",
            "ftp://app.example.com",
            "https://[::1",
            "https://[]",
        ] {
            let error = CsrfPolicy::default().trusted_origin(origin).prepare().unwrap_err();
            assert!(error.message().contains("scheme://host[:port]"), "{origin:?}");
        }
    }
}

//! One HTTP GET of a JSON document, with the limits every fetch obeys: the scheme policy,
//! no redirect followed, status 200 only, a timeout over the whole exchange, and a body cap
//! enforced while streaming. Also OIDC discovery and `Cache-Control` parsing.

use std::fmt;
use std::time::Duration;

use http::header::{ACCEPT, CACHE_CONTROL, HeaderMap};
use reqwest::{Client, Url};
use serde::Deserialize;

/// What a fetch needs to know besides the URL.
#[derive(Clone, Debug)]
pub(crate) struct FetchLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_body: usize,
    pub(crate) allow_http: bool,
}

/// Why fetching a remote key set (or its discovery document) failed. The text names no URL,
/// header or body content.
///
/// ```
/// use tower_jwt_auth::{RemoteJwks, jwks::JwksErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let jwks = serde_json::json!({"keys": []});
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/jwks.json", listener.local_addr()?);
/// # let app = axum::Router::new().route("/jwks.json", axum::routing::get(move || {
/// #     let jwks = jwks.clone();
/// #     async move { axum::Json(jwks) }
/// # }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// // `url` serves `{"keys": []}`: by default a failed fetch, so a bad publication never
/// // throws the last good keys away.
/// let keys = RemoteJwks::from_url(&url).allow_http(true).build()?;
/// let kind = keys.refresh().await.unwrap_err().kind();
/// assert_eq!(kind, JwksErrorKind::NoUsableKey);
/// assert_eq!(kind.to_string(), "the key set holds no key fit to verify");
///
/// // Unless an empty set means "withdrawn" to you.
/// let keys = RemoteJwks::from_url(&url).allow_http(true).allow_empty_set(true).build()?;
/// assert!(keys.refresh().await.is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwksErrorKind {
    /// No connection, TLS failure, or another transport error.
    Transport,
    /// The whole exchange took longer than the timeout.
    Timeout,
    /// The server answered with a redirect (never followed) or the client followed one.
    Redirect,
    /// The status was not 200.
    Status(u16),
    /// The body was larger than the cap.
    TooLarge,
    /// The body was not the expected JSON document.
    Malformed,
    /// The discovery document's `issuer` differs from the configured issuer.
    IssuerMismatch,
    /// The discovery document's `jwks_uri` is unusable (bad URL, plain http, or another
    /// origin than the issuer's).
    JwksUri,
    /// The key set holds more entries than its cap
    /// ([`max_keys`](super::RemoteJwksBuilder::max_keys)).
    TooManyKeys,
    /// The key set holds no key fit to verify: every entry was unfit (an encryption key, an
    /// algorithm outside the allowlist, a kid named twice...), or it was empty (unless
    /// [`allow_empty_set`](super::RemoteJwksBuilder::allow_empty_set)).
    NoUsableKey,
}

impl fmt::Display for JwksErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport => f.write_str("the request failed (connection, TLS or protocol error)"),
            Self::Timeout => f.write_str("the request timed out"),
            Self::Redirect => f.write_str("the server answered with a redirect, which is never followed"),
            Self::Status(status) => write!(f, "the server answered with status {status}, not 200"),
            Self::TooLarge => f.write_str("the body is larger than the configured cap"),
            Self::Malformed => f.write_str("the body is not the expected JSON document"),
            Self::IssuerMismatch => f.write_str("the discovery document names another issuer"),
            Self::JwksUri => f.write_str("the discovery document's jwks_uri is not allowed"),
            Self::TooManyKeys => f.write_str("the key set holds more keys than its cap"),
            Self::NoUsableKey => f.write_str("the key set holds no key fit to verify"),
        }
    }
}

/// A fetched body and the freshness lifetime its `Cache-Control` gave, if any.
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    pub(crate) max_age: Option<Duration>,
}

/// True when `url` may be fetched: https, or http when allowed.
/// Whether `url` names a loopback host (`localhost`, 127.0.0.0/8, `::1`): plain http there
/// is allowed for development without `allow_http`.
pub(crate) fn on_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(|host| crate::url::is_loopback(host.as_bytes()))
}

pub(crate) fn scheme_allowed(url: &Url, allow_http: bool) -> bool {
    url.scheme() == "https" || (allow_http && url.scheme() == "http")
}

/// GETs `url` and reads its body under the limits.
pub(crate) async fn get(client: &Client, url: &Url, limits: &FetchLimits) -> Result<Fetched, JwksErrorKind> {
    if !scheme_allowed(url, limits.allow_http) {
        return Err(JwksErrorKind::JwksUri);
    }
    // The transport's error names the URL: it goes to the debug log, never into the error.
    let classify = |error: reqwest::Error| {
        tracing::debug!(%error, "remote key set request failed");
        if error.is_timeout() { JwksErrorKind::Timeout } else { JwksErrorKind::Transport }
    };
    let response = client
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .timeout(limits.timeout)
        .send()
        .await
        .map_err(classify)?;
    read(response, url, limits).await
}

/// Reads an answer to a request for `url`: status 200 only, never through a redirect, the
/// body under the cap.
pub(crate) async fn read(
    mut response: reqwest::Response,
    url: &Url,
    limits: &FetchLimits,
) -> Result<Fetched, JwksErrorKind> {
    let classify = |error: reqwest::Error| {
        tracing::debug!(%error, "remote document request failed");
        if error.is_timeout() { JwksErrorKind::Timeout } else { JwksErrorKind::Transport }
    };
    if response.url() != url || response.status().is_redirection() {
        return Err(JwksErrorKind::Redirect);
    }
    if response.status() != http::StatusCode::OK {
        return Err(JwksErrorKind::Status(response.status().as_u16()));
    }
    if response.content_length().is_some_and(|length| length > limits.max_body as u64) {
        return Err(JwksErrorKind::TooLarge);
    }
    let max_age = cache_max_age(response.headers());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limits.max_body {
            return Err(JwksErrorKind::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body, max_age })
}

/// The `max-age` of a `Cache-Control` header; `no-store` and `no-cache` count as zero (the
/// caller clamps to its minimum lifetime). Several fields are read as one list.
pub(crate) fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(seconds) = argument.and_then(|text| text.parse::<u64>().ok())
            {
                max_age = Some(Duration::from_secs(seconds));
            }
        }
    }
    max_age
}

/// The discovery document's URL for an issuer (OpenID Connect Discovery 1.0 section 4).
pub(crate) fn discovery_url(issuer: &str) -> Result<Url, String> {
    let base = issuer.trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|_| format!("the issuer {issuer:?} is not a URL"))
}

/// Reads `jwks_uri` from a discovery document after checking its `issuer`.
pub(crate) fn jwks_uri_from_discovery(
    body: &[u8],
    issuer: &str,
    allow_http: bool,
    allow_foreign_origin: bool,
) -> Result<Url, JwksErrorKind> {
    #[derive(Deserialize)]
    struct Document {
        issuer: String,
        jwks_uri: String,
    }
    let document: Document = serde_json::from_slice(body).map_err(|_| JwksErrorKind::Malformed)?;
    if document.issuer != issuer {
        return Err(JwksErrorKind::IssuerMismatch);
    }
    let jwks_uri = Url::parse(&document.jwks_uri).map_err(|_| JwksErrorKind::JwksUri)?;
    if !scheme_allowed(&jwks_uri, allow_http) {
        return Err(JwksErrorKind::JwksUri);
    }
    if !allow_foreign_origin {
        let issuer_url = Url::parse(issuer).map_err(|_| JwksErrorKind::JwksUri)?;
        if issuer_url.origin() != jwks_uri.origin() {
            return Err(JwksErrorKind::JwksUri);
        }
    }
    Ok(jwks_uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn cache_control_max_age_is_read_and_no_store_counts_as_zero() {
        assert_eq!(cache_max_age(&headers(&["public, max-age=3600"])), Some(Duration::from_secs(3600)));
        assert_eq!(cache_max_age(&headers(&["public", "Max-Age=\"90\""])), Some(Duration::from_secs(90)));
        assert_eq!(cache_max_age(&headers(&["max-age=60, no-store"])), Some(Duration::ZERO));
        assert_eq!(cache_max_age(&headers(&["max-age=forever"])), None);
        assert_eq!(cache_max_age(&headers(&[])), None);
    }

    #[test]
    fn discovery_checks_issuer_and_origin() {
        let issuer = "https://idp.example.com/realms/a";
        let good =
            br#"{"issuer":"https://idp.example.com/realms/a","jwks_uri":"https://idp.example.com/certs"}"#;
        assert_eq!(
            jwks_uri_from_discovery(good, issuer, false, false).unwrap().as_str(),
            "https://idp.example.com/certs"
        );
        let other =
            br#"{"issuer":"https://idp.example.com/realms/b","jwks_uri":"https://idp.example.com/certs"}"#;
        assert_eq!(jwks_uri_from_discovery(other, issuer, false, false), Err(JwksErrorKind::IssuerMismatch));
        let foreign =
            br#"{"issuer":"https://idp.example.com/realms/a","jwks_uri":"https://keys.example.net/certs"}"#;
        assert_eq!(jwks_uri_from_discovery(foreign, issuer, false, false), Err(JwksErrorKind::JwksUri));
        assert!(jwks_uri_from_discovery(foreign, issuer, false, true).is_ok());
        let plain =
            br#"{"issuer":"https://idp.example.com/realms/a","jwks_uri":"http://idp.example.com/certs"}"#;
        assert_eq!(jwks_uri_from_discovery(plain, issuer, false, true), Err(JwksErrorKind::JwksUri));
        assert_eq!(
            discovery_url("https://idp.example.com/realms/a/").unwrap().as_str(),
            "https://idp.example.com/realms/a/.well-known/openid-configuration"
        );
    }
}

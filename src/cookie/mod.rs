//! Tokens in browser cookies: [`TokenCookie`] writes the `Set-Cookie` values of a login and
//! a logout endpoint (`HttpOnly`, `Secure`, the [`SameSite`] attribute it names) and the
//! [`TokenSource`] that reads the cookie back; [`CsrfPolicy`] protects the requests such a
//! cookie authenticates against cross-site request forgery.
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::{JwtAuthConfig, cookie::{CsrfPolicy, TokenCookie}};
//!
//! # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
//! let cookie = TokenCookie::new("__Host-access_token")?;
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .token_sources([cookie.source()])
//!     .csrf(CsrfPolicy::default().trusted_origin("https://app.example.com"))
//!     .build()?;
//! // A login handler answers with this header, a logout handler with `cookie.clear()`.
//! let set_cookie = cookie.set("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", Duration::from_secs(900))?;
//! assert!(set_cookie.to_str().unwrap().contains("; HttpOnly; Secure; SameSite=Strict"));
//! # let _ = config;
//! # Ok(())
//! # }
//! ```

pub(crate) mod csrf;

pub use csrf::CsrfPolicy;

use std::fmt;
use std::time::Duration;

use http::HeaderValue;

use crate::error::ConfigError;
use crate::extract::{TokenSource, validate};

/// Browsers keep cookies up to this size (name and value), and silently drop larger ones
/// (RFC 6265 section 6.1).
const MAX_COOKIE_SIZE: usize = 4096;

/// The `SameSite` attribute of a [`TokenCookie`]: which requests started by other sites
/// carry the cookie.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::cookie::{SameSite, TokenCookie};
///
/// # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
/// assert_eq!(SameSite::default(), SameSite::Strict);
///
/// // Users arriving from a link in an email should land logged in: `Lax`.
/// let cookie = TokenCookie::new("access_token")?.same_site(SameSite::Lax)?;
/// let set_cookie = cookie.set("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", Duration::from_secs(900))?;
/// assert!(set_cookie.to_str().unwrap().ends_with("; HttpOnly; Secure; SameSite=Lax"));
///
/// // `None` is refused without `Secure`, as browsers refuse such a cookie.
/// assert!(cookie.secure(false)?.same_site(SameSite::None).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SameSite {
    /// Never sent with a request another site starts (the default). A user following a link
    /// from another site (an email, a search result) arrives without it: the first page
    /// they see is the logged-out one.
    #[default]
    Strict,
    /// Also sent when the user follows a link from another site (top-level navigations with
    /// a safe method), never with another site's forms, scripts or frames.
    Lax,
    /// Sent with every request, other sites' too; requires `Secure`. Only for pages embedded
    /// in other sites: the cross-site request check then carries the protection of
    /// state-changing requests and WebSocket handshakes, but another site's page can still
    /// make the browser send safe requests (`GET`) with the cookie.
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// The `Set-Cookie` values that put an access token into a browser cookie (at login) and
/// take it out again (at logout), and the [`TokenSource`] that reads the same cookie back.
///
/// `HttpOnly` is always set (page scripts never see the token), `Secure` and
/// `SameSite=Strict` are the defaults, and the path is `/`. A combination that browsers
/// refuse or that would weaken the cookie is refused by the setter that makes it:
/// `SameSite=None` needs `Secure`, a `__Secure-` name needs `Secure`, and a `__Host-` name
/// needs `Secure`, `Path=/` and no `Domain`. Requests authenticated by this cookie get the
/// cross-site request check of [`CsrfPolicy`].
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{JwtAuthConfig, cookie::{SameSite, TokenCookie}};
///
/// # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
/// let cookie = TokenCookie::new("access_token")?;
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .token_sources([cookie.source()])
///     .build()?;
///
/// // The login handler sends this `Set-Cookie` value with the token it just issued:
/// let set = cookie.set("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", Duration::from_secs(900))?;
/// assert_eq!(
///     set,
///     "access_token=eyJhbGciOiJIUzI1NiJ9.e30.c2ln; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Strict"
/// );
/// // The logout handler sends this one:
/// assert_eq!(cookie.clear(), "access_token=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
///
/// // Impossible combinations are refused where they are made.
/// assert!(TokenCookie::new("__Host-access_token")?.path("/api").is_err());
/// assert!(cookie.clone().same_site(SameSite::None)?.secure(false).is_err());
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
///
/// Each setter checks the whole cookie and returns an error naming what to change, so a
/// `TokenCookie` always makes valid headers.
#[derive(Clone)]
pub struct TokenCookie {
    name: String,
    path: String,
    domain: Option<String>,
    same_site: SameSite,
    secure: bool,
    /// The value [`clear`](Self::clear) returns; rebuilt (and so checked) by every setter.
    cleared: HeaderValue,
}

impl fmt::Debug for TokenCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCookie")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("same_site", &self.same_site)
            .field("secure", &self.secure)
            .finish()
    }
}

/// RFC 6265 `cookie-name`: an RFC 7230 `token`.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.as_bytes().get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

impl TokenCookie {
    /// A cookie named `name` with `Path=/`, `HttpOnly`, `Secure` and `SameSite=Strict`.
    /// The name must be an RFC 6265 token without `&` (letters, digits and
    /// ``!#$%'*+-.^_`|~``). A
    /// `__Host-` name (recommended when the cookie serves one host) keeps other subdomains
    /// from setting or overwriting it.
    pub fn new(name: impl Into<String>) -> Result<Self, ConfigError> {
        let name = name.into();
        // `&` is a token character, but the layer's cookie source refuses it.
        if name.is_empty() || !name.bytes().all(|b| is_token_char(b) && b != b'&') {
            return Err(ConfigError::value(format!(
                "{name:?} is not a valid cookie name; use letters, digits and !#$%'*+-.^_`|~ only"
            )));
        }
        Self {
            name,
            path: "/".to_owned(),
            domain: None,
            same_site: SameSite::Strict,
            secure: true,
            cleared: HeaderValue::from_static(""),
        }
        .checked()
    }

    /// Sends the cookie only under this path (default `/`). It must start with `/` and
    /// hold printable ASCII without `;`. A `__Host-` cookie must keep `/`.
    pub fn path(mut self, path: impl Into<String>) -> Result<Self, ConfigError> {
        let path = path.into();
        if !path.starts_with('/') || path.bytes().any(|b| !(0x20..0x7f).contains(&b) || b == b';') {
            return Err(ConfigError::value(format!(
                "{path:?} is not a valid cookie path; it must start with / and hold printable ASCII without ;"
            )));
        }
        self.path = path;
        self.checked()
    }

    /// Sends the cookie to this domain and its subdomains too (default: no `Domain`, so
    /// only to the host that set it, which is safer). Letters, digits, `-` and `.` only. A
    /// `__Host-` cookie cannot have one.
    pub fn domain(mut self, domain: impl Into<String>) -> Result<Self, ConfigError> {
        let domain = domain.into();
        if domain.trim_start_matches('.').is_empty()
            || !domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(ConfigError::value(format!(
                "{domain:?} is not a valid cookie domain; use a host name such as example.com"
            )));
        }
        self.domain = Some(domain);
        self.checked()
    }

    /// The `SameSite` attribute (default [`SameSite::Strict`]). [`SameSite::None`] requires
    /// `Secure`.
    pub fn same_site(mut self, same_site: SameSite) -> Result<Self, ConfigError> {
        self.same_site = same_site;
        self.checked()
    }

    /// The `Secure` attribute (default on): the browser sends the cookie over https only.
    /// Turn it off only for local development over plain http, and know that current
    /// browsers already accept `Secure` cookies from `http://localhost`. `SameSite=None`,
    /// `__Secure-` and `__Host-` names require it.
    pub fn secure(mut self, secure: bool) -> Result<Self, ConfigError> {
        self.secure = secure;
        self.checked()
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token source that reads this cookie, for
    /// [`JwtAuthConfigBuilder::token_sources`](crate::JwtAuthConfigBuilder::token_sources).
    pub fn source(&self) -> TokenSource {
        TokenSource::cookie(self.name.clone())
    }

    /// The `Set-Cookie` value that stores `token` for `max_age` (whole seconds; use the
    /// token's lifetime, such as [`TokenIssuer::lifetime`](crate::TokenIssuer::lifetime)).
    ///
    /// Refuses a token that is not a bearer token (RFC 6750 `b64token`: letters, digits,
    /// `-._~+/`, trailing `=`; every JWT is one), and a cookie above 4096 bytes, which
    /// browsers drop without a word. The error never contains the token.
    pub fn set(&self, token: &str, max_age: Duration) -> Result<HeaderValue, ConfigError> {
        if validate(token.as_bytes()).is_err() {
            return Err(ConfigError::value(
                "the token is not a bearer token (letters, digits, -._~+/ and a trailing =), so it \
                 cannot be a cookie value",
            ));
        }
        if self.name.len() + 1 + token.len() > MAX_COOKIE_SIZE {
            return Err(ConfigError::value(format!(
                "the cookie would be larger than {MAX_COOKIE_SIZE} bytes, which browsers drop; issue a \
                 smaller token or send it in the Authorization header"
            )));
        }
        HeaderValue::from_str(&self.header(token, max_age.as_secs()))
            .map_err(|_| ConfigError::value("the cookie is not a valid header value"))
    }

    /// The `Set-Cookie` value that deletes the cookie (empty value, `Max-Age=0`, the same
    /// attributes), for logout.
    pub fn clear(&self) -> HeaderValue {
        self.cleared.clone()
    }

    fn header(&self, value: &str, max_age: u64) -> String {
        let mut header = format!("{}={value}", self.name);
        if let Some(domain) = &self.domain {
            header.push_str("; Domain=");
            header.push_str(domain);
        }
        header.push_str(&format!("; Path={}; Max-Age={max_age}; HttpOnly", self.path));
        if self.secure {
            header.push_str("; Secure");
        }
        header.push_str("; SameSite=");
        header.push_str(self.same_site.as_str());
        header
    }

    /// Refuses the combinations browsers reject, then rebuilds the clearing value.
    fn checked(mut self) -> Result<Self, ConfigError> {
        let name = &self.name;
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::setting(
                "SameSite=None requires Secure (browsers refuse the cookie otherwise); keep secure(true) \
                 or choose SameSite::Lax",
            ));
        }
        for prefix in ["__Secure-", "__Host-"] {
            if starts_with_ignore_case(name, prefix) && !self.secure {
                return Err(ConfigError::setting(format!(
                    "the cookie {name:?} starts with {prefix}, which requires Secure; keep secure(true) or \
                     rename the cookie"
                )));
            }
        }
        if starts_with_ignore_case(name, "__Host-") && (self.path != "/" || self.domain.is_some()) {
            return Err(ConfigError::setting(format!(
                "the cookie {name:?} starts with __Host-, which requires Path=/ and no Domain; drop the \
                 path or domain, or rename the cookie"
            )));
        }
        self.cleared = HeaderValue::from_str(&self.header("", 0))
            .map_err(|_| ConfigError::value("the cookie is not a valid header value"))?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";

    #[test]
    fn defaults_are_http_only_secure_strict_at_the_root() {
        let cookie = TokenCookie::new("access_token").unwrap();
        assert_eq!(
            cookie.set(TOKEN, Duration::from_secs(900)).unwrap(),
            format!("access_token={TOKEN}; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Strict").as_str()
        );
        assert_eq!(cookie.clear(), "access_token=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
        assert_eq!(cookie.source(), TokenSource::cookie("access_token"));
    }

    #[test]
    fn every_attribute_appears_in_the_header_and_in_the_clearing_header() {
        let cookie = TokenCookie::new("session")
            .and_then(|c| c.path("/api"))
            .and_then(|c| c.domain("example.com"))
            .and_then(|c| c.same_site(SameSite::Lax))
            .and_then(|c| c.secure(false))
            .unwrap();
        assert_eq!(
            cookie.set("a.b.c", Duration::from_millis(60_999)).unwrap(),
            "session=a.b.c; Domain=example.com; Path=/api; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            cookie.clear(),
            "session=; Domain=example.com; Path=/api; Max-Age=0; HttpOnly; SameSite=Lax"
        );
        let none = TokenCookie::new("t").and_then(|c| c.same_site(SameSite::None)).unwrap();
        assert_eq!(none.clear(), "t=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None");
    }

    #[test]
    fn names_paths_and_domains_with_separators_or_control_characters_are_refused() {
        for name in ["", "a b", "a;b", "a=b", "a,b", "a\"b", "a\tb", "é", "a/b", "a&b"] {
            assert!(TokenCookie::new(name).is_err(), "{name:?}");
        }
        let cookie = TokenCookie::new("at").unwrap();
        for path in ["", "api", "/a;b", "/a\nb", "/a\u{7f}", "/é"] {
            assert!(cookie.clone().path(path).is_err(), "{path:?}");
        }
        for domain in ["", ".", "a;b", "a b", "a/b", "exa\rmple.com"] {
            assert!(cookie.clone().domain(domain).is_err(), "{domain:?}");
        }
    }

    #[test]
    fn same_site_none_requires_secure_in_either_order() {
        let cookie = TokenCookie::new("at").unwrap();
        assert!(cookie.clone().same_site(SameSite::None).unwrap().secure(false).is_err());
        assert!(cookie.secure(false).unwrap().same_site(SameSite::None).is_err());
    }

    #[test]
    fn prefixed_names_require_what_their_prefix_promises() {
        assert!(TokenCookie::new("__Secure-at").unwrap().secure(false).is_err());
        assert!(TokenCookie::new("__secure-at").unwrap().secure(false).is_err());
        assert!(TokenCookie::new("__Secure-at").unwrap().path("/api").is_ok());
        let host = TokenCookie::new("__Host-at").unwrap();
        assert!(host.clone().secure(false).is_err());
        assert!(host.clone().path("/api").is_err());
        assert!(host.clone().domain("example.com").is_err());
        assert_eq!(
            host.set("a.b.c", Duration::from_secs(1)).unwrap(),
            "__Host-at=a.b.c; Path=/; Max-Age=1; HttpOnly; Secure; SameSite=Strict"
        );
    }

    #[test]
    fn tokens_that_are_not_cookie_safe_or_too_large_are_refused_without_echoing_them() {
        let cookie = TokenCookie::new("at").unwrap();
        for token in ["", "a b", "a;b", "a,b", "a\"b", "a\\b", "secret;Domain=evil.example"] {
            let error = cookie.set(token, Duration::from_secs(1)).unwrap_err();
            assert!(!error.message().contains("evil"), "{token:?}");
        }
        assert!(cookie.set("a.b.c==", Duration::from_secs(1)).is_ok());
        assert!(cookie.set(&"a".repeat(MAX_COOKIE_SIZE - 3), Duration::from_secs(1)).is_ok());
        assert!(cookie.set(&"a".repeat(MAX_COOKIE_SIZE - 2), Duration::from_secs(1)).is_err());
    }
}

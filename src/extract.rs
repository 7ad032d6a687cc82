//! Where the token comes from: the `Authorization` header, another header, a cookie or
//! (only when asked) a query parameter, tried in the configured order.
//!
//! RFC 6750 section 2 allows one method per request: two different credentials, a repeated
//! `Authorization` header or a repeated cookie get 400 `invalid_request`. Another scheme
//! (`Basic ...`) counts as no credential.
//!
//! ```
//! use tower_jwt_auth::{JwtAuthConfig, TokenSource};
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .token_sources([TokenSource::bearer(), TokenSource::cookie("access_token")])
//!     .build()
//!     .unwrap();
//! # let _ = config;
//! ```

use http::Uri;
use http::header::{AUTHORIZATION, COOKIE, HeaderMap, HeaderName};

use crate::error::{ConfigError, ErrorKind};

/// One place a token may be found. Build the list with
/// [`JwtAuthConfigBuilder::token_sources`](crate::JwtAuthConfigBuilder::token_sources).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, TokenIssuer, TokenSource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(&secret)
///     .token_sources([TokenSource::bearer(), TokenSource::header_with_prefix("x-auth", "Token ")])
///     .build()?;
/// let service = ServiceBuilder::new().layer(JwtAuthLayer::new(config)).service(service_fn(
///     |_: Request<Full<Bytes>>| async { Ok::<_, std::convert::Infallible>(Response::new(Full::default())) },
/// ));
/// let issuer = TokenIssuer::builder().hmac_secret(secret).build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice"}))?;
/// let other = issuer.issue(&serde_json::json!({"sub": "bob"}))?;
///
/// let request = Request::get("/").header("x-auth", format!("Token {token}")).body(Full::default())?;
/// assert_eq!(service.clone().oneshot(request).await?.status(), StatusCode::OK);
/// // Two different credentials in one request: 400 invalid_request (RFC 6750 section 2).
/// let request = Request::get("/")
///     .header("x-auth", format!("Token {token}"))
///     .header("authorization", format!("Bearer {other}"))
///     .body(Full::default())?;
/// assert_eq!(service.oneshot(request).await?.status(), StatusCode::BAD_REQUEST);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSource {
    kind: SourceKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SourceKind {
    Bearer,
    Header { name: String, prefix: Option<String> },
    Cookie(String),
    Query(String),
}

impl TokenSource {
    /// `Authorization: Bearer <token>` (the default, RFC 6750 section 2.1).
    pub fn bearer() -> Self {
        Self { kind: SourceKind::Bearer }
    }

    /// A named header holding the bare token, such as `X-Access-Token`.
    pub fn header(name: impl Into<String>) -> Self {
        Self { kind: SourceKind::Header { name: name.into(), prefix: None } }
    }

    /// A named header holding `<prefix><token>`, such as `X-Auth: Token <token>`; the
    /// prefix is matched without regard to case, and spaces after it are skipped.
    pub fn header_with_prefix(name: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self { kind: SourceKind::Header { name: name.into(), prefix: Some(prefix.into()) } }
    }

    /// A named cookie. All `Cookie` header fields are read (HTTP/2 splits them).
    pub fn cookie(name: impl Into<String>) -> Self {
        Self { kind: SourceKind::Cookie(name.into()) }
    }

    /// A query parameter. Discouraged (RFC 6750 section 2.3): URLs end up in logs,
    /// histories and `Referer` headers. Use it only where nothing else can be sent, such as
    /// a browser `EventSource`.
    pub fn query(name: impl Into<String>) -> Self {
        Self { kind: SourceKind::Query(name.into()) }
    }

    pub(crate) fn prepare(&self) -> Result<PreparedSource, ConfigError> {
        Ok(match &self.kind {
            SourceKind::Bearer => PreparedSource::Bearer,
            SourceKind::Header { name, prefix } => PreparedSource::Header {
                name: HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    ConfigError::value(format!("{name:?} is not a valid header name for a token source"))
                })?,
                prefix: prefix.clone(),
            },
            SourceKind::Cookie(name) | SourceKind::Query(name) => {
                if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b"=;&".contains(&b)) {
                    return Err(ConfigError::value(format!(
                        "{name:?} is not a valid cookie or query parameter name for a token source"
                    )));
                }
                match &self.kind {
                    SourceKind::Cookie(_) => PreparedSource::Cookie(name.clone()),
                    _ => PreparedSource::Query(name.clone()),
                }
            }
        })
    }
}

/// A validated token source.
#[derive(Debug, Clone)]
pub(crate) enum PreparedSource {
    Bearer,
    /// The `Authorization` header with DPoP on: the `DPoP` scheme, and `Bearer` too unless
    /// DPoP is required.
    Dpop {
        bearer_too: bool,
    },
    Header {
        name: HeaderName,
        prefix: Option<String>,
    },
    Cookie(String),
    Query(String),
}

/// RFC 6750 `b64token`: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // Ranges, not a table, and no early exit: the loop over a whole token vectorizes.
    let invalid = body.iter().fold(0u8, |invalid, &b| {
        let ok = b.is_ascii_alphanumeric() | matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        invalid | u8::from(!ok)
    });
    !body.is_empty() && invalid == 0
}

/// Checks a credential found by [`extract`] against the b64token syntax. The layer runs it
/// only after a verification failed (a token that verifies is three base64url segments,
/// which is a b64token), to answer a malformed credential with 400 rather than 401.
pub(crate) fn validate(token: &[u8]) -> Result<&[u8], ErrorKind> {
    if is_b64token(token) { Ok(token) } else { Err(ErrorKind::MalformedRequest) }
}

/// A credential's bytes as text: a header's bytes need not be UTF-8, and a credential
/// that is not is a malformed request (which decides which error [`extract`] reports).
pub(crate) fn text(token: &[u8]) -> Result<&str, ErrorKind> {
    std::str::from_utf8(token).map_err(|_| ErrorKind::MalformedRequest)
}

/// The one value of a header that must not repeat, if present.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a [u8]>, ErrorKind> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value.as_bytes())),
        (Some(_), Some(_)) => Err(ErrorKind::RepeatedCredential),
    }
}

fn bearer(headers: &HeaderMap) -> Result<Option<&[u8]>, ErrorKind> {
    Ok(authorization(headers, true, false)?.map(|(token, _)| token))
}

/// The token of the `Authorization` header when its scheme is one we take, and whether that
/// scheme is `DPoP`.
fn authorization(headers: &HeaderMap, bearer: bool, dpop: bool) -> Result<Option<(&[u8], bool)>, ErrorKind> {
    let Some(value) = single(headers, &AUTHORIZATION)? else {
        return Ok(None);
    };
    // The usual request first: `Bearer` and one space.
    if bearer
        && let Some((scheme, token)) = value.split_at_checked(7)
        && scheme.eq_ignore_ascii_case(b"bearer ")
    {
        return Ok(Some((&token[token.iter().take_while(|&&b| b == b' ').count()..], false)));
    }
    scheme_and_token(value, bearer, dpop)
}

/// The token of an `Authorization` value when its scheme is one we take, and whether that
/// scheme is `DPoP`: the general reading.
fn scheme_and_token(value: &[u8], bearer: bool, dpop: bool) -> Result<Option<(&[u8], bool)>, ErrorKind> {
    let scheme_end = value.iter().position(|&b| b == b' ' || b == b'\t').unwrap_or(value.len());
    let scheme = &value[..scheme_end];
    let is_dpop = dpop && scheme.eq_ignore_ascii_case(b"dpop");
    if !(is_dpop || bearer && scheme.eq_ignore_ascii_case(b"bearer")) {
        return Ok(None); // another scheme is not our credential
    }
    // RFC 7235 separates the scheme from its credentials with spaces only.
    if value.get(scheme_end) == Some(&b'\t') {
        return Err(ErrorKind::MalformedRequest);
    }
    let token = &value[scheme_end..];
    Ok(Some((&token[token.iter().take_while(|&&b| b == b' ').count()..], is_dpop)))
}

fn header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    prefix: Option<&str>,
) -> Result<Option<&'a [u8]>, ErrorKind> {
    let Some(value) = single(headers, name)? else {
        return Ok(None);
    };
    // Without our prefix the value is not our credential, whatever its bytes.
    let token = match prefix {
        None => value,
        Some(prefix) => match value.get(..prefix.len()) {
            Some(head) if head.eq_ignore_ascii_case(prefix.as_bytes()) => {
                let rest = &value[prefix.len()..];
                &rest[rest.iter().take_while(|&&b| b == b' ').count()..]
            }
            _ => return Ok(None),
        },
    };
    Ok(Some(token))
}

/// The named cookie, from every `Cookie` field. Read as bytes: another cookie's non-ASCII
/// value hides nothing; a non-UTF-8 value of this cookie is a malformed credential.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ErrorKind> {
    let mut found = None;
    for field in headers.get_all(COOKIE) {
        for pair in field.as_bytes().split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            let Some(equals) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if pair[..equals].trim_ascii() != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(ErrorKind::RepeatedCredential);
            }
            let value = std::str::from_utf8(pair[equals + 1..].trim_ascii())
                .map_err(|_| ErrorKind::MalformedRequest)?;
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            found = Some(value);
        }
    }
    match found {
        None | Some("") => Ok(None),
        Some(token) => Ok(Some(token)),
    }
}

fn query<'a>(uri: &'a Uri, name: &str) -> Result<Option<&'a str>, ErrorKind> {
    let mut found = None;
    for pair in uri.query().unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name {
            if found.is_some() {
                return Err(ErrorKind::RepeatedCredential);
            }
            found = Some(value);
        }
    }
    match found {
        None | Some("") => Ok(None),
        Some(token) => Ok(Some(token)),
    }
}

/// The credential of a request and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credential<'a> {
    /// The token's bytes. A header's token is not checked to be UTF-8: verification reads
    /// bytes, and its precheck refuses any byte outside base64url and dots.
    pub(crate) token: &'a [u8],
    /// True when only cookies carried it: a browser sends cookies on its own, so such a
    /// request may have been started by another site (see [`crate::csrf`]).
    pub(crate) from_cookie: bool,
    /// True when it came with the `DPoP` scheme: its proof is then checked.
    pub(crate) dpop: bool,
    /// True when it came in the `Authorization` header (either scheme).
    pub(crate) authorization: bool,
}

/// Finds the one credential of a request, or says why there is none or too many. The
/// token's syntax is not checked here: see [`validate`]; nor, for a header, that it is
/// UTF-8 (see [`text`]), except where the answer depends on it: a credential that is not
/// is a malformed request before any later source is read, as when each was checked on
/// arrival.
pub(crate) fn extract<'a>(
    sources: &[PreparedSource],
    headers: &'a HeaderMap,
    uri: &'a Uri,
) -> Result<Option<Credential<'a>>, ErrorKind> {
    // The default, and the most common: the `Authorization` header alone.
    if let [PreparedSource::Bearer] = sources {
        let token = bearer(headers)?;
        return Ok(token.map(|token| Credential {
            token,
            from_cookie: false,
            dpop: false,
            authorization: true,
        }));
    }
    let mut found: Option<Credential<'a>> = None;
    // The error a later source gives, unless a credential found before is not UTF-8.
    let after = |found: &Option<Credential<'a>>, kind: ErrorKind| match found {
        Some(first) if text(first.token).is_err() => ErrorKind::MalformedRequest,
        _ => kind,
    };
    for source in sources {
        let mut dpop = false;
        let in_authorization = matches!(source, PreparedSource::Bearer | PreparedSource::Dpop { .. });
        let token = match source {
            PreparedSource::Bearer => bearer(headers).map(|token| (token, false)),
            PreparedSource::Dpop { bearer_too } => authorization(headers, *bearer_too, true).map(|found| {
                found.map_or((None, false), |(token, is_dpop)| {
                    dpop = is_dpop;
                    (Some(token), false)
                })
            }),
            PreparedSource::Header { name, prefix } => {
                header(headers, name, prefix.as_deref()).map(|token| (token, false))
            }
            PreparedSource::Cookie(name) => {
                cookie(headers, name).map(|token| (token.map(str::as_bytes), true))
            }
            PreparedSource::Query(name) => query(uri, name).map(|token| (token.map(str::as_bytes), false)),
        };
        let (token, from_cookie) = match token {
            Ok((Some(token), from_cookie)) => (token, from_cookie),
            Ok((None, _)) => continue,
            Err(kind) => return Err(after(&found, kind)),
        };
        match &mut found {
            None => found = Some(Credential { token, from_cookie, dpop, authorization: in_authorization }),
            Some(first) if first.token != token => {
                let conflict = if text(token).is_err() {
                    ErrorKind::MalformedRequest
                } else {
                    ErrorKind::ConflictingCredentials
                };
                return Err(after(&found, conflict));
            }
            // The same token in a header too: whoever sent it knew the token.
            Some(first) => {
                first.from_cookie &= from_cookie;
                first.dpop |= dpop;
                first.authorization |= in_authorization;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    fn run(
        sources: &[PreparedSource],
        pairs: &[(&str, &str)],
        uri: &str,
    ) -> Result<Option<String>, ErrorKind> {
        let map = headers(pairs);
        let uri: Uri = uri.parse().unwrap();
        extract(sources, &map, &uri)
            .and_then(|found| found.map(|found| validate(found.token).and_then(text)).transpose())
            .map(|token| token.map(str::to_owned))
    }

    fn from_cookie(sources: &[PreparedSource], pairs: &[(&str, &str)]) -> Option<bool> {
        let map = headers(pairs);
        extract(sources, &map, &Uri::from_static("/")).unwrap().map(|found| found.from_cookie)
    }

    #[test]
    fn a_credential_is_from_a_cookie_only_when_no_header_carried_it() {
        let s = [PreparedSource::Bearer, PreparedSource::Cookie("at".into())];
        assert_eq!(from_cookie(&s, &[("cookie", "at=a.b.c")]), Some(true));
        assert_eq!(from_cookie(&s, &[("authorization", "Bearer a.b.c")]), Some(false));
        assert_eq!(
            from_cookie(&s, &[("authorization", "Bearer a.b.c"), ("cookie", "at=a.b.c")]),
            Some(false)
        );
        let cookie_first = [PreparedSource::Cookie("at".into()), PreparedSource::Bearer];
        assert_eq!(
            from_cookie(&cookie_first, &[("authorization", "Bearer a.b.c"), ("cookie", "at=a.b.c")]),
            Some(false)
        );
        assert_eq!(from_cookie(&s, &[]), None);
    }

    #[test]
    fn the_fast_paths_answer_as_the_general_ones() {
        let values: &[&[u8]] = &[
            b"Bearer a.b.c",
            b"bearer a.b.c",
            b"BEARER  a.b.c",
            b"Bearer\ta.b.c",
            b"Bearer",
            b"Bearer ",
            b"Bearer  ",
            b"Bearerx a.b.c",
            b"Bearer\t",
            b"Basic YQ==",
            b"DPoP a.b.c",
            b"Bear a",
            b"",
            b"Bearer a b",
            b" Bearer a.b.c",
            b"Bearer \xff",
        ];
        let uri: Uri = "/".parse().unwrap();
        for &value in values {
            let mut map = HeaderMap::new();
            map.insert(AUTHORIZATION, http::HeaderValue::from_bytes(value).unwrap());
            // With the `Bearer` fast path, against the general reading alone.
            for dpop in [false, true] {
                assert_eq!(authorization(&map, true, dpop), scheme_and_token(value, true, dpop), "{value:?}");
            }
            // The one-source fast path against the loop over the same source twice (the same
            // token twice is one credential).
            let one = extract(&[PreparedSource::Bearer], &map, &uri);
            let twice = extract(&[PreparedSource::Bearer, PreparedSource::Bearer], &map, &uri);
            assert_eq!(one, twice, "{value:?}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_allows_several_spaces() {
        let s = [PreparedSource::Bearer];
        assert_eq!(
            run(&s, &[("authorization", "bEaReR   abc.def.ghi")], "/"),
            Ok(Some("abc.def.ghi".into()))
        );
        assert_eq!(run(&s, &[("authorization", "Basic dXNlcjpwYXNz")], "/"), Ok(None));
        assert_eq!(run(&s, &[("authorization", "Bearer")], "/"), Err(ErrorKind::MalformedRequest));
        assert_eq!(run(&s, &[("authorization", "Bearer a,b")], "/"), Err(ErrorKind::MalformedRequest));
        assert_eq!(
            run(&s, &[("authorization", "Bearer a"), ("authorization", "Bearer a")], "/"),
            Err(ErrorKind::RepeatedCredential)
        );
    }

    #[test]
    fn cookies_are_read_across_split_cookie_fields() {
        let s = [PreparedSource::Cookie("at".into())];
        assert_eq!(run(&s, &[("cookie", "a=1"), ("cookie", "b=2; at=x.y.z")], "/"), Ok(Some("x.y.z".into())));
        assert_eq!(
            run(&s, &[("cookie", "at=x.y.z"), ("cookie", "at=x.y.z")], "/"),
            Err(ErrorKind::RepeatedCredential)
        );
        assert_eq!(run(&s, &[("cookie", "att=x.y.z")], "/"), Ok(None));
    }

    #[test]
    fn two_different_credentials_conflict_but_the_same_one_twice_does_not() {
        let s = [PreparedSource::Bearer, PreparedSource::Cookie("at".into())];
        assert_eq!(
            run(&s, &[("authorization", "Bearer a.b.c"), ("cookie", "at=x.y.z")], "/"),
            Err(ErrorKind::ConflictingCredentials)
        );
        assert_eq!(
            run(&s, &[("authorization", "Bearer a.b.c"), ("cookie", "at=a.b.c")], "/"),
            Ok(Some("a.b.c".into()))
        );
    }

    #[test]
    fn headers_with_prefix_and_query_parameters() {
        let h = [PreparedSource::Header {
            name: HeaderName::from_static("x-auth"),
            prefix: Some("Token ".into()),
        }];
        assert_eq!(run(&h, &[("x-auth", "token  a.b.c")], "/"), Ok(Some("a.b.c".into())));
        assert_eq!(run(&h, &[("x-auth", "Other a.b.c")], "/"), Ok(None));
        let q = [PreparedSource::Query("access_token".into())];
        assert_eq!(run(&q, &[], "/x?a=1&access_token=a.b.c"), Ok(Some("a.b.c".into())));
        assert_eq!(run(&q, &[], "/x?access_token=a&access_token=b"), Err(ErrorKind::RepeatedCredential));
        assert_eq!(run(&q, &[], "/x?access_token=a%20b"), Err(ErrorKind::MalformedRequest));
    }

    /// A header credential that is not UTF-8 is a malformed request wherever it stands, as
    /// when each source was checked on arrival: before another source's conflict or
    /// repetition is noticed.
    #[test]
    fn a_credential_that_is_not_utf8_is_malformed_before_any_later_conflict() {
        let raw = |name: &str, value: &[u8]| {
            let mut map = HeaderMap::new();
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value).unwrap(),
            );
            map
        };
        let uri = Uri::from_static("/");
        let mut bad_bearer = raw("authorization", b"Bearer a.b\xff");
        let sources = [PreparedSource::Bearer, PreparedSource::Cookie("at".into())];
        // Alone: found, and malformed once read as text.
        let found = extract(&sources[..1], &bad_bearer, &uri).unwrap().unwrap();
        assert_eq!(text(found.token), Err(ErrorKind::MalformedRequest));
        // Then a different cookie, or a repeated one: still malformed, not a conflict.
        bad_bearer.append(COOKIE, "at=x.y.z".parse().unwrap());
        assert_eq!(extract(&sources, &bad_bearer, &uri), Err(ErrorKind::MalformedRequest));
        bad_bearer.append(COOKIE, "at=x.y.z".parse().unwrap());
        assert_eq!(extract(&sources, &bad_bearer, &uri), Err(ErrorKind::MalformedRequest));
        // A cookie first, then a bearer that is not UTF-8: malformed too.
        let mut cookie_first = raw("authorization", b"Bearer q\xfe");
        cookie_first.append(COOKIE, "at=x.y.z".parse().unwrap());
        let sources = [PreparedSource::Cookie("at".into()), PreparedSource::Bearer];
        assert_eq!(extract(&sources, &cookie_first, &uri), Err(ErrorKind::MalformedRequest));
        // Valid credentials that differ still conflict.
        let mut two = raw("authorization", b"Bearer a.b.c");
        two.append(COOKIE, "at=x.y.z".parse().unwrap());
        assert_eq!(extract(&sources, &two, &uri), Err(ErrorKind::ConflictingCredentials));
    }
}

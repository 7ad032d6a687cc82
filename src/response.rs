//! Rejections: RFC 6750 answers for HTTP, trailers-only answers for gRPC, and the
//! responder hook that lets an application shape its own.
//!
//! | class | HTTP | `WWW-Authenticate` | gRPC |
//! |---|---|---|---|
//! | no credential | 401 | `Bearer realm="..."` | 16 UNAUTHENTICATED |
//! | malformed request | 400 | `error="invalid_request"` | 16 UNAUTHENTICATED |
//! | bad token | 401 | `error="invalid_token"` | 16 UNAUTHENTICATED |
//! | guard not satisfied | 403 | `error="insufficient_scope", scope="..."` | 7 PERMISSION_DENIED |
//! | cross-site request authenticated by a cookie | 403 | none | 7 PERMISSION_DENIED |
//! | keys unavailable | 503 + `Retry-After` | none | 14 UNAVAILABLE |
//!
//! ```
//! use bytes::Bytes;
//! use tower_jwt_auth::{ErrorKind, JwtAuthConfig};
//!
//! // Send browsers without a token to the login page; keep the default for the rest.
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .responder(|error, request| {
//!         let wants_html = request.headers().get("accept").is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
//!         (error.kind() == ErrorKind::MissingCredential && wants_html).then(|| {
//!             http::Response::builder()
//!                 .status(303)
//!                 .header("location", "/login")
//!                 .body(Bytes::new())
//!                 .unwrap()
//!         })
//!     })
//!     .build()
//!     .unwrap();
//! # let _ = config;
//! ```

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, Response, Uri};

use crate::error::{AuthError, ErrorKind, RejectionClass};

/// The parts of a request a responder may look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`.
    pub(crate) fn of<B>(request: &'a http::Request<B>) -> Self {
        Self { method: request.method(), uri: request.uri(), headers: request.headers() }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// True for gRPC requests (`content-type: application/grpc` or `application/grpc+...`,
    /// without regard to case, parameters after `;` allowed, as media types are compared).
    pub fn is_grpc(&self) -> bool {
        const GRPC: &[u8] = b"application/grpc";
        self.headers.get(CONTENT_TYPE).is_some_and(|value| {
            let value = value.as_bytes();
            let essence = value.split(|&b| b == b';').next().unwrap_or(value).trim_ascii();
            essence.get(..GRPC.len()).is_some_and(|head| head.eq_ignore_ascii_case(GRPC))
                && matches!(essence.get(GRPC.len()), None | Some(b'+'))
        })
    }
}

/// An application's own answers: `Some(response)` to answer a rejection itself, `None` for
/// the default answer.
pub(crate) type CustomResponder =
    Arc<dyn Fn(&AuthError, &RequestHead<'_>) -> Option<Response<Bytes>> + Send + Sync>;

/// The realm of challenges when none is configured.
pub(crate) const DEFAULT_REALM: &str = "api";

/// How a configuration answers rejections: its realm, and the application's own responder if
/// it set one. Small and shared: every verified token carries it, so that guards further in
/// answer as the layer that verified the token would.
pub(crate) struct Responder {
    realm: Box<str>,
    custom: Option<CustomResponder>,
}

impl Responder {
    pub(crate) fn new(realm: impl Into<Box<str>>, custom: Option<CustomResponder>) -> Self {
        Self { realm: realm.into(), custom }
    }

    /// The realm named in challenges.
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    /// The answer to `error`: the application's own, else the default.
    pub(crate) fn respond(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
        self.custom
            .as_ref()
            .and_then(|custom| custom(error, request))
            .unwrap_or_else(|| default_response(error, request, &self.realm))
    }
}

/// Inserted by an optional layer into a request that carried no credential, so that a guard
/// or an extractor further in answers its 401 as that layer would (its realm, its responder).
#[derive(Clone)]
pub(crate) struct Anonymous(pub(crate) Arc<Responder>);

/// How long clients are told to wait when keys are unavailable.
const RETRY_AFTER_SECONDS: &str = "10";

/// The `WWW-Authenticate` challenge for an error (RFC 6750 section 3); none for
/// [`RejectionClass::Unavailable`] and [`RejectionClass::Forbidden`], where authenticating
/// again would not help.
pub fn bearer_challenge(error: &AuthError, realm: &str) -> Option<HeaderValue> {
    let class = error.class();
    if matches!(class, RejectionClass::Unavailable | RejectionClass::Forbidden) {
        return None;
    }
    let mut challenge = format!("Bearer realm=\"{realm}\"");
    if let Some(code) = class.error_code() {
        challenge
            .push_str(&format!(", error=\"{code}\", error_description=\"{}\"", error.kind().description()));
    }
    if let Some(scope) = error.required_scope().filter(|scope| !scope.is_empty()) {
        challenge.push_str(&format!(", scope=\"{scope}\""));
    }
    HeaderValue::from_str(&challenge).ok()
}

/// The default answer to a rejection: RFC 6750 for HTTP, trailers-only for gRPC.
pub fn default_response(error: &AuthError, request: &RequestHead<'_>, realm: &str) -> Response<Bytes> {
    let class = error.class();
    let mut response = Response::new(Bytes::new());
    let headers = response.headers_mut();
    if let Some(challenge) = bearer_challenge(error, realm) {
        headers.insert(WWW_AUTHENTICATE, challenge);
    }
    if class == RejectionClass::Unavailable {
        headers.insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    if request.is_grpc() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        insert_grpc_status(headers, error);
        return response; // HTTP 200, trailers-only
    }
    let code = class.error_code().unwrap_or(match class {
        RejectionClass::Unavailable => "temporarily_unavailable",
        RejectionClass::Forbidden => "forbidden",
        _ => "unauthorized",
    });
    let body = serde_json::json!({"error": code, "error_description": error.kind().description()});
    *response.body_mut() = Bytes::from(body.to_string());
    *response.status_mut() = class.status();
    response
}

/// Inserts the `grpc-status` of the error's class and its fixed, percent-encoded
/// `grpc-message` (into the headers of a trailers-only answer, or into trailers).
pub(crate) fn insert_grpc_status(headers: &mut HeaderMap, error: &AuthError) {
    headers.insert("grpc-status", HeaderValue::from(u16::from(error.class().grpc_status())));
    if let Ok(message) = HeaderValue::from_str(&grpc_percent_encode(error.kind().description())) {
        headers.insert("grpc-message", message);
    }
}

/// Percent-encodes a `grpc-message` (bytes outside 0x20..=0x7E, and `%`).
fn grpc_percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The 401 for a request that reached a guard or an extractor without claims: as the
/// optional layer that let it through answers (its realm, its responder), else the default.
pub(crate) fn missing_credential(
    extensions: &http::Extensions,
    request: &RequestHead<'_>,
) -> Response<Bytes> {
    let error = ErrorKind::MissingCredential.into();
    match extensions.get::<Anonymous>() {
        Some(Anonymous(responder)) => responder.respond(&error, request),
        None => default_response(&error, request, DEFAULT_REALM),
    }
}

/// Moves a rejection into the service's own body type.
///
/// Bodies that can hold bytes (axum's `Body` with the `axum` feature, `Full<Bytes>`,
/// `String`, `Vec<u8>`, `Bytes`) get the JSON text; any other body type (tonic's, say) gets
/// its `Default`, and the `content-type` of a JSON body is then left out. Status and headers
/// are kept either way.
pub(crate) fn into_service_response<B: Default + 'static>(response: Response<Bytes>) -> Response<B> {
    let (mut parts, bytes) = response.into_parts();
    let mut slot: Option<B> = None;
    if !bytes.is_empty() {
        fill_body(&mut slot, bytes);
        if slot.is_some() && !parts.headers.contains_key(CONTENT_TYPE) {
            parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    Response::from_parts(parts, slot.unwrap_or_default())
}

fn fill_body(slot: &mut dyn Any, bytes: Bytes) {
    if let Some(slot) = slot.downcast_mut::<Option<http_body_util::Full<Bytes>>>() {
        *slot = Some(http_body_util::Full::new(bytes));
    } else if let Some(slot) = slot.downcast_mut::<Option<Bytes>>() {
        *slot = Some(bytes);
    } else if let Some(slot) = slot.downcast_mut::<Option<Vec<u8>>>() {
        *slot = Some(bytes.to_vec());
    } else if let Some(slot) = slot.downcast_mut::<Option<String>>() {
        *slot = String::from_utf8(bytes.to_vec()).ok();
    } else {
        #[cfg(feature = "axum")]
        if let Some(slot) = slot.downcast_mut::<Option<axum_core::body::Body>>() {
            *slot = Some(axum_core::body::Body::from(bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use http::StatusCode;

    fn head<'a>(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> RequestHead<'a> {
        RequestHead { method, uri, headers }
    }

    #[test]
    fn missing_credential_gets_a_challenge_without_error_code() {
        let (method, uri, headers) = (Method::GET, Uri::from_static("/"), HeaderMap::new());
        let response =
            default_response(&ErrorKind::MissingCredential.into(), &head(&method, &uri, &headers), "api");
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer realm=\"api\"");
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let error = AuthError::insufficient_scope("articles:write");
        let challenge = bearer_challenge(&error, "api").unwrap();
        assert_eq!(
            challenge,
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"The access token lacks the required permission\", scope=\"articles:write\""
        );
    }

    #[test]
    fn cross_site_requests_get_a_plain_403_without_challenge() {
        let (method, uri, headers) = (Method::POST, Uri::from_static("/"), HeaderMap::new());
        let error: AuthError = ErrorKind::CrossSiteRequest.into();
        let response = default_response(&error, &head(&method, &uri, &headers), "api");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(!response.headers().contains_key(WWW_AUTHENTICATE));
        assert_eq!(
            response.body(),
            r#"{"error":"forbidden","error_description":"Cross-site requests authenticated by a cookie are refused"}"#
        );
        let mut grpc = HeaderMap::new();
        grpc.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        let response = default_response(&error, &head(&method, &uri, &grpc), "api");
        assert_eq!(response.headers()["grpc-status"], "7");
    }

    #[test]
    fn grpc_requests_get_trailers_only_answers() {
        let (method, uri) = (Method::POST, Uri::from_static("/helloworld.Greeter/SayHello"));
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc+proto"));
        let error: AuthError = ErrorKind::Expired.into();
        let response = default_response(&error, &head(&method, &uri, &headers), "api");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "16");
        assert_eq!(response.headers()["grpc-message"], "The access token expired");
        assert!(response.body().is_empty());
        let unavailable =
            default_response(&ErrorKind::KeysUnavailable.into(), &head(&method, &uri, &headers), "api");
        assert_eq!(unavailable.headers()["grpc-status"], "14");
    }

    #[test]
    fn bodies_that_cannot_hold_bytes_stay_empty_without_a_json_content_type() {
        #[derive(Default)]
        struct Opaque;
        let response = Response::new(Bytes::from_static(b"{}"));
        let converted: Response<Opaque> = into_service_response(response);
        assert!(!converted.headers().contains_key(CONTENT_TYPE));
        let converted: Response<String> = into_service_response(Response::new(Bytes::from_static(b"{}")));
        assert_eq!(converted.body(), "{}");
        assert_eq!(converted.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(grpc_percent_encode("100% ok\n"), "100%25 ok%0A");
    }
}

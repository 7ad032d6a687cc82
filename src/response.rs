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

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, Response, Uri};

use crate::error::{AuthError, ErrorKind, RejectionClass};

/// The parts of a request a responder may look at.
///
/// A responder (set with
/// [`JwtAuthConfigBuilder::responder`](crate::JwtAuthConfigBuilder::responder)) gets the
/// rejected request's head, to answer by method, path or headers:
///
/// ```
/// use bytes::Bytes;
/// use http::{Method, Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .responder(|_error, request| {
///         // Strangers reading the admin pages learn nothing, not even that they exist.
///         let hidden = request.method() == Method::GET && request.uri().path().starts_with("/admin/");
///         let not_found = || Response::builder().status(404).body(Bytes::new()).unwrap();
///         (hidden && !request.is_grpc()).then(not_found)
///     })
///     .build()?;
/// let service = ServiceBuilder::new()
///     .layer(JwtAuthLayer::new(config))
///     .service(service_fn(|_: Request<()>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(String::from("orders")))
///     }));
///
/// let response = service.clone().oneshot(Request::get("/admin/users").body(())?).await?;
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// let response = service.oneshot(Request::get("/orders").body(())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
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

/// What the challenges of a configuration say besides the error: its realm, the link to its
/// protected resource metadata (RFC 9728), and the DPoP challenge (RFC 9449) when DPoP is on.
pub(crate) struct Challenges {
    pub(crate) realm: Box<str>,
    /// The absolute URL of the resource's metadata, for `resource_metadata="..."`.
    pub(crate) resource_metadata: Option<Box<str>>,
    pub(crate) dpop: Option<DpopChallenge>,
}

/// The DPoP challenge's parameters.
pub(crate) struct DpopChallenge {
    /// The accepted proof algorithms, space-separated, for `algs="..."`.
    pub(crate) algs: Box<str>,
    /// False when DPoP is required: no `Bearer` challenge is sent then.
    pub(crate) bearer_too: bool,
    /// The current server nonce, when proofs need one: every answer to a DPoP request, and
    /// every `use_dpop_nonce`, carries it in `DPoP-Nonce`.
    pub(crate) nonce: Option<CurrentNonce>,
}

/// Makes the current server nonce (see [`dpop`](crate::dpop)).
pub(crate) type CurrentNonce = Arc<dyn Fn() -> HeaderValue + Send + Sync>;

impl DpopChallenge {
    /// The `DPoP-Nonce` an answer to this request carries, if any.
    pub(crate) fn nonce_for(&self, error: Option<&AuthError>, headers: &HeaderMap) -> Option<HeaderValue> {
        let nonce = self.nonce.as_ref()?;
        let asked = error.is_some_and(|error| error.kind() == ErrorKind::UseDpopNonce);
        (asked || uses_dpop_scheme(headers)).then(|| nonce())
    }
}

impl Challenges {
    /// The realm alone: the challenges of a configuration without DPoP or metadata.
    pub(crate) fn realm(realm: impl Into<Box<str>>) -> Self {
        Self { realm: realm.into(), resource_metadata: None, dpop: None }
    }

    /// The `WWW-Authenticate` values for `error` (RFC 6750 section 3, RFC 9449 section 7.1,
    /// RFC 9728 section 5.1): a `Bearer` challenge, a `DPoP` one, or both. The error code goes
    /// on the challenge of the scheme the request used (a DPoP proof's own errors always go on
    /// the DPoP one). None for [`RejectionClass::Unavailable`] and
    /// [`RejectionClass::Forbidden`], where authenticating again would not help.
    pub(crate) fn render(&self, error: &AuthError, request: &RequestHead<'_>) -> Vec<HeaderValue> {
        let class = error.class();
        if matches!(class, RejectionClass::Unavailable | RejectionClass::Forbidden) {
            return Vec::new();
        }
        let bearer = self.dpop.as_ref().is_none_or(|dpop| dpop.bearer_too);
        let error_on_dpop = self.dpop.is_some()
            && (matches!(class, RejectionClass::InvalidDpopProof | RejectionClass::UseDpopNonce)
                || !bearer
                || uses_dpop_scheme(request.headers));
        let mut values = Vec::with_capacity(2);
        if bearer {
            let mut challenge = format!("Bearer realm=\"{}\"", self.realm);
            if !error_on_dpop {
                push_error(&mut challenge, error);
            }
            values.push(self.finish(challenge));
        }
        if let Some(dpop) = &self.dpop {
            let mut challenge = format!("DPoP algs=\"{}\"", dpop.algs);
            if error_on_dpop {
                push_error(&mut challenge, error);
            }
            values.push(self.finish(challenge));
        }
        values.into_iter().flatten().collect()
    }

    fn finish(&self, mut challenge: String) -> Option<HeaderValue> {
        if let Some(url) = &self.resource_metadata {
            challenge.push_str(&format!(", resource_metadata=\"{url}\""));
        }
        HeaderValue::from_str(&challenge).ok()
    }
}

/// The error code, its description and the required scope, as challenge parameters.
fn push_error(challenge: &mut String, error: &AuthError) {
    if let Some(code) = error.class().error_code() {
        challenge
            .push_str(&format!(", error=\"{code}\", error_description=\"{}\"", error.kind().description()));
    }
    if let Some(scope) = error.required_scope().filter(|scope| !scope.is_empty()) {
        challenge.push_str(&format!(", scope=\"{scope}\""));
    }
}

/// True when the request's `Authorization` header uses the DPoP scheme.
pub(crate) fn uses_dpop_scheme(headers: &HeaderMap) -> bool {
    headers.get(http::header::AUTHORIZATION).is_some_and(|value| {
        let value = value.as_bytes();
        value.get(..5).is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"dpop "))
    })
}

/// How a configuration answers rejections: its challenges, and the application's own
/// responder if it set one. Small and shared: every verified token carries it, so that
/// guards further in answer as the layer that verified the token would.
pub(crate) struct Responder {
    challenges: Challenges,
    custom: Option<CustomResponder>,
}

impl Responder {
    pub(crate) fn new(challenges: Challenges, custom: Option<CustomResponder>) -> Self {
        Self { challenges, custom }
    }

    /// The realm named in challenges.
    pub(crate) fn realm(&self) -> &str {
        &self.challenges.realm
    }

    /// The `DPoP-Nonce` an answer to this request carries (`error`: `None` for a request
    /// let through), if any.
    pub(crate) fn dpop_nonce(&self, error: Option<&AuthError>, headers: &HeaderMap) -> Option<HeaderValue> {
        self.challenges.dpop.as_ref()?.nonce_for(error, headers)
    }

    /// The answer to `error`: the application's own, else the default. Either way it is
    /// never stored by a cache (`Cache-Control: no-store`, unless the application's answer
    /// says otherwise itself).
    pub(crate) fn respond(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
        let mut response = match self.custom.as_ref().and_then(|custom| custom(error, request)) {
            Some(mut response) => {
                let headers = response.headers_mut();
                if !headers.contains_key(CACHE_CONTROL) {
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                response
            }
            // Says no-store itself.
            None => answer(error, request, &self.challenges),
        };
        // Whoever answered, a client asked for a nonce gets one to retry with.
        if let Some(nonce) = self.dpop_nonce(Some(error), request.headers) {
            response.headers_mut().entry(DPOP_NONCE).or_insert(nonce);
        }
        response
    }
}

/// The header a server nonce travels in (RFC 9449 section 8).
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";

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
    push_error(&mut challenge, error);
    HeaderValue::from_str(&challenge).ok()
}

/// The default answer to a rejection: RFC 6750 for HTTP, trailers-only for gRPC, with
/// `Cache-Control: no-store` on both.
pub fn default_response(error: &AuthError, request: &RequestHead<'_>, realm: &str) -> Response<Bytes> {
    answer(error, request, &Challenges::realm(realm))
}

/// The default answer with a configuration's challenges.
fn answer(error: &AuthError, request: &RequestHead<'_>, challenges: &Challenges) -> Response<Bytes> {
    let class = error.class();
    let mut response = Response::new(Bytes::new());
    let headers = response.headers_mut();
    // A rejection is about this request's credential: no cache may keep it (a gRPC one is an
    // HTTP 200 that a shared cache could otherwise store).
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for challenge in challenges.render(error, request) {
        headers.append(WWW_AUTHENTICATE, challenge);
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

/// A response body type that rejections can be written into: every layer of this crate
/// answers in the body type of the service it wraps.
///
/// A rejection's body is a short JSON text (`{"error": ..., "error_description": ...}`),
/// or nothing for gRPC, whose answers live in the headers. [`from_text`](Self::from_text)
/// puts the text into a body; a body type that cannot hold it keeps the default, which
/// returns `None`, and such rejections go out empty (without the JSON content type).
///
/// Implemented for axum's `Body` (feature `axum`), tonic's `Body` (feature `tonic`, empty:
/// a tonic server answers gRPC), `http_body_util`'s `Full<Bytes>`, `Empty<Bytes>`,
/// `BoxBody<Bytes, E>` and `UnsyncBoxBody<Bytes, E>`, `String`, `Vec<u8>`, `Bytes`, and
/// [`TokenExpiryBody`](crate::expiry::TokenExpiryBody) around any of these. A body type of
/// your own implements it in one line:
///
/// ```
/// use bytes::Bytes;
/// use tower_jwt_auth::response::RejectionBody;
///
/// #[derive(Default)]
/// struct MyBody(Vec<u8>);
///
/// impl RejectionBody for MyBody {
///     fn from_text(text: Bytes) -> Option<Self> {
///         Some(MyBody(text.to_vec()))
///     }
/// }
/// # use http::{Request, Response, StatusCode};
/// # use tower::{ServiceBuilder, ServiceExt, service_fn};
/// # use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let config = JwtAuthConfig::builder().hmac_secret(b"an example secret of at least 32 bytes!").build()?;
///
/// // A service answering in `MyBody` gets its rejections in `MyBody` too.
/// let service = ServiceBuilder::new()
///     .layer(JwtAuthLayer::new(config))
///     .service(service_fn(|_: Request<()>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(MyBody(b"orders".to_vec())))
///     }));
/// let response = service.oneshot(Request::new(())).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["content-type"], "application/json");
/// let MyBody(text) = response.into_body();
/// assert_eq!(text, br#"{"error":"unauthorized","error_description":"Authentication is required"}"#);
/// # Ok(())
/// # }
/// ```
///
/// A body type of another crate that lacks it (a middleware's own wrapper body, say) can
/// sit outside the auth layer instead, or be mapped to one that has it.
#[diagnostic::on_unimplemented(
    message = "the response body `{Self}` cannot carry a rejection",
    label = "the service behind this layer answers with `{Self}`",
    note = "for axum's `Body` enable tower-jwt-auth's `axum` feature, for tonic's `Body` its `tonic` feature; implement `tower_jwt_auth::response::RejectionBody` for a body type of your own"
)]
pub trait RejectionBody: Default {
    /// A body holding `text`, or `None` when this body type cannot hold it (then the
    /// rejection's body is [`Default::default`]). The default: `None`.
    fn from_text(text: Bytes) -> Option<Self> {
        let _ = text;
        None
    }
}

impl RejectionBody for Bytes {
    fn from_text(text: Bytes) -> Option<Self> {
        Some(text)
    }
}

impl RejectionBody for Vec<u8> {
    fn from_text(text: Bytes) -> Option<Self> {
        Some(text.to_vec())
    }
}

impl RejectionBody for String {
    fn from_text(text: Bytes) -> Option<Self> {
        String::from_utf8(text.to_vec()).ok()
    }
}

impl RejectionBody for http_body_util::Full<Bytes> {
    fn from_text(text: Bytes) -> Option<Self> {
        Some(http_body_util::Full::new(text))
    }
}

impl RejectionBody for http_body_util::Empty<Bytes> {}

impl<E: 'static> RejectionBody for http_body_util::combinators::BoxBody<Bytes, E> {
    fn from_text(text: Bytes) -> Option<Self> {
        use http_body_util::BodyExt as _;
        Some(http_body_util::Full::new(text).map_err(|never| match never {}).boxed())
    }
}

impl<E: 'static> RejectionBody for http_body_util::combinators::UnsyncBoxBody<Bytes, E> {
    fn from_text(text: Bytes) -> Option<Self> {
        use http_body_util::BodyExt as _;
        Some(http_body_util::Full::new(text).map_err(|never| match never {}).boxed_unsync())
    }
}

#[cfg(feature = "axum")]
impl RejectionBody for axum_core::body::Body {
    fn from_text(text: Bytes) -> Option<Self> {
        Some(axum_core::body::Body::from(text))
    }
}

/// Empty: a tonic server answers gRPC, whose rejections live in the headers.
#[cfg(feature = "tonic")]
impl RejectionBody for tonic::body::Body {}

/// Moves a rejection into the service's own body type: the JSON text where the body can
/// hold it (with its content type), else an empty body. Status and headers are kept.
pub(crate) fn into_service_response<B: RejectionBody>(response: Response<Bytes>) -> Response<B> {
    let (mut parts, text) = response.into_parts();
    let body = match (!text.is_empty()).then(|| B::from_text(text)).flatten() {
        Some(body) => {
            if !parts.headers.contains_key(CONTENT_TYPE) {
                parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            body
        }
        None => B::default(),
    };
    Response::from_parts(parts, body)
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
        impl RejectionBody for Opaque {}
        let response = Response::new(Bytes::from_static(b"{}"));
        let converted: Response<Opaque> = into_service_response(response);
        assert!(!converted.headers().contains_key(CONTENT_TYPE));
        let converted: Response<String> = into_service_response(Response::new(Bytes::from_static(b"{}")));
        assert_eq!(converted.body(), "{}");
        assert_eq!(converted.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(grpc_percent_encode("100% ok\n"), "100%25 ok%0A");
    }

    /// The JSON text of a rejection, read back from a body of type `B`.
    fn text_of<B>(body: B) -> String
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::fmt::Debug,
    {
        use http_body_util::BodyExt as _;
        let collected = block_on(body.collect());
        String::from_utf8(collected.unwrap().to_bytes().to_vec()).unwrap()
    }

    /// Polls a future that never waits (a body already in memory) to its end.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(future)
    }

    #[test]
    fn body_types_that_hold_text_get_the_json_and_its_content_type() {
        let json = r#"{"error":"invalid_token"}"#;
        let rejection = || Response::new(Bytes::from_static(json.as_bytes()));
        let full: Response<http_body_util::Full<Bytes>> = into_service_response(rejection());
        assert_eq!(full.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(text_of(full.into_body()), json);
        let boxed: Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>> =
            into_service_response(rejection());
        assert_eq!(text_of(boxed.into_body()), json);
        let unsync: Response<http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>> =
            into_service_response(rejection());
        assert_eq!(text_of(unsync.into_body()), json);
        let bytes: Response<Bytes> = into_service_response(rejection());
        assert_eq!(bytes.body(), json);
        let vec: Response<Vec<u8>> = into_service_response(rejection());
        assert_eq!(vec.body(), json.as_bytes());
        // Around a body that holds text, a stream's expiry body holds it too.
        let expiring: Response<crate::expiry::TokenExpiryBody<http_body_util::Full<Bytes>>> =
            into_service_response(rejection());
        assert_eq!(expiring.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(text_of(expiring.into_body()), json);
        // An empty body type stays empty, without the JSON content type; a gRPC answer has
        // no text at all.
        let empty: Response<http_body_util::Empty<Bytes>> = into_service_response(rejection());
        assert!(!empty.headers().contains_key(CONTENT_TYPE));
        let grpc: Response<http_body_util::Full<Bytes>> = into_service_response(Response::new(Bytes::new()));
        assert!(!grpc.headers().contains_key(CONTENT_TYPE));
        #[cfg(feature = "axum")]
        {
            let axum: Response<axum_core::body::Body> = into_service_response(rejection());
            assert_eq!(axum.headers()[CONTENT_TYPE], "application/json");
        }
    }
}

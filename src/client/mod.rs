//! Tokens on outgoing calls: an [`AccessToken`] keeps a service's own token current, and
//! [`BearerLayer`] puts it on every request of a Tower HTTP client (a tonic `Channel`,
//! hyper-util's client, any `Service<http::Request<B>>`).
//!
//! Where the token comes from:
//!
//! - [`AccessToken::fixed`]: one token, as it is;
//! - [`AccessToken::issued`]: signed by a [`TokenIssuer`] of this service, a new one before
//!   the last one expires;
//! - `AccessToken::client_credentials` (feature `jwks`): OAuth 2.0 client credentials from a
//!   token endpoint (given, or found by OpenID Connect discovery), renewed ahead of expiry.
//!
//! A token is renewed when three quarters of its lifetime have passed, while it still
//! works: callers keep using it and never wait for the renewal. Only a caller with no
//! usable token at all waits, and all such callers wait for the same fetch (one request to
//! the token endpoint however many calls are waiting). A failed fetch backs off (1 s,
//! doubling to one minute); while it does, callers without a usable token get an error at
//! once. Nothing about a token is logged, and its header value is marked sensitive.
//!
//! A server may refuse a token before it expires (revoked, or its signing key rotated
//! away). [`BearerLayer::retry_on_invalid_token`] then drops it, gets a new one and retries
//! the request once, when the server answered 401 `error="invalid_token"` and the request
//! is idempotent (its body type must be `Clone`: not for gRPC's streamed bodies).
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_jwt_auth::{JwtAuthConfig, TokenIssuer, client::{AccessToken, BearerLayer}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let secret = b"an example secret of at least 32 bytes!";
//! // This service signs its own short tokens for the services it calls.
//! let issuer = TokenIssuer::builder().hmac_secret(secret).audience("orders-api").build()?;
//! let token = AccessToken::issued(issuer, &serde_json::json!({"sub": "billing-service"}))?;
//!
//! // Stands for the HTTP client (or tonic Channel) of the called service.
//! let verifier = JwtAuthConfig::builder().hmac_secret(secret).audience("orders-api").build()?;
//! let client = ServiceBuilder::new().layer(BearerLayer::new(token)).service(service_fn(
//!     move |request: Request<Full<Bytes>>| {
//!         let header = request.headers()["authorization"].to_str().unwrap().to_owned();
//!         let claims = verifier.verify(header.trim_start_matches("Bearer ")).unwrap();
//!         let body = Bytes::from(claims.sub.clone().unwrap_or_default());
//!         async move { Ok::<_, std::convert::Infallible>(Response::new(Full::new(body))) }
//!     },
//! ));
//! let response = client.oneshot(Request::get("/orders").body(Full::default())?).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "billing-service");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, HeaderValue};
use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::ConfigError;
use crate::issue::TokenIssuer;

#[cfg(feature = "jwks")]
mod credentials;

#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use credentials::{ClientAuth, ClientCredentialsBuilder};

/// The error type of a [`BearerService`]: the inner service's errors and [`TokenError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The share of a token's lifetime after which it is renewed.
const RENEW_AT: f64 = 0.75;
/// The first wait after a failed fetch, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Why no token could be had. Its message names no token, secret or URL.
///
/// ```
/// use tower_jwt_auth::client::{AccessToken, TokenErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # #[cfg(feature = "jwks")] {
/// // Nothing listens on port 9 of this machine.
/// let token = AccessToken::client_credentials("id", "secret").token_endpoint("http://127.0.0.1:9/token").build().unwrap();
/// let error = token.header().await.unwrap_err();
/// assert_eq!(error.kind(), TokenErrorKind::Transport);
/// assert_eq!(error.to_string(), "the token endpoint could not be reached");
/// // The next try waits for its backoff: no request, an answer at once.
/// assert_eq!(token.header().await.unwrap_err().kind(), TokenErrorKind::BackingOff);
/// # }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TokenError {
    kind: TokenErrorKind,
}

/// What went wrong getting a token.
///
/// ```
/// use tower_jwt_auth::client::TokenErrorKind;
///
/// // Worth a retry later, or a configuration to fix?
/// fn transient(kind: TokenErrorKind) -> bool {
///     matches!(kind, TokenErrorKind::Transport | TokenErrorKind::BackingOff | TokenErrorKind::Refused(500..=599))
/// }
/// assert!(transient(TokenErrorKind::Refused(503)) && !transient(TokenErrorKind::Refused(401)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// The token endpoint (or its discovery document) could not be reached, or timed out.
    Transport,
    /// The token endpoint refused: this status (400 `invalid_client`, 401, ...).
    Refused(u16),
    /// The answer was not a token response (or discovery named another issuer, or no
    /// token endpoint), or the token cannot be a header value.
    Malformed,
    /// This service's own issuer could not sign a token.
    Signing,
    /// A fetch failed a moment ago and the next try is not due yet.
    BackingOff,
}

impl TokenError {
    pub(crate) fn new(kind: TokenErrorKind) -> Self {
        Self { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> TokenErrorKind {
        self.kind
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TokenErrorKind::Transport => f.write_str("the token endpoint could not be reached"),
            TokenErrorKind::Refused(status) => write!(f, "the token endpoint refused with status {status}"),
            TokenErrorKind::Malformed => {
                f.write_str("the token endpoint's answer is not a usable token response")
            }
            TokenErrorKind::Signing => f.write_str("this service's token issuer could not sign a token"),
            TokenErrorKind::BackingOff => {
                f.write_str("no token: the last fetch failed, the next one is not due yet")
            }
        }
    }
}

impl std::error::Error for TokenError {}

/// A service's own access token, kept current: cheap to clone (clones share the token and
/// its renewals). See the [module](self) docs.
///
/// ```
/// use tower_jwt_auth::{TokenIssuer, client::AccessToken};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let fixed = AccessToken::fixed("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")?;
/// assert_eq!(fixed.header().await?, "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln");
/// assert!(AccessToken::fixed("two\nlines").is_err());
///
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!").build()?;
/// let own = AccessToken::issued(issuer, &serde_json::json!({"sub": "billing-service"}))?;
/// let header = own.header().await?;
/// assert!(header.is_sensitive()); // kept out of debug output and HTTP/2 header tables
/// assert_eq!(own.cached_header(), Some(header)); // the same token until it is due
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AccessToken {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    state: Mutex<State>,
}

enum Source {
    Fixed(HeaderValue),
    Issued {
        issuer: TokenIssuer,
        claims: serde_json::Value,
    },
    // Boxed: the largest source by far, and read once per fetch.
    #[cfg(feature = "jwks")]
    ClientCredentials(Box<credentials::ClientCredentials>),
}

#[derive(Default)]
struct State {
    current: Option<Current>,
    #[cfg(feature = "jwks")]
    in_flight: Option<credentials::Fetch>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// A token in use: its `Authorization` value, when to renew it, when it stops working.
#[derive(Clone)]
struct Current {
    header: HeaderValue,
    renew_at: Instant,
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    expires_at: Option<Instant>,
}

impl Current {
    fn new(token: &str, lifetime: Option<Duration>, now: Instant) -> Result<Self, TokenError> {
        let mut header = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| TokenError::new(TokenErrorKind::Malformed))?;
        header.set_sensitive(true);
        let renew_at = lifetime.map_or(far_future(now), |lifetime| now + lifetime.mul_f64(RENEW_AT));
        let expires_at = lifetime.map(|lifetime| now + lifetime);
        Ok(Self { header, renew_at, expires_at })
    }

    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    fn usable(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// An instant no token lives to (a fixed token is never renewed).
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(100 * 365 * 24 * 3600)
}

impl AccessToken {
    /// One token, used as it is and never renewed (a token handed to this service by its
    /// deployment, say). Refused when it cannot be a header value.
    pub fn fixed(token: impl AsRef<str>) -> Result<Self, ConfigError> {
        let current = Current::new(token.as_ref(), None, Instant::now()).map_err(|_| {
            ConfigError::value("AccessToken::fixed: the token cannot be an Authorization header value")
        })?;
        let header = current.header.clone();
        Ok(Self::with(Source::Fixed(header), Some(current)))
    }

    /// Tokens this service signs for itself with `issuer`, from `claims` (the issuer adds
    /// `exp`, `iat`, `jti`, its `iss` and `aud`), a new one when three quarters of the
    /// issuer's lifetime have passed. Refused when `claims` is not a JSON object.
    pub fn issued<T: Serialize>(issuer: TokenIssuer, claims: &T) -> Result<Self, ConfigError> {
        let claims =
            serde_json::to_value(claims).ok().filter(serde_json::Value::is_object).ok_or_else(|| {
                ConfigError::value("AccessToken::issued: the claims must serialize to a JSON object")
            })?;
        let token = Self::with(Source::Issued { issuer, claims }, None);
        // Signed once now, so that a key that cannot sign is found at start.
        token
            .header_now()
            .map_err(|_| ConfigError::key("AccessToken::issued: the issuer cannot sign these claims"))?;
        Ok(token)
    }

    fn with(source: Source, current: Option<Current>) -> Self {
        Self { inner: Arc::new(Inner { source, state: Mutex::new(State { current, ..State::default() }) }) }
    }

    /// The `Authorization` value to send now (`Bearer <token>`, marked sensitive): the
    /// current token, renewed first only when there is no usable one. Callers without a
    /// usable token share one fetch.
    pub async fn header(&self) -> Result<HeaderValue, TokenError> {
        #[cfg(feature = "jwks")]
        loop {
            match self.try_header() {
                Attempt::Ready(result) => return result,
                // The fetch this caller waited for failed: its own error, not "backing off".
                Attempt::Wait(fetch) => fetch.await?,
            }
        }
        #[cfg(not(feature = "jwks"))]
        self.header_now()
    }

    /// The `Authorization` value when one is at hand without waiting: a usable token (and a
    /// renewal started if it is due), or `None` while the first fetch, or the fetch after an
    /// expiry, is in flight (which this starts when needed). For synchronous callers such as
    /// a tonic interceptor.
    pub fn cached_header(&self) -> Option<HeaderValue> {
        #[cfg(feature = "jwks")]
        return match self.try_header() {
            Attempt::Ready(result) => result.ok(),
            Attempt::Wait(_) => None,
        };
        #[cfg(not(feature = "jwks"))]
        self.header_now().ok()
    }

    /// For the sources that need no network: the current token, or a new one signed now.
    fn header_now(&self) -> Result<HeaderValue, TokenError> {
        let now = Instant::now();
        let mut state = self.inner.lock();
        if let Some(current) = &state.current
            && now < current.renew_at
        {
            return Ok(current.header.clone());
        }
        match &self.inner.source {
            Source::Fixed(header) => Ok(header.clone()),
            Source::Issued { issuer, claims } => {
                let token = issuer.issue(claims).map_err(|_| TokenError::new(TokenErrorKind::Signing))?;
                // `iat` and `exp` are whole seconds: the token may end up to a second before
                // `now + lifetime`.
                let lifetime = issuer.lifetime();
                let lifetime = lifetime.saturating_sub(Duration::from_secs(1)).max(lifetime / 2);
                let current = Current::new(&token, Some(lifetime), now)?;
                let header = current.header.clone();
                state.current = Some(current);
                Ok(header)
            }
            #[cfg(feature = "jwks")]
            Source::ClientCredentials(_) => unreachable!("a fetched token is never signed here"),
        }
    }

    /// Drops the current token if it is `refused` (the header a server just answered 401
    /// `invalid_token` to: revoked, or its key rotated away), so that the next
    /// [`header`](Self::header) gets a new one. A token renewed meanwhile is kept; a fixed
    /// token is never dropped.
    pub fn renew_after_refusal(&self, refused: &HeaderValue) {
        if matches!(self.inner.source, Source::Fixed(_)) {
            return;
        }
        let mut state = self.inner.lock();
        if state.current.as_ref().is_some_and(|current| current.header == *refused) {
            state.current = None;
        }
    }

    /// What a caller gets now: a header, an error, or a fetch to wait for.
    #[cfg(feature = "jwks")]
    fn try_header(&self) -> Attempt {
        let Source::ClientCredentials(credentials) = &self.inner.source else {
            return Attempt::Ready(self.header_now());
        };
        let now = Instant::now();
        let mut state = self.inner.lock();
        let usable = state
            .current
            .as_ref()
            .filter(|current| current.usable(now))
            .map(|current| (current.header.clone(), now >= current.renew_at));
        let backing_off = state.retry_at.is_some_and(|at| now < at);
        if let Some((header, due)) = usable {
            if due && !backing_off && state.in_flight.is_none() {
                state.in_flight = Some(credentials.start(Arc::clone(&self.inner)));
            }
            return Attempt::Ready(Ok(header));
        }
        if let Some(fetch) = &state.in_flight {
            return Attempt::Wait(fetch.clone());
        }
        if backing_off {
            return Attempt::Ready(Err(TokenError::new(TokenErrorKind::BackingOff)));
        }
        let fetch = credentials.start(Arc::clone(&self.inner));
        state.in_flight = Some(fetch.clone());
        Attempt::Wait(fetch)
    }

    /// A tonic client interceptor that sets the `authorization` metadata from this token
    /// (feature `tonic`). An interceptor cannot wait: with client credentials, until the
    /// first token is fetched (the fetch starts on the first call), calls fail with
    /// UNAVAILABLE, which clients retry; fixed and self-signed tokens are at hand at once.
    /// [`BearerLayer`] on the `Channel` waits instead.
    #[cfg(feature = "tonic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
    pub fn interceptor(&self) -> BearerInterceptor {
        BearerInterceptor { token: self.clone() }
    }
}

#[cfg(feature = "jwks")]
enum Attempt {
    Ready(Result<HeaderValue, TokenError>),
    Wait(credentials::Fetch),
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a fetch's outcome: the new token, or a failure and its backoff (the token in
    /// use, if still usable, stays).
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    fn finish(&self, outcome: Result<Current, TokenError>) -> Result<(), TokenError> {
        let mut state = self.lock();
        #[cfg(feature = "jwks")]
        {
            state.in_flight = None;
        }
        match outcome {
            Ok(current) => {
                state.current = Some(current);
                state.failures = 0;
                state.retry_at = None;
                Ok(())
            }
            Err(error) => {
                let backoff = BACKOFF_FIRST.saturating_mul(1 << state.failures.min(6)).min(BACKOFF_MAX);
                state.failures = state.failures.saturating_add(1);
                state.retry_at = Some(Instant::now() + backoff);
                tracing::warn!(kind = ?error.kind(), retry_in = ?backoff, "could not get an access token");
                Err(error)
            }
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.inner.source {
            Source::Fixed(_) => "fixed",
            Source::Issued { .. } => "issued",
            #[cfg(feature = "jwks")]
            Source::ClientCredentials(_) => "client_credentials",
        };
        f.debug_struct("AccessToken").field("source", &source).finish_non_exhaustive()
    }
}

/// Puts the [`AccessToken`]'s `Authorization: Bearer` header on every request of the
/// client it wraps (replacing one already there). The [module](self) docs run one.
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_jwt_auth::client::{AccessToken, BearerLayer};
///
/// let token = AccessToken::fixed("eyJhbGciOiJIUzI1NiJ9.e30.c2ln").unwrap();
/// let client = ServiceBuilder::new().layer(BearerLayer::new(token)).service(tower::service_fn(
///     |request: http::Request<String>| async move {
///         assert!(request.headers()["authorization"].to_str().unwrap().starts_with("Bearer "));
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
///     },
/// ));
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
pub struct BearerLayer {
    token: AccessToken,
}

impl BearerLayer {
    /// A layer sending `token`.
    pub fn new(token: AccessToken) -> Self {
        Self { token }
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService { inner, token: self.token.clone() }
    }
}

/// The service made by [`BearerLayer`]. Its errors are the inner service's and
/// [`TokenError`], boxed.
#[derive(Clone, Debug)]
pub struct BearerService<S> {
    inner: S,
    token: AccessToken,
}

impl<S> BearerService<S> {
    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = BearerFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // A usable token at hand: no allocation, no waiting.
        if let Some(header) = self.token.cached_header() {
            request.headers_mut().insert(AUTHORIZATION, header);
            return BearerFuture { state: BearerState::Calling { future: self.inner.call(request) } };
        }
        // Wait for the token with the service that reported ready; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let token = self.token.clone();
        let waiting = async move {
            let header = token.header().await?;
            request.headers_mut().insert(AUTHORIZATION, header);
            inner.call(request).await.map_err(Into::into)
        };
        BearerFuture { state: BearerState::Waiting { future: Box::pin(waiting) } }
    }
}

type Waiting<B> = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

pin_project! {
    /// The response future of [`BearerService`].
    pub struct BearerFuture<F, B> {
        #[pin]
        state: BearerState<F, B>,
    }
}

pin_project! {
    #[project = BearerStateProjection]
    enum BearerState<F, B> {
        Calling { #[pin] future: F },
        Waiting { future: Waiting<B> },
    }
}

impl<F, B, E> Future for BearerFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            BearerStateProjection::Calling { future } => future.poll(cx).map_err(Into::into),
            BearerStateProjection::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B> fmt::Debug for BearerFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerFuture").finish_non_exhaustive()
    }
}

impl BearerLayer {
    /// The same layer, retrying once with a new token a request the server refused with
    /// 401 `error="invalid_token"` (the token was revoked, or its key rotated away), when
    /// the request is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE). The request is
    /// cloned before it is sent, so its body type must be `Clone` (`Full<Bytes>`,
    /// `String`, ...): gRPC calls, whose bodies are streams, use [`BearerLayer`] itself.
    pub fn retry_on_invalid_token(self) -> RetryingBearerLayer {
        RetryingBearerLayer { token: self.token }
    }
}

/// [`BearerLayer`] with one retry on 401 `invalid_token`: made by
/// [`BearerLayer::retry_on_invalid_token`].
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_jwt_auth::{TokenIssuer, client::{AccessToken, BearerLayer}};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!").build()?;
/// let token = AccessToken::issued(issuer, &serde_json::json!({"sub": "billing-service"}))?;
/// // A server that refuses the first token it sees as revoked.
/// let calls = Arc::new(AtomicUsize::new(0));
/// let server = {
///     let calls = calls.clone();
///     tower::service_fn(move |_: http::Request<String>| {
///         let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
///         async move {
///             let mut response = http::Response::new(String::new());
///             if first {
///                 *response.status_mut() = http::StatusCode::UNAUTHORIZED;
///                 response.headers_mut().insert("www-authenticate", r#"Bearer error="invalid_token""#.parse().unwrap());
///             }
///             Ok::<_, std::convert::Infallible>(response)
///         }
///     })
/// };
/// let client = ServiceBuilder::new().layer(BearerLayer::new(token).retry_on_invalid_token()).service(server);
/// let response = client.oneshot(http::Request::get("/orders").body(String::new())?).await?;
/// assert_eq!(response.status(), http::StatusCode::OK); // retried once, with a new token
/// assert_eq!(calls.load(Ordering::SeqCst), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RetryingBearerLayer {
    token: AccessToken,
}

impl<S> Layer<S> for RetryingBearerLayer {
    type Service = RetryingBearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryingBearerService { inner, token: self.token.clone() }
    }
}

/// The service made by [`RetryingBearerLayer`].
#[derive(Clone, Debug)]
pub struct RetryingBearerService<S> {
    inner: S,
    token: AccessToken,
}

impl<S> RetryingBearerService<S> {
    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RetryingBearerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqBody: Clone + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = Waiting<ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let token = self.token.clone();
        let again = is_idempotent(request.method()).then(|| request.clone());
        Box::pin(async move {
            let header = token.header().await?;
            request.headers_mut().insert(AUTHORIZATION, header.clone());
            let response = inner.call(request).await.map_err(Into::into)?;
            let Some(mut again) = again.filter(|_| refused_as_invalid(&response)) else {
                return Ok(response);
            };
            token.renew_after_refusal(&header);
            let renewed = token.header().await?;
            if renewed == header {
                return Ok(response); // a fixed token, or nothing newer to try
            }
            tracing::debug!("retrying a request refused with invalid_token, with a new token");
            again.headers_mut().insert(AUTHORIZATION, renewed);
            std::future::poll_fn(|cx| inner.poll_ready(cx)).await.map_err(Into::into)?;
            inner.call(again).await.map_err(Into::into)
        })
    }
}

/// RFC 9110 section 9.2.2.
fn is_idempotent(method: &http::Method) -> bool {
    use http::Method;
    [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE, Method::PUT, Method::DELETE].contains(method)
}

/// A 401 whose challenge says the token itself is bad (RFC 6750 `invalid_token`), not that
/// none was sent or that the request was malformed.
fn refused_as_invalid<B>(response: &Response<B>) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
        && response
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .any(|challenge| challenge.to_str().is_ok_and(|text| text.contains("error=\"invalid_token\"")))
}

/// A tonic client interceptor that sends an [`AccessToken`] (feature `tonic`): made by
/// [`AccessToken::interceptor`], for `GreeterClient::with_interceptor(channel, ...)`.
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
#[derive(Clone, Debug)]
pub struct BearerInterceptor {
    token: AccessToken,
}

#[cfg(feature = "tonic")]
impl tonic::service::Interceptor for BearerInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let Some(header) = self.token.cached_header() else {
            return Err(tonic::Status::unavailable("No access token is available yet"));
        };
        let value = tonic::metadata::MetadataValue::try_from(header.as_bytes())
            .map_err(|_| tonic::Status::internal("The access token is not a metadata value"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

//! The Tower plumbing: [`JwtAuthLayer`], the [`JwtAuth`] service and its [`ResponseFuture`].
//!
//! The layer works on any `Service<http::Request<B>, Response = http::Response<ResBody>>`
//! whose body type can carry a rejection ([`RejectionBody`]): axum routers, `ServiceBuilder`
//! stacks, hyper services and tonic servers. A rejected request never reaches the inner
//! service, and its future allocates no box.
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer, TokenIssuer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let secret = b"an example secret of at least 32 bytes!".to_vec();
//! let config = JwtAuthConfig::builder().hmac_secret(&secret).build()?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(JwtAuthLayer::new(config))
//!     .service(service_fn(|request: Request<Full<Bytes>>| async move {
//!         let claims = request.extensions().get::<Claims>().expect("set by the layer");
//!         let body = format!("hello {}", claims.sub.as_deref().unwrap_or("?"));
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
//!     }));
//!
//! // No token: 401 and the inner service is not called.
//! let response = service.clone().oneshot(Request::new(Full::default())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//!
//! // A valid token: the handler sees the claims.
//! let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
//! let request = Request::builder().header("authorization", format!("Bearer {token}")).body(Full::default())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::{Claims, DefaultClaims, VerifiedToken};
use crate::config::JwtAuthConfig;
use crate::dpop::PendingSpend;
use crate::error::{AuthError, ErrorKind};
use crate::observe;
use crate::response::{Anonymous, DPOP_NONCE, RejectionBody, RequestHead, Responder, into_service_response};
pub use crate::verifier::TokenCacheStats;
use crate::verifier::{self, Admitted, TokenCache};
use crate::wait::{KeyWait, Stop};

/// Authenticates every request with a JWT and inserts [`Claims<C>`] into its extensions.
///
/// Clones of a layer, and every service it makes, share one verified-token cache (see
/// [`JwtAuthConfigBuilder::token_cache_capacity`](crate::JwtAuthConfigBuilder::token_cache_capacity)).
///
/// Your own claims type with [`with_claims`](Self::with_claims), and optional
/// authentication with [`optional`](Self::optional):
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer, TokenIssuer};
///
/// #[derive(serde::Deserialize)]
/// struct User {
///     sub: String,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).build()?;
/// let service = ServiceBuilder::new()
///     .layer(JwtAuthLayer::new(config).with_claims::<User>().optional())
///     .service(service_fn(|request: Request<()>| async move {
///         let user = request.extensions().get::<Claims<User>>();
///         let name = user.map_or("stranger".to_owned(), |user| user.sub.clone());
///         Ok::<_, std::convert::Infallible>(Response::new(format!("hello {name}")))
///     }));
/// let send = |token: &str| Request::builder().header("authorization", format!("Bearer {token}")).body(());
///
/// // No credential: let through, without claims.
/// let response = service.clone().oneshot(Request::new(())).await?;
/// assert_eq!(response.body(), "hello stranger");
/// // A valid token: the claims, in your type.
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
/// let response = service.clone().oneshot(send(&token)?).await?;
/// assert_eq!(response.body(), "hello alice");
/// // A bad token is still refused.
/// let response = service.oneshot(send("not.a.token")?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
pub struct JwtAuthLayer<C = DefaultClaims> {
    auth: Settings<C>,
}

/// What a layer and its services share: the configuration, the mode, the token cache.
/// One `Arc`, so that cloning a service (axum clones the route's service for every
/// request) touches one reference count.
pub(crate) struct Settings<C> {
    shared: Arc<Shared<C>>,
}

pub(crate) struct Shared<C> {
    pub(crate) config: JwtAuthConfig,
    pub(crate) optional: bool,
    pub(crate) cache: Option<Arc<TokenCache<C>>>,
}

impl<C> Settings<C> {
    fn new(config: JwtAuthConfig, optional: bool) -> Self {
        let cache = TokenCache::new(config.settings().cache);
        Self { shared: Arc::new(Shared { config, optional, cache }) }
    }

    /// The same settings (the same token cache) in the given mode.
    fn with_optional(&self, optional: bool) -> Self {
        let Shared { config, cache, .. } = &*self.shared;
        Self { shared: Arc::new(Shared { config: config.clone(), optional, cache: cache.clone() }) }
    }
}

impl<C> std::ops::Deref for Settings<C> {
    type Target = Shared<C>;
    fn deref(&self) -> &Shared<C> {
        &self.shared
    }
}

impl<C> Clone for Settings<C> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl JwtAuthLayer<DefaultClaims> {
    /// A layer that requires a valid token and inserts [`Claims<DefaultClaims>`].
    pub fn new(config: JwtAuthConfig) -> Self {
        Self { auth: Settings::new(config, false) }
    }
}

impl<C> JwtAuthLayer<C> {
    /// The same layer, parsing claims into your own type `D` instead.
    pub fn with_claims<D>(self) -> JwtAuthLayer<D> {
        JwtAuthLayer { auth: Settings::new(self.auth.config.clone(), self.auth.optional) }
    }

    /// Lets requests without any credential through, without claims. A credential that is
    /// present but bad is still rejected.
    pub fn optional(self) -> Self {
        Self { auth: self.auth.with_optional(true) }
    }

    /// The configuration this layer uses.
    pub fn config(&self) -> &JwtAuthConfig {
        &self.auth.config
    }

    /// The verified-token cache's counts, or `None` when the cache is off.
    pub fn cache_stats(&self) -> Option<TokenCacheStats> {
        self.auth.cache.as_ref().map(|cache| cache.stats())
    }

    /// The same authentication as a tonic interceptor (feature `tonic`), for
    /// `GreeterServer::with_interceptor(greeter, layer.interceptor())`: same configuration,
    /// mode and token cache. See [`JwtAuthInterceptor`] for what an interceptor cannot do
    /// that the layer can.
    #[cfg(feature = "tonic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
    pub fn interceptor(&self) -> JwtAuthInterceptor<C> {
        JwtAuthInterceptor { auth: self.auth.clone() }
    }
}

/// [`JwtAuthLayer`] as a tonic interceptor (feature `tonic`): made by
/// [`JwtAuthLayer::interceptor`], usable with a generated server's `with_interceptor`,
/// tonic's `InterceptedService` and `InterceptorLayer`.
///
/// It reads the `authorization` metadata (or the other configured token sources) with the
/// same configuration, rules, token cache and fixed messages as the layer, inserts
/// [`Claims<C>`] and the [`VerifiedToken`] into the request's extensions (read them with
/// [`Claims::from_grpc`]), or ends the call with the layer's gRPC status:
/// UNAUTHENTICATED, PERMISSION_DENIED (a cross-site cookie), or UNAVAILABLE, with the
/// challenge as `www-authenticate` metadata.
///
/// An interceptor is synchronous, so it never waits:
///
/// - **Remote key sets**: a call that needs a key the set does not hold yet (the first
///   fetch, or a new `kid` after a rotation) starts the fetch in the background and gets
///   UNAVAILABLE at once, which gRPC clients retry; the layer would wait for the fetch.
///   Prefetch the set at start (`RemoteJwks::discover(issuer).prefetch(true)`) so the
///   first calls find it.
/// - **No method path**: tonic hands an interceptor neither the URI nor the method, so a
///   rule per RPC method needs the [`MethodPolicy`](crate::guard::MethodPolicy) layer; an
///   interceptor guards the whole service it wraps.
/// - **No ending of streams**: [`TokenExpiryLayer`](crate::expiry::TokenExpiryLayer) ends a
///   response stream when its token expires; an interceptor sees the call's start only.
/// - **No DPoP**: a proof names the method's URL, which an interceptor never sees; with
///   [DPoP](crate::dpop) on, a call with the DPoP scheme is refused (UNAUTHENTICATED,
///   `invalid_dpop_proof`). Use the layer.
/// - **No responder for the answer's body**: a custom
///   [`responder`](crate::JwtAuthConfigBuilder::responder) shapes the status when it answers
///   in gRPC's form (`grpc-status` and `grpc-message` headers); any other answer becomes the
///   default status.
///
/// ```
/// use tonic::service::Interceptor;
/// use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer, TokenIssuer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).build()?;
/// let mut interceptor = JwtAuthLayer::new(config).interceptor();
/// // With a generated server: `GreeterServer::with_interceptor(greeter, interceptor)`.
///
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
/// let mut call = tonic::Request::new(());
/// call.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
/// let call = interceptor.call(call)?;
/// assert_eq!(Claims::<tower_jwt_auth::DefaultClaims>::from_grpc(&call)?.sub.as_deref(), Some("alice"));
///
/// let status = interceptor.call(tonic::Request::new(())).unwrap_err();
/// assert_eq!(status.code(), tonic::Code::Unauthenticated);
/// assert_eq!(status.message(), "Authentication is required");
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub struct JwtAuthInterceptor<C = DefaultClaims> {
    pub(crate) auth: Settings<C>,
}

#[cfg(feature = "tonic")]
impl<C> Clone for JwtAuthInterceptor<C> {
    fn clone(&self) -> Self {
        Self { auth: self.auth.clone() }
    }
}

#[cfg(feature = "tonic")]
impl<C> fmt::Debug for JwtAuthInterceptor<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthInterceptor")
            .field("config", &self.auth.config)
            .field("optional", &self.auth.optional)
            .finish()
    }
}

impl<C> Clone for JwtAuthLayer<C> {
    fn clone(&self) -> Self {
        Self { auth: self.auth.clone() }
    }
}

impl<C> fmt::Debug for JwtAuthLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthLayer")
            .field("config", &self.auth.config)
            .field("optional", &self.auth.optional)
            .field("token_cache", &self.auth.cache.is_some())
            .finish()
    }
}

impl<S, C> Layer<S> for JwtAuthLayer<C> {
    type Service = JwtAuth<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth { inner, auth: self.auth.clone() }
    }
}

/// The service made by [`JwtAuthLayer`].
///
/// Build it directly with [`JwtAuth::new`] where no layer stack is at hand (a hyper
/// `service_fn`, say):
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuth, JwtAuthConfig, TokenIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).build()?;
/// let handler = service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::from("orders")))
/// });
/// let mut service = JwtAuth::new(handler, config);
///
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
/// let request = Request::builder().header("authorization", format!("Bearer {token}")).body(())?;
/// let response = service.ready().await?.call(request).await?;
/// assert_eq!(response.body(), "orders");
///
/// let response = service.ready().await?.call(Request::new(())).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"api\"");
/// # Ok(())
/// # }
/// ```
pub struct JwtAuth<S, C = DefaultClaims> {
    inner: S,
    auth: Settings<C>,
}

impl<S> JwtAuth<S, DefaultClaims> {
    /// Wraps `inner`, requiring a valid token.
    pub fn new(inner: S, config: JwtAuthConfig) -> Self {
        Self { inner, auth: Settings::new(config, false) }
    }
}

impl<S, C> JwtAuth<S, C> {
    inner_service_accessors!();

    /// The verified-token cache's counts, or `None` when the cache is off.
    pub fn cache_stats(&self) -> Option<TokenCacheStats> {
        self.auth.cache.as_ref().map(|cache| cache.stats())
    }
}

impl<S: Clone, C> Clone for JwtAuth<S, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), auth: self.auth.clone() }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for JwtAuth<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth").field("inner", &self.inner).field("optional", &self.auth.optional).finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for JwtAuth<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: RejectionBody + Send + 'static,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ResponseFuture { state: admit(&mut self.inner, request, &self.auth, true) }
    }
}

/// Authenticates the request and either calls `inner` (the service that reported ready),
/// answers the rejection, or (the key set must be fetched first) parks the request with
/// that service, leaving a fresh clone in its place, until the fetch is done.
fn admit<S, C, ReqBody, ResBody>(
    inner: &mut S,
    mut request: Request<ReqBody>,
    auth: &Settings<C>,
    may_wait: bool,
) -> State<S::Future, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: RejectionBody + Send + 'static,
    C: DeserializeOwned + Send + Sync + 'static,
{
    let head = RequestHead::of(&request);
    let error = match auth.admit(&head, may_wait) {
        Admission::Pass(pass) => {
            // With DPoP nonces, every answer to a DPoP request carries the current one.
            let nonce = auth.config.settings().responder.dpop_nonce(None, request.headers());
            pass.apply(request.extensions_mut());
            return State::Inner { future: inner.call(request), nonce };
        }
        Admission::Reject(error) => error,
        Admission::Spend(pass, spend) => {
            let clone = inner.clone();
            let mut inner = std::mem::replace(inner, clone);
            let responder = Arc::clone(&auth.config.settings().responder);
            let resume = async move {
                match spend.await {
                    Ok(()) => {
                        observe::verification(None);
                        let nonce = responder.dpop_nonce(None, request.headers());
                        pass.apply(request.extensions_mut());
                        State::Inner { future: inner.call(request), nonce }
                    }
                    Err(kind) => {
                        let error = rejected(kind.into());
                        let response = responder.respond(&error, &RequestHead::of(&request));
                        State::Rejected { response: Some(into_service_response(response)) }
                    }
                }
            };
            return State::Waiting { resume: Box::pin(resume) };
        }
        Admission::Wait(wait) => {
            let clone = inner.clone();
            let mut inner = std::mem::replace(inner, clone);
            let auth = auth.clone();
            // The fetch is done: decide with what is cached now, without waiting again.
            let resume = async move {
                wait.await;
                admit(&mut inner, request, &auth, false)
            };
            return State::Waiting { resume: Box::pin(resume) };
        }
    };
    let response = auth.config.settings().responder.respond(&error, &head);
    State::Rejected { response: Some(into_service_response(response)) }
}

/// What authentication decided for a request: the layer's and the tonic interceptor's.
pub(crate) enum Admission<C> {
    Pass(Pass<C>),
    Reject(AuthError),
    /// A remote key set's fetch may bring the key: wait for it, then decide again.
    Wait(KeyWait),
    /// Verified, once the DPoP proof is spent in the shared store (which may refuse it).
    Spend(Pass<C>, PendingSpend),
}

/// A request let through, and what it carries to the handlers and guards further in.
pub(crate) enum Pass<C> {
    /// A verified token and its claims.
    Verified(Claims<C>),
    /// No credential, behind an optional layer: a guard further in answers its 401 as the
    /// layer would, with this responder.
    Anonymous(Arc<Responder>),
}

impl<C: Send + Sync + 'static> Pass<C> {
    /// Puts the claims and the verified token (or the anonymous mark, after removing any
    /// claims a client could not have put there anyway) into the request's extensions.
    pub(crate) fn apply(self, extensions: &mut Extensions) {
        match self {
            Self::Verified(claims) => {
                extensions.insert(claims.token().clone());
                extensions.insert(claims);
            }
            Self::Anonymous(responder) => {
                extensions.remove::<VerifiedToken>();
                extensions.remove::<Claims<C>>();
                extensions.insert(Anonymous(responder));
            }
        }
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> Settings<C> {
    /// Verifies the request's credential with this layer's configuration, mode and token
    /// cache; `may_wait` false: a key only a fetch could bring is a final answer.
    /// Rejections are logged at debug and counted here.
    pub(crate) fn admit(&self, head: &RequestHead<'_>, may_wait: bool) -> Admission<C> {
        let settings = self.config.settings();
        let error: AuthError = match verifier::admit(settings, self.cache.as_deref(), head, may_wait) {
            Ok(Some(Admitted { claims, spend: None })) => {
                observe::verification(None);
                return Admission::Pass(Pass::Verified(claims));
            }
            Ok(Some(Admitted { claims, spend: Some(spend) })) => {
                return Admission::Spend(Pass::Verified(claims), spend);
            }
            Ok(None) if self.optional => return Admission::Pass(Pass::Anonymous(settings.responder.clone())),
            Ok(None) => ErrorKind::MissingCredential.into(),
            Err(Stop::Reject(kind)) => kind.into(),
            Err(Stop::Wait(wait)) => return Admission::Wait(wait),
        };
        Admission::Reject(rejected(error))
    }
}

/// Logs and counts a rejection.
pub(crate) fn rejected(error: AuthError) -> AuthError {
    tracing::debug!(kind = error.kind().name(), "request rejected");
    observe::verification(Some(error.kind()));
    error
}

pin_project! {
    /// The response future of [`JwtAuth`]: the inner service's future `F`, a ready
    /// rejection in the body type `B`, or (with a remote key set whose key is not cached
    /// yet) a wait for the one shared fetch first.
    ///
    /// A rejection is decided in `call`, so its future is ready at its first poll and the
    /// inner service is never called:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// use futures_util::FutureExt;
    /// use http::{Request, Response, StatusCode};
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_jwt_auth::{JwtAuth, JwtAuthConfig, layer::ResponseFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let secret = b"an example secret of at least 32 bytes!";
    /// let config = JwtAuthConfig::builder().hmac_secret(secret).build()?;
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let counter = calls.clone();
    /// let mut service = JwtAuth::new(
    ///     service_fn(move |_: Request<()>| {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///         async { Ok::<_, std::convert::Infallible>(Response::new(String::new())) }
    ///     }),
    ///     config,
    /// );
    ///
    /// let request = Request::builder().header("authorization", "Bearer not.a.token").body(())?;
    /// let future: ResponseFuture<_, String> = service.ready().await?.call(request);
    /// let response = future.now_or_never().expect("ready at once")?;
    /// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(calls.load(Ordering::Relaxed), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F, B> {
        Inner { #[pin] future: F, nonce: Option<HeaderValue> },
        Rejected { response: Option<Response<B>> },
        // Boxed: the rare waiting request must not make every request's future larger
        // (futures are moved, and axum boxes them).
        Waiting { resume: Pin<Box<dyn Future<Output = State<F, B>> + Send>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProjection::Inner { future, nonce } => {
                    let mut response = std::task::ready!(future.poll(cx));
                    if let (Ok(response), Some(nonce)) = (&mut response, nonce.take()) {
                        response.headers_mut().insert(DPOP_NONCE, nonce);
                    }
                    return Poll::Ready(response);
                }
                StateProjection::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("ResponseFuture polled after completion")));
                }
                StateProjection::Waiting { resume } => {
                    let next = std::task::ready!(resume.as_mut().poll(cx));
                    state.set(next);
                }
            }
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

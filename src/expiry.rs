//! Ending long responses when the token expires: [`TokenExpiryLayer`].
//!
//! [`JwtAuthLayer`](crate::JwtAuthLayer) checks a token once, when the request arrives; a
//! server-streaming gRPC call or a server-sent events response can outlive that token by
//! hours. Put [`TokenExpiryLayer`] inside the auth layer and such a response ends when the
//! auth layer would start rejecting the same token.
//!
//! [`TokenExpiryLayer`]'s documentation says what each protocol gets and shows it at work.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower::ServiceBuilder;
//! use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, expiry::TokenExpiryLayer};
//!
//! # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
//! let config = JwtAuthConfig::builder().hmac_secret(b"an example secret of at least 32 bytes!").build()?;
//! let app: Router = Router::new().route("/events", get(|| async { "a long stream" })).layer(
//!     ServiceBuilder::new()
//!         .layer(JwtAuthLayer::new(config))
//!         .layer(TokenExpiryLayer::new()), // inside the auth layer
//! );
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::VerifiedToken;
use crate::error::{AuthError, ErrorKind};
use crate::response::{RejectionBody, RequestHead, bearer_challenge, insert_grpc_status};

/// Ends a response's body when the request's token expires (UNAUTHENTICATED for gRPC).
///
/// [`JwtAuthLayer`](crate::JwtAuthLayer) checks a token once, when the request arrives. A
/// server-streaming or bidirectional gRPC call, or a server-sent events response, can
/// outlive that token by hours. Mount this layer inside the auth layer (it reads the
/// [`VerifiedToken`] that one inserts), on the streaming services or routes, and such a
/// response ends when the auth layer would start rejecting the same token: at its `exp`
/// plus the configured leeway.
///
/// - **gRPC** (`content-type: application/grpc...`): the stream ends with trailers
///   `grpc-status: 16` (UNAUTHENTICATED), `grpc-message: The access token expired` and the
///   `www-authenticate` challenge, the answer a new call with that token gets. The client
///   renews its token and calls again.
/// - **Plain HTTP**: the body ends cleanly, as if the server had finished. An `EventSource`
///   reconnects by itself and meets the auth layer with whatever token it now sends. A body
///   whose length is known up front (`Content-Length`) is finite and never cut: ending it
///   early would turn a complete-looking response into a broken one.
///
/// The inner body is dropped at the deadline, so the handler's stream stops too. A request
/// without a verified token (an optional route, no credential) passes through untouched.
/// Off unless you add it; it needs a Tokio runtime with the time driver (any
/// `#[tokio::main]`).
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body::Frame;
/// use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, TokenIssuer, expiry::TokenExpiryLayer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).leeway(Duration::ZERO).build()?;
///
/// let service = ServiceBuilder::new()
///     .layer(JwtAuthLayer::new(config))
///     .layer(TokenExpiryLayer::new()) // inside the auth layer: it reads what that verified
///     .service(service_fn(|_: Request<BoxBody<Bytes, Infallible>>| async {
///         // A stream that never ends by itself.
///         let forever = futures_util::stream::pending::<Result<Frame<Bytes>, Infallible>>();
///         Ok::<_, Infallible>(Response::new(StreamBody::new(forever).boxed()))
///     }));
///
/// let issuer = TokenIssuer::builder().hmac_secret(secret).lifetime(Duration::from_secs(5)).build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice"}))?;
/// let request = Request::builder()
///     .header("authorization", format!("Bearer {token}"))
///     .header("content-type", "application/grpc")
///     .body(BoxBody::default())?;
/// let response = service.oneshot(request).await?;
///
/// // About five seconds later (this example's clock is paused, so it does not wait):
/// let trailers = response.into_body().collect().await?.trailers().cloned().expect("trailers");
/// assert_eq!(trailers["grpc-status"], "16");
/// assert_eq!(trailers["grpc-message"], "The access token expired");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenExpiryLayer {
    _private: (),
}

impl TokenExpiryLayer {
    /// The layer; it has nothing to configure: the deadline comes from each token.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for TokenExpiryLayer {
    type Service = TokenExpiry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenExpiry::new(inner)
    }
}

/// The service made by [`TokenExpiryLayer`].
///
/// Without a layer, wrap a service in it with [`TokenExpiry::new`], and wrap that in the
/// auth service. A response whose length is known is never cut:
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::{BodyExt, Full};
/// use tower::{ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuth, JwtAuthConfig, TokenIssuer, expiry::TokenExpiry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).build()?;
/// let handler = service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("a whole report"))))
/// });
/// // As `JwtAuthLayer` around `TokenExpiryLayer` in a `ServiceBuilder`.
/// let service = JwtAuth::new(TokenExpiry::new(handler), config);
///
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
/// let request = Request::builder().header("authorization", format!("Bearer {token}")).body(())?;
/// let response = service.oneshot(request).await?;
/// assert_eq!(response.into_body().collect().await?.to_bytes(), "a whole report");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TokenExpiry<S> {
    inner: S,
}

impl<S> TokenExpiry<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TokenExpiry<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<TokenExpiryBody<ResBody>>;
    type Error = S::Error;
    type Future = TokenExpiryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let expiry = request.extensions().get::<VerifiedToken>().and_then(|token| {
            let head = RequestHead::of(&request);
            Expiry::new(token, head.is_grpc())
        });
        TokenExpiryFuture { future: self.inner.call(request), expiry }
    }
}

/// When and how a response ends.
struct Expiry {
    deadline: Instant,
    /// For gRPC, the token whose realm the trailers' challenge names; `None` for HTTP.
    grpc: Option<VerifiedToken>,
}

impl Expiry {
    /// `None` when the deadline is too far away to represent: then nothing ends.
    fn new(token: &VerifiedToken, grpc: bool) -> Option<Self> {
        let remaining = token.rejected_from().duration_since(SystemTime::now()).unwrap_or_default();
        let deadline = Instant::now().checked_add(remaining)?;
        Some(Self { deadline, grpc: grpc.then(|| token.clone()) })
    }
}

/// The trailers that end an expired gRPC stream: the same status, message and challenge
/// as the rejection of a new call with that token.
fn expired_grpc_trailers(token: &VerifiedToken) -> HeaderMap {
    let error = AuthError::from(ErrorKind::Expired);
    let mut trailers = HeaderMap::new();
    insert_grpc_status(&mut trailers, &error);
    if let Some(challenge) = bearer_challenge(&error, token.responder().realm()) {
        trailers.insert(WWW_AUTHENTICATE, challenge);
    }
    trailers
}

pin_project! {
    /// The response future of [`TokenExpiry`]: the inner service's future, whose response
    /// it hands on with its body wrapped in a [`TokenExpiryBody`].
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use bytes::Bytes;
    /// use http::{Request, Response};
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_jwt_auth::expiry::{TokenExpiry, TokenExpiryBody, TokenExpiryFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Infallible> {
    /// let mut service = TokenExpiry::new(service_fn(|_: Request<()>| async {
    ///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    /// }));
    /// let future: TokenExpiryFuture<_> = service.ready().await?.call(Request::new(()));
    /// let response: Response<TokenExpiryBody<Full<Bytes>>> = future.await?;
    /// // No auth layer in front, so no verified token: the body passes through untouched.
    /// assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub struct TokenExpiryFuture<F> {
        #[pin]
        future: F,
        expiry: Option<Expiry>,
    }
}

impl<F, B, E> Future for TokenExpiryFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<TokenExpiryBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        // A declared `Content-Length` is a promise of a whole body: never cut it, even when
        // the body itself cannot tell its length (a stream).
        let declared = response.headers().contains_key(http::header::CONTENT_LENGTH);
        let expiry = this.expiry.take().filter(|_| !declared);
        Poll::Ready(Ok(response.map(|body| TokenExpiryBody::new(body, expiry))))
    }
}

impl<F> fmt::Debug for TokenExpiryFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExpiryFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// A response body that ends at the token's expiry; see [`TokenExpiryLayer`].
    ///
    /// The body of every response [`TokenExpiry`] hands on. On a plain HTTP stream (server-sent
    /// events, say), it ends cleanly once the token expires, and drops the inner body:
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    ///
    /// use bytes::Bytes;
    /// use futures_util::stream;
    /// use http::{Request, Response};
    /// use http_body::Frame;
    /// use http_body_util::{BodyExt, StreamBody};
    /// use tower::{ServiceBuilder, ServiceExt, service_fn};
    /// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, TokenIssuer, expiry::TokenExpiryLayer};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let secret = b"an example secret of at least 32 bytes!".to_vec();
    /// let config = JwtAuthConfig::builder().hmac_secret(&secret).leeway(Duration::ZERO).build()?;
    /// let service = ServiceBuilder::new()
    ///     .layer(JwtAuthLayer::new(config))
    ///     .layer(TokenExpiryLayer::new())
    ///     .service(service_fn(|_: Request<()>| async {
    ///         // One event, then a stream that never ends by itself.
    ///         let event = Ok::<_, Infallible>(Frame::data(Bytes::from("data: hello\n\n")));
    ///         let events = futures_util::StreamExt::chain(stream::iter([event]), stream::pending());
    ///         Ok::<_, Infallible>(Response::new(StreamBody::new(events).boxed()))
    ///     }));
    ///
    /// let issuer = TokenIssuer::builder().hmac_secret(secret).lifetime(Duration::from_secs(60)).build()?;
    /// let token = issuer.issue(&serde_json::json!({"sub": "alice"}))?;
    /// let request = Request::builder().header("authorization", format!("Bearer {token}")).body(())?;
    /// let body = service.oneshot(request).await?.into_body(); // a `TokenExpiryBody`
    ///
    /// // A minute later (the clock is paused here, so no waiting), the stream has ended.
    /// let collected = body.collect().await?;
    /// assert_eq!(collected.trailers(), None); // plain HTTP: no trailers, a clean end
    /// assert_eq!(collected.to_bytes(), "data: hello\n\n");
    /// # Ok(())
    /// # }
    /// ```
    pub struct TokenExpiryBody<B> {
        // `None` once the deadline ended the response: the inner body is dropped then.
        #[pin]
        inner: Option<B>,
        // Armed while the inner body may still send data.
        #[pin]
        timer: Option<Sleep>,
        grpc: Option<VerifiedToken>,
    }
}

impl<B: Body> TokenExpiryBody<B> {
    fn new(inner: B, expiry: Option<Expiry>) -> Self {
        // A body of known length is finite: it is never cut (see the module documentation).
        let endless = !inner.is_end_stream() && inner.size_hint().exact().is_none();
        let (timer, grpc) = match expiry {
            Some(expiry) if endless => (Some(sleep_until(expiry.deadline)), expiry.grpc),
            _ => (None, None),
        };
        Self { inner: Some(inner), timer, grpc }
    }
}

impl<B: Default> Default for TokenExpiryBody<B> {
    fn default() -> Self {
        Self { inner: Some(B::default()), timer: None, grpc: None }
    }
}

/// A rejection in the body the response would have had: an auth layer or a guard outside
/// this layer writes its rejections into it.
impl<B: RejectionBody> RejectionBody for TokenExpiryBody<B> {
    fn from_text(text: bytes::Bytes) -> Option<Self> {
        B::from_text(text).map(|inner| Self { inner: Some(inner), timer: None, grpc: None })
    }
}

impl<B: Body> Body for TokenExpiryBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        if let Some(timer) = this.timer.as_mut().as_pin_mut()
            && timer.poll(cx).is_ready()
        {
            tracing::debug!(kind = ?ErrorKind::Expired, "response ended at the token's expiry");
            this.timer.set(None);
            this.inner.set(None);
            let trailers = this.grpc.take().map(|token| Ok(Frame::trailers(expired_grpc_trailers(&token))));
            return Poll::Ready(trailers);
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(inner.poll_frame(cx));
        let more_data_may_follow = matches!(&frame, Some(Ok(frame)) if frame.is_data())
            && this.inner.as_ref().as_pin_ref().is_some_and(|inner| !inner.is_end_stream());
        if !more_data_may_follow {
            // The inner body finished (or failed) by itself: nothing left to end.
            this.timer.set(None);
            *this.grpc = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

impl<B> fmt::Debug for TokenExpiryBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExpiryBody")
            .field("ended_at_expiry", &self.inner.is_none())
            .field("armed", &self.timer.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::pin::pin;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;
    use crate::{JwtAuthConfig, TokenIssuer};

    const SECRET: &[u8] = b"an example secret of at least 32 bytes!";

    /// A token valid for `seconds` more, verified with no leeway.
    fn token(seconds: u64) -> VerifiedToken {
        let issuer = TokenIssuer::builder()
            .hmac_secret(SECRET)
            .lifetime(Duration::from_secs(seconds))
            .build()
            .unwrap();
        let config = JwtAuthConfig::builder().hmac_secret(SECRET).leeway(Duration::ZERO).build().unwrap();
        config.verify(&issuer.issue(&serde_json::json!({"sub": "alice"})).unwrap()).unwrap().token().clone()
    }

    type Endless = StreamBody<futures_util::stream::Pending<Result<Frame<Bytes>, Infallible>>>;

    fn endless() -> Endless {
        StreamBody::new(futures_util::stream::pending())
    }

    fn expiry(token: &VerifiedToken, grpc: bool) -> Option<Expiry> {
        Expiry::new(token, grpc)
    }

    #[test]
    fn expires_at_is_the_exp_claim_and_rejection_starts_after_the_leeway() {
        let token = token(60);
        let exp = token.expires_at().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert!((now + 59..=now + 61).contains(&exp));
        assert_eq!(token.rejected_from(), token.expires_at()); // no leeway configured
    }

    #[tokio::test(start_paused = true)]
    async fn grpc_stream_ends_with_unauthenticated_trailers_at_expiry() {
        let token = token(30);
        let body = TokenExpiryBody::new(endless(), expiry(&token, true));
        let started = Instant::now();
        let collected = body.collect().await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(29));
        let trailers = collected.trailers().unwrap();
        assert_eq!(trailers["grpc-status"], "16");
        assert_eq!(trailers["grpc-message"], "The access token expired");
        assert_eq!(
            trailers[WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The access token expired\""
        );
    }

    #[tokio::test(start_paused = true)]
    async fn http_stream_ends_cleanly_at_expiry() {
        let token = token(30);
        let mut body = pin!(TokenExpiryBody::new(endless(), expiry(&token, false)));
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn body_that_ends_first_keeps_its_own_trailers_and_disarms_the_timer() {
        let token = token(30);
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, Infallible>> =
            vec![Ok(Frame::data(Bytes::from_static(b"hello"))), Ok(Frame::trailers(trailers))];
        let body = StreamBody::new(futures_util::stream::iter(frames));
        let mut body = pin!(TokenExpiryBody::new(body, expiry(&token, true)));
        assert!(body.frame().await.unwrap().unwrap().is_data());
        assert!(body.frame().await.unwrap().unwrap().is_trailers());
        assert!(body.timer.is_none());
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(body.frame().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn body_of_known_length_is_never_cut() {
        let token = token(1);
        let body = TokenExpiryBody::new(Full::new(Bytes::from_static(b"whole")), expiry(&token, false));
        assert!(body.timer.is_none());
        assert_eq!(body.size_hint().exact(), Some(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_that_declares_its_length_is_never_cut() {
        let token = token(1);
        let inner = tower::service_fn(|_: Request<()>| async {
            let mut response = Response::new(endless());
            response.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from_static("20"));
            Ok::<_, Infallible>(response)
        });
        let mut request = Request::new(());
        request.extensions_mut().insert(token.clone());
        let response = TokenExpiry::new(inner).call(request).await.unwrap();
        assert!(response.body().timer.is_none(), "a Content-Length response keeps its whole body");
        // Without the header, the same body ends at expiry.
        let inner =
            tower::service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(endless())) });
        let mut request = Request::new(());
        request.extensions_mut().insert(token);
        assert!(TokenExpiry::new(inner).call(request).await.unwrap().body().timer.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn requests_without_a_verified_token_pass_through() {
        let mut service = TokenExpiry::new(tower::service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(endless()))
        }));
        let response = service.call(Request::new(())).await.unwrap();
        assert!(response.body().timer.is_none());
    }
}

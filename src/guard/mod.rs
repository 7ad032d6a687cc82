//! Guards: what a verified caller may do. A [`Require`] is a requirement (roles, scopes,
//! claim values, predicates over your claims type, and any nesting of all-of / any-of) and
//! also a Tower layer that enforces it, per router or per route.
//!
//! Guards read what [`JwtAuthLayer`](crate::JwtAuthLayer) inserted, so they sit inside it.
//! A guard that is not satisfied answers 403 `insufficient_scope` naming what was required
//! (gRPC: PERMISSION_DENIED), through the same responder as the auth layer. A guard that
//! finds no verified token answers 401 and logs the misconfiguration once: guards fail
//! closed.
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, Require};
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .build()
//!     .unwrap();
//!
//! // admin OR (editor AND scope articles:write)
//! let may_write = Require::role("admin").or(Require::role("editor").and(Require::scope("articles:write")));
//!
//! let app: Router = Router::new()
//!     .route("/articles", post(|| async { "created" }).route_layer(may_write))
//!     .route("/articles", get(|| async { "list" }))
//!     .route("/billing", get(|| async { "invoices" }).route_layer(Require::claim_equals("tenant", "acme")))
//!     .layer(JwtAuthLayer::new(config));
//! # let _ = app;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::{Extensions, Request, Response};
use pin_project_lite::pin_project;
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::{Claims, VerifiedToken};
use crate::error::{AuthError, ErrorKind};
use crate::grants::ClaimPath;
use crate::payload::{claim_contains, claim_equals};
use crate::response::{
    Anonymous, DEFAULT_REALM, RejectionBody, RequestHead, default_response, into_service_response,
    missing_credential,
};

mod policy;

pub use policy::{MethodPolicy, MethodPolicyBuilder, MethodPolicyService};

/// A boxed future: the one allocation an asynchronous check costs.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type SyncCheck = Arc<dyn Fn(&Extensions) -> bool + Send + Sync>;
type AsyncCheck = Arc<dyn Fn(&Extensions) -> Option<BoxFuture<bool>> + Send + Sync>;

enum Node {
    Role(Box<str>),
    Scope(Box<str>),
    ClaimEquals(ClaimPath, Value),
    ClaimContains(ClaimPath, Box<str>),
    Check(SyncCheck),
    AsyncCheck(AsyncCheck),
    All(Vec<Arc<Node>>),
    Any(Vec<Arc<Node>>),
}

/// A requirement on the verified token, and the Tower layer that enforces it.
///
/// Cheap to clone. Combine with [`and`](Self::and), [`or`](Self::or),
/// [`all_of`](Self::all_of) and [`any_of`](Self::any_of), nested as deep as you like.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, Require, TokenIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // admin, or an editor granted the scope articles:write
/// let may_write = Require::role("admin").or(Require::role("editor").and(Require::scope("articles:write")));
/// assert_eq!(may_write.required(), "admin editor articles:write");
///
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let service = ServiceBuilder::new()
///     .layer(JwtAuthLayer::new(JwtAuthConfig::builder().hmac_secret(&secret).build()?))
///     .layer(may_write) // inside the auth layer, which verifies first
///     .service(service_fn(|_: Request<Full<Bytes>>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("saved"))))
///     }));
///
/// // An editor who may only read: a valid token, but 403 naming what was required.
/// let claims = serde_json::json!({"sub": "bob", "role": "editor", "scope": "articles:read"});
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&claims)?;
/// let request = Request::post("/articles").header("authorization", format!("Bearer {token}"));
/// let response = service.oneshot(request.body(Full::default())?).await?;
/// assert_eq!(response.status(), StatusCode::FORBIDDEN);
/// let challenge = response.headers()["www-authenticate"].to_str()?;
/// assert!(challenge.contains(r#"error="insufficient_scope""#));
/// assert!(challenge.contains(r#"scope="admin editor articles:write""#));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Require {
    /// One `Arc`: a service holding the guard is cloned for every request (axum does), and
    /// each `Arc` in it costs an atomic increment and decrement.
    inner: Arc<Requirement>,
}

struct Requirement {
    node: Arc<Node>,
    required: Arc<str>,
    /// The names can go into a challenge's `scope`: each an RFC 6750 scope-token (no
    /// space, `"` or `\`), so none reads as two or breaks the header.
    scope_tokens: bool,
    /// A missing verified token was logged (once for this requirement and its clones).
    reported: AtomicBool,
}

impl fmt::Debug for Require {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require").field("required", &self.inner.required).finish_non_exhaustive()
    }
}

impl Require {
    fn from_node(node: Node) -> Self {
        let mut names = Vec::new();
        collect_names(&node, &mut names);
        names.dedup();
        let scope_token = |name: &String| {
            !name.is_empty() && name.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
        };
        let scope_tokens = names.iter().all(scope_token);
        let requirement = Requirement {
            node: Arc::new(node),
            required: names.join(" ").into(),
            scope_tokens,
            reported: AtomicBool::new(false),
        };
        Self { inner: Arc::new(requirement) }
    }

    /// The token grants this role.
    pub fn role(role: impl Into<String>) -> Self {
        Self::from_node(Node::Role(role.into().into_boxed_str()))
    }

    /// The token grants at least one of these roles.
    pub fn any_role<I: IntoIterator<Item = S>, S: Into<String>>(roles: I) -> Self {
        Self::any_of(roles.into_iter().map(Self::role))
    }

    /// The token grants every one of these roles.
    pub fn all_roles<I: IntoIterator<Item = S>, S: Into<String>>(roles: I) -> Self {
        Self::all_of(roles.into_iter().map(Self::role))
    }

    /// The token grants this OAuth 2.0 scope.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::from_node(Node::Scope(scope.into().into_boxed_str()))
    }

    /// The token grants at least one of these scopes.
    pub fn any_scope<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Self::any_of(scopes.into_iter().map(Self::scope))
    }

    /// The token grants every one of these scopes.
    pub fn all_scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Self::all_of(scopes.into_iter().map(Self::scope))
    }

    /// The claim at `path` equals `value` exactly (JSON equality): `email_verified == true`,
    /// `tenant == "acme"`. A path that repeats a member name is never satisfied.
    pub fn claim_equals(path: impl Into<ClaimPath>, value: impl Into<Value>) -> Self {
        Self::from_node(Node::ClaimEquals(path.into(), value.into()))
    }

    /// The claim at `path` is an array holding the string `name`, or is that string:
    /// `Require::claim_contains("groups", "ops")`. Unlike [`role`](Self::role), it reads that
    /// one claim, whatever the configured role paths. A path that repeats a member name is
    /// never satisfied.
    pub fn claim_contains(path: impl Into<ClaimPath>, name: impl Into<String>) -> Self {
        Self::from_node(Node::ClaimContains(path.into(), name.into().into_boxed_str()))
    }

    /// A Keycloak realm role: `name` in `realm_access.roles`. With
    /// [`ClaimPreset::keycloak`](crate::grants::ClaimPreset::keycloak), [`role`](Self::role)
    /// accepts a realm role and a client role alike; this accepts the realm's only.
    pub fn realm_role(name: impl Into<String>) -> Self {
        Self::claim_contains(ClaimPath::from_segments(["realm_access", "roles"]), name)
    }

    /// A Keycloak client role: `name` in `resource_access.<client>.roles`, the roles of that
    /// client (the `azp` or audience Keycloak issued them for) alone.
    pub fn client_role(client: impl Into<String>, name: impl Into<String>) -> Self {
        let path =
            ClaimPath::from_segments(["resource_access".to_owned(), client.into(), "roles".to_owned()]);
        Self::claim_contains(path, name)
    }

    /// A check over your claims type: `Require::predicate(|user: &User| user.age >= 18)`.
    /// `C` must be the type the auth layer was built with; if it is not, the check fails.
    pub fn predicate<C, F>(check: F) -> Self
    where
        C: Send + Sync + 'static,
        F: Fn(&C) -> bool + Send + Sync + 'static,
    {
        Self::from_node(Node::Check(Arc::new(move |extensions: &Extensions| {
            extensions.get::<Claims<C>>().is_some_and(|claims| check(claims))
        })))
    }

    /// An asynchronous check over your claims, for one that must look something up (a
    /// permission service, a database). It runs only when the rest of the expression
    /// does not already decide.
    pub fn predicate_async<C, F, Fut>(check: F) -> Self
    where
        C: Send + Sync + 'static,
        F: Fn(Claims<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Self::from_node(Node::AsyncCheck(Arc::new(move |extensions: &Extensions| {
            let claims = extensions.get::<Claims<C>>()?.clone();
            Some(Box::pin(check(claims)) as BoxFuture<bool>)
        })))
    }

    /// Every one of these requirements.
    pub fn all_of(requirements: impl IntoIterator<Item = Require>) -> Self {
        Self::from_node(Node::All(requirements.into_iter().map(|r| Arc::clone(&r.inner.node)).collect()))
    }

    /// At least one of these requirements.
    pub fn any_of(requirements: impl IntoIterator<Item = Require>) -> Self {
        Self::from_node(Node::Any(requirements.into_iter().map(|r| Arc::clone(&r.inner.node)).collect()))
    }

    /// This requirement and `other`.
    pub fn and(self, other: Require) -> Self {
        Self::all_of([self, other])
    }

    /// This requirement or `other`.
    pub fn or(self, other: Require) -> Self {
        Self::any_of([self, other])
    }

    /// The roles and scopes this requirement names, space-separated: the `scope` of a 403's
    /// challenge, which leaves `scope` out when a name is not an RFC 6750 scope-token (it
    /// holds a space, `"`, `\` or a character outside printable ASCII).
    pub fn required(&self) -> &str {
        &self.inner.required
    }

    /// The rejection of a token that does not satisfy this requirement. Names that are not
    /// scope-tokens are left out of the challenge rather than mangle it.
    pub(crate) fn insufficient_scope(&self) -> AuthError {
        let required = if self.inner.scope_tokens { Arc::clone(&self.inner.required) } else { Arc::from("") };
        AuthError::insufficient_scope(required)
    }

    /// Checks the requirement against a verified token and the request's extensions.
    /// `None` means an asynchronous check must decide; use the layer for those.
    pub fn is_satisfied(&self, token: &VerifiedToken, extensions: &Extensions) -> Option<bool> {
        match evaluate(&self.inner.node, token, extensions) {
            Evaluation::Done(satisfied) => Some(satisfied),
            Evaluation::Later(_) => None,
        }
    }
}

fn collect_names(node: &Node, names: &mut Vec<String>) {
    match node {
        Node::Role(name) | Node::Scope(name) | Node::ClaimContains(_, name) => {
            if !names.iter().any(|n| n == name.as_ref()) {
                names.push(name.to_string());
            }
        }
        Node::All(children) | Node::Any(children) => children.iter().for_each(|c| collect_names(c, names)),
        Node::ClaimEquals(..) | Node::Check(_) | Node::AsyncCheck(_) => {}
    }
}

enum Evaluation {
    Done(bool),
    Later(BoxFuture<bool>),
}

fn evaluate(node: &Node, token: &VerifiedToken, extensions: &Extensions) -> Evaluation {
    match node {
        Node::Role(role) => Evaluation::Done(token.grants().has_role(role)),
        Node::Scope(scope) => Evaluation::Done(token.grants().has_scope(scope)),
        Node::ClaimEquals(path, value) => {
            Evaluation::Done(claim_equals(token.payload(), token.members(), path, value))
        }
        Node::ClaimContains(path, name) => {
            Evaluation::Done(claim_contains(token.payload(), token.members(), path, name))
        }
        Node::Check(check) => Evaluation::Done(check(extensions)),
        Node::AsyncCheck(check) => match check(extensions) {
            Some(future) => Evaluation::Later(future),
            None => Evaluation::Done(false),
        },
        Node::All(children) => combine(children, token, extensions, true),
        Node::Any(children) => combine(children, token, extensions, false),
    }
}

/// All-of (`all == true`) or any-of: synchronous children decide first; asynchronous ones
/// run (in order, stopping early) only when they are still needed.
fn combine(children: &[Arc<Node>], token: &VerifiedToken, extensions: &Extensions, all: bool) -> Evaluation {
    let mut pending = Vec::new();
    for child in children {
        match evaluate(child, token, extensions) {
            Evaluation::Done(satisfied) if satisfied != all => return Evaluation::Done(!all),
            Evaluation::Done(_) => {}
            Evaluation::Later(future) => pending.push(future),
        }
    }
    if pending.is_empty() {
        return Evaluation::Done(all);
    }
    Evaluation::Later(Box::pin(async move {
        for future in pending {
            if future.await != all {
                return !all;
            }
        }
        all
    }))
}

impl<S> Layer<S> for Require {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService { inner, require: self.clone() }
    }
}

/// The service made by the [`Require`] layer.
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use tower::{Layer, ServiceExt, service_fn};
/// use tower_jwt_auth::{Require, guard::RequireService};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let handler = service_fn(|_: Request<String>| async {
///     Ok::<_, std::convert::Infallible>(Response::new("the reports".to_owned()))
/// });
/// let guarded: RequireService<_> = Require::role("auditor").layer(handler);
///
/// // Without a JwtAuthLayer outside it, the guard finds no verified token: it fails
/// // closed with 401, and the handler is never called.
/// let response = guarded.oneshot(Request::new(String::new())).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RequireService<S> {
    inner: S,
    require: Require,
}

impl<S> RequireService<S> {
    inner_service_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for RequireService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireService").field("inner", &self.inner).field("require", &self.require).finish()
    }
}

fn forbidden<B, ResBody: RejectionBody>(
    require: &Require,
    token: &VerifiedToken,
    request: &Request<B>,
) -> Response<ResBody> {
    let error = require.insufficient_scope();
    tracing::debug!(kind = ?ErrorKind::InsufficientScope, "request rejected by a guard");
    let head = RequestHead::of(request);
    into_service_response(token.responder().respond(&error, &head))
}

/// The 403 of a call nobody may make (a [`MethodPolicy`] rule or default): the guard's
/// answer without a `scope`, through the responder of the auth layer outside.
fn denied<B, ResBody: RejectionBody>(request: &Request<B>) -> Response<ResBody> {
    let error = AuthError::insufficient_scope("");
    tracing::debug!(kind = ?ErrorKind::InsufficientScope, "request refused by a method policy");
    let head = RequestHead::of(request);
    let response =
        match (request.extensions().get::<VerifiedToken>(), request.extensions().get::<Anonymous>()) {
            (Some(token), _) => token.responder().respond(&error, &head),
            (None, Some(Anonymous(responder))) => responder.respond(&error, &head),
            (None, None) => default_response(&error, &head, DEFAULT_REALM),
        };
    into_service_response(response)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: RejectionBody + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let reported = &self.require.inner.reported;
        enforce(&self.require, &mut self.inner, request, || {
            if !reported.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "a guard (Require) found no verified token: mount JwtAuthLayer outside it, \
                     or the route is optional and the caller did not authenticate; answering 401"
                );
            }
        })
    }
}

/// Checks `require` against the request's verified token and calls `inner` (the service
/// that reported ready), answers 403, or runs the asynchronous checks first: the guard's
/// decision, shared by [`RequireService`] and [`MethodPolicyService`]. Without a verified
/// token: `missing` runs, and the answer is the 401 the auth layer would give.
fn enforce<S, ReqBody, ResBody>(
    require: &Require,
    inner: &mut S,
    request: Request<ReqBody>,
    missing: impl FnOnce(),
) -> RequireFuture<S::Future, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: RejectionBody + Send + 'static,
{
    let Some(token) = request.extensions().get::<VerifiedToken>() else {
        missing();
        let head = RequestHead::of(&request);
        return RequireFuture::rejected(into_service_response(missing_credential(
            request.extensions(),
            &head,
        )));
    };
    match evaluate(&require.inner.node, token, request.extensions()) {
        // Decided now: call the service that reported ready. Only a deferred call (below)
        // takes it out and leaves a clone, which for boxed services costs an allocation.
        Evaluation::Done(true) => RequireFuture::calling(inner.call(request)),
        Evaluation::Done(false) => RequireFuture::rejected(forbidden(require, token, &request)),
        Evaluation::Later(check) => {
            let token = token.clone();
            let require = require.clone();
            let clone = inner.clone();
            let mut service = std::mem::replace(inner, clone);
            let decide = async move {
                if check.await {
                    GuardState::Calling { future: service.call(request) }
                } else {
                    GuardState::Rejected { response: Some(forbidden(&require, &token, &request)) }
                }
            };
            RequireFuture { state: GuardState::Checking { decide: Box::pin(decide) } }
        }
    }
}

pin_project! {
    /// The response future of [`RequireService`]: the inner service's future `F`, a ready
    /// rejection in the body type `B`, or an asynchronous check to finish first.
    ///
    /// ```
    /// use http::{Request, Response, StatusCode};
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    /// use tower_jwt_auth::{Require, guard::RequireFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let handler = service_fn(|_: Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new("the orders".to_owned()))
    /// });
    /// let mut guarded = Require::scope("orders:read").layer(handler);
    ///
    /// // What `call` returns: a rejection here (no verified token), ready without a box.
    /// let future: RequireFuture<_, String> = guarded.ready().await?.call(Request::new(String::new()));
    /// assert_eq!(future.await?.status(), StatusCode::UNAUTHORIZED);
    /// # Ok(())
    /// # }
    /// ```
    pub struct RequireFuture<F, B> {
        #[pin]
        state: GuardState<F, B>,
    }
}

pin_project! {
    #[project = GuardStateProjection]
    enum GuardState<F, B> {
        // Boxed: only asynchronous checks use it; every other future stays small.
        Checking { decide: Pin<Box<dyn Future<Output = GuardState<F, B>> + Send>> },
        Calling { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B> RequireFuture<F, B> {
    fn rejected(response: Response<B>) -> Self {
        Self { state: GuardState::Rejected { response: Some(response) } }
    }

    fn calling(future: F) -> Self {
        Self { state: GuardState::Calling { future } }
    }
}

impl<F, B, E> Future for RequireFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                GuardStateProjection::Checking { decide } => {
                    let next = std::task::ready!(decide.as_mut().poll(cx));
                    state.set(next);
                }
                GuardStateProjection::Calling { future } => return future.poll(cx),
                GuardStateProjection::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("RequireFuture polled after completion")));
                }
            }
        }
    }
}

impl<F, B> fmt::Debug for RequireFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireFuture").finish_non_exhaustive()
    }
}

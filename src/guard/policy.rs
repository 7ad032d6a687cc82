//! [`MethodPolicy`]: who may call which gRPC method (or HTTP method and path), as one table
//! for a whole server.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{Require, RequireFuture, denied, enforce};
use crate::claims::VerifiedToken;
use crate::error::ConfigError;
use crate::response::{Anonymous, RejectionBody, RequestHead};

/// What a rule grants.
#[derive(Clone)]
enum Access {
    /// No token needed; one that is sent must still be valid (the auth layer checks it).
    Public,
    /// A verified token, and this requirement on it (an empty one for "any valid token").
    Require(Require),
    /// Nobody: PERMISSION_DENIED, token or not.
    Denied,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public => f.write_str("Public"),
            Self::Require(require) => f.debug_tuple("Require").field(require).finish(),
            Self::Denied => f.write_str("Denied"),
        }
    }
}

/// The rules by path, looked up on every request: aHash (seeded per map) costs a policy
/// about an eighth fewer instructions than the standard hasher.
type PathMap = HashMap<Box<str>, Entry, ahash::RandomState>;

/// The rules of one path (a method path, or a service's path for `/package.Service/*`):
/// one for any HTTP method, and those naming one.
#[derive(Debug, Default)]
struct Entry {
    any: Option<Access>,
    methods: Vec<(Method, Access)>,
}

impl Entry {
    fn get(&self, method: &Method) -> Option<&Access> {
        self.methods.iter().find(|(named, _)| named == method).map(|(_, access)| access).or(self.any.as_ref())
    }

    /// Adds a rule; false when this path already has one for that method.
    fn insert(&mut self, method: Option<Method>, access: Access) -> bool {
        match method {
            None if self.any.is_some() => false,
            None => {
                self.any = Some(access);
                true
            }
            Some(method) if self.methods.iter().any(|(named, _)| *named == method) => false,
            Some(method) => {
                self.methods.push((method, access));
                true
            }
        }
    }
}

/// Who may call which gRPC method, or which HTTP method and path: one table for a server,
/// enforced as a Tower layer inside an **optional** [`JwtAuthLayer`](crate::JwtAuthLayer).
///
/// Build it with [`MethodPolicy::deny_unlisted`] (recommended: a method nobody listed is
/// refused, so a new RPC is closed until someone decides) or
/// [`MethodPolicy::authenticate_unlisted`], then list the rules:
///
/// - [`public`](MethodPolicyBuilder::public): no token needed (health checks, reflection);
/// - [`authenticated`](MethodPolicyBuilder::authenticated): any valid token;
/// - [`require`](MethodPolicyBuilder::require): a valid token satisfying a [`Require`];
/// - [`deny`](MethodPolicyBuilder::deny): nobody.
///
/// A rule's path is a gRPC method, `/package.Service/Method`, or a whole service,
/// `/package.Service/*`; for plain HTTP, an optional method first: `GET /health`,
/// `POST /orders/*`. A `*` stands for exactly one last path segment. The most specific rule
/// wins: an exact path before a `*`, a rule naming the HTTP method before one that does not.
///
/// Paths are matched as the request sends them, byte for byte and case-sensitively, as
/// tonic and axum route them. A request path that a router or proxy might read as another
/// one is refused (PERMISSION_DENIED or 403), whatever the rules and the default: an empty
/// segment (`//package.Service/Method`, a trailing `/`), a `.` or `..` segment, a
/// backslash, a percent-encoded character (`%2F`, `%41`; gRPC method paths never need one),
/// and, for a gRPC request, anything but exactly `/service/method`.
///
/// The auth layer outside must be [`optional`](crate::JwtAuthLayer::optional), or public
/// methods would need a token too. A refused call answers as a [`Require`] does: 403 with
/// `error="insufficient_scope"` (gRPC: PERMISSION_DENIED, the challenge as `www-authenticate`
/// metadata), through the auth layer's responder; a call without a token to a method that
/// needs one gets the auth layer's 401 (gRPC: UNAUTHENTICATED).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, Require, TokenIssuer, guard::MethodPolicy};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let policy = MethodPolicy::deny_unlisted()
///     .public("/grpc.health.v1.Health/*")
///     .authenticated("/helloworld.Greeter/SayHello")
///     .require("/helloworld.Greeter/SayHelloAdmin", Require::role("admin"))
///     .build()?;
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let server = ServiceBuilder::new()
///     .layer(JwtAuthLayer::new(JwtAuthConfig::builder().hmac_secret(&secret).build()?).optional())
///     .layer(policy)
///     .service(service_fn(|_: Request<Full<Bytes>>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
///     }));
///
/// let bob = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"role": "user"}))?;
/// let call = |path: &str, token: Option<&str>| {
///     let request = Request::post(path).header("content-type", "application/grpc");
///     let request = match token {
///         Some(token) => request.header("authorization", format!("Bearer {token}")),
///         None => request,
///     };
///     request.body(Full::default()).unwrap()
/// };
/// // gRPC answers in headers: HTTP 200 and a grpc-status.
/// let grpc_status = |response: Response<Full<Bytes>>| response.headers()["grpc-status"].clone();
/// let served = server.clone().oneshot(call("/grpc.health.v1.Health/Check", None)).await?;
/// assert_eq!((served.status(), served.headers().get("grpc-status")), (StatusCode::OK, None));
/// let served = server.clone().oneshot(call("/helloworld.Greeter/SayHello", Some(&bob))).await?;
/// assert!(served.headers().get("grpc-status").is_none());
/// let no_token = server.clone().oneshot(call("/helloworld.Greeter/SayHello", None)).await?;
/// assert_eq!(grpc_status(no_token), "16"); // UNAUTHENTICATED
/// let not_admin = server.clone().oneshot(call("/helloworld.Greeter/SayHelloAdmin", Some(&bob))).await?;
/// assert_eq!(grpc_status(not_admin), "7"); // PERMISSION_DENIED
/// let unlisted = server.clone().oneshot(call("/helloworld.Greeter/SayGoodbye", Some(&bob))).await?;
/// assert_eq!(grpc_status(unlisted), "7");
/// let tricked = server.oneshot(call("//helloworld.Greeter/SayHello", Some(&bob))).await?;
/// assert_eq!(grpc_status(tricked), "7");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MethodPolicy {
    inner: Arc<PolicyInner>,
}

struct PolicyInner {
    /// Rules by their exact path.
    rules: PathMap,
    /// Rules for every last segment, by the path before it (`/package.Service`).
    wildcards: PathMap,
    unlisted: Access,
    /// Whether the "no auth layer outside" error was logged already.
    reported: AtomicBool,
}

/// Builds a [`MethodPolicy`]; [`build`](Self::build) checks every path.
///
/// ```
/// use tower_jwt_auth::{Require, error::ConfigErrorKind, guard::MethodPolicy};
///
/// let policy = MethodPolicy::authenticate_unlisted()
///     .public("GET /health")
///     .require("POST /orders/*", Require::scope("orders:write"))
///     .deny("DELETE /orders/*")
///     .build();
/// assert!(policy.is_ok());
///
/// let error = MethodPolicy::deny_unlisted().public("/helloworld.Greeter//SayHello").build().unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::InvalidValue);
/// ```
#[derive(Debug)]
#[must_use]
pub struct MethodPolicyBuilder {
    rules: Vec<(String, Access)>,
    unlisted: Access,
}

impl MethodPolicy {
    /// A policy that refuses every method no rule lists (recommended).
    pub fn deny_unlisted() -> MethodPolicyBuilder {
        MethodPolicyBuilder { rules: Vec::new(), unlisted: Access::Denied }
    }

    /// A policy that lets any valid token call a method no rule lists.
    pub fn authenticate_unlisted() -> MethodPolicyBuilder {
        MethodPolicyBuilder { rules: Vec::new(), unlisted: Access::Require(Require::all_of([])) }
    }

    /// What the policy decides for a request of this HTTP method, path and kind (a gRPC
    /// request has `content-type: application/grpc`).
    fn access(&self, method: &Method, path: &str, grpc: bool) -> &Access {
        if !canonical(path, grpc) {
            return &Access::Denied;
        }
        let inner = &*self.inner;
        let wildcard = || {
            let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
            inner.wildcards.get(parent).and_then(|entry| entry.get(method))
        };
        inner.rules.get(path).and_then(|entry| entry.get(method)).or_else(wildcard).unwrap_or(&inner.unlisted)
    }
}

impl fmt::Debug for MethodPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodPolicy")
            .field("rules", &self.inner.rules.len())
            .field("wildcards", &self.inner.wildcards.len())
            .field("unlisted", &self.inner.unlisted)
            .finish()
    }
}

impl MethodPolicyBuilder {
    /// No token needed for `path` (a token that is sent must still be valid).
    pub fn public(self, path: impl Into<String>) -> Self {
        self.rule(path, Access::Public)
    }

    /// Any valid token may call `path`.
    pub fn authenticated(self, path: impl Into<String>) -> Self {
        self.rule(path, Access::Require(Require::all_of([])))
    }

    /// A valid token that satisfies `requirement` may call `path`.
    pub fn require(self, path: impl Into<String>, requirement: Require) -> Self {
        self.rule(path, Access::Require(requirement))
    }

    /// Nobody may call `path`.
    pub fn deny(self, path: impl Into<String>) -> Self {
        self.rule(path, Access::Denied)
    }

    fn rule(mut self, path: impl Into<String>, access: Access) -> Self {
        self.rules.push((path.into(), access));
        self
    }

    /// Checks every rule: a path that starts with `/`, has no empty, `.` or `..` segment, no
    /// `%`, `\` or whitespace, and a `*` only as its whole last segment; an HTTP method, when
    /// given, a valid one; no two rules for the same method and path.
    pub fn build(self) -> Result<MethodPolicy, ConfigError> {
        let mut rules = PathMap::default();
        let mut wildcards = PathMap::default();
        for (text, access) in self.rules {
            let (method, path) = parse_rule(&text)?;
            let (table, path) = match path.strip_suffix("/*") {
                Some(parent) => (&mut wildcards, parent),
                None => (&mut rules, path),
            };
            if !table.entry(path.into()).or_default().insert(method, access) {
                return Err(ConfigError::setting(format!("MethodPolicy: two rules for {text:?}; keep one")));
            }
        }
        Ok(MethodPolicy {
            inner: Arc::new(PolicyInner {
                rules,
                wildcards,
                unlisted: self.unlisted,
                reported: AtomicBool::new(false),
            }),
        })
    }
}

/// `[METHOD ]PATH` of a rule.
fn parse_rule(text: &str) -> Result<(Option<Method>, &str), ConfigError> {
    let invalid = |why: &str| {
        ConfigError::value(format!(
            "MethodPolicy rule {text:?}: {why}; write /package.Service/Method, /package.Service/*, or an \
             HTTP method and a path such as GET /health"
        ))
    };
    let (method, path) = match text.split_once(' ') {
        Some((method, path)) => {
            let method = Method::from_bytes(method.as_bytes()).map_err(|_| invalid("not an HTTP method"))?;
            (Some(method), path)
        }
        None => (None, text),
    };
    let Some(rest) = path.strip_prefix('/') else { return Err(invalid("a path starts with /")) };
    let segments: Vec<&str> = rest.split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        if segment.is_empty() && !(rest.is_empty()) {
            return Err(invalid("an empty path segment"));
        }
        if *segment == "." || *segment == ".." {
            return Err(invalid("a . or .. segment"));
        }
        if segment.contains('*') && !(last && *segment == "*" && segments.len() > 1) {
            return Err(invalid("* stands alone as the last segment, after at least one other"));
        }
        if segment.bytes().any(|byte| {
            byte == b'%' || byte == b'\\' || byte.is_ascii_whitespace() || byte.is_ascii_control()
        }) {
            return Err(invalid("a %, \\, space or control character"));
        }
    }
    Ok((method, path))
}

/// Whether a request path is in the one form that every router reads the same way.
fn canonical(path: &str, grpc: bool) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    if rest.is_empty() {
        return !grpc;
    }
    let mut segments = 0;
    for segment in rest.split('/') {
        segments += 1;
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains(['%', '\\']) {
            return false;
        }
    }
    !grpc || segments == 2
}

impl<S> Layer<S> for MethodPolicy {
    type Service = MethodPolicyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MethodPolicyService { inner, policy: self.clone() }
    }
}

/// The service made by the [`MethodPolicy`] layer; its future is the guard's,
/// [`RequireFuture`].
///
/// ```
/// use tower::{Layer, service_fn};
/// use tower_jwt_auth::guard::{MethodPolicy, MethodPolicyService};
///
/// let policy = MethodPolicy::deny_unlisted().public("GET /health").build().unwrap();
/// let handler = service_fn(|_: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("up")))
/// });
/// let service: MethodPolicyService<_> = policy.layer(handler);
/// # let _ = service;
/// ```
#[derive(Clone)]
pub struct MethodPolicyService<S> {
    inner: S,
    policy: MethodPolicy,
}

impl<S> MethodPolicyService<S> {
    inner_service_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for MethodPolicyService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodPolicyService")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MethodPolicyService<S>
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
        let extensions = request.extensions();
        if extensions.get::<VerifiedToken>().is_none()
            && extensions.get::<Anonymous>().is_none()
            && !self.policy.inner.reported.swap(true, Ordering::Relaxed)
        {
            // Neither a verified token nor the optional layer's mark: no auth layer outside.
            tracing::error!(
                "a MethodPolicy found no JwtAuthLayer outside it: mount JwtAuthLayer::new(config).optional() \
                 around it; answering as if nobody authenticated"
            );
        }
        let grpc = RequestHead::of(&request).is_grpc();
        match self.policy.access(request.method(), request.uri().path(), grpc) {
            Access::Public => RequireFuture::calling(self.inner.call(request)),
            Access::Denied => RequireFuture::rejected(denied(&request)),
            // Without a verified token: the auth layer's 401.
            Access::Require(require) => enforce(require, &mut self.inner, request, || {}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(policy: &MethodPolicy, method: Method, path: &str, grpc: bool) -> &'static str {
        match policy.access(&method, path, grpc) {
            Access::Public => "public",
            Access::Require(require) if require.required().is_empty() => "authenticated",
            Access::Require(_) => "require",
            Access::Denied => "denied",
        }
    }

    fn greeter() -> MethodPolicy {
        MethodPolicy::deny_unlisted()
            .public("/grpc.health.v1.Health/*")
            .authenticated("/helloworld.Greeter/*")
            .require("/helloworld.Greeter/SayHelloAdmin", Require::role("admin"))
            .deny("/helloworld.Greeter/Shutdown")
            .build()
            .unwrap()
    }

    #[test]
    fn the_most_specific_rule_decides_and_unlisted_methods_take_the_default() {
        let policy = greeter();
        let post = || Method::POST;
        assert_eq!(decide(&policy, post(), "/grpc.health.v1.Health/Check", true), "public");
        assert_eq!(decide(&policy, post(), "/grpc.health.v1.Health/Watch", true), "public");
        assert_eq!(decide(&policy, post(), "/helloworld.Greeter/SayHello", true), "authenticated");
        assert_eq!(decide(&policy, post(), "/helloworld.Greeter/SayHelloAdmin", true), "require");
        assert_eq!(decide(&policy, post(), "/helloworld.Greeter/Shutdown", true), "denied");
        assert_eq!(decide(&policy, post(), "/other.Service/Method", true), "denied");

        let open =
            MethodPolicy::authenticate_unlisted().public("/grpc.health.v1.Health/Check").build().unwrap();
        assert_eq!(decide(&open, post(), "/other.Service/Method", true), "authenticated");
        assert_eq!(decide(&open, post(), "/grpc.health.v1.Health/Watch", true), "authenticated");
    }

    #[test]
    fn a_path_a_router_might_read_otherwise_is_denied_whatever_the_default() {
        let open = MethodPolicy::authenticate_unlisted().public("/grpc.health.v1.Health/*").build().unwrap();
        for path in [
            "//grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health//Check",
            "/grpc.health.v1.Health/Check/",
            "/grpc.health.v1.Health/./Check",
            "/grpc.health.v1.Health/../Check",
            "/grpc.health.v1.Health/Ch%65ck",
            "/grpc.health.v1.Health\\Check",
            "/grpc.health.v1.Health",
            "/a/b/c",
            "/",
            "",
            "grpc.health.v1.Health/Check",
        ] {
            assert_eq!(decide(&open, Method::POST, path, true), "denied", "{path:?}");
        }
        // Plain HTTP: any number of segments, the root too.
        assert_eq!(decide(&open, Method::GET, "/", false), "authenticated");
        assert_eq!(decide(&open, Method::GET, "/a/b/c", false), "authenticated");
        assert_eq!(decide(&open, Method::GET, "/a//c", false), "denied");
        assert_eq!(decide(&open, Method::GET, "/a/", false), "denied");
    }

    #[test]
    fn http_rules_name_a_method_or_match_any_and_a_named_method_wins() {
        let policy = MethodPolicy::deny_unlisted()
            .public("GET /health")
            .authenticated("/orders/*")
            .require("POST /orders/*", Require::scope("orders:write"))
            .build()
            .unwrap();
        assert_eq!(decide(&policy, Method::GET, "/health", false), "public");
        assert_eq!(decide(&policy, Method::HEAD, "/health", false), "denied");
        assert_eq!(decide(&policy, Method::GET, "/orders/42", false), "authenticated");
        assert_eq!(decide(&policy, Method::POST, "/orders/42", false), "require");
        assert_eq!(decide(&policy, Method::GET, "/orders/42/items", false), "denied");
        assert_eq!(decide(&policy, Method::GET, "/orders", false), "denied");
    }

    #[test]
    fn build_refuses_paths_that_cannot_match_and_rules_given_twice() {
        for rule in [
            "helloworld.Greeter/SayHello",
            "/helloworld.Greeter//SayHello",
            "/helloworld.Greeter/SayHello/",
            "/helloworld.Greeter/./SayHello",
            "/helloworld.Greeter/Say%48ello",
            "/helloworld.Greeter/Say Hello",
            "/helloworld.Greeter/Say*",
            "/*",
            "/*/Method",
            "GE T /health",
            "",
        ] {
            let error = MethodPolicy::deny_unlisted().public(rule).build().unwrap_err();
            assert!(error.message().contains("MethodPolicy rule"), "{rule:?}: {error}");
        }
        let twice =
            MethodPolicy::deny_unlisted().public("GET /health").deny("GET /health").build().unwrap_err();
        assert!(twice.message().contains("two rules"), "{twice}");
        // The same path for another method, or for any method, is another rule.
        MethodPolicy::deny_unlisted()
            .public("GET /health")
            .deny("/health")
            .deny("POST /health")
            .build()
            .unwrap();
    }
}

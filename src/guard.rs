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
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::{Claims, CowStr, StrictValue, VerifiedToken};
use crate::error::{AuthError, ErrorKind};
use crate::grants::{ClaimPath, Member};
use crate::response::{RequestHead, into_service_response, missing_credential};

/// A boxed future: the one allocation an asynchronous check costs.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type SyncCheck = Arc<dyn Fn(&Extensions) -> bool + Send + Sync>;
type AsyncCheck = Arc<dyn Fn(&Extensions) -> Option<BoxFuture<bool>> + Send + Sync>;

enum Node {
    Role(Box<str>),
    Scope(Box<str>),
    ClaimEquals(ClaimPath, Value),
    Check(SyncCheck),
    AsyncCheck(AsyncCheck),
    All(Vec<Arc<Node>>),
    Any(Vec<Arc<Node>>),
}

/// A requirement on the verified token, and the Tower layer that enforces it.
///
/// Cheap to clone. Combine with [`and`](Self::and), [`or`](Self::or),
/// [`all_of`](Self::all_of) and [`any_of`](Self::any_of), nested as deep as you like.
#[derive(Clone)]
pub struct Require {
    node: Arc<Node>,
    required: Arc<str>,
    /// The names can go into a challenge's `scope`: each an RFC 6750 scope-token (no
    /// space, `"` or `\`), so none reads as two or breaks the header.
    scope_tokens: bool,
    reported: Arc<AtomicBool>,
}

impl fmt::Debug for Require {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require").field("required", &self.required).finish_non_exhaustive()
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
        Self {
            node: Arc::new(node),
            required: names.join(" ").into(),
            scope_tokens,
            reported: Arc::default(),
        }
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
        Self::from_node(Node::All(requirements.into_iter().map(|r| r.node).collect()))
    }

    /// At least one of these requirements.
    pub fn any_of(requirements: impl IntoIterator<Item = Require>) -> Self {
        Self::from_node(Node::Any(requirements.into_iter().map(|r| r.node).collect()))
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
        &self.required
    }

    /// Checks the requirement against a verified token and the request's extensions.
    /// `None` means an asynchronous check must decide; use the layer for those.
    pub fn is_satisfied(&self, token: &VerifiedToken, extensions: &Extensions) -> Option<bool> {
        match evaluate(&self.node, token, extensions) {
            Evaluation::Done(satisfied) => Some(satisfied),
            Evaluation::Later(_) => None,
        }
    }
}

fn collect_names(node: &Node, names: &mut Vec<String>) {
    match node {
        Node::Role(name) | Node::Scope(name) => {
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
        Node::ClaimEquals(path, value) => Evaluation::Done(claim_equals_in(token, path, value)),
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

/// [`claim_equals`] through the token's member index: only the first segment's value is
/// parsed, not the whole payload.
fn claim_equals_in(token: &VerifiedToken, path: &ClaimPath, expected: &Value) -> bool {
    let payload = token.payload();
    let Some((first, rest)) = path.segments().split_first() else { return false };
    match token.members().get(payload, first) {
        Member::Absent | Member::Repeated => false,
        Member::Unknown => claim_equals(payload, path, expected),
        Member::Value(bytes) => seek(bytes, rest, expected),
    }
}

/// True when the value at `path` in the payload equals `expected`; false when it differs,
/// is absent, or when a name along the path (or inside the value) repeats. Scalars are
/// compared as they are read, without building a `Value`.
fn claim_equals(payload: &[u8], path: &ClaimPath, expected: &Value) -> bool {
    seek(payload, path.segments(), expected)
}

/// Follows `path` into the JSON value `json` and compares what is there with `expected`.
fn seek(json: &[u8], path: &[String], expected: &Value) -> bool {
    // Checked once as a whole: serde_json then skips checking each string on its own.
    let Ok(text) = std::str::from_utf8(json) else { return false };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Seek { path, expected }.deserialize(&mut deserializer).unwrap_or(false)
}

struct Seek<'p> {
    path: &'p [String],
    expected: &'p Value,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match (self.path.split_first(), self.expected) {
            (None, Value::Array(_) | Value::Object(_)) => {
                Ok(&StrictValue::deserialize_value(deserializer)? == self.expected)
            }
            (None, _) => deserializer.deserialize_any(ScalarMatch { expected: self.expected }),
            (Some(_), _) => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (first, rest) = self.path.split_first().ok_or_else(|| de::Error::custom("empty path"))?;
        let mut found = false;
        let mut seen = false;
        while let Some(CowStr(name)) = map.next_key()? {
            if name == first.as_str() {
                if std::mem::replace(&mut seen, true) {
                    return Err(de::Error::custom("a claim appears twice"));
                }
                found = map.next_value_seed(Seek { path: rest, expected: self.expected })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(false)
    }
}

/// Compares the value being read with a scalar `expected` (string, number, bool, null).
struct ScalarMatch<'v> {
    expected: &'v Value,
}

impl<'de> Visitor<'de> for ScalarMatch<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, value: &str) -> Result<bool, E> {
        Ok(self.expected.as_str() == Some(value))
    }
    fn visit_bool<E>(self, value: bool) -> Result<bool, E> {
        Ok(self.expected.as_bool() == Some(value))
    }
    // Numbers compare as `serde_json::Value` does: integers with integers, floats with floats.
    fn visit_i64<E>(self, value: i64) -> Result<bool, E> {
        Ok(!self.expected.is_f64() && self.expected.as_i64() == Some(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<bool, E> {
        Ok(!self.expected.is_f64() && self.expected.as_u64() == Some(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<bool, E> {
        Ok(self.expected.is_f64() && self.expected.as_f64() == Some(value))
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(self.expected.is_null())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        // Read through (refusing repeated names inside) and answer no: a scalar was expected.
        StrictValue::deserialize_value(de::value::SeqAccessDeserializer::new(seq)).map(|_| false)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        StrictValue::deserialize_value(de::value::MapAccessDeserializer::new(map)).map(|_| false)
    }
}

impl<S> Layer<S> for Require {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService { inner, require: self.clone() }
    }
}

/// The service made by the [`Require`] layer.
#[derive(Clone)]
pub struct RequireService<S> {
    inner: S,
    require: Require,
}

impl<S> RequireService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for RequireService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireService").field("inner", &self.inner).field("require", &self.require).finish()
    }
}

fn forbidden<B, ResBody: Default + 'static>(
    require: &Require,
    token: &VerifiedToken,
    request: &Request<B>,
) -> Response<ResBody> {
    // Names that are not scope-tokens are left out of the challenge rather than mangle it.
    let required = if require.scope_tokens { Arc::clone(&require.required) } else { Arc::from("") };
    let error = AuthError::insufficient_scope(required);
    tracing::debug!(kind = ?ErrorKind::InsufficientScope, "request rejected by a guard");
    let head = RequestHead { method: request.method(), uri: request.uri(), headers: request.headers() };
    into_service_response(token.config().rejection(&error, &head))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(token) = request.extensions().get::<VerifiedToken>() else {
            if !self.require.reported.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "a guard (Require) found no verified token: mount JwtAuthLayer outside it, \
                     or the route is optional and the caller did not authenticate; answering 401"
                );
            }
            let head =
                RequestHead { method: request.method(), uri: request.uri(), headers: request.headers() };
            let response = missing_credential(request.extensions(), &head);
            return RequireFuture::rejected(into_service_response(response));
        };
        match evaluate(&self.require.node, token, request.extensions()) {
            // Decided now: call the service that reported ready. Only a deferred call (below)
            // takes it out and leaves a clone, which for boxed services costs an allocation.
            Evaluation::Done(true) => {
                RequireFuture { state: GuardState::Calling { future: self.inner.call(request) } }
            }
            Evaluation::Done(false) => RequireFuture::rejected(forbidden(&self.require, token, &request)),
            Evaluation::Later(check) => {
                let token = token.clone();
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                RequireFuture {
                    state: GuardState::Checking {
                        check,
                        pending: Some(Box::new(Pending {
                            request,
                            service,
                            token,
                            require: self.require.clone(),
                        })),
                    },
                }
            }
        }
    }
}

struct Pending<S, B> {
    request: Request<B>,
    service: S,
    token: VerifiedToken,
    require: Require,
}

pin_project! {
    /// The response future of [`RequireService`].
    pub struct RequireFuture<S: Service<Request<B>>, B, ResBody> {
        #[pin]
        state: GuardState<S, B, S::Future, ResBody>,
    }
}

pin_project! {
    #[project = GuardStateProjection]
    enum GuardState<S, B, F, ResBody> {
        // Boxed: only asynchronous checks use it; every other future stays small.
        Checking { check: BoxFuture<bool>, pending: Option<Box<Pending<S, B>>> },
        Calling { #[pin] future: F },
        Rejected { response: Option<Response<ResBody>> },
    }
}

impl<S: Service<Request<B>>, B, ResBody> RequireFuture<S, B, ResBody> {
    fn rejected(response: Response<ResBody>) -> Self {
        Self { state: GuardState::Rejected { response: Some(response) } }
    }
}

impl<S, B, ResBody> Future for RequireFuture<S, B, ResBody>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default + 'static,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                GuardStateProjection::Checking { check, pending } => {
                    let satisfied = std::task::ready!(check.as_mut().poll(cx));
                    let Pending { request, mut service, token, require } =
                        *pending.take().expect("RequireFuture polled after completion");
                    if satisfied {
                        let future = service.call(request);
                        state.set(GuardState::Calling { future });
                    } else {
                        return Poll::Ready(Ok(forbidden(&require, &token, &request)));
                    }
                }
                GuardStateProjection::Calling { future } => return future.poll(cx),
                GuardStateProjection::Rejected { response } => {
                    return Poll::Ready(Ok(response.take().expect("RequireFuture polled after completion")));
                }
            }
        }
    }
}

impl<S: Service<Request<B>>, B, ResBody> fmt::Debug for RequireFuture<S, B, ResBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn equals(payload: &str, path: &str, expected: Value) -> bool {
        claim_equals(payload.as_bytes(), &ClaimPath::from(path), &expected)
    }

    #[test]
    fn claim_equals_compares_scalars_arrays_and_objects_at_any_depth() {
        let payload =
            r#"{"sub":"alice","n":3,"f":1.5,"ok":true,"none":null,"org":{"tenant":"acme","ids":[1,2]}}"#;
        assert!(equals(payload, "sub", json!("alice")));
        assert!(!equals(payload, "sub", json!("bob")));
        assert!(equals(payload, "n", json!(3)));
        assert!(!equals(payload, "n", json!("3")));
        assert!(equals(payload, "f", json!(1.5)));
        assert!(!equals(payload, "n", json!(3.0)), "an integer is not a float, as in serde_json");
        assert!(equals(payload, "ok", json!(true)));
        assert!(equals(payload, "none", Value::Null));
        assert!(equals(payload, "org.tenant", json!("acme")));
        assert!(equals(payload, "org.ids", json!([1, 2])));
        assert!(equals(payload, "org", json!({"tenant": "acme", "ids": [1, 2]})));
        assert!(!equals(payload, "org", json!("acme")), "an object is not a scalar");
        assert!(!equals(payload, "missing", Value::Null), "absent is not null");
        assert!(!equals(payload, "sub.deeper", json!("alice")));
    }

    /// A verified token over `payload` (signature and checks skipped: only the payload and
    /// its member index matter here).
    fn token_over(payload: &str) -> VerifiedToken {
        use crate::claims::{TokenFacts, VerifiedHeader};
        use crate::grants::{PathTree, PayloadScan};
        use crate::keys::KeyRef;
        let scan = PayloadScan::read(payload.as_bytes(), &PathTree::default()).unwrap();
        let header = VerifiedHeader { algorithm: jsonwebtoken::Algorithm::HS256, kid: None, typ: None };
        let facts = TokenFacts {
            exp: 0,
            nbf: None,
            leeway: 0,
            key: KeyRef { source: 0, remote: false, fingerprint: 0 },
        };
        let config = crate::JwtAuthConfig::builder().hmac_secret([7u8; 32]).build().unwrap();
        VerifiedToken::new(header, scan.grants, payload.as_bytes().to_vec(), None, facts, config, None)
    }

    #[test]
    fn the_member_index_answers_like_a_full_parse() {
        let payloads = [
            r#"{"sub":"alice","exp":5,"org":{"tenant":"acme","ids":[1,2]},"n":3,"ok":true}"#,
            r#"{"tenant":"acme","tenant":"evil"}"#,
            r#"{"t\u0065nant":"acme","tenant":"evil"}"#,
            r#"{"tenant":"acme","x":{"a":1,"a":2}}"#,
            r#"{"iss":"https://issuer","aud":["a","b"],"tenant":null}"#,
        ];
        let checks = [
            ("sub", json!("alice")),
            ("exp", json!(5)),
            ("org.tenant", json!("acme")),
            ("org.ids", json!([1, 2])),
            ("org.missing", Value::Null),
            ("n", json!(3)),
            ("ok", json!(true)),
            ("tenant", json!("acme")),
            ("tenant", json!("evil")),
            ("tenant", Value::Null),
            ("iss", json!("https://issuer")),
            ("aud", json!(["a", "b"])),
            ("x.a", json!(1)),
            ("absent", Value::Null),
        ];
        for payload in payloads {
            let token = token_over(payload);
            for (path, expected) in &checks {
                let path = ClaimPath::from(*path);
                assert_eq!(
                    claim_equals_in(&token, &path, expected),
                    claim_equals(payload.as_bytes(), &path, expected),
                    "{payload} {path:?} {expected}"
                );
            }
        }
        assert!(claim_equals_in(&token_over(payloads[0]), &ClaimPath::from("org.tenant"), &json!("acme")));
        assert!(!claim_equals_in(&token_over(payloads[1]), &ClaimPath::from("tenant"), &json!("acme")));
        assert!(!claim_equals_in(&token_over(payloads[2]), &ClaimPath::from("tenant"), &json!("evil")));
    }

    #[test]
    fn claim_equals_is_false_when_a_name_repeats_on_the_path_or_inside_the_value() {
        assert!(!equals(r#"{"tenant":"acme","tenant":"evil"}"#, "tenant", json!("acme")));
        assert!(!equals(r#"{"tenant":"evil","tenant":"acme"}"#, "tenant", json!("acme")));
        assert!(!equals(r#"{"org":{"t":1},"org":{"t":2}}"#, "org.t", json!(2)));
        assert!(!equals(r#"{"org":{"a":1,"a":1}}"#, "org", json!({"a": 1})));
        assert!(
            equals(r#"{"x":{"a":1,"a":1},"tenant":"acme"}"#, "tenant", json!("acme")),
            "other claims may repeat inside"
        );
    }
}

//! tonic (feature `tonic`): tonic's `NamedService` for the crate's services, so that one
//! service can be wrapped and registered with `add_service` while the others stay as they
//! are; [`Claims::from_grpc`], the claims of a call in a tonic handler; and the
//! [`JwtAuthInterceptor`]'s verification.
//!
//! ```text
//! tonic::transport::Server::builder()
//!     .add_service(HealthServer::new(health))                       // public
//!     .add_service(JwtAuthLayer::new(config).layer(GreeterServer::new(greeter))) // authenticated
//! ```
//!
//! The `grpc` crate of this repository runs this with a real tonic server and client.

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Uri};
use serde::de::DeserializeOwned;
use tonic::server::NamedService;
use tonic::service::Interceptor;

use crate::claims::{Claims, VerifiedToken, another_claims_type};
use crate::error::{AuthError, ErrorKind};
use crate::expiry::TokenExpiry;
use crate::guard::{MethodPolicyService, Require, RequireService};
use crate::layer::{Admission, JwtAuth, JwtAuthInterceptor, rejected};
use crate::response::{RequestHead, bearer_challenge, uses_dpop_scheme};

impl<S: NamedService, C> NamedService for JwtAuth<S, C> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService> NamedService for RequireService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService> NamedService for TokenExpiry<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService> NamedService for MethodPolicyService<S> {
    const NAME: &'static str = S::NAME;
}

impl<C: DeserializeOwned + Send + Sync + 'static> Interceptor for JwtAuthInterceptor<C> {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let (metadata, mut extensions, message) = request.into_parts();
        let mut headers = metadata.into_headers();
        // tonic keeps `content-type` out of the metadata; it is a gRPC call all the same, so
        // rejections take their gRPC form. An interceptor sees no method path.
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        let (method, uri) = (Method::POST, Uri::from_static("/"));
        let head = RequestHead { method: &method, uri: &uri, headers: &headers };
        // A DPoP proof names the method's URL, which an interceptor never sees: refused before
        // anything is checked or spent (use the layer for DPoP).
        let settings = self.auth.config.settings();
        if settings.dpop.is_some() && uses_dpop_scheme(&headers) {
            tracing::debug!("a DPoP call reached the tonic interceptor, which cannot check proofs");
            let error = rejected(ErrorKind::InvalidProof.into());
            return Err(status_of(
                settings.responder.respond(&error, &head),
                &error,
                settings.responder.realm(),
            ));
        }
        // May fetch, never waits: a fetch it starts runs on the background thread, and this
        // call gets UNAVAILABLE, which clients retry.
        let error = match self.auth.admit(&head, true) {
            Admission::Pass(pass) => {
                pass.apply(&mut extensions);
                return Ok(rebuild(headers, extensions, message));
            }
            Admission::Reject(error) => error,
            Admission::Wait(_fetch) => rejected(ErrorKind::KeysUnavailable.into()),
            // Never reached: DPoP calls were refused above.
            Admission::Spend(..) => rejected(ErrorKind::InvalidProof.into()),
        };
        let responder = &self.auth.config.settings().responder;
        Err(status_of(responder.respond(&error, &head), &error, responder.realm()))
    }
}

/// The status of a rejection the responder answered: read from its gRPC headers, or the
/// default when a custom responder answered in another form.
fn status_of(mut response: http::Response<bytes::Bytes>, error: &AuthError, realm: &str) -> tonic::Status {
    let answer = response.headers_mut();
    // What a status's metadata must not carry; and details that are not base64 would make
    // tonic panic.
    answer.remove(CONTENT_TYPE);
    answer.remove("grpc-status-details-bin");
    tonic::Status::from_header_map(answer).unwrap_or_else(|| default_status(error, realm))
}

impl Require {
    /// Checks this requirement in a tonic handler (feature `tonic`), for a rule on one
    /// method where the [`MethodPolicy`](crate::guard::MethodPolicy) layer cannot run (a
    /// server authenticated by the [`JwtAuthInterceptor`], which sees no method). The answer
    /// is the guard layer's: PERMISSION_DENIED with the fixed sentence and the
    /// `insufficient_scope` challenge as `www-authenticate` metadata; UNAUTHENTICATED
    /// without a verified token. A requirement with an asynchronous predicate cannot be
    /// checked here: INTERNAL, and an error logged.
    ///
    /// ```
    /// use tonic::{Request, Response, Status};
    /// use tower_jwt_auth::{Claims, Require};
    ///
    /// async fn say_hello_admin(request: Request<String>) -> Result<Response<String>, Status> {
    ///     Require::role("admin").check_grpc(&request)?;
    ///     let caller = Claims::<tower_jwt_auth::DefaultClaims>::from_grpc(&request)?;
    ///     Ok(Response::new(format!("Hello, {}", caller.sub.as_deref().unwrap_or("admin"))))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Without the interceptor (or layer) in front: refused, never served.
    /// let status = say_hello_admin(Request::new("world".into())).await.unwrap_err();
    /// assert_eq!(status.code(), tonic::Code::Unauthenticated);
    /// # }
    /// ```
    #[allow(clippy::result_large_err)] // tonic's own handlers return `Status`
    pub fn check_grpc<T>(&self, request: &tonic::Request<T>) -> Result<(), tonic::Status> {
        let Some(token) = request.extensions().get::<VerifiedToken>() else {
            return Err(tonic::Status::unauthenticated(ErrorKind::MissingCredential.description()));
        };
        match self.is_satisfied(token, request.extensions()) {
            Some(true) => Ok(()),
            Some(false) => {
                let error = self.insufficient_scope();
                let mut headers = http::HeaderMap::new();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
                let (method, uri) = (Method::POST, Uri::from_static("/"));
                let head = RequestHead { method: &method, uri: &uri, headers: &headers };
                let responder = token.responder();
                Err(status_of(responder.respond(&error, &head), &error, responder.realm()))
            }
            None => {
                tracing::error!(
                    "Require::check_grpc cannot run an asynchronous predicate; use the guard layer"
                );
                Err(tonic::Status::internal(UNCHECKABLE))
            }
        }
    }
}

/// The request again, with the metadata as it came (without the `content-type` added for
/// the check).
fn rebuild(mut headers: http::HeaderMap, extensions: http::Extensions, message: ()) -> tonic::Request<()> {
    headers.remove(CONTENT_TYPE);
    tonic::Request::from_parts(tonic::metadata::MetadataMap::from_headers(headers), extensions, message)
}

/// The status of a rejection a custom responder answered in a form that is not gRPC's.
fn default_status(error: &AuthError, realm: &str) -> tonic::Status {
    let code = tonic::Code::from(i32::from(error.class().grpc_status()));
    let mut status = tonic::Status::new(code, error.kind().description());
    if let Some(challenge) = bearer_challenge(error, realm)
        && let Ok(value) = tonic::metadata::MetadataValue::try_from(challenge.as_bytes())
    {
        status.metadata_mut().insert("www-authenticate", value);
    }
    status
}

/// The `grpc-message` of a call whose handler asks for another claims type than the layer
/// verified: fixed, and naming nothing of the server (the log line names the types).
const CLAIMS_TYPE_MISMATCH: &str = "The server could not read the caller's claims";

/// The `grpc-message` of a requirement that `Require::check_grpc` cannot decide alone.
const UNCHECKABLE: &str = "The server could not check the caller's permission";

impl<C: Send + Sync + 'static> Claims<C> {
    /// The claims the auth layer verified for this gRPC call, as a tonic handler reads them
    /// (feature `tonic`); the counterpart of axum's `Claims<C>` extractor.
    ///
    /// - Found: a clone of them (cheap: the claims are shared).
    /// - No verified token at all (the service was registered without the layer, or behind
    ///   an optional one and the caller sent none): UNAUTHENTICATED with the fixed message
    ///   of [`ErrorKind::MissingCredential`]. It fails closed.
    /// - A token verified into another claims type than `C` (the layer built with
    ///   `with_claims::<A>()`, or without `with_claims`, and the handler asking for `B`):
    ///   a server misconfiguration, so INTERNAL with a fixed message, and an error logged
    ///   once naming both types, as the axum extractor does.
    ///
    /// ```
    /// use tonic::{Request, Response, Status};
    /// use tower_jwt_auth::Claims;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct User {
    ///     sub: String,
    /// }
    ///
    /// // In a generated service trait's method: `request.extensions()` holds what the layer put.
    /// async fn say_hello(request: Request<String>) -> Result<Response<String>, Status> {
    ///     let user = Claims::<User>::from_grpc(&request)?;
    ///     Ok(Response::new(format!("Hello {}, from {}", request.get_ref(), user.sub)))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Without the layer in front, the call is refused, never served anonymously.
    /// let status = say_hello(Request::new("world".into())).await.unwrap_err();
    /// assert_eq!(status.code(), tonic::Code::Unauthenticated);
    /// # }
    /// ```
    #[allow(clippy::result_large_err)] // tonic's own handlers return `Status`
    pub fn from_grpc<T>(request: &tonic::Request<T>) -> Result<Self, tonic::Status> {
        let extensions = request.extensions();
        if let Some(claims) = extensions.get::<Self>() {
            return Ok(claims.clone());
        }
        if another_claims_type::<C>(extensions) {
            return Err(tonic::Status::internal(CLAIMS_TYPE_MISMATCH));
        }
        Err(tonic::Status::unauthenticated(ErrorKind::MissingCredential.description()))
    }
}

//! tonic (feature `tonic`): tonic's `NamedService` for the crate's services, so that one
//! service can be wrapped and registered with `add_service` while the others stay as they
//! are, and [`Claims::from_grpc`], the claims of a call in a tonic handler.
//!
//! ```text
//! tonic::transport::Server::builder()
//!     .add_service(HealthServer::new(health))                       // public
//!     .add_service(JwtAuthLayer::new(config).layer(GreeterServer::new(greeter))) // authenticated
//! ```
//!
//! The `grpc` crate of this repository runs this with a real tonic server and client.

use tonic::server::NamedService;

use crate::claims::{Claims, another_claims_type};
use crate::error::ErrorKind;
use crate::expiry::TokenExpiry;
use crate::guard::RequireService;
use crate::layer::JwtAuth;

impl<S: NamedService, C> NamedService for JwtAuth<S, C> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService> NamedService for RequireService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService> NamedService for TokenExpiry<S> {
    const NAME: &'static str = S::NAME;
}

/// The `grpc-message` of a call whose handler asks for another claims type than the layer
/// verified: fixed, and naming nothing of the server (the log line names the types).
const CLAIMS_TYPE_MISMATCH: &str = "The server could not read the caller's claims";

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

//! tonic's `NamedService` for the crate's services (feature `tonic`), so that one service
//! can be wrapped and registered with `add_service` while the others stay as they are.
//!
//! ```text
//! tonic::transport::Server::builder()
//!     .add_service(HealthServer::new(health))                       // public
//!     .add_service(JwtAuthLayer::new(config).layer(GreeterServer::new(greeter))) // authenticated
//! ```
//!
//! The `grpc` crate of this repository runs this with a real tonic server and client.

use tonic::server::NamedService;

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

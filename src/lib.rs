//! JWT authentication for every Tower server (Axum, Hyper, Tonic) in one `.layer(...)`.
//!
//! [`JwtAuthLayer`] finds the token (the `Authorization` header, another header, a cookie),
//! verifies it against the configured keys with each key's own algorithm, checks the
//! claims, and inserts the typed [`Claims<C>`] into the request's extensions, or answers
//! with an RFC 6750 rejection (or its gRPC equivalent) without calling your service.
//!
//! # Quickstart
//!
//! ```
//! use axum::{Extension, Router, routing::get};
//! use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer};
//!
//! #[derive(serde::Deserialize)]
//! struct User {
//!     sub: String,
//!     role: String,
//! }
//!
//! // With the `axum` feature (on by default), `user: Claims<User>` is an extractor too.
//! async fn me(Extension(user): Extension<Claims<User>>) -> String {
//!     format!("{} ({})", user.sub, user.role)
//! }
//!
//! # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .issuer("https://auth.example.com")
//!     .audience("orders-api")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/users/me", get(me))
//!     .layer(JwtAuthLayer::new(config).with_claims::<User>());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it brings |
//! |---|---|---|
//! | `aws-lc-rs` | yes | signature checks with aws-lc-rs, keys parsed once at build |
//! | `rust-crypto` | no | the pure-Rust RustCrypto backend instead (used only without `aws-lc-rs`) |
//! | `axum` | yes | `Claims<C>` and `Option<Claims<C>>` as axum extractors, rejections in axum's body type |
//! | `jwks` | yes | [`RemoteJwks`]: remote key sets over https, OIDC discovery, [`JwtAuthConfigBuilder::oidc_issuer`] |
//! | `tonic` | no | (tonic 0.14) rejections in tonic's body type (needed on a tonic server), and tonic's `NamedService` for [`JwtAuth`], [`guard::RequireService`] and [`expiry::TokenExpiry`], to wrap one gRPC service with `add_service` |
//! | `redis` | no | [`revoke::RedisRevocations`]: a revocation list shared between instances through Redis, each keeping a local copy current by pub/sub (`Revocations::builder().redis(client)`) |
//! | `metrics` | no | counters through the `metrics` facade: verifications by outcome, token-cache hits, JWKS fetches |
//!
//! One crypto backend is required; building with neither is a compile error, and with both
//! aws-lc-rs is used.
//!
//! # Hyper and tonic
//!
//! The layer is a plain Tower layer over `http::Request<B>`: a hyper 1 server takes it
//! through hyper-util's `TowerToHyperService`, and a tonic server (with the `tonic` feature)
//! through `Server::builder().layer(...)` (every service) or
//! `add_service(JwtAuthLayer::new(config).layer(GreeterServer::new(greeter)))` (one service).
//! Rejections are written in the wrapped service's body type (see
//! [`response::RejectionBody`]).
//! Handlers read [`Claims<C>`] from `request.extensions()`. gRPC requests get gRPC answers
//! (see [`response::default_response`]), and [`expiry::TokenExpiryLayer`] ends long streams
//! when the token expires. The repository's `examples/hyper_server.rs` and `grpc/` crate run
//! both for real.
//!
//! # Modules
//!
//! The everyday names are at the root; the rest lives in one module per concern, each
//! opening with an example:
//!
//! | module | what it holds |
//! |---|---|
//! | [`layer`] | [`JwtAuthLayer`], its service and future, the token cache's counts |
//! | [`config`] | [`JwtAuthConfig`], its builder, trusted issuers, token sources |
//! | [`claims`] | [`Claims<C>`], [`DefaultClaims`], the verified token and header |
//! | [`guard`] | [`Require`]: roles, scopes, claim values and predicates, as layers |
//! | [`grants`] | where roles and scopes live in a token (Keycloak, Auth0, Entra ID, Okta, Cognito) |
//! | [`keys`] | [`VerifyingKey`]: HMAC secrets, PEM, DER and JWK public keys |
//! | `jwks` | [`RemoteJwks`]: a cached remote key set, OIDC discovery (feature `jwks`) |
//! | [`issue`] | [`TokenIssuer`]: tokens and refresh-token rotation for a login endpoint, JWKS publishing |
//! | [`revoke`] | revocation lists, in memory or shared through Redis |
//! | [`cookie`] | tokens in browser cookies, and the cross-site request check |
//! | [`expiry`] | ending long responses and gRPC streams when their token expires |
//! | [`response`] | RFC 6750 and gRPC rejections, and the parts of a request a responder sees |
//! | [`error`] | [`AuthError`] and [`ErrorKind`] for rejections, [`ConfigError`] for `build()` |
//! | `axum` | the axum extractors' rejection (feature `axum`) |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(clippy::all)]

#[macro_use]
mod macros;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod claims;
pub mod config;
pub mod cookie;
pub mod error;
pub mod expiry;
pub mod grants;
pub mod guard;
pub mod issue;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod jwks;
pub mod keys;
pub mod layer;
pub mod response;
pub mod revoke;

#[cfg(any(feature = "jwks", feature = "redis"))]
mod background;
mod clock;
mod codec;
mod extract;
#[cfg(feature = "tonic")]
mod grpc;
mod observe;
mod payload;
mod rules;
mod verifier;
mod wait;

pub use claims::{Claims, DefaultClaims};
pub use config::{JwtAuthConfig, JwtAuthConfigBuilder, TokenSource};
pub use error::{AuthError, ConfigError, ErrorKind};
pub use guard::Require;
pub use issue::TokenIssuer;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use jwks::RemoteJwks;
pub use keys::Algorithm;
pub use keys::VerifyingKey;
pub use layer::{JwtAuth, JwtAuthLayer};

#[cfg(all(doctest, feature = "axum", feature = "jwks"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

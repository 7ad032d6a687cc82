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
//! | `axum` | yes | `Claims<C>` and `Option<Claims<C>>` as axum extractors, JSON rejection bodies in axum |
//! | `tonic` | no | tonic's `NamedService` for [`JwtAuth`], [`RequireService`] and [`TokenExpiry`], to wrap one gRPC service with `add_service` |
//! | `redis` | no | `RedisRevocations`: a [`Revocations`] list shared between instances through Redis, each keeping a local copy current by pub/sub (`Revocations::builder().redis(client)`) |
//!
//! One crypto backend is required; building with neither is a compile error, and with both
//! aws-lc-rs is used.
//!
//! # Hyper and tonic
//!
//! The layer is a plain Tower layer over `http::Request<B>`: a hyper 1 server takes it
//! through hyper-util's `TowerToHyperService`, and a tonic server through
//! `Server::builder().layer(...)` (every service) or, with the `tonic` feature,
//! `add_service(JwtAuthLayer::new(config).layer(GreeterServer::new(greeter)))` (one service).
//! Handlers read [`Claims<C>`] from `request.extensions()`. gRPC requests get gRPC answers
//! (see [`default_response`]), and [`TokenExpiryLayer`] ends long streams when the token
//! expires. The repository's `examples/hyper_server.rs` and `grpc/` crate run both for real.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(clippy::all)]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(any(feature = "jwks", feature = "redis"))]
mod background;
mod claims;
mod clock;
mod codec;
mod config;
mod cookie;
mod csrf;
mod error;
mod expiry;
mod extract;
mod grants;
mod guard;
mod issue;
#[cfg(feature = "jwks")]
mod jwks;
mod keys;
mod layer;
#[cfg(feature = "tonic")]
mod named_service;
mod observe;
mod payload;
mod response;
mod revoke;
mod rules;
mod verifier;
mod wait;

pub use claims::{Claims, DefaultClaims, VerifiedHeader, VerifiedToken};
pub use config::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_TOKEN_CACHE_CAPACITY, DEFAULT_TOKEN_CACHE_MAX_AGE,
    JwtAuthConfig, JwtAuthConfigBuilder, TrustedIssuer,
};
pub use cookie::{SameSite, TokenCookie};
pub use csrf::CsrfPolicy;
pub use error::{AuthError, ConfigError, ErrorKind, RejectionClass};
pub use expiry::{TokenExpiry, TokenExpiryBody, TokenExpiryFuture, TokenExpiryLayer};
pub use extract::TokenSource;
pub use grants::{ClaimPath, ClaimPreset, Grants};
pub use guard::{Require, RequireFuture, RequireService};
pub use issue::{
    DEFAULT_REFRESH_LIFETIME, DEFAULT_TOKEN_LIFETIME, IssueError, RefreshError, RefreshErrorKind,
    RefreshGrant, TokenIssuer, TokenIssuerBuilder, TokenPair,
};
pub use jsonwebtoken::Algorithm;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use jwks::{
    DEFAULT_FETCH_TIMEOUT, DEFAULT_JWKS_TTL, DEFAULT_JWKS_TTL_BOUNDS, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_STALENESS, DEFAULT_REMOTE_ALGORITHMS, DEFAULT_UNKNOWN_KID_COOLDOWN, JwksError, JwksStatus,
    RemoteJwks, RemoteJwksBuilder,
};
pub use keys::{VerifyingKey, crypto_backend};
pub use layer::{JwtAuth, JwtAuthLayer, ResponseFuture};
pub use response::{RequestHead, bearer_challenge, default_response};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use revoke::RedisRevocations;
pub use revoke::{
    DEFAULT_MAX_TOKEN_LIFETIME, DEFAULT_REVOCATION_CAPACITY, REVOCATION_GRACE, RevocationError,
    RevocationErrorKind, Revocations, RevocationsBuilder,
};
pub use verifier::{MAX_CACHED_TOKEN, TokenCacheStats};

/// The JWK set type published by [`TokenIssuer::jwk_set`].
pub use jsonwebtoken::jwk::JwkSet;

#[cfg(all(doctest, feature = "axum", feature = "jwks"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

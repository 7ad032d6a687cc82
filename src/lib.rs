//! JWT authentication for every Tower server (Axum, Hyper, Tonic) in one `.layer(...)`.
//!
//! [`JwtAuthLayer`] finds the token (the `Authorization` header, another header, a cookie),
//! verifies it against the configured keys with each key's own algorithm, checks the
//! claims, and inserts the typed [`Claims<C>`] into the request's extensions, or answers
//! with an RFC 6750 rejection (or its gRPC equivalent) without calling your service. The
//! same crate issues tokens, rotates refresh tokens, revokes them, and publishes a JWK set,
//! so a login endpoint needs nothing else.
//!
//! # Quickstart
//!
//! ```toml
//! [dependencies]
//! tower-jwt-auth = "0.1"   # default features: aws-lc-rs, axum, jwks
//! axum = "0.8"
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"         # for the claims of tokens you issue
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer};
//!
//! #[derive(serde::Deserialize)]
//! struct User {
//!     sub: String,
//!     role: String,
//! }
//!
//! async fn me(user: Claims<User>) -> String {
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
//!     .route_layer(JwtAuthLayer::new(config).with_claims::<User>());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! A request without a valid token gets `401` with `WWW-Authenticate: Bearer realm="api"`
//! (and `error="invalid_token"` for a bad one); `me` runs only for a token signed with that
//! secret, unexpired, issued by `https://auth.example.com` for `orders-api`. With an identity
//! provider instead of a secret, `.oidc_issuer("https://idp.example.com/realms/main")`
//! discovers and caches its keys.
//!
//! # The guide
//!
//! The [`guide`] holds one page per topic, each with examples that run as tests:
//!
//! - your server: [axum](guide::axum), [hyper](guide::hyper), [tonic and gRPC](guide::tonic);
//! - your keys: [OpenID Connect discovery and remote key sets](guide::remote_keys);
//! - authorization: [roles, scopes, claim values and the identity providers' presets](guide::guards);
//! - the login side: [issuing tokens, refresh tokens and revocation](guide::issuing),
//!   [Redis for several instances](guide::redis), [cookies and CSRF for browsers](guide::cookies);
//! - OAuth clients of today (MCP and others): [protected resource metadata, resource
//!   indicators and DPoP](guide::resource_server);
//! - reference: [the token cache](guide::token_cache), [every setting](guide::configuration),
//!   [every rejection](guide::rejections), [the security choices](guide::security).
//!
//! # Features
//!
//! | feature | default | what it brings |
//! |---|---|---|
//! | `aws-lc-rs` | yes | signature checks with aws-lc-rs, keys parsed once at build |
//! | `rust-crypto` | no | the pure-Rust RustCrypto backend instead (used only without `aws-lc-rs`) |
//! | `axum` | yes | `Claims<C>` and `Option<Claims<C>>` as axum extractors, rejections in axum's body type |
//! | `jwks` | yes | [`RemoteJwks`]: remote key sets over https (reqwest with rustls), OIDC discovery, [`JwtAuthConfigBuilder::oidc_issuer`]; client-credentials tokens for outgoing calls ([`client`]) |
//! | `tonic` | no | (tonic 0.14) rejections in tonic's body type (needed on a tonic server), tonic's `NamedService` for the crate's services (to wrap one gRPC service with `add_service`), `Claims::from_grpc` and `Require::check_grpc` for handlers, `JwtAuthLayer::interceptor`, and the client's `AccessToken::interceptor` |
//! | `redis` | no | [`revoke::RedisRevocations`]: a revocation list shared between instances through Redis, each keeping a local copy current by pub/sub (`Revocations::builder().redis(client)`) |
//! | `metrics` | no | counters through the `metrics` facade: verifications by outcome, token-cache hits, JWKS fetches |
//!
//! One crypto backend is required; building with neither is a compile error, and with both
//! aws-lc-rs is used. Hyper and tonic servers can leave out `axum`:
//! `default-features = false, features = ["aws-lc-rs", "jwks"]` (plus `tonic`; leave out
//! `jwks` too when every key is static, and no HTTP client is built in).
//!
//! # Modules
//!
//! The everyday names are at the root; the rest lives in one module per concern:
//!
//! | module | what it holds |
//! |---|---|
//! | [`layer`] | [`JwtAuthLayer`], its service and future, the token cache's counts, the tonic interceptor |
//! | [`config`] | [`JwtAuthConfig`], its builder, trusted issuers, token sources |
//! | [`claims`] | [`Claims<C>`], [`DefaultClaims`], the verified token and header |
//! | [`client`] | tokens on outgoing calls: a service's own token kept current, and the layer that sends it |
//! | [`guard`] | [`Require`]: roles, scopes, claim values and predicates, as layers; [`guard::MethodPolicy`]: a rule per gRPC method or HTTP path |
//! | [`grants`] | where roles and scopes live in a token (Keycloak, Auth0, Entra ID, Okta, Cognito) |
//! | [`keys`] | [`VerifyingKey`] and [`Algorithm`]: HMAC secrets, PEM, DER and JWK public keys |
//! | `jwks` | [`RemoteJwks`]: a cached remote key set, OIDC discovery (feature `jwks`) |
//! | [`issue`] | [`TokenIssuer`]: tokens and refresh-token rotation for a login endpoint, JWKS publishing |
//! | [`revoke`] | revocation lists, in memory or shared through Redis |
//! | [`cookie`] | tokens in browser cookies, and the cross-site request check |
//! | [`resource`] | this server as an OAuth protected resource: its identifier as audience (RFC 8707), its metadata document (RFC 9728) |
//! | [`dpop`] | DPoP-bound tokens and their proofs (RFC 9449) |
//! | [`expiry`] | ending long responses and gRPC streams when their token expires |
//! | [`response`] | RFC 6750 and gRPC rejections, and the parts of a request a responder sees |
//! | [`error`] | [`AuthError`] and [`ErrorKind`] for rejections, [`ConfigError`] for `build()` |
//! | `axum` | the axum extractors' rejection (feature `axum`) |
//! | [`guide`] | the manual: one page per topic |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(clippy::all)]

#[macro_use]
mod macros;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod claims;
pub mod client;
pub mod config;
pub mod cookie;
pub mod dpop;
pub mod error;
pub mod expiry;
pub mod grants;
pub mod guard;
pub mod guide;
pub mod issue;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod jwks;
pub mod keys;
pub mod layer;
pub mod resource;
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
mod url;
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

//! The manual: one page per topic, each with examples that compile and run as tests.
//!
//! Start with the page for your server, then the ones for what you add:
//!
//! | page | read it for |
//! |---|---|
//! | [`axum`] | the layer on an axum router, the extractors, `layer` versus `route_layer`, optional routes |
//! | [`hyper`] | a plain hyper 1 server, no axum anywhere; server-sent events that end with their token |
//! | [`tonic`] | gRPC servers: real gRPC status codes, one service or all, reading the claims in a handler, a rule per method, the interceptor, streams; a client sending its own token |
//! | [`remote_keys`] | OpenID Connect discovery, a cached remote JWK set, several issuers, metrics |
//! | [`guards`] | roles, scopes and claim values as layers; where Keycloak, Auth0, Entra ID, Okta and Cognito put them |
//! | [`issuing`] | a login endpoint: signing tokens, publishing a JWK set, refresh tokens that rotate, logout, revocation |
//! | [`cookies`] | tokens in `HttpOnly` cookies for browsers, and the cross-site request check |
//! | [`redis`] | one revocation list shared by every instance through Redis |
//! | [`resource_server`] | what MCP and other OAuth clients of today expect: protected resource metadata (RFC 9728), the resource as audience (RFC 8707), DPoP-bound tokens (RFC 9449) |
//! | [`token_cache`] | the verified-token cache: what a repeated token skips, and why it is safe |
//! | [`configuration`] | every setting, its default, and what `build()` refuses |
//! | [`rejections`] | every answer the layer gives instead of calling your service, and how to shape your own |
//! | [`security`] | the choices that make the layer hard to misuse, and what stays your job |
//!
//! The pages hold no items: they are modules for their documentation alone. The pages on
//! axum, tonic, remote keys and Redis come with their features (all on, on docs.rs); the
//! others' examples use axum, a default feature.

#[doc = include_str!("axum.md")]
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum {}

#[doc = include_str!("hyper.md")]
pub mod hyper {}

#[doc = include_str!("tonic.md")]
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic {}

#[doc = include_str!("remote_keys.md")]
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod remote_keys {}

#[doc = include_str!("guards.md")]
pub mod guards {}

#[doc = include_str!("issuing.md")]
pub mod issuing {}

#[doc = include_str!("cookies.md")]
pub mod cookies {}

#[doc = include_str!("redis.md")]
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis {}

#[doc = include_str!("resource_server.md")]
pub mod resource_server {}

#[doc = include_str!("token_cache.md")]
pub mod token_cache {}

#[doc = include_str!("configuration.md")]
pub mod configuration {}

#[doc = include_str!("rejections.md")]
pub mod rejections {}

#[doc = include_str!("security.md")]
pub mod security {}

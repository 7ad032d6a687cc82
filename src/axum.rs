//! Axum extractors (feature `axum`): [`Claims<C>`] and `Option<Claims<C>>`.
//!
//! `Claims<C>` answers 401 when the layer did not run or found no credential (optional
//! mode); `Option<Claims<C>>` never rejects. The type `C` must be the one the layer was
//! built with ([`JwtAuthLayer::with_claims`](crate::JwtAuthLayer::with_claims)).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer};
//!
//! async fn me(claims: Claims) -> String {
//!     format!("hello {}", claims.sub.as_deref().unwrap_or("?"))
//! }
//!
//! async fn home(claims: Option<Claims>) -> &'static str {
//!     if claims.is_some() { "welcome back" } else { "welcome" }
//! }
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .build()
//!     .unwrap();
//! let app: Router = Router::new()
//!     .route("/users/me", get(me))
//!     .route("/", get(home))
//!     .layer(JwtAuthLayer::new(config).optional());
//! # let _ = app;
//! ```

use std::convert::Infallible;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};

use crate::claims::Claims;
use crate::error::ErrorKind;

/// The rejection of the [`Claims`] extractor: 401 with `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MissingClaims;

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": "unauthorized",
            "error_description": ErrorKind::MissingCredential.description(),
        });
        let mut response = (StatusCode::UNAUTHORIZED, body.to_string()).into_response();
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Claims<C>>().cloned().ok_or(MissingClaims)
    }
}

impl<S, C> OptionalFromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims<C>>().cloned())
    }
}

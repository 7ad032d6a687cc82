//! Axum extractors (feature `axum`): [`Claims<C>`] and `Option<Claims<C>>`.
//!
//! `Claims<C>` answers 401 when the layer did not run or found no credential (optional
//! mode), as the layer would ([`MissingClaims`]); `Option<Claims<C>>` never rejects. The
//! type `C` must be the one the layer was built with
//! ([`JwtAuthLayer::with_claims`](crate::JwtAuthLayer::with_claims)): when the layer
//! verified the token for another type, `Claims<C>` answers 500 and both extractors log
//! an error naming `C` (a programming error, not the caller's).
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
use http::request::Parts;

use crate::claims::{Claims, another_claims_type};
use crate::response::{RequestHead, missing_credential};

/// The rejection of the [`Claims`] extractor: the 401 the layer answers to a request
/// without a credential. Behind an optional layer it is that layer's (its realm, its
/// responder); without any layer, the default (`realm="api"`). gRPC requests get
/// `grpc-status` 16. A 500 with an empty body when the layer verified the token for
/// another claims type (see the [module](self) docs).
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// async fn me(claims: Claims) -> String {
///     claims.sub.clone().unwrap_or_default()
/// }
///
/// // No layer in front of the route: the extractor answers the layer's default 401.
/// let bare: Router = Router::new().route("/users/me", get(me));
/// let response = bare.oneshot(Request::get("/users/me").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"api\"");
///
/// // Behind an optional layer, a request without a token gets that layer's 401 (its realm).
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .realm("orders")
///     .build()?;
/// let app: Router = Router::new().route("/users/me", get(me)).layer(JwtAuthLayer::new(config).optional());
/// let response = app.oneshot(Request::get("/users/me").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"orders\"");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MissingClaims {
    response: http::Response<bytes::Bytes>,
}

impl MissingClaims {
    fn for_request<C: 'static>(parts: &Parts) -> Self {
        if another_claims_type::<C>(&parts.extensions) {
            let mut response = http::Response::new(bytes::Bytes::new());
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            response
                .headers_mut()
                .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
            return Self { response };
        }
        let head = RequestHead { method: &parts.method, uri: &parts.uri, headers: &parts.headers };
        Self { response: missing_credential(&parts.extensions, &head) }
    }
}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        self.response.map(axum_core::body::Body::from)
    }
}

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = MissingClaims;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Claims<C>>().cloned().ok_or_else(|| MissingClaims::for_request::<C>(parts))
    }
}

impl<S, C> OptionalFromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: Send + Sync + 'static,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let claims = parts.extensions.get::<Claims<C>>().cloned();
        if claims.is_none() {
            another_claims_type::<C>(&parts.extensions);
        }
        Ok(claims)
    }
}

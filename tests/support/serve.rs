//! Real servers for the test crates: an axum router served on a free port of 127.0.0.1,
//! and the small service the revocation tests run behind the layer.
//!
//! Included by path from each test crate that needs it:
//!
//! ```ignore
//! #[path = "support/serve.rs"]
//! mod serve;
//! ```

#![allow(dead_code)]

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_jwt_auth::{Claims, JwtAuthLayer, TokenIssuer, revoke::Revocations};

/// Serves `router` on a free port of 127.0.0.1; its base URL (`http://127.0.0.1:<port>`).
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// `/me` answers the caller's `sub`; `/logout` revokes the caller's token and session
/// through `issuer` (204, or 503 when the revocation could not be stored); both behind
/// `layer`.
pub fn me_and_logout(layer: JwtAuthLayer, issuer: TokenIssuer, revocations: Revocations) -> Router {
    Router::new()
        .route(
            "/me",
            get(|Extension(claims): Extension<Claims>| async move { claims.sub.clone().unwrap_or_default() }),
        )
        .route(
            "/logout",
            post(move |Extension(claims): Extension<Claims>| async move {
                match issuer.logout(claims.token(), &revocations).await {
                    Ok(()) => StatusCode::NO_CONTENT,
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
                }
            }),
        )
        .layer(layer)
}

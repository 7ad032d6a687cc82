//! An axum API protected by any OpenID provider (Keycloak, Auth0, Entra ID, Okta, Cognito,
//! Google, or the test provider in `tests/idp/`), found by OIDC discovery.
//!
//! ```text
//! OIDC_ISSUER=https://idp.example.com/realms/main OIDC_AUDIENCE=orders-api \
//!     cargo run --example oidc
//! ```
//!
//! | route | access | answer |
//! |---|---|---|
//! | `GET /me` | a valid access token from the issuer | the verified claims as JSON |
//! | `GET /health` | public | the key set's readiness: 200 when keys are cached, else 503 |
//!
//! Environment:
//!
//! - `OIDC_ISSUER` (required): the issuer URL, exactly as the provider's tokens carry it in
//!   `iss`; discovery reads `{OIDC_ISSUER}/.well-known/openid-configuration`. It must use
//!   https, except for a loopback issuer (`http://127.0.0.1:...`, `http://localhost:...`).
//! - `OIDC_AUDIENCE` (required): the audience your API expects in `aud`.
//! - `PORT`: the port on 127.0.0.1 (default 3000).
//!
//! Keys are fetched at start in the background and cached; the server starts even when the
//! provider is down (requests then get 503 until the keys arrive).
//!
//! DPoP-bound tokens (RFC 9449) are accepted too, as `Authorization: DPoP <token>` with a
//! proof each request; bearer tokens as before. The MCP example (`mcp/`) shows protected
//! resource metadata as well.

mod common;

use std::env;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_jwt_auth::{Claims, DefaultClaims, JwtAuthConfig, JwtAuthLayer, RemoteJwks, dpop::DpopPolicy};

const DEFAULT_PORT: u16 = 3000;

#[tokio::main]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("oidc: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let issuer = required("OIDC_ISSUER")?;
    let audience = required("OIDC_AUDIENCE")?;
    let port = common::port(DEFAULT_PORT)?;
    let keys = RemoteJwks::discover(&issuer)
        .allow_http(is_loopback(&issuer))
        .prefetch(true)
        .build()
        .map_err(|error| format!("OIDC_ISSUER: {error}"))?;
    let config = JwtAuthConfig::builder()
        .remote_jwks(keys.clone())
        .issuer(&issuer)
        .audience(&audience)
        .dpop(DpopPolicy::allowed())
        .build()
        .map_err(|error| format!("cannot build the JWT configuration: {error}"))?;
    let app = Router::new()
        .route("/me", get(me))
        .route_layer(JwtAuthLayer::new(config))
        .route("/health", get(health))
        .with_state(keys);
    let address = format!("127.0.0.1:{port}");
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    let port = listener.local_addr().map_or(port, |bound| bound.port());
    println!("Listening on http://127.0.0.1:{port}, trusting {issuer} for audience {audience}.");
    println!("  curl -s http://127.0.0.1:{port}/health");
    println!("  curl -s -H \"Authorization: Bearer $ACCESS_TOKEN\" http://127.0.0.1:{port}/me");
    axum::serve(listener, app).await.map_err(|error| format!("server error: {error}"))
}

fn required(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("{name} must be set (see the example's documentation)"))
}

/// Plain http is accepted for a loopback issuer only.
fn is_loopback(issuer: &str) -> bool {
    let Some(rest) = issuer.strip_prefix("http://") else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The verified claims, whole.
async fn me(claims: Claims<DefaultClaims>) -> Json<Value> {
    let payload: Value = serde_json::from_slice(claims.token().payload()).unwrap_or(Value::Null);
    Json(payload)
}

/// Readiness: keys cached (200) or not (503), with the set's age and fetch failures.
async fn health(State(keys): State<RemoteJwks>) -> impl IntoResponse {
    let status = keys.status();
    let code = if status.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "ready": status.ready,
        "keys": status.keys,
        "age_seconds": status.age.map(|age| age.as_secs()),
        "stale": status.stale,
        "consecutive_failures": status.consecutive_failures,
        "last_error": status.last_error.map(|error| error.to_string()),
    });
    (code, Json(body))
}

//! The layer on a plain hyper 1 server, through hyper-util's Tower adapter: no axum, no
//! router crate, just `http::Request` in and `http::Response` out.
//!
//! ```text
//! cargo run --example hyper_server
//! ```
//!
//! | route | access | answer |
//! |---|---|---|
//! | `GET /users/me` | any valid token | `{"username", "role"}` |
//! | `GET /admin` | role `admin` | 403 `insufficient_scope` for other roles |
//! | `GET /events` | any valid token | server-sent events, one a second, ending when the token expires |
//! | anything else | public | 404 |
//!
//! Rejections are the crate's RFC 6750 answers: 401 with a `WWW-Authenticate` challenge and
//! a JSON body, 403 naming the missing role. The server prints two tokens to try (alice is
//! `admin`, bob is `user`) and the `curl` commands that use them.
//!
//! Environment, as for the quickstart example (read by `examples/common`):
//!
//! - `PORT`: the port on 127.0.0.1 (default 3000).
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. Unset, a random one is made at
//!   start.
//! - `JWT_ISSUER`: the `iss` required, and that of the printed tokens (default `quickstart`).
//! - `JWT_AUDIENCE`: the `aud` required, and that of the printed tokens (default
//!   `quickstart-api`).
//!
//! Any HS256 token signed with that secret, carrying `sub`, `role`, `exp` and the configured
//! `iss` and `aud`, is accepted, whoever minted it (the quickstart's `/token`, PyJWT, ...).

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_jwt_auth::{Claims, JwtAuthLayer, Require, expiry::TokenExpiryLayer};

use common::Settings;

const DEFAULT_PORT: u16 = 3000;
const REALM: &str = "hyper-server";

/// The claims the handlers read from a verified token.
#[derive(Debug, Deserialize)]
struct User {
    sub: String,
    role: String,
}

/// The body every route answers with. Each route's own stack keeps its concrete body, so
/// that the layer's rejections carry their JSON where the body can hold it.
type Body = UnsyncBoxBody<Bytes, Infallible>;

#[tokio::main]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("hyper_server: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env(DEFAULT_PORT)?;
    let config = settings
        .auth_config()
        .realm(REALM)
        .build()
        .map_err(|error| format!("cannot build the JWT configuration: {error}"))?;

    // One stack per route, like a router's per-route layers. `Require` sits inside the auth
    // layer (it reads what that verified); `TokenExpiryLayer` ends the event stream when the
    // caller's token expires.
    let auth = JwtAuthLayer::new(config).with_claims::<User>();
    let me = ServiceBuilder::new().layer(auth.clone()).service_fn(me);
    let admin = ServiceBuilder::new().layer(auth.clone()).layer(Require::role("admin")).service_fn(admin);
    let events = ServiceBuilder::new().layer(auth).layer(TokenExpiryLayer::new()).service_fn(events);
    let app = service_fn(move |request: Request<Incoming>| {
        let (me, admin, events) = (me.clone(), admin.clone(), events.clone());
        async move {
            let response = match request.uri().path() {
                "/users/me" => me.oneshot(request).await?.map(BodyExt::boxed_unsync),
                "/admin" => admin.oneshot(request).await?.map(BodyExt::boxed_unsync),
                "/events" => events.oneshot(request).await?.map(BodyExt::boxed_unsync),
                _ => not_found(),
            };
            Ok::<_, Infallible>(response)
        }
    });

    let address = SocketAddr::from(([127, 0, 0, 1], settings.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    print_usage(listener.local_addr().unwrap_or(address), &settings)?;
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new();
            if let Err(error) = connection.serve_connection(TokioIo::new(stream), service).await {
                eprintln!("connection error: {error}");
            }
        });
    }
}

// ---- handlers: the claims come from the request's extensions ----

fn caller(request: &Request<Incoming>) -> &Claims<User> {
    request.extensions().get::<Claims<User>>().expect("the auth layer rejects requests without claims")
}

fn json_response(value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    response.headers_mut().insert(CONTENT_TYPE, "application/json".parse().expect("a valid header"));
    response
}

async fn me(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let user = caller(&request);
    Ok(json_response(json!({"username": user.sub, "role": user.role})))
}

/// Only reached with role `admin`: the guard answered everyone else.
async fn admin(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let user = caller(&request);
    Ok(json_response(json!({"message": format!("Welcome to the admin area, {}", user.sub)})))
}

/// One event a second, for as long as the token lives.
async fn events(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let user = caller(&request).sub.clone();
    let ticks = futures_util::stream::unfold(0u64, move |count| {
        let user = user.clone();
        async move {
            if count > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let event = format!("data: {}\n\n", json!({"user": user, "tick": count}));
            Some((Ok(Frame::data(Bytes::from(event))), count + 1))
        }
    });
    let mut response = Response::new(StreamBody::new(ticks).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, "text/event-stream".parse().expect("a valid header"));
    headers.insert(CACHE_CONTROL, "no-cache".parse().expect("a valid header"));
    Ok(response)
}

fn not_found() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")).boxed_unsync());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

// ---- configuration ----

/// Prints demo tokens for alice (admin) and bob (user) and the commands that use them.
fn print_usage(address: SocketAddr, settings: &Settings) -> Result<(), String> {
    let (alice, bob) = settings.demo_tokens()?;
    let base = format!("http://{address}");
    println!("Listening on {base}. Demo tokens, valid for one hour:");
    println!();
    println!("  ALICE={alice}");
    println!("  BOB={bob}");
    println!();
    println!("Try:");
    println!();
    println!("  curl -s -H \"Authorization: Bearer $ALICE\" {base}/users/me");
    println!("  curl -s -H \"Authorization: Bearer $BOB\" {base}/admin");
    println!("  curl -sN -H \"Authorization: Bearer $ALICE\" {base}/events");
    println!("  curl -si {base}/users/me");
    println!();
    println!("bob gets 403 from /admin; without a token every route but 404s answers 401.");
    Ok(())
}

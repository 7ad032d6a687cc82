//! `helloworld.Greeter` on a tonic server, behind [`JwtAuthLayer`], a method policy and
//! [`TokenExpiryLayer`].
//!
//! ```text
//! cargo run -p tower-jwt-auth-grpc --example tonic_server
//! ```
//!
//! | method | access | answer |
//! |---|---|---|
//! | `helloworld.Greeter/SayHello` | any valid token | one greeting |
//! | `helloworld.Greeter/SayHelloStream` | any valid token | `count` greetings, one a second, ended with UNAUTHENTICATED if the token expires first |
//! | `helloworld.Greeter/SayHelloAdmin` | role `admin` | PERMISSION_DENIED for other roles |
//! | `grpc.health.v1.Health/Check` | public | `SERVING` |
//!
//! Without a valid token a call gets UNAUTHENTICATED (16) with a fixed message such as
//! `Authentication is required` or `The access token expired`, from any gRPC client.
//! The server prints two tokens to try (alice is `admin`, bob is `user`) and the `grpcurl`
//! commands that use them.
//!
//! Environment, as for the quickstart example (read by `examples/common`):
//!
//! - `PORT`: the port on 127.0.0.1 (default 50051).
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. Unset, a random one is made at
//!   start.
//! - `JWT_ISSUER`: the `iss` required, and that of the printed tokens (default `quickstart`).
//! - `JWT_AUDIENCE`: the `aud` required, and that of the printed tokens (default
//!   `quickstart-api`).
//!
//! Any HS256 token signed with that secret, carrying `sub`, `role`, `exp` and the configured
//! `iss` and `aud`, is accepted, whoever minted it (the quickstart's `/token`, PyJWT, ...).

#[path = "../../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;

use tonic::transport::Server;
use tower::ServiceBuilder;
use tower_jwt_auth::{JwtAuthLayer, expiry::TokenExpiryLayer};
use tower_jwt_auth_grpc::proto::greeter_server::GreeterServer;
use tower_jwt_auth_grpc::{Greeter, method_policy};

use common::Settings;

const DEFAULT_PORT: u16 = 50051;
const REALM: &str = "tonic-server";

#[tokio::main]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("tonic_server: {message}");
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

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<GreeterServer<Greeter>>().await;

    // One table for the whole server (`method_policy`): health checks public (load
    // balancers probe them without a token), SayHello for any valid token, SayHelloAdmin for
    // role admin, anything else refused. The auth layer is optional so that public methods
    // need no token; a token that is sent must still be valid. Handlers read the caller with
    // `Claims::<User>::from_grpc(&request)`; streams end when the caller's token expires.
    let auth = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(config).with_claims::<tower_jwt_auth_grpc::User>().optional())
        .layer(method_policy())
        .layer(TokenExpiryLayer::new())
        .into_inner();

    let address = SocketAddr::from(([127, 0, 0, 1], settings.port));
    let incoming = tonic::transport::server::TcpIncoming::bind(address)
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    let bound = incoming.local_addr().unwrap_or(address);
    print_usage(bound, &settings)?;
    Server::builder()
        .layer(auth)
        .add_service(health)
        .add_service(GreeterServer::new(Greeter::new()))
        .serve_with_incoming(incoming)
        .await
        .map_err(|error| format!("server error: {error}"))
}

/// Prints demo tokens for alice (admin) and bob (user) and the commands that use them.
fn print_usage(address: SocketAddr, settings: &Settings) -> Result<(), String> {
    let (alice, bob) = settings.demo_tokens()?;
    let grpcurl = "grpcurl -plaintext -import-path grpc/proto -proto helloworld.proto";
    println!("Listening on {address} (gRPC, plaintext). Demo tokens, valid for one hour:");
    println!();
    println!("  ALICE={alice}");
    println!("  BOB={bob}");
    println!();
    println!("Try, from the repository root:");
    println!();
    println!(
        "  {grpcurl} -H \"authorization: Bearer $ALICE\" -d '{{\"name\": \"world\"}}' {address} helloworld.Greeter/SayHello"
    );
    println!(
        "  {grpcurl} -H \"authorization: Bearer $ALICE\" -d '{{\"name\": \"world\", \"count\": 5}}' {address} helloworld.Greeter/SayHelloStream"
    );
    println!(
        "  {grpcurl} -H \"authorization: Bearer $BOB\" -d '{{\"name\": \"world\"}}' {address} helloworld.Greeter/SayHelloAdmin"
    );
    println!("  {grpcurl} -d '{{\"name\": \"world\"}}' {address} helloworld.Greeter/SayHello");
    println!();
    println!("bob gets PERMISSION_DENIED from SayHelloAdmin; without a token every call is UNAUTHENTICATED.");
    Ok(())
}

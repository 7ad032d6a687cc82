//! `helloworld.Greeter` on a tonic server, behind [`JwtAuthLayer`] and [`TokenExpiryLayer`].
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
//! Environment, as for the quickstart example:
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

use std::env;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::Server;
use tower::ServiceBuilder;
use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, TokenIssuer, expiry::TokenExpiryLayer};
use tower_jwt_auth_grpc::Greeter;
use tower_jwt_auth_grpc::proto::greeter_server::GreeterServer;

const DEFAULT_PORT: u16 = 50051;
const DEFAULT_ISSUER: &str = "quickstart";
const DEFAULT_AUDIENCE: &str = "quickstart-api";
const MIN_SECRET_BYTES: usize = 32;
const REALM: &str = "tonic-server";
/// How long the printed demo tokens live.
const DEMO_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// What the environment configures.
struct Settings {
    port: u16,
    secret: Vec<u8>,
    issuer: String,
    audience: String,
}

#[tokio::main]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("tonic_server: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let settings = settings()?;
    let config = JwtAuthConfig::builder()
        .hmac_secret(&settings.secret)
        .issuer(&settings.issuer)
        .audience(&settings.audience)
        .realm(REALM)
        .build()
        .map_err(|error| format!("cannot build the JWT configuration: {error}"))?;

    // Health checks stay public: load balancers probe them without a token.
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<GreeterServer<Greeter>>().await;

    // Only the greeter is authenticated (this needs tower-jwt-auth's `tonic` feature, for
    // `NamedService`). For every service at once: `Server::builder().layer(JwtAuthLayer...)`.
    // Handlers read `request.extensions().get::<Claims<User>>()`; streams end when the
    // caller's token expires.
    let greeter = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(config).with_claims::<tower_jwt_auth_grpc::User>())
        .layer(TokenExpiryLayer::new())
        .service(GreeterServer::new(Greeter::new()));

    let address = SocketAddr::from(([127, 0, 0, 1], settings.port));
    let incoming = tonic::transport::server::TcpIncoming::bind(address)
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    let bound = incoming.local_addr().unwrap_or(address);
    print_usage(bound, &settings)?;
    Server::builder()
        .add_service(health)
        .add_service(greeter)
        .serve_with_incoming(incoming)
        .await
        .map_err(|error| format!("server error: {error}"))
}

fn settings() -> Result<Settings, String> {
    Ok(Settings {
        port: port()?,
        secret: signing_secret()?,
        issuer: env_or("JWT_ISSUER", DEFAULT_ISSUER)?,
        audience: env_or("JWT_AUDIENCE", DEFAULT_AUDIENCE)?,
    })
}

fn env_or(name: &str, default: &str) -> Result<String, String> {
    match env::var(name) {
        Ok(value) => Ok(value),
        Err(env::VarError::NotPresent) => Ok(default.to_owned()),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

fn port() -> Result<u16, String> {
    match env::var("PORT") {
        Err(env::VarError::NotPresent) => Ok(DEFAULT_PORT),
        Ok(text) => text.parse().map_err(|_| format!("PORT must be a number from 0 to 65535, not {text:?}")),
        Err(env::VarError::NotUnicode(_)) => Err("PORT is not valid UTF-8".to_owned()),
    }
}

fn signing_secret() -> Result<Vec<u8>, String> {
    match env::var("JWT_SECRET") {
        Ok(secret) if secret.len() >= MIN_SECRET_BYTES => Ok(secret.into_bytes()),
        Ok(secret) => Err(format!(
            "JWT_SECRET is {} bytes long; an HS256 secret must be at least {MIN_SECRET_BYTES} bytes \
             (try: export JWT_SECRET=$(openssl rand -hex 32))",
            secret.len()
        )),
        Err(env::VarError::NotPresent) => {
            println!("JWT_SECRET is not set: using a random {MIN_SECRET_BYTES}-byte secret.");
            let mut secret = vec![0u8; MIN_SECRET_BYTES];
            getrandom::fill(&mut secret).map_err(|error| format!("no randomness for a secret: {error}"))?;
            Ok(secret)
        }
        Err(env::VarError::NotUnicode(_)) => Err("JWT_SECRET is not valid UTF-8".to_owned()),
    }
}

/// Prints demo tokens for alice (admin) and bob (user) and the commands that use them.
fn print_usage(address: SocketAddr, settings: &Settings) -> Result<(), String> {
    let issuer = TokenIssuer::builder()
        .hmac_secret(settings.secret.clone())
        .issuer(&settings.issuer)
        .audience(&settings.audience)
        .lifetime(DEMO_TOKEN_LIFETIME)
        .build()
        .map_err(|error| format!("cannot build the token issuer: {error}"))?;
    let token = |sub: &str, role: &str| {
        issuer
            .issue(&serde_json::json!({"sub": sub, "role": role}))
            .map_err(|error| format!("cannot issue a demo token: {error}"))
    };
    let (alice, bob) = (token("alice", "admin")?, token("bob", "user")?);
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

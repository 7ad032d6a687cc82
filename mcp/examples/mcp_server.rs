//! An MCP server whose tools need a token from your OpenID provider.
//!
//! ```text
//! ISSUER=https://idp.example.com PUBLIC_URL=https://mcp.example.com \
//!     cargo run -p tower-jwt-auth-mcp --example mcp_server
//! ```
//!
//! - `ISSUER`: the authorization server (OpenID Connect discovery; plain http only on
//!   loopback hosts). It must issue tokens whose `aud` is the resource, `PUBLIC_URL/mcp`,
//!   when a client asks with `resource=PUBLIC_URL/mcp` (RFC 8707).
//! - `PUBLIC_URL`: how clients reach this server (default `http://127.0.0.1:8080`); it
//!   listens on `LISTEN` (default `127.0.0.1:8080`).
//!
//! A client (say the MCP TypeScript SDK with its client-credentials provider) pointed at
//! `PUBLIC_URL/mcp` gets 401 with `resource_metadata=...`, reads the metadata, finds the
//! issuer there, gets a token for the resource, and calls the `whoami` tool. DPoP-bound
//! tokens are accepted too, with their proofs.

use tower_jwt_auth::{JwtAuthConfig, dpop::DpopPolicy, resource::ProtectedResource};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("ISSUER").map_err(|_| "set ISSUER to your OpenID provider's issuer URL")?;
    let public = std::env::var("PUBLIC_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let config = JwtAuthConfig::builder()
        .oidc_issuer(&issuer)
        .protected_resource(ProtectedResource::new(format!("{public}/mcp")).resource_name("whoami over MCP"))
        .dpop(DpopPolicy::allowed())
        .build()?;
    let host = public
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let app = tower_jwt_auth_mcp::app(config, &[host.as_str(), "127.0.0.1", "localhost"]);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("MCP server at {public}/mcp (metadata at {public}/.well-known/oauth-protected-resource/mcp)");
    axum::serve(listener, app).await?;
    Ok(())
}

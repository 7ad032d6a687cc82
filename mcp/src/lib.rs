//! An MCP server behind tower-jwt-auth: rmcp's streamable HTTP transport on axum, with one
//! `whoami` tool, protected by [`JwtAuthLayer`] and publishing its protected resource
//! metadata (RFC 9728), which is where an MCP client's authorization starts.
//!
//! `examples/mcp_server.rs` runs it against an OpenID provider; `tests/mcp.rs` drives it with
//! the official TypeScript SDK's client (client credentials) against the npm `oidc-provider`.

use axum::Router;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer};

/// The server's tools.
#[derive(Clone)]
pub struct Tools {
    tool_router: ToolRouter<Self>,
}

impl Default for Tools {
    fn default() -> Self {
        Self { tool_router: Self::tool_router() }
    }
}

#[tool_router]
impl Tools {
    /// Who is calling: the verified token's subject and scopes. rmcp hands a tool the HTTP
    /// request's parts, where the layer put the claims.
    #[tool(description = "Who is calling: the access token's subject and scopes")]
    async fn whoami(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        match parts.extensions.get::<Claims>() {
            Some(claims) => {
                let scopes: Vec<&str> = claims.grants().scopes().collect();
                format!("{} ({})", claims.sub.as_deref().unwrap_or("?"), scopes.join(" "))
            }
            // Never reached behind the layer: it answers 401 first.
            None => "nobody".to_owned(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The app: `/mcp` behind the layer, the metadata document beside it (public, at both
/// well-known paths). `config` must name a
/// [`protected_resource`](tower_jwt_auth::JwtAuthConfigBuilder::protected_resource): the
/// URL clients use for `/mcp`.
///
/// The MCP transport is stateless (no MCP sessions): every request carries its token and is
/// authenticated on its own, so no session can be taken over with another caller's token.
pub fn app(config: JwtAuthConfig, allowed_hosts: &[&str]) -> Router {
    let metadata = config.resource_metadata().expect("the configuration names a protected resource");
    let transport = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(allowed_hosts.iter().copied());
    let mcp =
        StreamableHttpService::new(|| Ok(Tools::default()), LocalSessionManager::default().into(), transport);
    let mut app = Router::new().nest_service("/mcp", mcp).route_layer(JwtAuthLayer::new(config));
    // Outside the layer: the metadata is public.
    for path in metadata.paths() {
        app = app.route_service(path, metadata.clone());
    }
    app
}

//! The MCP server of this crate behind tower-jwt-auth, driven by the official MCP
//! TypeScript SDK's client (`@modelcontextprotocol/sdk`, its client-credentials provider)
//! against a real OpenID provider (the npm `oidc-provider`), all on 127.0.0.1: the client
//! follows the MCP authorization discovery chain on its own, from the first 401 to the tool
//! call.

#[path = "../../tests/support/idp.rs"]
mod idp;
#[path = "../../tests/support/setup.rs"]
mod setup;

use serde_json::Value;
use tower_jwt_auth::{JwtAuthConfig, resource::ProtectedResource};

/// Serves the MCP app for a resource at `http://127.0.0.1:<port>/mcp`, trusting `issuer`;
/// the resource's URL.
async fn serve(issuer: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let config = JwtAuthConfig::builder()
        .oidc_issuer(issuer)
        .protected_resource(ProtectedResource::new(&resource).scopes_supported(["read", "write"]))
        .build()
        .unwrap();
    let app = tower_jwt_auth_mcp::app(config, &["127.0.0.1"]);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    resource
}

/// Runs `tests/idp/mcp-client.mjs` and returns what it printed.
async fn mcp_client(args: &[&str]) -> Value {
    let script = idp::provider_script().with_file_name("mcp-client.mjs");
    let output = tokio::process::Command::new("node").arg(&script).args(args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mcp-client.mjs {args:?}: {}\n{stderr}", output.status);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("no JSON ({error}): {stderr}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_mcp_client_follows_the_discovery_chain_and_calls_a_tool() {
    let provider = idp::Idp::start(&idp::keys_file("keys-a.json"), None);
    let resource = serve(provider.issuer()).await;
    let base = resource.trim_end_matches("/mcp").to_owned();
    let run = mcp_client(&["--url", &resource, "--issuer", provider.issuer(), "--scope", "read"]).await;

    assert_eq!(run["tools"], serde_json::json!(["whoami"]), "{run}");
    assert_eq!(run["result"], "test-client (read)", "{run}");
    let exchanges = run["exchanges"].as_array().unwrap();
    let position = |what: &dyn Fn(&Value) -> bool| exchanges.iter().position(what);
    // 1. The first call is refused, naming the metadata.
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let first = &exchanges[0];
    assert_eq!(
        (first["url"].as_str(), first["status"].as_u64()),
        (Some(resource.as_str()), Some(401)),
        "{run}"
    );
    let challenge = first["www_authenticate"].as_str().unwrap();
    assert!(challenge.contains(&format!(r#"resource_metadata="{metadata_url}""#)), "{challenge}");
    // 2. The metadata, 3. the authorization server's metadata, 4. the token for this
    // resource, 5. the tool call with it: in that order.
    let metadata =
        position(&|e| e["url"] == metadata_url.as_str() && e["status"] == 200).expect("metadata fetched");
    let server = position(&|e| {
        e["url"]
            .as_str()
            .is_some_and(|url| url.starts_with(provider.issuer()) && url.contains("/.well-known/"))
            && e["status"] == 200
    })
    .expect("authorization server metadata fetched");
    let token =
        position(&|e| e["method"] == "POST" && e["status"] == 200 && e["resource"] == resource.as_str())
            .expect("a token asked for this resource");
    let call = exchanges
        .iter()
        .rposition(|e| e["url"] == resource.as_str() && e["status"] == 200)
        .expect("an MCP call");
    assert!(0 < metadata && metadata < server && server < token && token < call, "{run}");
    provider.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_another_resource_is_refused_by_the_mcp_server() {
    let provider = idp::Idp::start(&idp::keys_file("keys-a.json"), None);
    let resource = serve(provider.issuer()).await;
    // A token the provider issued for another resource (its ES256 test resource).
    let token = provider.token(idp::ES256, "read").await;
    let response = reqwest::Client::new()
        .post(&resource)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#) && challenge.contains("resource_metadata="),
        "{challenge}"
    );
    provider.stop();
}

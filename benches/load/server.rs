//! The server for `benches/load.sh`: one axum route, with or without `JwtAuthLayer`, on one
//! Tokio worker thread (the load generator gets the other core).
//!
//! ```text
//! load_server <none-hs256|none-rs256|hs256|rs256> <port> <token-file> [pool-size]
//! ```
//!
//! Writes a pool of valid tokens (one per line) to `<token-file>`, then prints `ready` and
//! serves `GET /me` on 127.0.0.1 until killed. With `none-*` the route has no auth (the
//! tokens of that algorithm are sent anyway, so both runs move the same bytes).

use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use serde_json::json;
use tower_jwt_auth::{Claims, JwtAuthConfig, JwtAuthLayer, TokenIssuer};

const SECRET: &[u8] = b"a load-test secret of at least 32 bytes, for HS256";
const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/rsa_private.pem");

async fn me(Extension(claims): Extension<Claims>) -> String {
    claims.sub.clone().unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(port), Some(token_file)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: load_server <none-hs256|none-rs256|hs256|rs256> <port> <token-file> [pool-size]");
        std::process::exit(2);
    };
    let pool: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(100);
    let builder =
        TokenIssuer::builder().issuer("load").audience("load-api").lifetime(Duration::from_secs(3600));
    let issuer = match mode.as_str() {
        "rs256" | "none-rs256" => builder.rsa_pem(RSA_PRIVATE),
        _ => builder.hmac_secret(SECRET),
    }
    .build()
    .expect("issuer");
    let tokens: Vec<String> =
        (0..pool).map(|i| issuer.issue(&json!({"sub": format!("user-{i}")})).expect("token")).collect();
    std::fs::write(token_file, tokens.join("\n") + "\n").expect("token file");

    let router = match mode.as_str() {
        "none-hs256" | "none-rs256" => Router::new().route("/me", get(|| async { "ok" })),
        "hs256" | "rs256" => {
            let config = JwtAuthConfig::builder()
                .key(issuer.verifying_key())
                .issuer("load")
                .audience("load-api")
                .build()
                .expect("config");
            Router::new().route("/me", get(me)).layer(JwtAuthLayer::new(config))
        }
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2);
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().expect("port")))
            .await
            .expect("bind");
        println!("ready");
        axum::serve(listener, router).await.expect("serve");
    });
}

//! Tokens on outgoing calls: `client::AccessToken` with the client credentials grant against
//! a real OpenID provider (the npm `oidc-provider`, its token endpoint found by discovery),
//! sent by `client::BearerLayer` around hyper-util's HTTP client to a real axum server that
//! verifies them with the crate's own layer.

#[path = "support/idp.rs"]
mod idp;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/setup.rs"]
mod setup;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use idp::{CLIENT_ID, CLIENT_SECRET, Idp, RS256, keys_file};
use serve::serve;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_jwt_auth::client::{AccessToken, BearerLayer, ClientAuth, TokenErrorKind};
use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer};

/// An API that verifies the provider's RS256 tokens and remembers every token it accepted.
async fn api(idp: &Idp) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = JwtAuthConfig::builder().oidc_issuer(idp.issuer()).audience(RS256).build().unwrap();
    let record = seen.clone();
    let router = Router::new()
        .route(
            "/orders",
            get(move |headers: HeaderMap| async move {
                let token = headers["authorization"].to_str().unwrap().to_owned();
                record.lock().unwrap().push(token);
                "orders"
            }),
        )
        .route_layer(JwtAuthLayer::new(config));
    (serve(router).await, seen)
}

fn credentials(idp: &Idp, auth: ClientAuth, secret: &str) -> AccessToken {
    AccessToken::client_credentials(CLIENT_ID, secret)
        .discover(idp.issuer())
        .auth(auth)
        .resource(RS256)
        .scope("read")
        .build()
        .unwrap()
}

type HttpClient = tower_jwt_auth::client::BearerService<
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
>;

fn http_client(token: AccessToken) -> HttpClient {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    ServiceBuilder::new().layer(BearerLayer::new(token)).service(client)
}

async fn get_orders(client: &mut HttpClient, base: &str) -> StatusCode {
    let request = Request::get(format!("{base}/orders")).body(Full::default()).unwrap();
    client.ready().await.unwrap().call(request).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_calls_cause_one_token_request() {
    let idp = Idp::start(&keys_file("keys-a.json"), None);
    let (base, seen) = api(&idp).await;
    let client = http_client(credentials(&idp, ClientAuth::Basic, CLIENT_SECRET));
    let calls = (0..100).map(|_| {
        let (mut client, base) = (client.clone(), base.clone());
        tokio::spawn(async move { get_orders(&mut client, &base).await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(idp.token_requests().await, 1, "one fetch served every waiting call");
    let distinct: HashSet<String> = seen.lock().unwrap().iter().cloned().collect();
    assert_eq!(distinct.len(), 1);
}

/// Tokens living 4 s are renewed after 3 s, in the background, while the old one still
/// works: calls every 200 ms for 7 s are all accepted, and the provider issued new tokens
/// before the old ones expired (never after a refusal).
#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_renewed_before_it_expires_and_no_call_is_refused() {
    let idp = Idp::start_with_token_ttl(&keys_file("keys-a.json"), Duration::from_secs(4));
    let (base, seen) = api(&idp).await;
    let mut client = http_client(credentials(&idp, ClientAuth::Post, CLIENT_SECRET));
    for _ in 0..35 {
        assert_eq!(get_orders(&mut client, &base).await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let requests = idp.token_requests().await;
    assert!((2..=4).contains(&requests), "renewed about every 3 s over 7 s: {requests} token requests");
    let seen = seen.lock().unwrap();
    let mut distinct = Vec::new();
    for token in seen.iter() {
        if distinct.last() != Some(token) {
            distinct.push(token.clone());
        }
    }
    assert_eq!(distinct.len() as u64, requests, "each new token replaced the last, none came back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_is_refused_and_the_next_try_backs_off_without_a_request() {
    let idp = Idp::start(&keys_file("keys-a.json"), None);
    for auth in [ClientAuth::Basic, ClientAuth::Post] {
        let token = credentials(&idp, auth, "not-the-secret");
        let error = token.header().await.unwrap_err();
        assert_eq!(error.kind(), TokenErrorKind::Refused(401), "{auth:?}: {error}");
        assert!(!error.to_string().contains("not-the-secret"));
        let before = idp.token_requests().await;
        let error = token.header().await.unwrap_err();
        assert_eq!(error.kind(), TokenErrorKind::BackingOff);
        assert_eq!(idp.token_requests().await, before, "no request while backing off");
        // Through the layer: the call fails with the token error, the API is never called.
        let mut client = http_client(token);
        let request = Request::get("http://127.0.0.1:1/orders").body(Full::default()).unwrap();
        let error = client.ready().await.unwrap().call(request).await.unwrap_err();
        assert!(error.to_string().contains("no token"), "{error}");
    }
    // And the right secret works with either method.
    for auth in [ClientAuth::Basic, ClientAuth::Post] {
        let header = credentials(&idp, auth, CLIENT_SECRET).header().await.unwrap();
        assert!(header.is_sensitive() && header.to_str().unwrap().starts_with("Bearer ey"), "{auth:?}");
    }
}

#[test]
fn a_token_endpoint_is_required_and_plain_http_only_on_loopback() {
    let error = AccessToken::client_credentials("id", "secret").build().unwrap_err();
    assert!(error.message().contains(".discover(issuer) or .token_endpoint(url)"), "{error}");
    let error = AccessToken::client_credentials("id", "secret")
        .token_endpoint("http://idp.test/token")
        .build()
        .unwrap_err();
    assert!(error.message().contains("allow_http(true)"), "{error}");
    AccessToken::client_credentials("id", "secret")
        .token_endpoint("http://127.0.0.1:9/token")
        .build()
        .unwrap();
    AccessToken::client_credentials("id", "secret").discover("https://idp.test").build().unwrap();
}

/// The API revokes the first token after its first use (as a logout or an incident would):
/// with `retry_on_invalid_token`, the next GET is refused with 401 `invalid_token`, the
/// client drops that token, fetches a new one and retries once, and the caller sees 200.
/// A POST is never retried; without the retry, the caller sees the 401.
#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_request_refused_as_invalid_token_is_retried_once_with_a_new_token() {
    use tower_jwt_auth::revoke::Revocations;
    let idp = Idp::start(&keys_file("keys-a.json"), None);
    let revocations = Revocations::in_memory();
    let config = JwtAuthConfig::builder()
        .oidc_issuer(idp.issuer())
        .audience(RS256)
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let record = statuses.clone();
    let router = Router::new()
        .route("/orders", get(|| async { "orders" }).post(|| async { "created" }))
        .route_layer(JwtAuthLayer::new(config.clone()))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let record = record.clone();
                async move {
                    let response = next.run(request).await;
                    record.lock().unwrap().push(response.status().as_u16());
                    response
                }
            },
        ));
    let base = serve(router).await;

    let token = credentials(&idp, ClientAuth::Basic, CLIENT_SECRET);
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut retrying =
        ServiceBuilder::new().layer(BearerLayer::new(token.clone()).retry_on_invalid_token()).service(http);
    let mut call = async |method: http::Method| {
        let request =
            Request::builder().method(method).uri(format!("{base}/orders")).body(Full::default()).unwrap();
        retrying.ready().await.unwrap().call(request).await.unwrap().status()
    };
    assert_eq!(call(http::Method::GET).await, StatusCode::OK);
    let first = token.header().await.unwrap();
    let first_claims = config.verify(first.to_str().unwrap().trim_start_matches("Bearer ")).unwrap();
    revocations.revoke(first_claims.token()).await.unwrap();

    assert_eq!(call(http::Method::GET).await, StatusCode::OK, "retried with a new token");
    assert_eq!(*statuses.lock().unwrap(), [200, 401, 200]);
    assert_eq!(idp.token_requests().await, 2, "one fetch at first, one after the refusal");
    assert_ne!(token.header().await.unwrap(), first);

    // A POST is not retried: its refusal reaches the caller.
    let second = token.header().await.unwrap();
    let second_claims = config.verify(second.to_str().unwrap().trim_start_matches("Bearer ")).unwrap();
    revocations.revoke(second_claims.token()).await.unwrap();
    assert_eq!(call(http::Method::POST).await, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.token_requests().await, 2);
}

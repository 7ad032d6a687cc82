//! Remote key sets against a real JWKS server on 127.0.0.1 under the test's control: cold
//! start, single-flight, unknown kids and the cooldown, rotation, every fault (down, 500,
//! hang, malformed, oversized, redirect, unfit keys), Cache-Control, OIDC discovery, and
//! several issuers. The protected app is a real axum server driven by reqwest, or, where
//! thousands of requests are needed, the same router called in-process.
#![cfg(feature = "jwks")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use serve::serve;
use tower::ServiceExt;
use tower_jwt_auth::{
    Algorithm, Claims, ErrorKind, JwtAuthConfig, JwtAuthLayer, RemoteJwks, TokenIssuer,
    config::TrustedIssuer,
    error::ConfigErrorKind,
    jwks::{JwksErrorKind, RemoteJwksBuilder},
};

#[path = "support/idp.rs"]
mod idp;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/setup.rs"]
mod setup;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "api.test";
const RSA_PRIVATE: &str = include_str!("fixtures/rsa_private.pem");
const EC_PRIVATE: &str = include_str!("fixtures/ec256_private.pem");
const EC521_PRIVATE: &str = include_str!("fixtures/ec521_private.pem");
const ED_PRIVATE: &str = include_str!("fixtures/ed25519_private.pem");
/// A second RSA key, to stand beside the first as a static key of the same algorithm.
const RSA2_PRIVATE: &str = include_str!("fixtures/rsa2_private.pem");
const RSA2_PUBLIC: &str = include_str!("fixtures/rsa2_public.pem");

// ---- the JWKS server ----

#[derive(Clone, Debug)]
enum Mode {
    Serve,
    Status(u16),
    Hang,
    Malformed,
    /// 1 MiB, streamed without a Content-Length.
    Huge,
    Redirect,
    /// The set, after this long.
    Delay(Duration),
}

struct ProviderState {
    jwks: Mutex<Value>,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<&'static str>>,
    /// The `issuer` the discovery document names; `None`: the server's own base URL.
    discovery_issuer: Mutex<Option<String>>,
    jwks_uri: Mutex<Option<String>>,
    fetches: AtomicUsize,
    discoveries: AtomicUsize,
    base: Mutex<String>,
    user_agent: Mutex<Option<String>>,
}

/// A JWKS server (and OIDC discovery document) whose answers the test sets.
struct Provider {
    base: String,
    state: Arc<ProviderState>,
    task: tokio::task::JoinHandle<()>,
}

impl Provider {
    async fn start(jwks: Value) -> Self {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), jwks).await
    }

    async fn start_on(listener: tokio::net::TcpListener, jwks: Value) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProviderState {
            jwks: Mutex::new(jwks),
            mode: Mutex::new(Mode::Serve),
            cache_control: Mutex::new(None),
            discovery_issuer: Mutex::new(None),
            jwks_uri: Mutex::new(None),
            fetches: AtomicUsize::new(0),
            discoveries: AtomicUsize::new(0),
            base: Mutex::new(base.clone()),
            user_agent: Mutex::new(None),
        });
        let router = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .route(
                "/moved.json",
                get(|State(state): State<Arc<ProviderState>>| async move {
                    state.jwks.lock().unwrap().to_string()
                }),
            )
            .route("/.well-known/openid-configuration", get(serve_discovery))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base, state, task }
    }

    fn url(&self) -> String {
        format!("{}/jwks.json", self.base)
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn set_jwks(&self, jwks: Value) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(state): State<Arc<ProviderState>>, headers: axum::http::HeaderMap) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    *state.user_agent.lock().unwrap() =
        headers.get(header::USER_AGENT).map(|value| value.to_str().unwrap_or_default().to_owned());
    let mode = state.mode.lock().unwrap().clone();
    match mode {
        Mode::Serve => {
            let body = state.jwks.lock().unwrap().to_string();
            let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Some(value) = *state.cache_control.lock().unwrap() {
                response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
            }
            response
        }
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Mode::Malformed => ([(header::CONTENT_TYPE, "application/json")], "{\"keys\": [").into_response(),
        Mode::Huge => {
            let chunks = (0..1024).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
            Body::from_stream(futures_util::stream::iter(chunks)).into_response()
        }
        Mode::Redirect => (StatusCode::FOUND, [(header::LOCATION, "/moved.json")]).into_response(),
        Mode::Delay(delay) => {
            tokio::time::sleep(delay).await;
            let body = state.jwks.lock().unwrap().to_string();
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

async fn serve_discovery(State(state): State<Arc<ProviderState>>) -> Response {
    state.discoveries.fetch_add(1, Ordering::SeqCst);
    let base = state.base.lock().unwrap().clone();
    let issuer = state.discovery_issuer.lock().unwrap().clone().unwrap_or_else(|| base.clone());
    let jwks_uri = state.jwks_uri.lock().unwrap().clone().unwrap_or_else(|| format!("{base}/jwks.json"));
    axum::Json(
        json!({"issuer": issuer, "jwks_uri": jwks_uri, "id_token_signing_alg_values_supported": ["RS256"]}),
    )
    .into_response()
}

// ---- keys and tokens ----

fn signer(algorithm: Algorithm, kid: &str) -> TokenIssuer {
    let builder = TokenIssuer::builder().issuer(ISSUER).audience(AUDIENCE).kid(kid);
    match algorithm {
        Algorithm::RS256 | Algorithm::PS256 => builder.rsa_pem(RSA_PRIVATE).algorithm(algorithm),
        Algorithm::ES256 => builder.ec_pem(EC_PRIVATE),
        Algorithm::ES512 => builder.ec_pem(EC521_PRIVATE),
        Algorithm::EdDSA => builder.ed25519_pem(ED_PRIVATE),
        other => panic!("no fixture for {other:?}"),
    }
    .build()
    .unwrap()
}

fn jwks_of(signers: &[&TokenIssuer]) -> Value {
    let keys: Vec<Value> = signers
        .iter()
        .flat_map(|signer| {
            serde_json::to_value(signer.jwk_set()).unwrap()["keys"].as_array().unwrap().clone()
        })
        .collect();
    json!({ "keys": keys })
}

fn token(signer: &TokenIssuer) -> String {
    signer.issue(&json!({"sub": "alice"})).unwrap()
}

/// `token` with its header replaced (the signature no longer matches; tests that use this
/// are about what happens before the signature is checked).
fn with_header(token: &str, header: &Value) -> String {
    let rest = token.split_once('.').unwrap().1;
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// A loopback set with a generous timeout (a slow shared machine must not turn a fetch
/// into a 503) and a cooldown longer than any test, so counts of fetches are exact.
fn remote(url: &str) -> RemoteJwksBuilder {
    RemoteJwks::from_url(url)
        .allow_http(true)
        .timeout(Duration::from_secs(5))
        .unknown_kid_cooldown(Duration::from_secs(3600))
}

fn config(remote: RemoteJwks) -> JwtAuthConfig {
    JwtAuthConfig::builder().remote_jwks(remote).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

// ---- the protected app ----

async fn me(Extension(claims): Extension<Claims>) -> String {
    claims.sub.clone().unwrap_or_default()
}

fn app(config: JwtAuthConfig) -> Router {
    Router::new().route("/me", get(me)).layer(JwtAuthLayer::new(config))
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn get_me(base: &str, token: &str) -> Answer {
    let response = reqwest::Client::new()
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in response.headers() {
        headers.insert(
            axum::http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    Answer { status, headers, body: response.text().await.unwrap() }
}

/// Calls the router in-process (no socket), for floods.
async fn call(router: &Router, token: &str) -> StatusCode {
    let request = Request::builder()
        .uri("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    router.clone().oneshot(request).await.unwrap().status()
}

fn assert_invalid_token(answer: &Answer, kind: ErrorKind) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "body: {}", answer.body);
    let challenge = answer.headers.get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains(kind.description()), "{challenge} should name {kind:?}");
}

fn assert_unavailable(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "body: {}", answer.body);
    assert!(answer.headers.contains_key("retry-after"));
    assert!(
        !answer.headers.contains_key("www-authenticate"),
        "503 carries no challenge: the token may be fine"
    );
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_cold_requests_cause_exactly_one_fetch() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let router = app(config(remote(&provider.url()).build().unwrap()));
    let token = token(&rsa);
    // Each request on its own task, so they race across both worker threads.
    let calls: Vec<_> = (0..1000)
        .map(|_| {
            let (router, token) = (router.clone(), token.clone());
            tokio::spawn(async move { call(&router, &token).await })
        })
        .collect();
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(calls).await.into_iter().map(|status| status.unwrap()).collect();
    assert!(statuses.iter().all(|status| *status == StatusCode::OK), "every cold request passes");
    assert_eq!(provider.fetches(), 1, "one fetch served all of them");
    // And over a real socket, with the set cached: no further fetch.
    let base = serve(router).await;
    assert_eq!(get_me(&base, &token).await.body, "alice");
    assert_eq!(provider.fetches(), 1);
}

/// ES512 (P-521) from a remote set, over a real socket: the set the issuer publishes (a
/// P-521 JWK, which carries no `alg`) is fetched, and its tokens verify, beside an RSA key.
/// A set that allows only RS256 skips the P-521 key, so its tokens are refused.
#[tokio::test]
async fn an_es512_key_from_a_remote_set_verifies_its_tokens() {
    let p521 = signer(Algorithm::ES512, "p521-1");
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa, &p521])).await;
    let base = serve(app(config(remote(&provider.url()).build().unwrap()))).await;
    assert_eq!(get_me(&base, &token(&p521)).await.body, "alice");
    assert_eq!(get_me(&base, &token(&rsa)).await.body, "alice");
    assert_eq!(provider.fetches(), 1);

    let rsa_only = remote(&provider.url()).algorithms([Algorithm::RS256]).build().unwrap();
    let base = serve(app(config(rsa_only))).await;
    assert_eq!(get_me(&base, &token(&rsa)).await.status, StatusCode::OK);
    assert_eq!(get_me(&base, &token(&p521)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_kids_costs_at_most_one_fetch_per_cooldown() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let router = app(config(remote(&provider.url()).build().unwrap()));
    let good = token(&rsa);
    assert_eq!(call(&router, &good).await, StatusCode::OK);
    assert_eq!(provider.fetches(), 1);
    let mut rejected = 0;
    for chunk in 0..10 {
        let calls: Vec<_> = (0..1000)
            .map(|i| {
                let forged =
                    with_header(&good, &json!({"alg": "RS256", "kid": format!("random-{chunk}-{i}")}));
                let router = router.clone();
                tokio::spawn(async move { call(&router, &forged).await })
            })
            .collect();
        for status in futures_util::future::join_all(calls).await {
            rejected += usize::from(status.unwrap() == StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(rejected, 10_000, "every random kid is rejected with 401");
    assert_eq!(provider.fetches(), 2, "one refetch for the first unknown kid, then the cooldown holds");
    assert_eq!(call(&router, &good).await, StatusCode::OK, "the known key keeps working");
}

#[tokio::test]
async fn a_rotated_in_key_is_fetched_once_and_a_dropped_key_stops_at_the_next_refresh() {
    let old = signer(Algorithm::RS256, "old");
    let new = signer(Algorithm::ES256, "new");
    let provider = Provider::start(jwks_of(&[&old])).await;
    let jwks = remote(&provider.url()).ttl_bounds(Duration::from_millis(300), Duration::from_secs(60));
    *provider.state.cache_control.lock().unwrap() = Some("max-age=0");
    let base = serve(app(config(jwks.build().unwrap()))).await;
    assert_eq!(get_me(&base, &token(&old)).await.status, StatusCode::OK);
    assert_eq!(provider.fetches(), 1);

    // The provider adds a key and starts signing with it: one refetch, then it verifies.
    provider.set_jwks(jwks_of(&[&old, &new]));
    assert_eq!(get_me(&base, &token(&new)).await.body, "alice");
    assert_eq!(provider.fetches(), 2);

    // The provider withdraws the old key: after the next refresh its tokens are refused.
    provider.set_jwks(jwks_of(&[&new]));
    let old_token = token(&old);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // This request finds the set due for refresh and starts it in the background...
    let _ = get_me(&base, &old_token).await;
    let mut status = StatusCode::OK;
    for _ in 0..250 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = get_me(&base, &old_token).await.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a withdrawn key stops authorising after the refresh");
    assert_eq!(get_me(&base, &token(&new)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cached_keys_keep_serving_through_every_fault_and_recover_without_restart() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let jwks = remote(&provider.url())
        .timeout(Duration::from_secs(2))
        .ttl_bounds(Duration::from_millis(50), Duration::from_secs(60))
        .default_ttl(Duration::from_millis(50))
        .build()
        .unwrap();
    let handle = jwks.clone();
    let base = serve(app(config(jwks))).await;
    let good = token(&rsa);
    assert_eq!(get_me(&base, &good).await.status, StatusCode::OK);
    for mode in
        [Mode::Status(500), Mode::Hang, Mode::Malformed, Mode::Huge, Mode::Redirect, Mode::Status(404)]
    {
        provider.set_mode(mode.clone());
        // Forced refresh: fails, and the cached set stays.
        let error = handle.refresh().await.expect_err("the fault makes the refresh fail");
        assert!(!error.to_string().contains("127.0.0.1"), "errors name no URL: {error}");
        for _ in 0..3 {
            assert_eq!(
                get_me(&base, &good).await.status,
                StatusCode::OK,
                "{mode:?}: cached keys keep working"
            );
        }
        let status = handle.status();
        assert!(status.ready && status.keys == 1 && status.consecutive_failures >= 1, "{mode:?}: {status:?}");
    }
    provider.set_mode(Mode::Serve);
    handle.refresh().await.expect("the provider is back");
    let status = handle.status();
    assert_eq!((status.ready, status.consecutive_failures, status.last_error), (true, 0, None));
    assert_eq!(get_me(&base, &good).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_with_no_usable_key_keeps_the_last_good_set() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let good_keys = jwks_of(&[&rsa]);
    let provider = Provider::start(good_keys.clone()).await;
    let jwks = remote(&provider.url()).build().unwrap();
    let handle = jwks.clone();
    let base = serve(app(config(jwks))).await;
    let good = token(&rsa);
    assert_eq!(get_me(&base, &good).await.status, StatusCode::OK);
    let enc_only = {
        let mut key = good_keys["keys"][0].clone();
        key["use"] = json!("enc");
        json!({ "keys": [key] })
    };
    // 4,000 small entries fit in the default 64 KiB body cap, far past the 100 a set may hold.
    let too_many = json!({ "keys": vec![json!({"kty": "EC"}); 4000] });
    for (label, document, kind) in [
        ("only an encryption key", enc_only, JwksErrorKind::NoUsableKey),
        ("junk entries", json!({"keys": [1, "two", null]}), JwksErrorKind::NoUsableKey),
        ("no key at all", json!({"keys": []}), JwksErrorKind::NoUsableKey),
        ("4,000 entries", too_many, JwksErrorKind::TooManyKeys),
    ] {
        provider.set_jwks(document);
        let error = handle.refresh().await.expect_err("a set with no usable key is a failed fetch");
        assert_eq!(error.kind(), kind, "{label}");
        assert_eq!(get_me(&base, &good).await.status, StatusCode::OK, "the last good set stays: {label}");
        let status = handle.status();
        assert!(status.ready && status.keys == 1 && status.consecutive_failures >= 1, "{label}: {status:?}");
    }
    provider.set_jwks(good_keys);
    handle.refresh().await.expect("a good set again");
    assert_eq!(handle.status().consecutive_failures, 0);
}

#[tokio::test]
async fn an_empty_set_withdraws_every_key_only_when_allowed() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let jwks = remote(&provider.url()).allow_empty_set(true).build().unwrap();
    let handle = jwks.clone();
    let base = serve(app(config(jwks))).await;
    let good = token(&rsa);
    assert_eq!(get_me(&base, &good).await.status, StatusCode::OK);
    provider.set_jwks(json!({"keys": []}));
    handle.refresh().await.expect("an empty set is a set withdrawn whole, when allowed");
    assert_invalid_token(&get_me(&base, &good).await, ErrorKind::UnknownKey);
    // A set whose keys are all unfit is still a failed fetch: nothing was withdrawn.
    provider.set_jwks(json!({"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}));
    assert_eq!(handle.refresh().await.unwrap_err().kind(), JwksErrorKind::NoUsableKey);
}

#[tokio::test]
async fn a_first_fetch_with_no_usable_key_answers_503() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let mut key = jwks_of(&[&rsa])["keys"][0].clone();
    key["use"] = json!("enc");
    let provider = Provider::start(json!({ "keys": [key] })).await;
    let base = serve(app(config(remote(&provider.url()).build().unwrap()))).await;
    assert_unavailable(&get_me(&base, &token(&rsa)).await);
}

#[test]
fn a_key_set_of_no_keys_at_all_is_refused_at_build() {
    let error = remote("http://127.0.0.1:1/jwks.json").max_keys(0).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidSetting);
}

/// A static RS256 key without a kid (rsa2) beside the provider's remote set.
fn static_and_remote(provider: &Provider) -> JwtAuthConfig {
    JwtAuthConfig::builder()
        .key(tower_jwt_auth::VerifyingKey::rsa_pem(RSA2_PUBLIC))
        .remote_jwks(remote(&provider.url()).build().unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_static_key_without_kid_never_hides_the_remote_sets_keys() {
    // A static RS256 key without a kid beside a remote set of RS256 keys with kids.
    let remote_signer = signer(Algorithm::RS256, "remote-1");
    let provider = Provider::start(jwks_of(&[&remote_signer])).await;
    let config = static_and_remote(&provider);
    let static_signer = |kid: Option<&str>| {
        let builder = TokenIssuer::builder().rsa_pem(RSA2_PRIVATE).issuer(ISSUER).audience(AUDIENCE);
        match kid {
            Some(kid) => builder.kid(kid),
            None => builder,
        }
        .build()
        .unwrap()
    };
    let base = serve(app(config)).await;
    // A kid the remote set names goes to the remote set (before: the static key, and 401).
    assert_eq!(get_me(&base, &token(&remote_signer)).await.status, StatusCode::OK);
    // The static key still verifies tokens without a kid...
    assert_eq!(get_me(&base, &token(&static_signer(None))).await.status, StatusCode::OK);
    // ...and tokens whose kid neither source names (the set is asked first, once).
    let fetches = provider.fetches();
    assert_eq!(get_me(&base, &token(&static_signer(Some("local")))).await.status, StatusCode::OK);
    assert!(provider.fetches() <= fetches + 1, "one refetch at most for an unknown kid");
    // A token the remote set should know, signed by another key: refused.
    let impostor = static_signer(Some("remote-1"));
    assert_invalid_token(&get_me(&base, &token(&impostor)).await, ErrorKind::InvalidSignature);
}

#[tokio::test]
async fn with_the_remote_set_down_a_kid_only_it_could_know_is_unavailable_not_invalid() {
    let remote_signer = signer(Algorithm::RS256, "remote-1");
    let provider = Provider::start(jwks_of(&[&remote_signer])).await;
    provider.set_mode(Mode::Status(500));
    let config = static_and_remote(&provider);
    let base = serve(app(config)).await;
    assert_unavailable(&get_me(&base, &token(&remote_signer)).await);
    // The static key's own tokens, kid or not, verify without the set.
    let local = TokenIssuer::builder().rsa_pem(RSA2_PRIVATE).issuer(ISSUER).audience(AUDIENCE).kid("local");
    assert_eq!(get_me(&base, &token(&local.build().unwrap())).await.status, StatusCode::OK);
}

#[tokio::test]
async fn your_own_client_is_used_and_its_redirects_are_refused_too() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    // A client that follows redirects (reqwest's default) and names itself.
    let client = reqwest::Client::builder().user_agent("our-own-client/1.0").build().unwrap();
    let jwks = remote(&provider.url()).client(client).build().unwrap();
    jwks.refresh().await.expect("a plain fetch works with the client");
    assert_eq!(provider.state.user_agent.lock().unwrap().as_deref(), Some("our-own-client/1.0"));
    provider.set_mode(Mode::Redirect);
    let error = jwks.refresh().await.expect_err("a followed redirect is refused");
    assert!(error.to_string().contains("redirect"), "{error}");
    assert!(jwks.status().ready, "the cached set stays");
}

#[tokio::test]
async fn a_hanging_provider_never_holds_a_request_longer_than_the_timeout() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    provider.set_mode(Mode::Hang);
    let jwks = remote(&provider.url()).timeout(Duration::from_secs(3)).build().unwrap();
    let handle = jwks.clone();
    let base = serve(app(config(jwks))).await;
    let started = std::time::Instant::now();
    assert_unavailable(&get_me(&base, &token(&rsa)).await);
    // The cold request waited for the one fetch, which the timeout ended.
    assert!(started.elapsed() < Duration::from_secs(10));

    // With keys cached, a hanging refresh holds nobody: requests answer while it hangs.
    provider.set_mode(Mode::Serve);
    handle.refresh().await.unwrap();
    provider.set_mode(Mode::Hang);
    let refresh = tokio::spawn(async move { handle.refresh().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..10 {
        assert_eq!(get_me(&base, &token(&rsa)).await.status, StatusCode::OK);
    }
    assert!(!refresh.is_finished(), "the refresh still hangs: no request waited for it");
    assert!(refresh.await.unwrap().is_err(), "the refresh times out");
}

#[tokio::test]
async fn before_the_first_successful_fetch_requests_get_503_then_recover_without_restart() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    // Reserve a port with nothing listening on it: the provider is down.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let url = format!("http://{address}/jwks.json");
    let jwks = remote(&url).build().unwrap();
    let handle = jwks.clone();
    // The layer builds while the provider is down.
    let base = serve(app(config(jwks))).await;
    let good = token(&rsa);
    let answer = get_me(&base, &good).await;
    assert_unavailable(&answer);
    if cfg!(feature = "axum") {
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["error_description"], ErrorKind::KeysUnavailable.description());
    }
    // gRPC callers get UNAVAILABLE.
    let grpc = reqwest::Client::new()
        .post(format!("{base}/me"))
        .header("content-type", "application/grpc")
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(grpc.headers()["grpc-status"], "14");
    assert!(!handle.status().ready);

    // The provider comes up; after the backoff the next request fetches and passes.
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let provider = Provider::start_on(listener, jwks_of(&[&rsa])).await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = get_me(&base, &good).await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK);
    assert!(provider.fetches() >= 1);
    assert!(handle.status().ready);
}

#[tokio::test]
async fn one_unfit_key_never_spoils_the_set_and_duplicate_kids_are_ambiguous() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let ed = signer(Algorithm::EdDSA, "twice");
    let ed_jwk = serde_json::to_value(ed.jwk_set()).unwrap()["keys"][0].clone();
    let mut keys = jwks_of(&[&rsa])["keys"].as_array().unwrap().clone();
    keys.extend([
        json!({"kty": "RSA", "use": "enc", "kid": "enc-1", "n": keys[0]["n"], "e": "AQAB"}),
        json!({"kty": "OKP", "crv": "X25519", "kid": "x", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}),
        json!({"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AAAA", "y": "AAAA"}),
        json!({"kty": "oct", "kid": "secret", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}),
        json!({"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}),
        ed_jwk.clone(),
        ed_jwk,
    ]);
    let provider = Provider::start(json!({ "keys": keys })).await;
    let jwks = remote(&provider.url()).build().unwrap();
    let handle = jwks.clone();
    let base = serve(app(config(jwks))).await;
    assert_eq!(get_me(&base, &token(&rsa)).await.status, StatusCode::OK, "the fit key works");
    let status = handle.status();
    assert_eq!((status.keys, status.skipped_keys), (1, 7), "{status:?}");
    // The kid published twice names neither copy.
    assert_invalid_token(&get_me(&base, &token(&ed)).await, ErrorKind::UnknownKey);
}

#[tokio::test]
async fn a_bad_signature_with_a_known_kid_or_a_foreign_alg_or_issuer_never_fetches() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let jwks = remote(&provider.url()).algorithms([Algorithm::RS256, Algorithm::RS384]).build().unwrap();
    let base = serve(app(config(jwks))).await;
    let good = token(&rsa);
    assert_eq!(get_me(&base, &good).await.status, StatusCode::OK);
    assert_eq!(provider.fetches(), 1);
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    let tampered = format!("{head}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
    assert_invalid_token(&get_me(&base, &tampered).await, ErrorKind::InvalidSignature);
    let es = with_header(&good, &json!({"alg": "ES256", "kid": "unknown-es"}));
    assert_invalid_token(&get_me(&base, &es).await, ErrorKind::UnsupportedAlgorithm);
    // An allowed algorithm, but not the known kid's own: refused, and no fetch either.
    let other_alg = with_header(&good, &json!({"alg": "RS384", "kid": "rsa-1"}));
    assert_invalid_token(&get_me(&base, &other_alg).await, ErrorKind::UnsupportedAlgorithm);
    let foreign = TokenIssuer::builder()
        .rsa_pem(RSA_PRIVATE)
        .kid("unknown-kid")
        .issuer("https://elsewhere.test")
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert_invalid_token(&get_me(&base, &token(&foreign)).await, ErrorKind::InvalidIssuer);
    assert_eq!(provider.fetches(), 1, "none of these reached the network");
}

#[tokio::test]
async fn cache_control_max_age_sets_the_lifetime_within_bounds() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    *provider.state.cache_control.lock().unwrap() = Some("public, max-age=86400000");
    let jwks = remote(&provider.url()).build().unwrap();
    jwks.refresh().await.unwrap();
    let router = app(config(jwks.clone()));
    for _ in 0..20 {
        assert_eq!(call(&router, &token(&rsa)).await, StatusCode::OK);
    }
    assert_eq!(provider.fetches(), 1, "a long max-age (clamped to 24 h) means no refresh now");
    assert!(!jwks.status().stale);

    // A short max-age under a small lower bound: the set is refreshed ahead of expiry.
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    *provider.state.cache_control.lock().unwrap() = Some("max-age=0, no-cache");
    let jwks = remote(&provider.url())
        .ttl_bounds(Duration::from_millis(100), Duration::from_secs(1))
        .build()
        .unwrap();
    let router = app(config(jwks));
    assert_eq!(call(&router, &token(&rsa)).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(call(&router, &token(&rsa)).await, StatusCode::OK, "served from cache while refreshing");
    for _ in 0..500 {
        if provider.fetches() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(provider.fetches(), 2, "refreshed once in the background");
}

#[tokio::test]
async fn oidc_discovery_finds_the_keys_and_checks_issuer_and_origin() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let issuer = provider.base.clone();
    let token = TokenIssuer::builder()
        .rsa_pem(RSA_PRIVATE)
        .kid("rsa-1")
        .issuer(&issuer)
        .audience(AUDIENCE)
        .build()
        .unwrap()
        .issue(&json!({"sub": "alice"}))
        .unwrap();
    let discovered = |issuer: &str| {
        let jwks = RemoteJwks::discover(issuer)
            .allow_http(true)
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        JwtAuthConfig::builder().remote_jwks(jwks).issuer(issuer).audience(AUDIENCE).build().unwrap()
    };
    let base = serve(app(discovered(&issuer))).await;
    assert_eq!(get_me(&base, &token).await.body, "alice");
    assert_eq!((provider.state.discoveries.load(Ordering::SeqCst), provider.fetches()), (1, 1));

    // The document names another issuer: refused, so no keys (503).
    *provider.state.discovery_issuer.lock().unwrap() = Some("https://impostor.test".into());
    let base = serve(app(discovered(&issuer))).await;
    assert_unavailable(&get_me(&base, &token).await);

    // A jwks_uri on another origin: refused unless allowed.
    *provider.state.discovery_issuer.lock().unwrap() = None;
    let other = Provider::start(jwks_of(&[&rsa])).await;
    *provider.state.jwks_uri.lock().unwrap() = Some(other.url());
    let base = serve(app(discovered(&issuer))).await;
    assert_unavailable(&get_me(&base, &token).await);
    assert_eq!(other.fetches(), 0);
    let allowed =
        RemoteJwks::discover(&issuer).allow_http(true).allow_foreign_jwks_uri(true).build().unwrap();
    let config =
        JwtAuthConfig::builder().remote_jwks(allowed).issuer(&issuer).audience(AUDIENCE).build().unwrap();
    let base = serve(app(config)).await;
    assert_eq!(get_me(&base, &token).await.status, StatusCode::OK);
    assert_eq!(other.fetches(), 1);

    // `oidc_issuer` takes a loopback provider on plain http as it is, for development.
    *provider.state.jwks_uri.lock().unwrap() = None;
    let config = JwtAuthConfig::builder().oidc_issuer(&issuer).audience(AUDIENCE).build().unwrap();
    let base = serve(app(config)).await;
    assert_eq!(get_me(&base, &token).await.body, "alice");
}

/// Plain http in `oidc_issuer` on loopback hosts alone: `localhost`, 127.0.0.0/8 and `::1`
/// build; any other host, and look-alikes, are refused naming the calls that allow it.
#[test]
fn oidc_issuer_accepts_plain_http_on_loopback_hosts_only() {
    for issuer in [
        "http://localhost:8085",
        "http://LOCALHOST",
        "http://127.0.0.1:8085",
        "http://127.9.9.9",
        "http://[::1]:8085",
    ] {
        let built = JwtAuthConfig::builder().oidc_issuer(issuer).build();
        assert!(built.is_ok(), "{issuer}: {:?}", built.err());
    }
    for issuer in [
        "http://idp.test",
        "http://localhost.evil.test",
        "http://128.0.0.1",
        "http://[::2]",
        "http://10.0.0.1",
    ] {
        let error = JwtAuthConfig::builder().oidc_issuer(issuer).build().unwrap_err();
        assert_eq!(error.kind(), ConfigErrorKind::InvalidUrl, "{issuer}");
        assert!(error.message().contains("allow_http(true)"), "{issuer}: {error}");
        assert!(error.message().contains("loopback host"), "{issuer}: {error}");
    }
}

#[test]
fn plain_http_and_bad_settings_are_refused_at_build() {
    let error = RemoteJwks::from_url("http://idp.test/jwks.json").build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidUrl);
    assert!(error.message().contains("https"), "{error}");
    let error = RemoteJwks::discover("http://idp.test").build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidUrl);
    assert!(error.message().contains("https"), "{error}");
    let error = RemoteJwks::from_url("not a url").build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidUrl);
    assert!(error.message().contains("not a URL"), "{error}");
    let error = RemoteJwks::from_url("https://idp.test/jwks.json")
        .algorithms([Algorithm::HS256])
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidSetting);
    assert!(error.message().contains("HS"), "{error}");
    let error = JwtAuthConfig::builder().oidc_issuer("http://idp.test").build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidUrl);
    // Each hint names calls that exist where the reader is, and following it works:
    // oidc_issuer's names the remote set to configure instead; the set's own, its setter.
    assert!(
        error.message().contains(".issuer(issuer).remote_jwks(RemoteJwks::discover(issuer).allow_http(true)"),
        "{error}"
    );
    let remote = RemoteJwks::discover("http://idp.test").allow_http(true).build().unwrap();
    assert!(JwtAuthConfig::builder().issuer("http://idp.test").remote_jwks(remote).build().is_ok());
    let by_hand = RemoteJwks::discover("http://idp.test").build().unwrap_err();
    assert!(by_hand.message().contains("RemoteJwksBuilder::allow_http(true)"), "{by_hand}");
    assert!(!by_hand.message().contains("oidc_issuer"), "{by_hand}");
    assert!(JwtAuthConfig::builder().oidc_issuer("https://idp.test").build().is_ok(), "no network at build");
}

#[tokio::test]
async fn several_issuers_each_verify_with_their_own_keys_only() {
    let tenant_a = signer(Algorithm::RS256, "a-1");
    let tenant_b = signer(Algorithm::EdDSA, "b-1");
    let provider_a = Provider::start(jwks_of(&[&tenant_a])).await;
    let provider_b = Provider::start(jwks_of(&[&tenant_b])).await;
    let issue = |private: &str, algorithm: Algorithm, kid: &str, iss: &str, aud: &str| {
        let builder = TokenIssuer::builder().kid(kid).issuer(iss).audience(aud);
        let builder = match algorithm {
            Algorithm::RS256 => builder.rsa_pem(private),
            _ => builder.ed25519_pem(private),
        };
        builder.build().unwrap().issue(&json!({"sub": "alice"})).unwrap()
    };
    let config = JwtAuthConfig::builder()
        .trusted_issuer(
            TrustedIssuer::new("https://a.test")
                .remote_jwks(remote(&provider_a.url()).build().unwrap())
                .audience("api-a"),
        )
        .trusted_issuer(
            TrustedIssuer::new("https://b.test")
                .remote_jwks(remote(&provider_b.url()).build().unwrap())
                .audience("api-b"),
        )
        .build()
        .unwrap();
    let base = serve(app(config)).await;
    let a = issue(RSA_PRIVATE, Algorithm::RS256, "a-1", "https://a.test", "api-a");
    let b = issue(ED_PRIVATE, Algorithm::EdDSA, "b-1", "https://b.test", "api-b");
    assert_eq!(get_me(&base, &a).await.status, StatusCode::OK);
    assert_eq!(get_me(&base, &b).await.status, StatusCode::OK);
    // A's key claiming to be B: B's keys do not know it (one refetch of B's set, no more).
    let a_as_b = issue(RSA_PRIVATE, Algorithm::RS256, "a-1", "https://b.test", "api-b");
    assert_invalid_token(&get_me(&base, &a_as_b).await, ErrorKind::UnknownKey);
    assert_eq!(provider_b.fetches(), 2);
    assert_invalid_token(&get_me(&base, &a_as_b).await, ErrorKind::UnknownKey);
    assert_eq!(provider_b.fetches(), 2, "B's cooldown holds");
    // The right key but the other issuer's audience.
    let wrong_audience = issue(RSA_PRIVATE, Algorithm::RS256, "a-1", "https://a.test", "api-b");
    assert_invalid_token(&get_me(&base, &wrong_audience).await, ErrorKind::InvalidAudience);
    // An issuer nobody trusts: refused without any fetch.
    let before = (provider_a.fetches(), provider_b.fetches());
    let stranger = issue(RSA_PRIVATE, Algorithm::RS256, "zzz", "https://c.test", "api-a");
    assert_invalid_token(&get_me(&base, &stranger).await, ErrorKind::InvalidIssuer);
    assert_eq!((provider_a.fetches(), provider_b.fetches()), before);
    assert_eq!(provider_a.fetches(), 1);
}

#[tokio::test]
async fn static_and_remote_keys_combine_and_verify_async_fetches_first() {
    let rsa = signer(Algorithm::RS256, "remote-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let secret = b"a static secret that is long enough for HS256".to_vec();
    let config = JwtAuthConfig::builder()
        .hmac_secret(&secret)
        .remote_jwks(remote(&provider.url()).build().unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let hs = TokenIssuer::builder().hmac_secret(secret).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    assert!(config.verify(&token(&hs)).is_ok(), "static keys need no fetch");
    assert_eq!(provider.fetches(), 0);
    let remote_token = token(&rsa);
    assert_eq!(
        config.verify(&remote_token).unwrap_err().kind(),
        ErrorKind::KeysUnavailable,
        "sync never waits"
    );
    let claims = config.verify_async::<tower_jwt_auth::DefaultClaims>(&remote_token).await.unwrap();
    assert_eq!(claims.sub.as_deref(), Some("alice"));
    assert_eq!(claims.header().kid(), Some("remote-1"), "the verified header keeps a remote key's kid");
    assert_eq!(provider.fetches(), 1);
    assert!(config.verify(&remote_token).is_ok(), "now cached");
    let sets = config.remote_key_sets();
    assert_eq!(sets.len(), 1);
    assert!(sets[0].status().ready);
}

/// The counters behind the `metrics` feature, read through a debugging recorder. Other tests
/// in this binary count too, so each assertion is a lower bound on this test's own effect.
#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_verifications_fetches_and_refused_refetches() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only recorder in this binary");
    // A snapshot drains the counters: take one, after the traffic.
    let counter = |snapshot: &[(
        metrics_util::CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )],
                   name: &str,
                   label: Option<(&str, &str)>|
     -> u64 {
        snapshot
            .iter()
            .filter(|(key, _, _, _)| {
                let key = key.key();
                key.name() == name
                    && label.is_none_or(|(k, v)| key.labels().any(|l| l.key() == k && l.value() == v))
            })
            .map(|(_, _, _, value)| match value {
                DebugValue::Counter(count) => *count,
                _ => 0,
            })
            .sum()
    };
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    let router = app(config(remote(&provider.url()).build().unwrap()));
    let good = token(&rsa);
    for _ in 0..5 {
        assert_eq!(call(&router, &good).await, StatusCode::OK);
    }
    for i in 0..20 {
        let forged = with_header(&good, &json!({"alg": "RS256", "kid": format!("metrics-{i}")}));
        assert_eq!(call(&router, &forged).await, StatusCode::UNAUTHORIZED);
    }
    let snapshot = snapshotter.snapshot().into_vec();
    assert!(counter(&snapshot, "tower_jwt_auth_verifications_total", Some(("outcome", "ok"))) >= 5);
    assert!(counter(&snapshot, "tower_jwt_auth_verifications_total", Some(("outcome", "unknown_key"))) >= 20);
    assert!(counter(&snapshot, "tower_jwt_auth_jwks_fetches_total", Some(("result", "ok"))) >= 2);
    assert!(counter(&snapshot, "tower_jwt_auth_jwks_refetch_refused_total", None) >= 19);
}

// ---- a real OpenID provider (oidc-provider, tests/idp) ----

/// Discovery from the provider, its four resources as audiences, RFC 9068 access tokens.
fn provider_config(provider: &idp::Idp) -> (JwtAuthConfig, RemoteJwks) {
    let keys = RemoteJwks::discover(provider.issuer())
        .allow_http(true)
        .unknown_kid_cooldown(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut builder =
        JwtAuthConfig::builder().remote_jwks(keys.clone()).issuer(provider.issuer()).required_type("at+jwt");
    for (resource, _) in idp::RESOURCES {
        builder = builder.audience(resource);
    }
    (builder.build().unwrap(), keys)
}

/// The verified header's algorithm and the whole verified payload.
async fn verified(Extension(claims): Extension<Claims>) -> axum::Json<Value> {
    let payload: Value = serde_json::from_slice(claims.token().payload()).unwrap();
    axum::Json(json!({"alg": format!("{:?}", claims.header().algorithm()), "claims": payload}))
}

fn provider_app(config: JwtAuthConfig) -> Router {
    use tower_jwt_auth::Require;
    Router::new()
        .route("/write", get(|| async { "written" }))
        .route_layer(Require::scope("write"))
        .route("/me", get(me))
        .route("/verified", get(verified))
        .layer(JwtAuthLayer::new(config))
}

async fn get_path(base: &str, path: &str, token: &str) -> (StatusCode, String) {
    let response =
        reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    (StatusCode::from_u16(response.status().as_u16()).unwrap(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_openid_providers_tokens_of_every_algorithm_verify_after_discovery() {
    let provider = idp::Idp::start(&idp::keys_file("keys-a.json"), None);
    let (config, keys) = provider_config(&provider);
    let base = serve(provider_app(config)).await;
    for (resource, alg) in idp::RESOURCES {
        let token = provider.token(resource, "read write").await;
        let (status, body) = get_path(&base, "/verified", &token).await;
        assert_eq!(status, StatusCode::OK, "{resource}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["alg"], alg);
        assert_eq!(body["claims"]["aud"], resource, "aud arrives in the claims");
        assert_eq!(body["claims"]["scope"], "read write", "scope arrives in the claims");
        assert_eq!(body["claims"]["iss"], provider.issuer());
        assert_eq!(
            get_path(&base, "/write", &token).await.0,
            StatusCode::OK,
            "the write scope passes the guard"
        );
    }
    let read_only = provider.token(idp::ES256, "read").await;
    assert_eq!(get_path(&base, "/me", &read_only).await.0, StatusCode::OK);
    assert_eq!(get_path(&base, "/write", &read_only).await.0, StatusCode::FORBIDDEN);
    assert_eq!(keys.status().fetches, 1, "one discovery and one JWKS fetch served every algorithm");
    assert_eq!(keys.status().keys, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_providers_key_rotation_costs_one_refetch_and_a_dropped_key_stops_at_the_next_refresh() {
    let mut provider = idp::Idp::start(&idp::keys_file("keys-a.json"), None);
    let (config, keys) = provider_config(&provider);
    let base = serve(provider_app(config)).await;
    let old = provider.token(idp::RS256, "read").await;
    assert_eq!(get_path(&base, "/me", &old).await.0, StatusCode::OK);
    assert_eq!(keys.status().fetches, 1);

    // New keys sign; the old kid stays published.
    provider.restart(&idp::keys_file("keys-ab.json"));
    let new = provider.token(idp::RS256, "read").await;
    let new_es = provider.token(idp::ES256, "read").await;
    assert_eq!(get_path(&base, "/me", &new).await.0, StatusCode::OK, "the new kid is fetched");
    assert_eq!(keys.status().fetches, 2, "with one refetch");
    assert_eq!(get_path(&base, "/me", &new_es).await.0, StatusCode::OK, "that fetch brought every new key");
    assert_eq!(get_path(&base, "/me", &old).await.0, StatusCode::OK, "the old key is still published");
    assert_eq!(keys.status().fetches, 2);

    // The provider drops the old key: its tokens are refused from the next refresh on.
    provider.restart(&idp::keys_file("keys-b.json"));
    assert_eq!(
        get_path(&base, "/me", &old).await.0,
        StatusCode::OK,
        "until the next refresh the set is cached"
    );
    keys.refresh().await.unwrap();
    let (status, _) = get_path(&base, "/me", &old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a dropped key stops authorising at the next refresh");
    assert_eq!(get_path(&base, "/me", &new).await.0, StatusCode::OK);
    assert_eq!(keys.status().fetches, 3, "the refused old kid caused no fetch (cooldown)");
}

#[tokio::test]
async fn a_set_is_served_within_its_lifetime_whatever_the_maximum_staleness() {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    // A staleness of zero must not make a fresh set unusable: that would fetch per request.
    let router = app(config(remote(&provider.url()).max_staleness(Duration::ZERO).build().unwrap()));
    let token = token(&rsa);
    for _ in 0..50 {
        assert_eq!(call(&router, &token).await, StatusCode::OK);
    }
    assert_eq!(provider.fetches(), 1);
}

/// What becomes of the runtime that started a fetch, once it has given up waiting for it.
enum Starter {
    /// Alive but not driven: a current-thread runtime outside `block_on`.
    Idle,
    /// Shut down.
    Gone,
}

/// A current-thread runtime on its own thread starts the cold fetch (the provider answers
/// after 1.5 s), gives up on it after 200 ms, then idles or shuts down; the same
/// configuration then serves a real server on the test's runtime.
async fn left_behind(starter: Starter) {
    let rsa = signer(Algorithm::RS256, "rsa-1");
    let provider = Provider::start(jwks_of(&[&rsa])).await;
    provider.set_mode(Mode::Delay(Duration::from_millis(1500)));
    let config = config(remote(&provider.url()).build().unwrap());
    let token = token(&rsa);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let thread = {
        let (config, token) = (config.clone(), token.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let waited = runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(200), config.verify_async::<Value>(&token)).await
            });
            assert!(waited.is_err(), "the fetch is still in flight");
            match starter {
                Starter::Idle => {
                    started_tx.send(()).unwrap();
                    let _ = release_rx.recv_timeout(Duration::from_secs(30));
                    drop(runtime);
                }
                Starter::Gone => {
                    drop(runtime);
                    started_tx.send(()).unwrap();
                }
            }
        })
    };
    started_rx.recv().unwrap();
    let base = serve(app(config)).await;
    let started = std::time::Instant::now();
    let answer = get_me(&base, &token).await;
    assert_eq!(answer.status, StatusCode::OK, "body: {}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(provider.fetches(), 1, "the request waited for the fetch in flight");
    let _ = release_tx.send(()); // the idle starter waits for this; a gone one has ended
    thread.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_outlives_the_runtime_that_started_it_idle_or_shut_down() {
    // Before fetches ran on their own thread: with the starter idle, the request hung (the
    // fetch's connection and timer belonged to a runtime nobody drove); with it shut down,
    // the fetch panicked ("being shutdown") and the request got 503.
    left_behind(Starter::Idle).await;
    left_behind(Starter::Gone).await;
}

//! Token cookies and the cross-site request check, in a real axum server on 127.0.0.1
//! driven by reqwest: one test per rule, named after the rule it guards.

#[path = "support/serve.rs"]
mod serve;

use std::time::Duration;

use axum::Router;
use axum::http::header::SET_COOKIE;
use axum::routing::{any, post};
use axum::{Extension, response::IntoResponse};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tower_jwt_auth::{
    Claims, ErrorKind, JwtAuthConfig, JwtAuthLayer, TokenIssuer, TokenSource,
    cookie::{CsrfPolicy, TokenCookie},
    error::ConfigErrorKind,
};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";
const COOKIE: &str = "access_token";
const TRUSTED: &str = "https://app.example.test";
const LIFETIME: Duration = Duration::from_secs(900);

fn cookie() -> TokenCookie {
    TokenCookie::new(COOKIE).unwrap()
}

fn issuer() -> TokenIssuer {
    TokenIssuer::builder().hmac_secret(SECRET).lifetime(LIFETIME).build().unwrap()
}

fn token() -> String {
    issuer().issue(&json!({"sub": "alice"})).unwrap()
}

async fn me(Extension(claims): Extension<Claims>) -> String {
    claims.sub.clone().unwrap_or_default()
}

async fn login() -> impl IntoResponse {
    let token = issuer().issue(&json!({"sub": "alice"})).unwrap();
    let set = cookie().set(&token, issuer().lifetime()).unwrap();
    ([(SET_COOKIE, set)], "logged in")
}

async fn logout() -> impl IntoResponse {
    ([(SET_COOKIE, cookie().clear())], "logged out")
}

/// `/login` (public) sets the cookie; `/me` (any method) and `/logout` need a token from the
/// cookie or the `Authorization` header.
async fn serve(policy: CsrfPolicy) -> String {
    let config = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .token_sources([TokenSource::bearer(), cookie().source()])
        .csrf(policy)
        .build()
        .unwrap();
    let protected =
        Router::new().route("/me", any(me)).route("/logout", post(logout)).layer(JwtAuthLayer::new(config));
    serve::serve(Router::new().route("/login", post(login)).merge(protected)).await
}

struct Answer {
    status: StatusCode,
    set_cookie: Option<String>,
    challenge: Option<String>,
    body: String,
}

async fn send(base: &str, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|value| value.to_str().unwrap().to_owned());
    let (set_cookie, challenge) = (header("set-cookie"), header("www-authenticate"));
    Answer { status: response.status(), set_cookie, challenge, body: response.text().await.unwrap() }
}

/// Sends `method /me` with the token in the cookie and these extra headers.
async fn with_cookie(base: &str, method: Method, headers: &[(&str, &str)]) -> Answer {
    let cookie = format!("{COOKIE}={}", token());
    let mut all = vec![("cookie", cookie.as_str())];
    all.extend_from_slice(headers);
    send(base, method, "/me", &all).await
}

fn assert_passed(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, "alice");
}

fn assert_refused_as_cross_site(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.challenge, None);
    if cfg!(feature = "axum") {
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(
            body,
            json!({"error": "forbidden", "error_description": ErrorKind::CrossSiteRequest.description()})
        );
        assert_eq!(body["error_description"], "Cross-site requests authenticated by a cookie are refused");
    }
}

#[tokio::test]
async fn login_sets_an_http_only_secure_strict_cookie_that_authenticates_later_requests() {
    let base = serve(CsrfPolicy::default()).await;
    let answer = send(&base, Method::POST, "/login", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let set_cookie = answer.set_cookie.expect("a Set-Cookie header");
    let (pair, attributes) = set_cookie.split_once("; ").unwrap();
    assert_eq!(attributes, "Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Strict");
    let token = pair.strip_prefix("access_token=").unwrap();
    assert_eq!(token.split('.').count(), 3);

    let answer = send(&base, Method::GET, "/me", &[("cookie", pair)]).await;
    assert_passed(&answer);
}

#[tokio::test]
async fn logout_clears_the_cookie_with_max_age_zero() {
    let base = serve(CsrfPolicy::default()).await;
    let cookie = format!("{COOKIE}={}", token());
    let answer =
        send(&base, Method::POST, "/logout", &[("cookie", &cookie), ("sec-fetch-site", "same-origin")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.set_cookie.as_deref(),
        Some("access_token=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
    );
}

#[tokio::test]
async fn safe_methods_with_a_cookie_pass_even_cross_site() {
    let base = serve(CsrfPolicy::default()).await;
    assert_passed(&with_cookie(&base, Method::GET, &[]).await);
    let cross_site = [("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")];
    assert_passed(&with_cookie(&base, Method::GET, &cross_site).await);
    let answer = with_cookie(&base, Method::HEAD, &cross_site).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_websocket_handshake_with_a_cookie_is_refused_like_a_post() {
    let base = serve(CsrfPolicy::default()).await;
    let handshake = [
        ("upgrade", "websocket"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    let cross_site: Vec<_> = handshake
        .iter()
        .copied()
        .chain([("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")])
        .collect();
    assert_refused_as_cross_site(&with_cookie(&base, Method::GET, &cross_site).await);
    // Without fetch metadata, a foreign Origin is refused too.
    let foreign: Vec<_> = handshake.iter().copied().chain([("origin", "https://evil.test")]).collect();
    assert_refused_as_cross_site(&with_cookie(&base, Method::GET, &foreign).await);
    // The application's own page may open it.
    let same_origin: Vec<_> = handshake.iter().copied().chain([("sec-fetch-site", "same-origin")]).collect();
    assert_passed(&with_cookie(&base, Method::GET, &same_origin).await);
}

#[tokio::test]
async fn cross_site_cookie_post_is_refused_with_403_and_a_fixed_message() {
    let base = serve(CsrfPolicy::default()).await;
    let answer = with_cookie(
        &base,
        Method::POST,
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")],
    )
    .await;
    assert_refused_as_cross_site(&answer);
    // Without an Origin the browser's word is enough.
    assert_refused_as_cross_site(
        &with_cookie(&base, Method::POST, &[("sec-fetch-site", "cross-site")]).await,
    );
}

#[tokio::test]
async fn same_site_cookie_post_needs_a_trusted_origin_too() {
    let base = serve(CsrfPolicy::default()).await;
    let answer = with_cookie(
        &base,
        Method::POST,
        &[("sec-fetch-site", "same-site"), ("origin", "https://sibling.example.test")],
    )
    .await;
    assert_refused_as_cross_site(&answer);
}

#[tokio::test]
async fn same_origin_cookie_post_passes() {
    let base = serve(CsrfPolicy::default()).await;
    let origin = base.clone();
    assert_passed(
        &with_cookie(&base, Method::POST, &[("sec-fetch-site", "same-origin"), ("origin", &origin)]).await,
    );
    assert_passed(&with_cookie(&base, Method::POST, &[("sec-fetch-site", "none")]).await);
}

#[tokio::test]
async fn foreign_origin_without_fetch_metadata_is_refused() {
    let base = serve(CsrfPolicy::default()).await;
    assert_refused_as_cross_site(&with_cookie(&base, Method::POST, &[("origin", "https://evil.test")]).await);
    // Same host, another port: another origin.
    let other_port = format!("{}1", base);
    assert_refused_as_cross_site(&with_cookie(&base, Method::POST, &[("origin", &other_port)]).await);
}

#[tokio::test]
async fn origin_null_is_refused() {
    let base = serve(CsrfPolicy::default().trusted_origin(TRUSTED)).await;
    assert_refused_as_cross_site(&with_cookie(&base, Method::POST, &[("origin", "null")]).await);
    let answer =
        with_cookie(&base, Method::POST, &[("sec-fetch-site", "cross-site"), ("origin", "null")]).await;
    assert_refused_as_cross_site(&answer);
}

#[tokio::test]
async fn origin_equal_to_the_host_passes_without_fetch_metadata() {
    let base = serve(CsrfPolicy::default()).await;
    // reqwest sends `Host: 127.0.0.1:<port>`; the origin names the same host and port.
    assert_passed(&with_cookie(&base, Method::POST, &[("origin", &base)]).await);
}

#[tokio::test]
async fn an_origin_on_the_sites_host_over_plain_http_is_another_origin() {
    // The site is https://api.example (behind a TLS proxy: the request names no scheme). A
    // page served over plain http on the same host is not the site's own.
    let base = serve(CsrfPolicy::default()).await;
    let host = [("host", "api.example")];
    let plain = with_cookie(&base, Method::POST, &[host[0], ("origin", "http://api.example")]).await;
    assert_refused_as_cross_site(&plain);
    assert_passed(&with_cookie(&base, Method::POST, &[host[0], ("origin", "https://api.example")]).await);
}

#[tokio::test]
async fn trusted_origin_passes_a_cross_site_request() {
    let base = serve(CsrfPolicy::default().trusted_origin(TRUSTED)).await;
    assert_passed(
        &with_cookie(&base, Method::POST, &[("sec-fetch-site", "cross-site"), ("origin", TRUSTED)]).await,
    );
    assert_passed(&with_cookie(&base, Method::POST, &[("origin", TRUSTED)]).await);
    let answer = with_cookie(
        &base,
        Method::POST,
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")],
    )
    .await;
    assert_refused_as_cross_site(&answer);
}

#[tokio::test]
async fn request_without_origin_or_fetch_metadata_passes() {
    let base = serve(CsrfPolicy::default()).await;
    assert_passed(&with_cookie(&base, Method::POST, &[]).await);
}

#[tokio::test]
async fn put_patch_and_delete_are_checked_like_post() {
    let base = serve(CsrfPolicy::default()).await;
    let cross_site = [("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")];
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        assert_refused_as_cross_site(&with_cookie(&base, method.clone(), &cross_site).await);
        assert_passed(&with_cookie(&base, method, &[("sec-fetch-site", "same-origin")]).await);
    }
}

#[tokio::test]
async fn bearer_header_credentials_are_not_checked() {
    let base = serve(CsrfPolicy::default()).await;
    let bearer = format!("Bearer {}", token());
    let answer = send(
        &base,
        Method::POST,
        "/me",
        &[("authorization", &bearer), ("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")],
    )
    .await;
    assert_passed(&answer);
}

#[tokio::test]
async fn disabled_policy_lets_cross_site_cookie_requests_through() {
    let base = serve(CsrfPolicy::disabled()).await;
    let answer = with_cookie(
        &base,
        Method::POST,
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.test")],
    )
    .await;
    assert_passed(&answer);
}

#[tokio::test]
async fn cross_site_check_runs_before_verification() {
    let base = serve(CsrfPolicy::default()).await;
    // A forged token: a cross-site request is refused as such, without verifying anything.
    let answer = send(
        &base,
        Method::POST,
        "/me",
        &[("cookie", "access_token=a.b.c"), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_refused_as_cross_site(&answer);
    let answer = send(&base, Method::POST, "/me", &[("cookie", "access_token=a.b.c")]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn malformed_trusted_origin_fails_build_with_a_sentence() {
    let error = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .csrf(CsrfPolicy::default().trusted_origin("https://app.example.test/"))
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidValue);
    assert!(error.message().contains("scheme://host[:port]"), "{}", error.message());
}

/// `GET /me` with these raw `Cookie` fields (bytes as a browser sends them).
async fn get_with_cookie_fields(base: &str, fields: &[Vec<u8>]) -> StatusCode {
    let mut request = reqwest::Client::new().get(format!("{base}/me"));
    for field in fields {
        request = request.header("cookie", reqwest::header::HeaderValue::from_bytes(field).unwrap());
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn another_cookies_non_ascii_value_hides_nothing_and_a_bad_token_cookie_is_a_bad_request() {
    let base = serve(CsrfPolicy::default()).await;
    let token = token();
    // Browsers send cookie values as raw bytes, UTF-8 included: the token is still found.
    let field = format!("lang=fr; name=Jos\u{e9}; {COOKIE}={token}").into_bytes();
    assert_eq!(get_with_cookie_fields(&base, &[field]).await, StatusCode::OK);
    // The token cookie itself with bytes that are not UTF-8: a malformed credential.
    let mut field = format!("{COOKIE}=").into_bytes();
    field.extend_from_slice(&[0xff, 0xfe]);
    assert_eq!(get_with_cookie_fields(&base, &[field]).await, StatusCode::BAD_REQUEST);
    // Split over two fields (as HTTP/2 sends them), one with non-ASCII bytes: still repeated.
    let other = issuer().issue(&json!({"sub": "mallory"})).unwrap();
    let fields =
        [format!("{COOKIE}={token}").into_bytes(), format!("{COOKIE}={other}; x=\u{e9}").into_bytes()];
    assert_eq!(get_with_cookie_fields(&base, &fields).await, StatusCode::BAD_REQUEST);
}

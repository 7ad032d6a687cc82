//! The layer inside real servers on 127.0.0.1 (axum, and plain hyper), driven by reqwest:
//! one test per rule of the request path, named after the rule it guards.

#[path = "support/logs.rs"]
mod logs;
#[path = "support/serve.rs"]
mod serve;

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use serve::serve;
use tower::ServiceBuilder;
use tower_jwt_auth::{
    Claims, ErrorKind, JwtAuthConfig, JwtAuthConfigBuilder, JwtAuthLayer, Require, TokenIssuer, TokenSource,
    VerifyingKey, expiry::TokenExpiryLayer,
};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "api.test";
const RSA_PRIVATE: &str = include_str!("fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("fixtures/rsa_public.pem");

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn builder() -> JwtAuthConfigBuilder {
    JwtAuthConfig::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE)
}

fn config() -> JwtAuthConfig {
    builder().build().unwrap()
}

fn issuer() -> TokenIssuer {
    TokenIssuer::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

fn token() -> String {
    issuer().issue(&json!({"sub": "alice", "role": "admin"})).unwrap()
}

/// Claims with these registered values, overridden or removed (`null`) by `changes`.
fn claims_with(changes: Value) -> Value {
    let now = now();
    let mut claims = json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600});
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs raw header and payload JSON text with HMAC-SHA256 under `secret`, byte for byte
/// as given (so tests can repeat members or add headers no library would write).
fn forge_with(header: &str, payload: &str, secret: &[u8]) -> String {
    let _ = config(); // installs the crypto provider that jsonwebtoken's `sign` uses
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{message}.{signature}")
}

fn forge(header: &str, payload: &str) -> String {
    forge_with(header, payload, SECRET)
}

fn forge_claims(claims: &Value) -> String {
    forge(r#"{"alg":"HS256","typ":"JWT"}"#, &claims.to_string())
}

async fn me(Extension(claims): Extension<Claims>) -> String {
    claims.sub.clone().unwrap_or_default()
}

async fn maybe_me(claims: Option<Extension<Claims>>) -> String {
    claims.map_or_else(|| "anonymous".into(), |Extension(c)| c.sub.clone().unwrap_or_default())
}

fn app(layer: JwtAuthLayer) -> Router {
    Router::new().route("/me", get(me)).route("/maybe", get(maybe_me)).layer(layer)
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: String,
}

async fn send(base: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let challenge =
        response.headers().get("www-authenticate").map(|value| value.to_str().unwrap().to_owned());
    Answer { status, challenge, body: response.text().await.unwrap() }
}

async fn with_bearer(config: JwtAuthConfig, token: &str) -> Answer {
    let base = serve(app(JwtAuthLayer::new(config))).await;
    send(&base, "/me", &[("authorization", &format!("Bearer {token}"))]).await
}

/// Asserts a 401 `invalid_token` whose description is the kind's fixed sentence.
fn assert_invalid_token(answer: &Answer, kind: ErrorKind) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "body: {}", answer.body);
    let expected = format!(
        "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{}\"",
        kind.description()
    );
    assert_eq!(answer.challenge.as_deref(), Some(expected.as_str()));
    // axum's body holds the JSON only with the `axum` feature; hyper's `Full` always does.
    if cfg!(feature = "axum") || !answer.body.is_empty() {
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body, json!({"error": "invalid_token", "error_description": kind.description()}));
    }
}

fn assert_invalid_request(answer: &Answer, kind: ErrorKind) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "body: {}", answer.body);
    let expected = format!(
        "Bearer realm=\"api\", error=\"invalid_request\", error_description=\"{}\"",
        kind.description()
    );
    assert_eq!(answer.challenge.as_deref(), Some(expected.as_str()));
}

// ---- the happy path and the credential sources ----

#[tokio::test]
async fn valid_bearer_token_reaches_the_handler_with_its_claims() {
    let answer = with_bearer(config(), &token()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "alice");
}

#[tokio::test]
async fn missing_credential_gets_401_with_a_bare_challenge() {
    let base = serve(app(JwtAuthLayer::new(config()))).await;
    let answer = send(&base, "/me", &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some("Bearer realm=\"api\""));
    if cfg!(feature = "axum") {
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
}

#[tokio::test]
async fn another_authorization_scheme_counts_as_no_credential() {
    let base = serve(app(JwtAuthLayer::new(config()))).await;
    let answer = send(&base, "/me", &[("authorization", "Basic YWxpY2U6d29uZGVybGFuZA==")]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some("Bearer realm=\"api\""));
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive_and_allows_several_spaces() {
    let base = serve(app(JwtAuthLayer::new(config()))).await;
    let answer = send(&base, "/me", &[("authorization", &format!("bEARer    {}", token()))]).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn a_credential_that_is_not_a_b64token_is_invalid_request() {
    let base = serve(app(JwtAuthLayer::new(config()))).await;
    // Whatever else is wrong too (segments, size): the syntax decides first.
    let oversized = format!("Bearer {}!", "a".repeat(64 * 1024));
    let fine_segments = format!("Bearer {}", token().replacen('.', "!.", 1));
    for value in
        ["Bearer", "Bearer ", "Bearer a,b", "Bearer a b", "Bearer ä", "Bearer a.b.c.d.e,", &oversized]
            .into_iter()
            .chain([fine_segments.as_str()])
    {
        let answer = send(&base, "/me", &[("authorization", value)]).await;
        assert_invalid_request(&answer, ErrorKind::MalformedRequest);
    }
}

#[tokio::test]
async fn repeated_authorization_header_is_invalid_request() {
    let base = serve(app(JwtAuthLayer::new(config()))).await;
    let bearer = format!("Bearer {}", token());
    let answer = send(&base, "/me", &[("authorization", &bearer), ("authorization", &bearer)]).await;
    assert_invalid_request(&answer, ErrorKind::RepeatedCredential);
}

fn cookie_and_bearer() -> JwtAuthConfig {
    builder().token_sources([TokenSource::bearer(), TokenSource::cookie("access_token")]).build().unwrap()
}

#[tokio::test]
async fn token_in_a_cookie_is_found_across_split_cookie_fields() {
    let base = serve(app(JwtAuthLayer::new(cookie_and_bearer()))).await;
    let cookie = format!("access_token={}", token());
    let answer = send(&base, "/me", &[("cookie", "theme=dark; lang=en"), ("cookie", &cookie)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn two_different_credentials_are_invalid_request_but_the_same_one_twice_is_fine() {
    let base = serve(app(JwtAuthLayer::new(cookie_and_bearer()))).await;
    let (first, second) = (token(), token());
    let answer = send(
        &base,
        "/me",
        &[("authorization", &format!("Bearer {first}")), ("cookie", &format!("access_token={second}"))],
    )
    .await;
    assert_invalid_request(&answer, ErrorKind::ConflictingCredentials);
    let answer = send(
        &base,
        "/me",
        &[("authorization", &format!("Bearer {first}")), ("cookie", &format!("access_token={first}"))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn repeated_cookie_name_is_invalid_request() {
    let base = serve(app(JwtAuthLayer::new(cookie_and_bearer()))).await;
    let cookie = format!("access_token={0}; access_token={0}", token());
    let answer = send(&base, "/me", &[("cookie", &cookie)]).await;
    assert_invalid_request(&answer, ErrorKind::RepeatedCredential);
}

#[tokio::test]
async fn named_header_with_prefix_is_a_token_source() {
    let config =
        builder().token_sources([TokenSource::header_with_prefix("x-auth", "Token ")]).build().unwrap();
    let base = serve(app(JwtAuthLayer::new(config))).await;
    let answer = send(&base, "/me", &[("x-auth", &format!("Token {}", token()))]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = send(&base, "/me", &[("authorization", &format!("Bearer {}", token()))]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "sources not configured are not read");
    // Without the prefix the header is not ours, whatever its bytes; with it, bad bytes are 400.
    let layer = || {
        JwtAuthLayer::new(
            builder().token_sources([TokenSource::header_with_prefix("x-auth", "Token ")]).build().unwrap(),
        )
    };
    let foreign = request_with(&[("x-auth", b"Other \xff\xfe")]);
    assert_eq!(oneshot(layer().optional(), foreign).await.status(), StatusCode::OK);
    let ours = request_with(&[("x-auth", b"Token \xff\xfe")]);
    assert_eq!(oneshot(layer().optional(), ours).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_bearer_token_that_is_not_utf8_is_a_bad_request() {
    let layer = || JwtAuthLayer::new(config());
    for value in [&b"Bearer \xff\xfe"[..], b"Bearer a.b.\xc3"] {
        let response = oneshot(layer(), request_with(&[("authorization", value)])).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{value:?}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains(r#"error="invalid_request""#), "{challenge}");
    }
}

#[tokio::test]
async fn query_parameter_is_read_only_when_configured() {
    let path = format!("/me?access_token={}", token());
    let base = serve(app(JwtAuthLayer::new(config()))).await;
    assert_eq!(send(&base, &path, &[]).await.status, StatusCode::UNAUTHORIZED);
    let config = builder().token_sources([TokenSource::query("access_token")]).build().unwrap();
    let base = serve(app(JwtAuthLayer::new(config))).await;
    assert_eq!(send(&base, &path, &[]).await.status, StatusCode::OK);
}

// ---- claims ----

#[tokio::test]
async fn expired_token_is_rejected_with_invalid_token() {
    let token = forge_claims(&claims_with(json!({"exp": now() - 120, "iat": now() - 700})));
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::Expired);
}

#[tokio::test]
async fn token_whose_exp_is_now_is_expired_without_leeway() {
    let config = builder().leeway(Duration::ZERO).build().unwrap();
    let token = forge_claims(&claims_with(json!({"exp": now()})));
    assert_invalid_token(&with_bearer(config, &token).await, ErrorKind::Expired);
}

#[tokio::test]
async fn leeway_of_60_seconds_accepts_a_token_that_just_expired() {
    let token = forge_claims(&claims_with(json!({"exp": now() - 30})));
    assert_eq!(with_bearer(config(), &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_without_exp_is_rejected() {
    let token = forge_claims(&claims_with(json!({"exp": null})));
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::MissingClaim);
}

#[tokio::test]
async fn token_not_yet_valid_is_rejected() {
    let token = forge_claims(&claims_with(json!({"nbf": now() + 300})));
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::NotYetValid);
}

#[tokio::test]
async fn token_issued_in_the_future_is_rejected() {
    let token = forge_claims(&claims_with(json!({"iat": now() + 300})));
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::IssuedInFuture);
}

#[tokio::test]
async fn wrong_or_missing_issuer_is_rejected() {
    let wrong = forge_claims(&claims_with(json!({"iss": "https://evil.test"})));
    assert_invalid_token(&with_bearer(config(), &wrong).await, ErrorKind::InvalidIssuer);
    let prefix = forge_claims(&claims_with(json!({"iss": "https://issuer.test.evil"})));
    assert_invalid_token(&with_bearer(config(), &prefix).await, ErrorKind::InvalidIssuer);
    let missing = forge_claims(&claims_with(json!({"iss": null})));
    assert_invalid_token(&with_bearer(config(), &missing).await, ErrorKind::MissingClaim);
}

#[tokio::test]
async fn issuer_that_is_not_a_string_is_rejected() {
    let token = forge_claims(&claims_with(json!({"iss": ["https://issuer.test"]})));
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::InvalidClaims);
}

#[tokio::test]
async fn audience_may_be_a_string_or_an_array_and_must_match() {
    let array = forge_claims(&claims_with(json!({"aud": ["other", AUDIENCE]})));
    assert_eq!(with_bearer(config(), &array).await.status, StatusCode::OK);
    let wrong = forge_claims(&claims_with(json!({"aud": ["other"]})));
    assert_invalid_token(&with_bearer(config(), &wrong).await, ErrorKind::InvalidAudience);
    let missing = forge_claims(&claims_with(json!({"aud": null})));
    assert_invalid_token(&with_bearer(config(), &missing).await, ErrorKind::MissingClaim);
    let number = forge_claims(&claims_with(json!({"aud": 7})));
    assert_invalid_token(&with_bearer(config(), &number).await, ErrorKind::InvalidClaims);
}

#[tokio::test]
async fn token_living_longer_than_the_maximum_lifetime_is_rejected() {
    let config = builder().max_lifetime(Duration::from_secs(300)).build().unwrap();
    let token = forge_claims(&claims_with(json!({"exp": now() + 3600})));
    assert_invalid_token(&with_bearer(config, &token).await, ErrorKind::LifetimeTooLong);
}

#[tokio::test]
async fn required_typ_is_enforced() {
    let config = builder().required_type("at+jwt").build().unwrap();
    let claims = claims_with(json!({})).to_string();
    let jwt = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &claims);
    assert_invalid_token(&with_bearer(config.clone(), &jwt).await, ErrorKind::InvalidType);
    let at_jwt = forge(r#"{"alg":"HS256","typ":"application/at+jwt"}"#, &claims);
    assert_eq!(with_bearer(config, &at_jwt).await.status, StatusCode::OK);
}

#[tokio::test]
async fn duplicate_claim_names_are_rejected_for_default_and_typed_claims() {
    let now = now();
    let payload = format!(
        r#"{{"sub":"bob","roles":["user"],"roles":["admin"],"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}}"#,
        now + 600
    );
    let token = forge(r#"{"alg":"HS256"}"#, &payload);
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::InvalidClaims);

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        sub: String,
        roles: Vec<String>,
    }
    assert_eq!(config().verify_as::<Typed>(&token).unwrap_err().kind(), ErrorKind::InvalidClaims);
    let twice_sub =
        format!(r#"{{"sub":"a","sub":"b","iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{}}}"#, now + 600);
    assert_eq!(
        config().verify(&forge(r#"{"alg":"HS256"}"#, &twice_sub)).unwrap_err().kind(),
        ErrorKind::InvalidClaims
    );
}

/// A claims type that shrugs off what it cannot read: whatever it swallows, the layer's own
/// checks still see the payload as it is.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Lenient {
    sub: Option<String>,
    aud: Option<Vec<Forgiving<String>>>,
    roles: Option<Vec<Forgiving<u64>>>,
}

#[derive(Debug)]
struct Forgiving<T>(#[allow(dead_code)] Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Forgiving<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Forgiving(T::deserialize(deserializer).ok()))
    }
}

#[tokio::test]
async fn a_lenient_claims_type_loosens_no_check_and_loses_no_role() {
    async fn lenient_me(Extension(claims): Extension<Claims<Lenient>>) -> String {
        claims.sub.clone().unwrap_or_default()
    }
    let router = Router::new()
        .route("/me", get(lenient_me))
        .route_layer(Require::role("admin"))
        .layer(JwtAuthLayer::new(config()).with_claims::<Lenient>());
    let base = serve(router).await;
    let call = |token: String| {
        let base = base.clone();
        async move { send(&base, "/me", &[("authorization", &format!("Bearer {token}"))]).await }
    };
    let exp = now() + 600;
    // An audience list with a number in it is malformed, whatever the claims type skips.
    let token = forge_claims(
        &json!({"sub": "a", "iss": ISSUER, "aud": [AUDIENCE, 5], "exp": exp, "roles": ["admin"]}),
    );
    assert_invalid_token(&call(token).await, ErrorKind::InvalidClaims);
    // Roles the claims type fails to read as numbers are still the token's roles.
    let token =
        forge_claims(&json!({"sub": "a", "iss": ISSUER, "aud": [AUDIENCE], "exp": exp, "roles": ["admin"]}));
    let answer = call(token).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "a"));
    let token =
        forge_claims(&json!({"sub": "a", "iss": ISSUER, "aud": [AUDIENCE], "exp": exp, "roles": ["user"]}));
    assert_eq!(call(token).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn payload_that_is_not_a_json_object_is_rejected() {
    for payload in ["[]", "\"x\"", "{", "null"] {
        let token = forge(r#"{"alg":"HS256"}"#, payload);
        assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::InvalidClaims);
    }
}

// ---- the header tricks ----

#[tokio::test]
async fn alg_none_is_rejected_in_any_case() {
    let claims = claims_with(json!({})).to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let unsigned =
            format!("{}.{}.", b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()), b64(claims.as_bytes()));
        assert_invalid_token(&with_bearer(config(), &unsigned).await, ErrorKind::UnsupportedAlgorithm);
    }
}

#[tokio::test]
async fn hs256_token_made_with_the_rsa_public_key_is_rejected() {
    let config = JwtAuthConfig::builder().key(VerifyingKey::rsa_pem(RSA_PUBLIC)).build().unwrap();
    let claims = claims_with(json!({})).to_string();
    let forged = forge_with(r#"{"alg":"HS256"}"#, &claims, RSA_PUBLIC.as_bytes());
    assert_invalid_token(&with_bearer(config, &forged).await, ErrorKind::UnsupportedAlgorithm);
}

#[tokio::test]
async fn embedded_keys_and_key_urls_in_the_header_are_never_used() {
    // Signed with an attacker's secret that the header offers as `jwk` or by URL.
    let attacker = b"the attacker's own secret, 32 bytes or more!";
    let claims = claims_with(json!({})).to_string();
    let jwk = format!(r#"{{"kty":"oct","k":"{}"}}"#, b64(attacker));
    for header in [
        format!(r#"{{"alg":"HS256","jwk":{jwk}}}"#),
        r#"{"alg":"HS256","jku":"http://127.0.0.1:1/jwks.json"}"#.to_string(),
        r#"{"alg":"HS256","x5u":"http://127.0.0.1:1/cert.pem"}"#.to_string(),
        r#"{"alg":"HS256","x5c":["MIIB"]}"#.to_string(),
    ] {
        let token = forge_with(&header, &claims, attacker);
        assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::InvalidSignature);
    }
}

#[tokio::test]
async fn unknown_crit_b64_false_enc_and_zip_headers_are_rejected() {
    let claims = claims_with(json!({})).to_string();
    for header in [
        r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        r#"{"alg":"HS256","b64":false}"#,
        r#"{"alg":"HS256","enc":"A128GCM"}"#,
        r#"{"alg":"HS256","zip":"DEF"}"#,
        // Present is present, whatever the value.
        r#"{"alg":"HS256","crit":null}"#,
        r#"{"alg":"HS256","b64":null}"#,
        r#"{"alg":"HS256","enc":null}"#,
        r#"{"alg":"HS256","zip":null}"#,
    ] {
        let token = forge(header, &claims);
        assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::UnsupportedHeader);
    }
}

#[tokio::test]
async fn a_header_that_is_not_a_json_object_is_malformed() {
    let claims = claims_with(json!({})).to_string();
    // Signed with the right key: only the header's shape is wrong.
    for header in [r#"["HS256","k1","JWT",null,null,null,null]"#, r#" ["HS256"]"#, "\"HS256\"", "null", "7"] {
        let token = forge(header, &claims);
        assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::Malformed);
    }
    let token = forge("\t\r\n {\"alg\":\"HS256\"} ", &claims);
    assert_eq!(with_bearer(config(), &token).await.status, StatusCode::OK, "whitespace around an object");
}

#[tokio::test]
async fn header_with_a_repeated_member_is_rejected() {
    let claims = claims_with(json!({})).to_string();
    let token = forge(r#"{"alg":"HS256","alg":"none"}"#, &claims);
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::Malformed);
}

#[tokio::test]
async fn encrypted_five_segment_token_is_rejected() {
    let jwe = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d";
    assert_invalid_token(&with_bearer(config(), jwe).await, ErrorKind::EncryptedToken);
}

#[tokio::test]
async fn non_canonical_base64url_is_rejected() {
    let token = token();
    let (rest, signature) = token.rsplit_once('.').unwrap();
    // The last character of a 32-byte signature carries 2 unused bits: set them.
    let last = signature.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let tweaked = alphabet.chars().nth(index | 0b11).unwrap();
    assert_ne!(tweaked, last);
    let non_canonical = format!("{rest}.{}{tweaked}", &signature[..signature.len() - 1]);
    assert_invalid_token(&with_bearer(config(), &non_canonical).await, ErrorKind::Malformed);
    let padded = format!("{token}=");
    // Padding is valid b64token syntax (RFC 6750), so this is a bad token, not a bad request.
    assert_invalid_token(&with_bearer(config(), &padded).await, ErrorKind::Malformed);
}

#[tokio::test]
async fn token_larger_than_the_cap_is_rejected_before_decoding() {
    let big = claims_with(json!({"filler": "x".repeat(9000)}));
    let token = forge_claims(&big);
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::TokenTooLarge);
    let config = builder().max_token_size(16 * 1024).build().unwrap();
    assert_eq!(with_bearer(config, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_signature_is_rejected() {
    let claims = claims_with(json!({})).to_string();
    let token = forge_with(r#"{"alg":"HS256"}"#, &claims, b"another secret that is long enough!!");
    assert_invalid_token(&with_bearer(config(), &token).await, ErrorKind::InvalidSignature);
}

#[tokio::test]
async fn kid_selects_the_key_and_an_unknown_kid_is_rejected() {
    let other = b"a second secret that is long enough for HS256".to_vec();
    let config = JwtAuthConfig::builder()
        .key(VerifyingKey::hmac(SECRET.to_vec()).with_kid("one"))
        .key(VerifyingKey::hmac(other.clone()).with_kid("two"))
        .build()
        .unwrap();
    let claims = claims_with(json!({})).to_string();
    let two = forge_with(r#"{"alg":"HS256","kid":"two"}"#, &claims, &other);
    assert_eq!(with_bearer(config.clone(), &two).await.status, StatusCode::OK);
    let unknown = forge_with(r#"{"alg":"HS256","kid":"three"}"#, &claims, &other);
    assert_invalid_token(&with_bearer(config.clone(), &unknown).await, ErrorKind::UnknownKey);
    let mislabelled = forge_with(r#"{"alg":"HS256","kid":"one"}"#, &claims, &other);
    assert_invalid_token(&with_bearer(config.clone(), &mislabelled).await, ErrorKind::InvalidSignature);
    let no_kid = forge_with(r#"{"alg":"HS256"}"#, &claims, &other);
    assert_invalid_token(&with_bearer(config, &no_kid).await, ErrorKind::AmbiguousKey);
}

#[tokio::test]
async fn rsa_tokens_verify_against_the_configured_public_key() {
    let config = JwtAuthConfig::builder().key(VerifyingKey::rsa_pem(RSA_PUBLIC)).build().unwrap();
    let issuer = TokenIssuer::builder().rsa_pem(RSA_PRIVATE).build().unwrap();
    let token = issuer.issue(&json!({"sub": "carol"})).unwrap();
    let answer = with_bearer(config, &token).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "carol"));
}

#[tokio::test]
async fn garbage_tokens_get_a_fixed_answer_and_never_a_panic() {
    let config = config();
    let valid = token();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..5000 {
        let mut bytes = valid.clone().into_bytes();
        match round % 4 {
            0 => {
                let at = (next() as usize) % bytes.len();
                bytes[at] = b"ABCxyz019-_.=+/"[(next() % 15) as usize];
            }
            1 => bytes.truncate((next() as usize) % bytes.len()),
            2 => {
                let at = (next() as usize) % bytes.len();
                bytes.insert(at, b'.');
            }
            _ => bytes = (0..(next() % 64)).map(|_| (next() % 256) as u8).collect(),
        }
        let candidate = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(error) = config.verify(&candidate) {
            assert_eq!(error.class().status(), 401, "{candidate:?}");
        }
    }
    // And through a real server, a few of each shape.
    let base = serve(app(JwtAuthLayer::new(config))).await;
    for candidate in
        ["", ".", "..", "a.b.c", "e30.e30.e30", "eyJhbGciOiJIUzI1NiJ9..", &valid[..valid.len() - 5]]
    {
        let answer = send(&base, "/me", &[("authorization", &format!("Bearer {candidate}"))]).await;
        assert!(matches!(answer.status.as_u16(), 400 | 401), "{candidate:?}: {}", answer.status);
        assert!(!answer.body.contains(candidate) || candidate.len() < 3, "no token contents are echoed");
    }
}

// ---- modes and hooks ----

#[tokio::test]
async fn optional_mode_lets_anonymous_requests_through_but_rejects_bad_tokens() {
    let base = serve(app(JwtAuthLayer::new(config()).optional())).await;
    let anonymous = send(&base, "/maybe", &[]).await;
    assert_eq!((anonymous.status, anonymous.body.as_str()), (StatusCode::OK, "anonymous"));
    let known = send(&base, "/maybe", &[("authorization", &format!("Bearer {}", token()))]).await;
    assert_eq!((known.status, known.body.as_str()), (StatusCode::OK, "alice"));
    let bad = send(&base, "/maybe", &[("authorization", "Bearer a.b.c")]).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn responder_hook_shapes_the_rejection() {
    let config = builder()
        .responder(|error, _request| {
            (error.kind() == ErrorKind::Expired).then(|| {
                http::Response::builder()
                    .status(419)
                    .header("content-type", "text/plain")
                    .body(bytes::Bytes::from_static(b"session expired, log in again"))
                    .unwrap()
            })
        })
        .build()
        .unwrap();
    let expired = forge_claims(&claims_with(json!({"exp": now() - 3600, "iat": now() - 4000})));
    let answer = with_bearer(config.clone(), &expired).await;
    assert_eq!(answer.status.as_u16(), 419);
    if cfg!(feature = "axum") {
        assert_eq!(
            answer.body, "session expired, log in again",
            "axum's body holds bytes with the feature on"
        );
    }
    let other = with_bearer(config, "a.b.c").await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "None keeps the default answer");
}

#[tokio::test]
async fn typed_claims_reach_the_handler() {
    #[derive(Deserialize)]
    struct User {
        sub: String,
        role: String,
    }
    async fn whoami(Extension(user): Extension<Claims<User>>) -> String {
        format!("{}:{}:{:?}", user.sub, user.role, user.header().algorithm())
    }
    let router =
        Router::new().route("/me", get(whoami)).layer(JwtAuthLayer::new(config()).with_claims::<User>());
    let base = serve(router).await;
    let answer = send(&base, "/me", &[("authorization", &format!("Bearer {}", token()))]).await;
    assert_eq!(answer.body, "alice:admin:HS256");
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn claims_extractor_answers_401_without_the_layer_and_option_never_rejects() {
    async fn strict(claims: Claims) -> String {
        claims.sub.clone().unwrap_or_default()
    }
    async fn lenient(claims: Option<Claims<tower_jwt_auth::DefaultClaims>>) -> &'static str {
        if claims.is_some() { "someone" } else { "nobody" }
    }
    let routes = || Router::new().route("/strict", get(strict)).route("/lenient", get(lenient));
    let base = serve(routes()).await;
    let answer = send(&base, "/strict", &[]).await;
    assert_invalid_missing(&answer, "api");
    assert_eq!(send(&base, "/lenient", &[]).await.body, "nobody");
    let grpc = send(&base, "/strict", &[("content-type", "application/grpc")]).await;
    assert_eq!(grpc.status, StatusCode::OK, "trailers-only");
    // Behind an optional layer, the 401 is the layer's own: its realm.
    let base =
        serve(routes().layer(JwtAuthLayer::new(builder().realm("shop").build().unwrap()).optional())).await;
    assert_invalid_missing(&send(&base, "/strict", &[]).await, "shop");
    assert_eq!(send(&base, "/lenient", &[]).await.body, "nobody");
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn a_claims_type_other_than_the_layers_is_a_server_error_not_a_401() {
    #[derive(serde::Deserialize, Clone)]
    struct Mine {
        #[allow(dead_code)]
        sub: String,
    }
    async fn strict(_: Claims<Mine>) -> &'static str {
        "reached"
    }
    async fn lenient(claims: Option<Claims<Mine>>) -> &'static str {
        if claims.is_some() { "someone" } else { "nobody" }
    }
    // The layer decodes DefaultClaims; the handlers ask for Mine.
    let routes = Router::new().route("/strict", get(strict)).route("/lenient", get(lenient));
    let base = serve(routes.layer(JwtAuthLayer::new(config()))).await;
    let bearer = format!("Bearer {}", token());
    let answer = send(&base, "/strict", &[("authorization", &bearer)]).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "a valid token is not the caller's fault");
    assert_eq!(answer.challenge, None, "no challenge: another token would not help");
    assert_eq!(answer.body, "", "nothing about the server's types reaches the client");
    assert_eq!(send(&base, "/lenient", &[("authorization", &bearer)]).await.body, "nobody");
    // Without a credential it is the usual 401.
    assert_eq!(send(&base, "/strict", &[]).await.status, StatusCode::UNAUTHORIZED);
}

/// Sends the same request with a valid token to `path` three times through `service`, on a
/// thread whose events are kept: the answers' statuses, and the error-level events.
fn three_requests_logged<S, B, R>(service: S, path: &str) -> (Vec<StatusCode>, Vec<logs::Logged>)
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone,
    S::Error: std::fmt::Debug,
    B: Default,
{
    use tower::ServiceExt;

    let logs = logs::Logs::default();
    let statuses = tracing::subscriber::with_default(logs.clone(), || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let request = http::Request::get(path)
                    .header("authorization", format!("Bearer {}", token()))
                    .body(B::default())
                    .unwrap();
                statuses.push(service.clone().oneshot(request).await.unwrap().status());
            }
            statuses
        })
    });
    let errors = logs.events().into_iter().filter(|event| event.level == tracing::Level::ERROR).collect();
    (statuses, errors)
}

/// A guard with no auth layer outside it answers 401 to every request (its handler, which
/// answers 200, is never called), and logs the misconfiguration at error level once,
/// however many requests repeat it.
#[test]
fn a_guard_without_the_auth_layer_answers_401_and_logs_it_once() {
    use tower::Layer;

    let handler = tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, Infallible>(http::Response::new(String::from("reached")))
    });
    let (statuses, errors) = three_requests_logged(Require::role("admin").layer(handler), "/reports");
    assert!(statuses.iter().all(|status| *status == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(errors.len(), 1, "one error line for three requests: {errors:?}");
    assert!(errors[0].text().contains("mount JwtAuthLayer"), "the line says what to do: {errors:?}");
}

/// A method policy with no auth layer outside it answers its rules' 401 without a token,
/// and logs its own misconfiguration line once: never the guard's.
#[test]
fn a_method_policy_without_the_auth_layer_logs_its_own_line_once() {
    use tower::Layer;
    use tower_jwt_auth::guard::MethodPolicy;

    let handler = tower::service_fn(|_: http::Request<String>| async {
        Ok::<_, Infallible>(http::Response::new(String::from("reached")))
    });
    let policy =
        MethodPolicy::deny_unlisted().require("GET /reports", Require::role("admin")).build().unwrap();
    let (statuses, errors) = three_requests_logged(policy.layer(handler), "/reports");
    assert!(statuses.iter().all(|status| *status == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(errors.len(), 1, "one error line for three requests: {errors:?}");
    assert!(errors[0].text().contains("a MethodPolicy found no JwtAuthLayer"), "{errors:?}");
}

/// The claims-type mismatch is logged at error level naming both types, once for a pair of
/// types however many requests repeat it; the answer stays 500 with an empty body.
#[cfg(feature = "axum")]
#[test]
fn a_claims_type_mismatch_is_logged_once_naming_both_types() {
    #[derive(serde::Deserialize)]
    struct Theirs {
        #[allow(dead_code)]
        sub: String,
    }
    async fn handler(_: Claims<Theirs>) -> &'static str {
        "reached"
    }
    let router = Router::new().route("/theirs", get(handler)).layer(JwtAuthLayer::new(config()));
    let (statuses, errors) = three_requests_logged::<_, axum::body::Body, _>(router, "/theirs");
    assert!(statuses.iter().all(|status| *status == StatusCode::INTERNAL_SERVER_ERROR), "{statuses:?}");
    assert_eq!(errors.len(), 1, "one error line for three requests: {errors:?}");
    assert!(
        errors[0].field("layer_claims").is_some_and(|name| name.ends_with("DefaultClaims")),
        "{errors:?}"
    );
    assert!(errors[0].field("handler_claims").is_some_and(|name| name.ends_with("Theirs")), "{errors:?}");
    assert!(errors[0].text().contains("with_claims"), "the line says what to do: {errors:?}");
}

/// A payload that does not fit the claims type is `invalid_claims`, and the debug log names
/// the member it failed on (its path), never the member's value.
#[test]
fn invalid_claims_are_logged_with_the_members_path_and_no_value() {
    #[derive(serde::Deserialize, Debug)]
    struct Order {
        #[allow(dead_code)]
        sub: String,
        #[allow(dead_code)]
        address: Address,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Address {
        #[allow(dead_code)]
        zip: u32,
    }
    let token = issuer().issue(&json!({"sub": "alice", "address": {"zip": "a-secret-value"}})).unwrap();
    let logs = logs::Logs::default();
    let error =
        tracing::subscriber::with_default(logs.clone(), || config().verify_as::<Order>(&token).unwrap_err());
    assert_eq!(error.kind(), ErrorKind::InvalidClaims);
    let events = logs.events();
    let path = events.iter().find_map(|event| event.field("claim").map(str::to_owned));
    assert_eq!(path.as_deref(), Some("address.zip"), "{events:?}");
    assert!(
        events.iter().all(|event| !event.text().contains("a-secret-value")),
        "no value is logged: {events:?}"
    );
}

/// A 401 for a missing credential: the bare challenge with this realm, and the fixed body.
#[cfg(feature = "axum")]
fn assert_invalid_missing(answer: &Answer, realm: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some(format!("Bearer realm=\"{realm}\"").as_str()));
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["error_description"], ErrorKind::MissingCredential.description());
}

#[tokio::test]
async fn layer_under_buffer_and_concurrency_limit_calls_the_readied_service() {
    use tower::{Service, ServiceExt};
    let service = ServiceBuilder::new()
        .buffer(4)
        .layer(JwtAuthLayer::new(config()))
        .concurrency_limit(1)
        .service(app(JwtAuthLayer::new(config()).optional()));
    let bearer = format!("Bearer {}", token());
    let calls = (0..16).map(|i| {
        let mut service = service.clone();
        let bearer = bearer.clone();
        async move {
            let request = http::Request::builder()
                .uri("/me")
                .header("authorization", if i % 2 == 0 { bearer.as_str() } else { "Bearer x.y.z" })
                .body(axum::body::Body::empty())
                .unwrap();
            service.ready().await.unwrap().call(request).await.unwrap().status()
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    for (i, status) in statuses.into_iter().enumerate() {
        assert_eq!(status.as_u16(), if i % 2 == 0 { 200 } else { 401 });
    }
}

// ---- plain hyper 1 (hyper-util's Tower adapter): no axum anywhere in the path ----

/// Serves a Tower service with hyper on 127.0.0.1, one task per connection.
async fn serve_hyper<S, B>(service: S) -> String
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}")
}

async fn hyper_me(
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let name = request.extensions().get::<Claims>().and_then(|claims| claims.sub.clone()).unwrap_or_default();
    Ok(http::Response::new(Full::new(Bytes::from(name))))
}

#[tokio::test]
async fn plain_hyper_server_uses_the_same_layer() {
    let base =
        serve_hyper(ServiceBuilder::new().layer(JwtAuthLayer::new(config())).service_fn(hyper_me)).await;
    let ok = send(&base, "/", &[("authorization", &format!("Bearer {}", token()))]).await;
    assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, "alice"));

    let missing = send(&base, "/", &[]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge.as_deref(), Some(r#"Bearer realm="api""#));
    let body: Value = serde_json::from_str(&missing.body).unwrap();
    assert_eq!(body, json!({"error": "unauthorized", "error_description": "Authentication is required"}));

    let expired = forge_claims(&claims_with(json!({"exp": now() - 3600, "iat": now() - 4000})));
    assert_invalid_token(
        &send(&base, "/", &[("authorization", &format!("Bearer {expired}"))]).await,
        ErrorKind::Expired,
    );
    let forged = forge_with(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims_with(json!({})).to_string(),
        b"x".repeat(32).as_slice(),
    );
    assert_invalid_token(
        &send(&base, "/", &[("authorization", &format!("Bearer {forged}"))]).await,
        ErrorKind::InvalidSignature,
    );
}

/// Keys unavailable (a remote set whose provider is down, nothing fetched yet): 503 with
/// `Retry-After` and no challenge, the token may be fine.
#[cfg(feature = "jwks")]
#[tokio::test]
async fn plain_hyper_server_answers_503_while_the_keys_are_unavailable() {
    use tower_jwt_auth::RemoteJwks;
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let keys = RemoteJwks::from_url(&format!("http://{address}/jwks.json")).allow_http(true).build().unwrap();
    let config =
        JwtAuthConfig::builder().remote_jwks(keys).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let base = serve_hyper(ServiceBuilder::new().layer(JwtAuthLayer::new(config)).service_fn(hyper_me)).await;
    let token = TokenIssuer::builder()
        .rsa_pem(RSA_PRIVATE)
        .kid("rsa-1")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
        .issue(&json!({"sub": "alice"}))
        .unwrap();
    let response = reqwest::Client::new().get(&base).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(!response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], ErrorKind::KeysUnavailable.description());
}

#[tokio::test]
async fn plain_hyper_server_guard_answers_403_naming_the_role() {
    let admin_only = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(config()))
        .layer(Require::role("admin"))
        .service_fn(hyper_me);
    let base = serve_hyper(admin_only).await;
    let alice = send(&base, "/admin", &[("authorization", &format!("Bearer {}", token()))]).await;
    assert_eq!((alice.status, alice.body.as_str()), (StatusCode::OK, "alice"));

    let bob = issuer().issue(&json!({"sub": "bob", "role": "user"})).unwrap();
    let answer = send(&base, "/admin", &[("authorization", &format!("Bearer {bob}"))]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required permission", scope="admin""#
        )
    );
}

// ---- long responses outliving their token ----

/// The number of events a stream sends, one per `EVENT_INTERVAL`: three seconds in all.
const EVENT_COUNT: usize = 20;
const EVENT_INTERVAL: Duration = Duration::from_millis(150);

/// A server-sent events stream of `EVENT_COUNT` events.
async fn events(
    _: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<UnsyncBoxBody<Bytes, Infallible>>, Infallible> {
    let ticks = futures_util::stream::unfold(0, |sent| async move {
        if sent == EVENT_COUNT {
            return None;
        }
        if sent > 0 {
            tokio::time::sleep(EVENT_INTERVAL).await;
        }
        let event = Frame::data(Bytes::from(format!("data: {sent}\n\n")));
        Some((Ok(event), sent + 1))
    });
    let mut response = http::Response::new(StreamBody::new(ticks).boxed_unsync());
    response.headers_mut().insert("content-type", http::HeaderValue::from_static("text/event-stream"));
    Ok(response)
}

/// Serves `events` behind the auth layer (no leeway), with or without `TokenExpiryLayer`.
async fn serve_events(expiry: bool) -> String {
    let auth = JwtAuthLayer::new(builder().leeway(Duration::ZERO).build().unwrap());
    if expiry {
        serve_hyper(ServiceBuilder::new().layer(auth).layer(TokenExpiryLayer::new()).service_fn(events)).await
    } else {
        serve_hyper(ServiceBuilder::new().layer(auth).service_fn(events)).await
    }
}

/// Reads an event stream to its end with a token living two more seconds (one to two, as
/// `exp` counts whole seconds): the number of events, after a clean end of the body.
async fn events_with_a_short_lived_token(base: &str) -> usize {
    let issuer = TokenIssuer::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .lifetime(Duration::from_secs(2))
        .build()
        .unwrap();
    let token = issuer.issue(&json!({"sub": "alice"})).unwrap();
    let mut response =
        reqwest::Client::new().get(format!("{base}/events")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut text = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    text.matches("\n\n").count()
}

#[tokio::test]
async fn event_stream_ends_cleanly_when_its_token_expires_and_the_expiry_layer_is_on() {
    let received = events_with_a_short_lived_token(&serve_events(true).await).await;
    assert!((1..EVENT_COUNT).contains(&received), "received {received} events");
}

#[tokio::test]
async fn event_stream_runs_on_past_its_token_expiry_when_the_expiry_layer_is_off() {
    let received = events_with_a_short_lived_token(&serve_events(false).await).await;
    assert_eq!(received, EVENT_COUNT);
}

// ---- the HTTP surface's edges ----

/// Calls `layer` in front of a service that answers "granted".
async fn oneshot(
    layer: JwtAuthLayer,
    request: http::Request<UnsyncBoxBody<Bytes, Infallible>>,
) -> http::Response<Full<Bytes>> {
    use tower::ServiceExt;
    let inner = tower::service_fn(|_: http::Request<UnsyncBoxBody<Bytes, Infallible>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("granted"))))
    });
    ServiceBuilder::new().layer(layer).service(inner).oneshot(request).await.unwrap()
}

fn request_with(headers: &[(&str, &[u8])]) -> http::Request<UnsyncBoxBody<Bytes, Infallible>> {
    let mut request = http::Request::post("/helloworld.Greeter/SayHello");
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    request.body(Full::default().boxed_unsync()).unwrap()
}

#[tokio::test]
async fn grpc_content_types_are_recognised_without_regard_to_case_or_parameters() {
    for content_type in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc;charset=utf-8",
        "application/grpc ; proto",
        "Application/gRPC",
        "APPLICATION/GRPC+PROTO",
    ] {
        let response =
            oneshot(JwtAuthLayer::new(config()), request_with(&[("content-type", content_type.as_bytes())]))
                .await;
        assert_eq!(response.status(), StatusCode::OK, "{content_type}: trailers-only");
        assert_eq!(response.headers()["grpc-status"], "16", "{content_type}");
    }
    for content_type in
        ["application/grpc-web", "application/grpcx", "application/json", "text/plain; application/grpc"]
    {
        let response =
            oneshot(JwtAuthLayer::new(config()), request_with(&[("content-type", content_type.as_bytes())]))
                .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{content_type}");
        assert!(!response.headers().contains_key("grpc-status"), "{content_type}");
    }
    // The expiry layer too: the stream of a gRPC request with parameters ends with a status.
    let short = TokenIssuer::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .lifetime(Duration::from_secs(1))
        .build()
        .unwrap();
    let bearer = format!("Bearer {}", short.issue(&json!({"sub": "alice"})).unwrap());
    let request = request_with(&[
        ("content-type", b"application/grpc; charset=utf-8"),
        ("authorization", bearer.as_bytes()),
    ]);
    let service = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(builder().leeway(Duration::ZERO).build().unwrap()))
        .layer(TokenExpiryLayer::new())
        .service(tower::service_fn(|_: http::Request<UnsyncBoxBody<Bytes, Infallible>>| async {
            let never_ends = futures_util::stream::pending::<Result<Frame<Bytes>, Infallible>>();
            Ok::<_, Infallible>(http::Response::new(StreamBody::new(never_ends).boxed_unsync()))
        }));
    let response = tower::ServiceExt::oneshot(service, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ended = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect()).await;
    let trailers = ended.expect("the stream ends at expiry").unwrap().trailers().cloned();
    assert_eq!(trailers.expect("trailers at expiry")["grpc-status"], "16");
}

#[tokio::test]
async fn bearer_followed_by_a_tab_is_a_bad_request_even_for_an_optional_layer() {
    let bearer = format!("Bearer\t{}", token());
    for layer in [JwtAuthLayer::new(config()), JwtAuthLayer::new(config()).optional()] {
        let response = oneshot(layer, request_with(&[("authorization", bearer.as_bytes())])).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    // Other schemes are still not ours: an optional layer lets them through.
    let response =
        oneshot(JwtAuthLayer::new(config()).optional(), request_with(&[("authorization", b"Basic\tYTpi")]))
            .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// `Cache-Control` of a request to `path` with these headers, through a real server.
async fn cache_control(base: &str, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Option<String>) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let value = response.headers().get("cache-control").map(|value| value.to_str().unwrap().to_owned());
    (response.status(), value)
}

#[tokio::test]
async fn every_rejection_says_no_store_so_no_cache_keeps_it() {
    let guarded = Router::new()
        .route("/admin", get(me))
        .route_layer(Require::role("root"))
        .route("/me", get(me))
        .layer(JwtAuthLayer::new(config()));
    let base = serve(guarded).await;
    let expired = forge_claims(&claims_with(json!({"exp": now() - 3600, "iat": now() - 4000})));
    let bearer = |token: &str| format!("Bearer {token}");
    let rejections: [(&str, Vec<(&str, String)>); 5] = [
        ("/me", vec![]),
        ("/me", vec![("authorization", "Bearer a b".to_owned())]),
        ("/me", vec![("authorization", bearer(&expired))]),
        ("/admin", vec![("authorization", bearer(&token()))]),
        // A gRPC rejection is an HTTP 200: the one a shared cache would most likely keep.
        ("/me", vec![("content-type", "application/grpc".to_owned())]),
    ];
    for (path, headers) in &rejections {
        let headers: Vec<(&str, &str)> =
            headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let (status, value) = cache_control(&base, path, &headers).await;
        assert_eq!(value.as_deref(), Some("no-store"), "{path} {headers:?}: {status}");
    }
    let (status, value) = cache_control(&base, "/me", &[("authorization", &bearer(&token()))]).await;
    assert_eq!((status, value), (StatusCode::OK, None), "a granted request is the handler's to mark");

    // An application's own answer gets it too, unless it set a Cache-Control of its own.
    let config = builder()
        .responder(|error, _| {
            let mut response = http::Response::builder().status(302).header("location", "/login");
            if error.kind() == ErrorKind::Expired {
                response = response.header("cache-control", "private, max-age=0");
            }
            Some(response.body(Bytes::new()).unwrap())
        })
        .build()
        .unwrap();
    let base = serve(app(JwtAuthLayer::new(config))).await;
    let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = redirect.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let response =
        redirect.get(format!("{base}/me")).header("authorization", bearer(&expired)).send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "private, max-age=0");
}

/// What the README says of `layer` and `route_layer`: `.layer(..)` wraps the router's
/// fallback too, so merged into a public router it answers a path without a route with 401;
/// `.route_layer(..)` leaves the fallback alone, and the 404 stays, in either order. The
/// protected route is protected and the public one public in every case.
#[tokio::test]
async fn layer_covers_unknown_paths_and_route_layer_keeps_their_404() {
    let public = || Router::new().route("/", get(|| async { "hello" }));
    let protected = || Router::new().route("/me", get(me));
    let auth = || JwtAuthLayer::new(config());
    let cases = [
        (public().merge(protected().layer(auth())), StatusCode::UNAUTHORIZED),
        (public().merge(protected().route_layer(auth())), StatusCode::NOT_FOUND),
        (protected().route_layer(auth()).merge(public()), StatusCode::NOT_FOUND),
    ];
    for (router, unknown) in cases {
        let base = serve(router).await;
        assert_eq!(send(&base, "/nowhere", &[]).await.status, unknown);
        assert_eq!(send(&base, "/", &[]).await.body, "hello");
        assert_eq!(send(&base, "/me", &[]).await.status, StatusCode::UNAUTHORIZED);
        let bearer = format!("Bearer {}", token());
        assert_eq!(send(&base, "/me", &[("authorization", &bearer)]).await.status, StatusCode::OK);
    }
}

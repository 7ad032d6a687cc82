//! The layer as an OAuth resource server for today's clients, on real axum servers on
//! 127.0.0.1 driven by reqwest: protected resource metadata (RFC 9728), the resource
//! identifier as audience (RFC 8707), and DPoP (RFC 9449), with proofs made here (each
//! hostile proof in a test of its own) and by a real client library (`oauth4webapi`, from
//! npm) against the npm `oidc-provider`, which issues DPoP-bound tokens.

#[path = "support/dpop.rs"]
mod dpop;
#[cfg(feature = "jwks")]
#[path = "support/idp.rs"]
mod idp;
#[path = "support/serve.rs"]
mod serve;
#[cfg(feature = "jwks")]
#[path = "support/setup.rs"]
mod setup;

use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use dpop::{ClientKey, b64, now};
use jsonwebtoken::{Algorithm as JwtAlgorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest as _;
use tower_jwt_auth::dpop::DpopPolicy;
use tower_jwt_auth::error::ConfigErrorKind;
use tower_jwt_auth::resource::ProtectedResource;
use tower_jwt_auth::{
    Claims, ErrorKind, JwtAuthConfig, JwtAuthConfigBuilder, JwtAuthLayer, Require, TokenIssuer, TokenSource,
};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";

fn issuer() -> TokenIssuer {
    TokenIssuer::builder().hmac_secret(SECRET).build().unwrap()
}

async fn me(Extension(claims): Extension<Claims>) -> String {
    claims.sub.clone().unwrap_or_default()
}

/// A server whose `/users/me` (GET and POST) answers the caller's `sub`, behind a layer
/// built from `builder`; its base URL.
async fn serve(builder: JwtAuthConfigBuilder) -> String {
    let config = builder.build().unwrap();
    let app = Router::new().route("/users/me", get(me).post(me)).layer(JwtAuthLayer::new(config));
    serve::serve(app).await
}

fn dpop_config() -> JwtAuthConfigBuilder {
    JwtAuthConfig::builder().hmac_secret(SECRET).dpop(DpopPolicy::allowed())
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    nonce: Option<String>,
    body: String,
}

impl Answer {
    fn challenge(&self, scheme: &str) -> &str {
        self.challenges.iter().find(|c| c.starts_with(scheme)).map_or("", String::as_str)
    }

    /// The answer every refused proof gets: 401, the DPoP challenge naming
    /// `invalid_dpop_proof` with `kind`'s sentence.
    #[track_caller]
    fn assert_proof_refused(&self, kind: ErrorKind) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{}", self.body);
        let dpop = self.challenge("DPoP ");
        assert!(dpop.contains(r#"error="invalid_dpop_proof""#), "{:?}", self.challenges);
        assert!(dpop.contains(kind.description()), "{dpop} should say {:?}", kind.description());
        // The Bearer challenge stays plain: the error is about the DPoP request.
        assert_eq!(self.challenge("Bearer "), r#"Bearer realm="api""#);
    }
}

async fn send(method: &str, url: &str, authorization: Option<String>, proofs: &[String]) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    for proof in proofs {
        request = request.header("dpop", proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let nonce = response.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    Answer { status, challenges, nonce, body: response.text().await.unwrap() }
}

async fn dpop_get(url: &str, token: &str, proof: String) -> Answer {
    send("GET", url, Some(format!("DPoP {token}")), &[proof]).await
}

// ---- DPoP: what passes ----------------------------------------------------------------

#[tokio::test]
async fn a_bound_token_with_its_proof_passes_each_time_with_a_fresh_proof() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    for _ in 0..3 {
        // The second and third find the token in the verified-token cache.
        let answer = dpop_get(&url, &token, client.proof("GET", &url, &token)).await;
        assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice"));
    }
    let answer =
        send("POST", &url, Some(format!("DPoP {token}")), &[client.proof("POST", &url, &token)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    // Bearer tokens still pass where DPoP is only allowed.
    let bearer = issuer().issue(&json!({"sub": "bob"})).unwrap();
    let answer = send("GET", &url, Some(format!("Bearer {bearer}")), &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "bob"));
}

#[tokio::test]
async fn without_a_credential_both_challenges_are_sent() {
    let base = serve(dpop_config()).await;
    let answer = send("GET", &format!("{base}/users/me"), None, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenges,
        [
            r#"Bearer realm="api""#,
            r#"DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA""#
        ]
    );
}

// ---- DPoP: hostile proofs, one check each -----------------------------------------------

/// Sends a proof that `tamper` changed from an honest one, signed by the client's key.
async fn tampered(tamper: impl FnOnce(&mut Value, &mut Value)) -> Answer {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let (mut header, mut claims) = client.parts("GET", &url, &token);
    tamper(&mut header, &mut claims);
    dpop_get(&url, &token, client.sign(&header, &claims)).await
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let proof = client.proof("GET", &url, &token);
    assert_eq!(dpop_get(&url, &token, proof.clone()).await.status, StatusCode::OK);
    dpop_get(&url, &token, proof).await.assert_proof_refused(ErrorKind::ReplayedProof);
}

#[tokio::test]
async fn a_proof_for_another_method_is_refused() {
    tampered(|_, claims| claims["htm"] = json!("POST")).await.assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_whose_htu_has_a_query_is_refused() {
    tampered(|_, claims| {
        let htu = format!("{}?debug=1", claims["htu"].as_str().unwrap());
        claims["htu"] = json!(htu);
    })
    .await
    .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_for_another_host_is_refused() {
    tampered(|_, claims| {
        let htu = claims["htu"].as_str().unwrap().replace("127.0.0.1", "api.example.com");
        claims["htu"] = json!(htu);
    })
    .await
    .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_whose_htu_differs_only_in_normal_form_passes() {
    let answer = tampered(|_, claims| {
        let htu = claims["htu"]
            .as_str()
            .unwrap()
            .replace("http://127.0.0.1", "HTTP://127.0.0.1")
            .replace("/users/me", "/users/./me");
        claims["htu"] = json!(htu);
    })
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn a_proof_made_a_little_while_ago_passes() {
    let answer = tampered(|_, claims| claims["iat"] = json!(now() - 250)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn a_stale_proof_is_refused() {
    tampered(|_, claims| claims["iat"] = json!(now() - 310))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_whose_iat_is_out_of_any_range_is_refused_without_overflow() {
    for iat in [json!(i64::MIN), json!(i64::MAX), json!(1e300), json!(-1e300), json!("now")] {
        tampered(|_, claims| claims["iat"] = iat.clone()).await.assert_proof_refused(ErrorKind::InvalidProof);
    }
}

#[tokio::test]
async fn a_proof_from_the_future_is_refused() {
    tampered(|_, claims| claims["iat"] = json!(now() + 310))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_without_ath_is_refused() {
    tampered(|_, claims| {
        claims.as_object_mut().unwrap().remove("ath");
    })
    .await
    .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_with_a_wrong_ath_is_refused() {
    tampered(|_, claims| claims["ath"] = json!(b64(sha2::Sha256::digest(b"another token"))))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_made_for_another_token_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let (token, other) = (client.bound_token("alice"), client.bound_token("alice again"));
    dpop_get(&url, &token, client.proof("GET", &url, &other))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_signed_by_another_key_than_the_tokens_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let token = ClientKey::client().bound_token("alice");
    // A valid proof, but by the thief's own key.
    let thief = ClientKey::other();
    dpop_get(&url, &token, thief.proof("GET", &url, &token))
        .await
        .assert_proof_refused(ErrorKind::ProofKeyMismatch);
}

#[tokio::test]
async fn a_proof_whose_jwk_holds_a_private_key_is_refused() {
    tampered(|header, _| header["jwk"]["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_with_alg_none_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let (mut header, claims) = client.parts("GET", &url, &token);
    header["alg"] = json!("none");
    let proof = format!("{}.{}.", b64(header.to_string()), b64(claims.to_string()));
    dpop_get(&url, &token, proof).await.assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_signed_with_hs256_and_the_thumbprint_as_secret_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let (mut header, claims) = client.parts("GET", &url, &token);
    header["alg"] = json!("HS256");
    let signed = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let key = EncodingKey::from_secret(client.jkt.as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(signed.as_bytes(), &key, JwtAlgorithm::HS256).unwrap();
    dpop_get(&url, &token, format!("{signed}.{signature}"))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_that_is_not_a_jwt_or_lacks_a_claim_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    for proof in ["not-a-jwt", "a.b", "a.b.c.d", "e30.e30.", "!!!.e30.e30"] {
        dpop_get(&url, &token, proof.to_owned()).await.assert_proof_refused(ErrorKind::InvalidProof);
    }
    for member in ["jti", "htm", "htu", "iat"] {
        let (header, mut claims) = client.parts("GET", &url, &token);
        claims.as_object_mut().unwrap().remove(member);
        dpop_get(&url, &token, client.sign(&header, &claims))
            .await
            .assert_proof_refused(ErrorKind::InvalidProof);
    }
    let (mut header, claims) = client.parts("GET", &url, &token);
    header.as_object_mut().unwrap().remove("jwk");
    dpop_get(&url, &token, client.sign(&header, &claims)).await.assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_naming_a_critical_extension_is_refused() {
    tampered(|header, _| header["crit"] = json!(["exp"])).await.assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_by_an_algorithm_not_on_the_list_is_refused() {
    let policy = DpopPolicy::allowed().algorithms([tower_jwt_auth::Algorithm::ES384]);
    let base = serve(JwtAuthConfig::builder().hmac_secret(SECRET).dpop(policy)).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client(); // ES256
    let token = client.bound_token("alice");
    dpop_get(&url, &token, client.proof("GET", &url, &token))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
    let other = ClientKey::other(); // ES384
    let token = other.bound_token("bob");
    assert_eq!(dpop_get(&url, &token, other.proof("GET", &url, &token)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_proof_of_another_type_is_refused() {
    tampered(|header, _| header["typ"] = json!("JWT")).await.assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_with_a_bad_signature_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    // Another honest proof's claims (a new jti) under the first proof's signature: every
    // check but the signature's would pass.
    let proof = client.proof("GET", &url, &token);
    let (_, claims) = client.parts("GET", &url, &token);
    let mut parts: Vec<&str> = proof.split('.').collect();
    let other_claims = b64(claims.to_string());
    parts[1] = &other_claims;
    dpop_get(&url, &token, parts.join(".")).await.assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn two_dpop_headers_are_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let proofs = [client.proof("GET", &url, &token), client.proof("GET", &url, &token)];
    send("GET", &url, Some(format!("DPoP {token}")), &proofs)
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_dpop_request_without_a_proof_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let token = ClientKey::client().bound_token("alice");
    send("GET", &url, Some(format!("DPoP {token}")), &[]).await.assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_proof_over_8_kib_is_refused() {
    tampered(|_, claims| claims["padding"] = json!("x".repeat(8 * 1024)))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_bound_token_sent_as_bearer_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    // With a proof beside it or without: the Bearer scheme drops the binding.
    for proofs in [vec![], vec![client.proof("GET", &url, &token)]] {
        let answer = send("GET", &url, Some(format!("Bearer {token}")), &proofs).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        let bearer = answer.challenge("Bearer ");
        assert!(bearer.contains(r#"error="invalid_token""#), "{bearer}");
        assert!(bearer.contains(ErrorKind::BoundTokenWithoutProof.description()), "{bearer}");
        assert!(!answer.challenge("DPoP ").contains("error="), "{:?}", answer.challenges);
    }
}

#[tokio::test]
async fn with_dpop_off_a_bound_token_is_refused_unless_a_gateway_checked_its_proof() {
    let client = ClientKey::client();
    let bound = client.bound_token("alice");
    // A certificate-bound token (RFC 8705) is no DPoP token: this check leaves it alone.
    let certificate_bound = issuer().issue(&json!({"sub": "bob", "cnf": {"x5t#S256": "abc"}})).unwrap();
    // A `cnf` that is no confirmation object at all: invalid claims.
    let malformed = issuer().issue(&json!({"sub": "carol", "cnf": "abc"})).unwrap();

    // DPoP off (the default), with the token cache (the default) and without: a stolen
    // bound token is useless here too, on the first request and on the cached second one.
    for cache in [true, false] {
        let layer = JwtAuthLayer::new(
            JwtAuthConfig::builder().hmac_secret(SECRET).token_cache(cache).build().unwrap(),
        );
        let base = serve::serve(Router::new().route("/users/me", get(me)).layer(layer.clone())).await;
        let url = format!("{base}/users/me");
        for _ in 0..2 {
            let answer = send("GET", &url, Some(format!("Bearer {bound}")), &[]).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
            assert_eq!(answer.challenges.len(), 1, "{:?}", answer.challenges);
            let bearer = answer.challenge("Bearer ");
            assert!(bearer.contains(r#"error="invalid_token""#), "{bearer}");
            assert!(bearer.contains(ErrorKind::BoundTokenWithoutProof.description()), "{bearer}");
            let answer = send("GET", &url, Some(format!("Bearer {certificate_bound}")), &[]).await;
            assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "bob"));
            let answer = send("GET", &url, Some(format!("Bearer {malformed}")), &[]).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
            assert!(answer.challenge("Bearer ").contains(ErrorKind::InvalidClaims.description()));
        }
        // The second round was served from the cache: the check runs on hits too.
        if cache {
            let stats = layer.cache_stats().unwrap();
            assert!(stats.hits >= 3 && stats.entries == 3, "{stats:?}");
        }
    }

    // Behind a gateway that checked the proof, the token passes on as a bearer token in the
    // Authorization header, and in no other place the gateway would not have looked.
    let base = serve(
        JwtAuthConfig::builder()
            .hmac_secret(SECRET)
            .bound_tokens_as_bearer(true)
            .token_sources([TokenSource::bearer(), TokenSource::cookie("access_token")]),
    )
    .await;
    let url = format!("{base}/users/me");
    let answer = send("GET", &url, Some(format!("Bearer {bound}")), &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice"));
    let response = reqwest::Client::new()
        .get(&url)
        .header("cookie", format!("access_token={bound}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Checking proofs here and trusting a gateway for them at once: refused at build.
    let error = dpop_config().bound_tokens_as_bearer(true).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidSetting);
}

#[tokio::test]
async fn a_token_bound_with_the_crates_thumbprint_passes_with_the_keys_proof() {
    // The crate's thumbprint agrees with jsonwebtoken's for both test keys.
    for client in [ClientKey::client(), ClientKey::other()] {
        assert_eq!(tower_jwt_auth::dpop::thumbprint(&client.jwk.to_string()).unwrap(), client.jkt);
    }
    let client = ClientKey::client();
    let jkt = tower_jwt_auth::dpop::thumbprint(&client.jwk.to_string()).unwrap();
    let token = issuer().issue(&json!({"sub": "alice", "cnf": {"jkt": jkt}})).unwrap();
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let answer = dpop_get(&url, &token, client.proof("GET", &url, &token)).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice"));
    // Another key's proof for that token is refused.
    let other = ClientKey::other();
    dpop_get(&url, &token, other.proof("GET", &url, &token))
        .await
        .assert_proof_refused(ErrorKind::ProofKeyMismatch);

    // Not a public signing key: a private member, a secret, not a JWK at all.
    let mut private = client.jwk.clone();
    private["d"] = json!(b64([7u8; 32]));
    for refused in
        [private.to_string(), json!({"kty": "oct", "k": b64([1u8; 32])}).to_string(), "{".to_owned()]
    {
        let error = tower_jwt_auth::dpop::thumbprint(&refused).unwrap_err();
        assert_eq!(error.kind(), ConfigErrorKind::InvalidKey, "{refused}");
    }
}

#[tokio::test]
async fn an_unbound_token_under_the_dpop_scheme_is_refused() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = issuer().issue(&json!({"sub": "alice"})).unwrap();
    let answer = dpop_get(&url, &token, client.proof("GET", &url, &token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let dpop = answer.challenge("DPoP ");
    assert!(dpop.contains(r#"error="invalid_token""#), "{dpop}");
    assert!(dpop.contains(ErrorKind::UnboundTokenWithProof.description()), "{dpop}");
}

#[tokio::test]
async fn a_cached_token_never_skips_the_proof() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    assert_eq!(dpop_get(&url, &token, client.proof("GET", &url, &token)).await.status, StatusCode::OK);
    // Now cached: a proof for another method, a thief's proof, no proof at all.
    dpop_get(&url, &token, client.proof("POST", &url, &token))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
    let thief = ClientKey::other();
    dpop_get(&url, &token, thief.proof("GET", &url, &token))
        .await
        .assert_proof_refused(ErrorKind::ProofKeyMismatch);
    let answer = send("GET", &url, Some(format!("Bearer {token}")), &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_proof_refused_for_its_binding_is_not_spent() {
    // A proof is spent only when its request is admitted: a failure before that leaves the
    // honest client's proof usable.
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let proof = client.proof("GET", &url, &token);
    let unbound = issuer().issue(&json!({"sub": "alice"})).unwrap();
    let _ = dpop_get(&url, &unbound, proof.clone()).await;
    assert_eq!(dpop_get(&url, &token, proof).await.status, StatusCode::OK);
}

// ---- DPoP: required, nonces, proxies, gRPC -------------------------------------------------

#[tokio::test]
async fn where_dpop_is_required_a_bearer_token_is_no_credential() {
    let base = serve(JwtAuthConfig::builder().hmac_secret(SECRET).dpop(DpopPolicy::required())).await;
    let url = format!("{base}/users/me");
    let bearer = issuer().issue(&json!({"sub": "bob"})).unwrap();
    let answer = send("GET", &url, Some(format!("Bearer {bearer}")), &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenges.len(), 1, "only the DPoP challenge: {:?}", answer.challenges);
    assert!(answer.challenges[0].starts_with("DPoP algs="));
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    assert_eq!(dpop_get(&url, &token, client.proof("GET", &url, &token)).await.status, StatusCode::OK);
    // And other token sources cannot be configured beside it.
    let error = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .token_sources([tower_jwt_auth::TokenSource::bearer(), tower_jwt_auth::TokenSource::cookie("at")])
        .dpop(DpopPolicy::required())
        .build()
        .unwrap_err();
    assert!(error.message().contains("Authorization header only"), "{}", error.message());
}

#[tokio::test]
async fn with_nonces_a_proof_needs_the_servers_nonce_and_every_answer_carries_one() {
    let base = serve(dpop_config().dpop(DpopPolicy::allowed().nonces(Duration::from_secs(60)))).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    // No nonce: 401 use_dpop_nonce, and the nonce to retry with.
    let answer = dpop_get(&url, &token, client.proof("GET", &url, &token)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge("DPoP ").contains(r#"error="use_dpop_nonce""#), "{:?}", answer.challenges);
    let nonce = answer.nonce.expect("a DPoP-Nonce header");
    // A made-up nonce: the same.
    let (header, mut claims) = client.parts("GET", &url, &token);
    claims["nonce"] = json!("bm90IGEgbm9uY2UgZnJvbSB0aGUgc2VydmVy");
    let answer = dpop_get(&url, &token, client.sign(&header, &claims)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge("DPoP ").contains("use_dpop_nonce"));
    // The server's nonce: admitted, and the answer carries the current nonce.
    let (header, mut claims) = client.parts("GET", &url, &token);
    claims["nonce"] = json!(nonce);
    let answer = dpop_get(&url, &token, client.sign(&header, &claims)).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice"));
    assert!(answer.nonce.is_some(), "a fresh nonce on success");
    // Bearer requests neither need nor get one.
    let bearer = issuer().issue(&json!({"sub": "bob"})).unwrap();
    let answer = send("GET", &url, Some(format!("Bearer {bearer}")), &[]).await;
    assert_eq!((answer.status, answer.nonce), (StatusCode::OK, None));
}

#[tokio::test]
async fn behind_a_proxy_htu_is_the_external_url() {
    let base = serve(dpop_config().external_url("https://api.example.com/v1")).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let public = "https://api.example.com/v1/users/me";
    assert_eq!(dpop_get(&url, &token, client.proof("GET", public, &token)).await.status, StatusCode::OK);
    // The address the proxy reached us at is not what the client addressed.
    dpop_get(&url, &token, client.proof("GET", &url, &token))
        .await
        .assert_proof_refused(ErrorKind::InvalidProof);
}

#[tokio::test]
async fn a_server_that_does_not_know_its_url_trusts_no_host_but_loopback() {
    // No external URL, no protected resource: a proof for whatever the Host header names is
    // refused unless that is a loopback host.
    let base = serve(dpop_config()).await;
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let proof = client.proof("GET", "http://api.example.com/users/me", &token);
    let answer = reqwest::Client::new()
        .get(format!("{base}/users/me"))
        .header("host", "api.example.com")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    // With a protected resource, its origin is the server's URL, whatever the Host says.
    let config = dpop_config().protected_resource(ProtectedResource::new("https://api.example.com/users"));
    let base = serve(config).await;
    // (The resource is the audience now.)
    let claims = json!({"sub": "alice", "aud": "https://api.example.com/users", "cnf": {"jkt": client.jkt}});
    let token = issuer().issue(&claims).unwrap();
    let proof = client.proof("GET", "https://api.example.com/users/me", &token);
    assert_eq!(dpop_get(&format!("{base}/users/me"), &token, proof).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_refused_grpc_proof_gets_unauthenticated_with_the_fixed_message() {
    let base = serve(dpop_config()).await;
    let url = format!("{base}/users/me");
    let client = ClientKey::client();
    let token = client.bound_token("alice");
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/grpc")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", client.proof("GET", &url, &token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()["grpc-message"], ErrorKind::InvalidProof.description());
}

// ---- Protected resource metadata (RFC 9728) and the resource as audience (RFC 8707) ------

/// A server publishing its metadata for the resource `{base}/mcp`, with `/mcp` behind the
/// layer and a `/mcp/admin` needing the `mcp:admin` scope.
async fn serve_resource(dpop: Option<DpopPolicy>) -> (String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{base}/mcp");
    let mut builder = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .issuer("https://auth.example.com")
        .protected_resource(ProtectedResource::new(&resource).scopes_supported(["mcp:tools", "mcp:admin"]));
    if let Some(dpop) = dpop {
        builder = builder.dpop(dpop);
    }
    let config = builder.build().unwrap();
    let metadata = config.resource_metadata().unwrap();
    let mut app = Router::new()
        .route("/mcp", get(me))
        .route("/mcp/admin", get(me).route_layer(Require::scope("mcp:admin")))
        .route_layer(JwtAuthLayer::new(config));
    for path in metadata.paths() {
        app = app.route_service(path, metadata.clone());
    }
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, resource)
}

fn resource_token(claims: Value) -> String {
    let mut claims = claims;
    claims["iss"] = json!("https://auth.example.com");
    issuer().issue(&claims).unwrap()
}

#[tokio::test]
async fn the_metadata_document_is_served_at_both_well_known_paths() {
    let (base, resource) = serve_resource(None).await;
    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let document: Value = response.json().await.unwrap();
        assert_eq!(
            document,
            json!({
                "resource": resource,
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["mcp:tools", "mcp:admin"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
    let response = reqwest::Client::new()
        .post(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_resource_without_a_path_serves_its_metadata_at_the_well_known_path_alone() {
    let config = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .protected_resource(ProtectedResource::new("https://api.example.com"))
        .build()
        .unwrap();
    let metadata = config.resource_metadata().unwrap();
    assert_eq!(metadata.paths().collect::<Vec<_>>(), ["/.well-known/oauth-protected-resource"]);
    let mut app = Router::new();
    for path in metadata.paths() {
        app = app.route_service(path, metadata.clone());
    }
    let base = serve::serve(app).await;
    let document: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["resource"], "https://api.example.com");
}

#[tokio::test]
async fn with_dpop_the_metadata_names_its_algorithms_and_whether_it_is_required() {
    let (base, _) =
        serve_resource(Some(DpopPolicy::required().algorithms([tower_jwt_auth::Algorithm::ES256]))).await;
    let document: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["dpop_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(document["dpop_bound_access_tokens_required"], json!(true));
}

#[tokio::test]
async fn every_challenge_links_the_metadata_and_a_403_names_the_scope() {
    let (base, _) = serve_resource(None).await;
    let link = format!(r#"resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#);
    let answer = send("GET", &format!("{base}/mcp"), None, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenges, [format!(r#"Bearer realm="api", {link}"#)]);
    let answer = send("GET", &format!("{base}/mcp"), Some("Bearer not.a.token".into()), &[]).await;
    assert!(answer.challenges[0].contains("invalid_token") && answer.challenges[0].ends_with(&link));
    // Step up: the 403 names the scope to ask for.
    let token = resource_token(json!({"sub": "alice", "aud": format!("{base}/mcp"), "scope": "mcp:tools"}));
    let answer = send("GET", &format!("{base}/mcp/admin"), Some(format!("Bearer {token}")), &[]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.challenges[0].contains(r#"error="insufficient_scope""#));
    assert!(answer.challenges[0].contains(r#"scope="mcp:admin""#), "{:?}", answer.challenges);
    assert!(answer.challenges[0].ends_with(&link));
}

#[tokio::test]
async fn a_token_for_this_resource_is_accepted_and_one_for_another_is_not() {
    let (base, resource) = serve_resource(None).await;
    let url = format!("{base}/mcp");
    let ours = resource_token(json!({"sub": "alice", "aud": resource}));
    let answer = send("GET", &url, Some(format!("Bearer {ours}")), &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice"));
    for aud in [json!("https://other.example.com/mcp"), json!(null)] {
        let theirs = resource_token(json!({"sub": "alice", "aud": aud}));
        let answer = send("GET", &url, Some(format!("Bearer {theirs}")), &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "aud {aud}");
    }
}

// ---- Real clients, a real provider -------------------------------------------------------

/// A server trusting `provider`, for the resource `{base}/api` with `policy`, serving
/// `/api/users/me` (GET and POST): the resource and that URL.
#[cfg(feature = "jwks")]
async fn serve_for(provider: &idp::Idp, policy: DpopPolicy) -> (String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{base}/api");
    let config = JwtAuthConfig::builder()
        .oidc_issuer(provider.issuer())
        .protected_resource(ProtectedResource::new(&resource))
        .dpop(policy)
        .build()
        .unwrap();
    let app = Router::new().route("/api/users/me", get(me).post(me)).layer(JwtAuthLayer::new(config));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (resource, format!("{base}/api/users/me"))
}

/// The npm `oidc-provider` issues DPoP-bound tokens for a resource indicator; the npm
/// `oauth4webapi` client asks for them and makes the proofs; our server checks them.
#[cfg(feature = "jwks")]
#[tokio::test(flavor = "multi_thread")]
async fn a_real_dpop_client_gets_a_bound_token_from_a_real_provider_and_is_served() {
    let provider = idp::Idp::start(&idp::keys_file("keys-a.json"), None);
    let (resource, url) = serve_for(&provider, DpopPolicy::allowed()).await;

    for alg in ["ES256", "PS256", "Ed25519", "EdDSA"] {
        let run = provider
            .dpop_client(&["--resource", &resource, "--url", &url, "--alg", alg, "--calls", "2"])
            .await;
        assert_eq!(run["token_type"], "DPoP", "{alg}: {run}");
        for call in run["calls"].as_array().unwrap() {
            assert_eq!(call["status"], 200, "{alg}: {call}");
            assert_eq!(call["body"], "test-client");
        }
    }
    // POST too.
    let run = provider.dpop_client(&["--resource", &resource, "--url", &url, "--method", "POST"]).await;
    assert_eq!(run["calls"][0]["status"], 200, "{run}");
    // The same client dropping the binding, and replaying a proof.
    let run = provider.dpop_client(&["--resource", &resource, "--url", &url, "--bearer"]).await;
    assert_eq!(run["calls"][0]["status"], 401, "{run}");
    assert!(run["calls"][0]["www_authenticate"].as_str().unwrap().contains("DPoP-bound"), "{run}");
    let run = provider.dpop_client(&["--resource", &resource, "--url", &url, "--reuse-proof"]).await;
    assert_eq!(run["calls"][0]["status"], 200, "{run}");
    assert_eq!(run["calls"][1]["status"], 401, "{run}");
    assert!(run["calls"][1]["www_authenticate"].as_str().unwrap().contains("already used"), "{run}");
    provider.stop();
}

/// The same client against a server with nonces: it retries once with the server's nonce,
/// then keeps using the nonces the answers carry.
#[cfg(feature = "jwks")]
#[tokio::test(flavor = "multi_thread")]
async fn a_real_dpop_client_follows_the_servers_nonces() {
    let provider = idp::Idp::start(&idp::keys_file("keys-a.json"), None);
    let (resource, url) = serve_for(&provider, DpopPolicy::required().nonces(Duration::from_secs(60))).await;
    let run = provider.dpop_client(&["--resource", &resource, "--url", &url, "--calls", "3"]).await;
    assert_eq!(run["nonce_retries"], 1, "{run}");
    for call in run["calls"].as_array().unwrap() {
        assert_eq!(call["status"], 200, "{call}");
        assert!(call["dpop_nonce"].is_string(), "{call}");
    }
    provider.stop();
}

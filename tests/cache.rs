//! The verified-token cache, in a real axum server driven by reqwest (and the same router
//! called in-process where thousands of requests are needed): hits skip verification but
//! never outlive `exp`, `nbf`, the maximum age or the key that verified them; large tokens
//! are not cached; the cache stays bounded and keeps hot tokens.

#[path = "support/serve.rs"]
mod serve;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::json;
use tower::ServiceExt;
use tower_jwt_auth::{
    Claims, JwtAuthConfig, JwtAuthConfigBuilder, JwtAuthLayer, TokenIssuer, layer::TokenCacheStats,
};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "api.test";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn builder() -> JwtAuthConfigBuilder {
    JwtAuthConfig::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE).leeway(Duration::ZERO)
}

fn issuer() -> TokenIssuer {
    TokenIssuer::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

/// An issuer for this test's issuer and audience, with the key `builder` holds and `kid`.
#[cfg(feature = "jwks")]
fn signer(builder: tower_jwt_auth::issue::TokenIssuerBuilder, kid: Option<&str>) -> TokenIssuer {
    let builder = builder.issuer(ISSUER).audience(AUDIENCE);
    match kid {
        Some(kid) => builder.kid(kid),
        None => builder,
    }
    .build()
    .unwrap()
}

fn token_for(sub: &str) -> String {
    issuer().issue(&json!({"sub": sub})).unwrap()
}

async fn me(Extension(claims): Extension<Claims>) -> String {
    claims.sub.clone().unwrap_or_default()
}

fn app(layer: &JwtAuthLayer) -> Router {
    Router::new().route("/me", get(me)).layer(layer.clone())
}

async fn call(router: &Router, token: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .uri("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn stats(layer: &JwtAuthLayer) -> TokenCacheStats {
    layer.cache_stats().expect("the cache is on by default")
}

#[tokio::test]
async fn a_repeated_token_is_served_from_the_cache_over_a_real_server() {
    let layer = JwtAuthLayer::new(builder().build().unwrap());
    let base = serve::serve(app(&layer)).await;
    let token = token_for("alice");
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let response = client.get(format!("{base}/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "alice");
    }
    let counts = stats(&layer);
    assert_eq!((counts.entries, counts.hits, counts.misses), (1, 4, 1), "one verification, four hits");
}

#[tokio::test]
async fn a_cached_token_expires_exactly_like_an_uncached_one() {
    let layer = JwtAuthLayer::new(builder().build().unwrap());
    let router = app(&layer);
    // `exp` is in whole seconds: this token dies at the start of the second after next.
    let exp = now() + 2;
    let token = issuer().issue(&json!({"sub": "alice", "exp": exp})).unwrap();
    assert_eq!(call(&router, &token).await.0, StatusCode::OK);
    assert_eq!(call(&router, &token).await.0, StatusCode::OK);
    assert_eq!(stats(&layer).hits, 1);
    while now() < exp {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = call(&router, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The JSON body is written into axum's `Body` with the crate's `axum` feature only.
    if cfg!(feature = "axum") {
        assert!(body.contains("The access token expired"), "{body}");
    }
    assert_eq!(stats(&layer).entries, 0, "the expired entry was dropped");
}

#[tokio::test]
async fn an_entry_lives_no_longer_than_the_maximum_age() {
    let layer = JwtAuthLayer::new(builder().token_cache_max_age(Duration::from_secs(1)).build().unwrap());
    let router = app(&layer);
    let token = token_for("alice");
    assert_eq!(call(&router, &token).await.0, StatusCode::OK);
    assert_eq!(call(&router, &token).await.0, StatusCode::OK);
    let before = stats(&layer);
    assert_eq!((before.hits, before.misses), (1, 1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(call(&router, &token).await.0, StatusCode::OK, "verified again, still valid");
    assert_eq!(call(&router, &token).await.0, StatusCode::OK);
    let after = stats(&layer);
    // The aged entry was found (a hit in the counts), dropped, verified again and re-cached.
    assert_eq!(after.entries, 1);
    assert_eq!(after.misses, 1, "the aged entry was not served: it was replaced by a fresh verification");
    assert_eq!(after.hits, 3);
}

#[tokio::test]
async fn a_token_not_valid_before_its_nbf_is_never_cached() {
    let layer = JwtAuthLayer::new(builder().build().unwrap());
    let router = app(&layer);
    let token = issuer().issue(&json!({"sub": "alice", "nbf": now() + 30})).unwrap();
    for _ in 0..3 {
        let (status, body) = call(&router, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        if cfg!(feature = "axum") {
            assert!(body.contains("not valid yet"), "{body}");
        }
    }
    assert_eq!(stats(&layer).entries, 0);
}

#[tokio::test]
async fn tokens_above_four_kib_are_verified_every_time() {
    let layer = JwtAuthLayer::new(builder().max_token_size(16 * 1024).build().unwrap());
    let router = app(&layer);
    let big = issuer().issue(&json!({"sub": "alice", "padding": "x".repeat(5000)})).unwrap();
    assert!(big.len() > 4 * 1024, "above the documented 4 KiB limit");
    for _ in 0..3 {
        assert_eq!(call(&router, &big).await.0, StatusCode::OK);
    }
    assert_eq!(stats(&layer).entries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stays_bounded_and_keeps_a_hot_token_through_a_flood() {
    let layer = JwtAuthLayer::new(builder().token_cache_capacity(200).build().unwrap());
    let router = app(&layer);
    let hot = token_for("hot");
    let issuer = issuer();
    for round in 0..20 {
        // The hot token is used all along...
        for _ in 0..5 {
            assert_eq!(call(&router, &hot).await.0, StatusCode::OK);
        }
        // ...while one-off tokens flood in, ten times more than the cache holds in all.
        let flood = (0..100).map(|i| issuer.issue(&json!({"sub": format!("once-{round}-{i}")})).unwrap());
        for token in flood.collect::<Vec<_>>() {
            assert_eq!(call(&router, &token).await.0, StatusCode::OK);
        }
    }
    let counts = stats(&layer);
    assert!(counts.entries <= 220, "bounded near its capacity: {counts:?}");
    let before = counts.hits;
    assert_eq!(call(&router, &hot).await.1, "hot");
    assert_eq!(stats(&layer).hits, before + 1, "the hot token survived the flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_the_cache() {
    let layer = JwtAuthLayer::new(builder().build().unwrap());
    let router = app(&layer);
    let tokens: Vec<String> = (0..10).map(|i| token_for(&format!("user-{i}"))).collect();
    for token in &tokens {
        assert_eq!(call(&router, token).await.0, StatusCode::OK);
    }
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let router = router.clone();
            let token = tokens[i % tokens.len()].clone();
            tokio::spawn(async move { call(&router, &token).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("user-{}", i % 10), "each request gets its own token's claims");
    }
    let counts = stats(&layer);
    assert_eq!((counts.entries, counts.misses, counts.hits), (10, 10, 400));
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let layer = JwtAuthLayer::new(builder().token_cache(false).build().unwrap());
    assert!(layer.cache_stats().is_none());
    let router = app(&layer);
    assert_eq!(call(&router, &token_for("alice")).await.0, StatusCode::OK);
    let zero = JwtAuthLayer::new(builder().token_cache_capacity(0).build().unwrap());
    assert!(zero.cache_stats().is_none());
}

#[tokio::test]
async fn a_bad_token_is_never_cached_and_a_good_one_never_leaks_to_another() {
    let layer = JwtAuthLayer::new(builder().build().unwrap());
    let router = app(&layer);
    let good = token_for("alice");
    assert_eq!(call(&router, &good).await.0, StatusCode::OK);
    // The same header and payload with another signature: a different key in the cache.
    let (signed, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{signed}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for _ in 0..3 {
        assert_eq!(call(&router, &forged).await.0, StatusCode::UNAUTHORIZED);
    }
    // Another payload under the cached token's signature: the same tail, which the cache
    // hashes, so the lookup lands on the good entry and must compare the whole token.
    let (header, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.rsplit_once('.').unwrap();
    let other = token_for("mallory");
    let other_payload = other.split('.').nth(1).unwrap();
    let spliced = format!("{header}.{other_payload}.{signature}");
    assert_eq!(&spliced[spliced.len() - 32..], &good[good.len() - 32..]);
    for _ in 0..3 {
        assert_eq!(call(&router, &spliced).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(call(&router, &good).await, (StatusCode::OK, "alice".to_owned()));
    assert_eq!(stats(&layer).entries, 1);
}

/// A key withdrawn from a remote set stops authorising what it verified, cached or not, at
/// the next refresh.
#[cfg(feature = "jwks")]
#[tokio::test]
async fn a_withdrawn_remote_key_stops_authorising_cached_tokens_at_the_next_refresh() {
    use std::sync::{Arc, Mutex};
    use tower_jwt_auth::RemoteJwks;
    let rsa = signer(TokenIssuer::builder().rsa_pem(include_str!("fixtures/rsa_private.pem")), Some("rsa-1"));
    let ed = signer(
        TokenIssuer::builder().ed25519_pem(include_str!("fixtures/ed25519_private.pem")),
        Some("ed-1"),
    );
    let keys_of = |issuers: &[&TokenIssuer]| {
        let keys: Vec<serde_json::Value> = issuers
            .iter()
            .map(|issuer| serde_json::to_value(issuer.jwk_set()).unwrap()["keys"][0].clone())
            .collect();
        json!({ "keys": keys }).to_string()
    };
    let published = Arc::new(Mutex::new(keys_of(&[&rsa, &ed])));
    let served = Arc::clone(&published);
    let jwks_server =
        Router::new().route("/jwks.json", get(move || async move { served.lock().unwrap().clone() }));
    let url = format!("{}/jwks.json", serve::serve(jwks_server).await);
    let remote = RemoteJwks::from_url(&url).allow_http(true).build().unwrap();
    let config = JwtAuthConfig::builder()
        .remote_jwks(remote.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let layer = JwtAuthLayer::new(config);
    let router = app(&layer);
    let rsa_token = rsa.issue(&json!({"sub": "alice"})).unwrap();
    let ed_token = ed.issue(&json!({"sub": "bob"})).unwrap();
    for _ in 0..2 {
        assert_eq!(call(&router, &rsa_token).await.0, StatusCode::OK);
        assert_eq!(call(&router, &ed_token).await.0, StatusCode::OK);
    }
    assert_eq!(stats(&layer).hits, 2);

    // A refresh that brings the same keys changes nothing: the entries stay usable.
    remote.refresh().await.unwrap();
    assert_eq!(call(&router, &rsa_token).await.0, StatusCode::OK);
    assert_eq!(stats(&layer).hits, 3);

    // The provider withdraws the RSA key; at the next refresh its cached token stops.
    *published.lock().unwrap() = keys_of(&[&ed]);
    assert_eq!(
        call(&router, &rsa_token).await.0,
        StatusCode::OK,
        "until the refresh, the set is what it was"
    );
    remote.refresh().await.unwrap();
    let (status, body) = call(&router, &rsa_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(call(&router, &ed_token).await.0, StatusCode::OK, "other keys' tokens stay cached");
}

/// Cached tokens verified by a remote key: re-checked against the set a fresh verification
/// would use.
#[cfg(feature = "jwks")]
mod remote {
    use super::*;

    /// A JWKS server whose document can be swapped, counting its fetches.
    struct SwappableJwks {
        published: std::sync::Arc<std::sync::Mutex<String>>,
        fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        url: String,
    }

    impl SwappableJwks {
        async fn start(keys: Vec<serde_json::Value>) -> Self {
            use std::sync::atomic::Ordering;
            let published = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let (served, counted) = (published.clone(), fetches.clone());
            let router = Router::new().route(
                "/jwks.json",
                get(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    served.lock().unwrap().clone()
                }),
            );
            let url = format!("{}/jwks.json", serve::serve(router).await);
            let jwks = Self { published, fetches, url };
            jwks.publish(keys);
            jwks
        }

        fn publish(&self, keys: Vec<serde_json::Value>) {
            *self.published.lock().unwrap() = json!({ "keys": keys }).to_string();
        }

        fn fetches(&self) -> usize {
            self.fetches.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// The public JWK of `issuer`'s key, under `kid` (or none).
    fn public_jwk(issuer: &TokenIssuer, kid: Option<&str>) -> serde_json::Value {
        let mut jwk = serde_json::to_value(issuer.jwk_set()).unwrap()["keys"][0].clone();
        let members = jwk.as_object_mut().unwrap();
        match kid {
            Some(kid) => members.insert("kid".into(), json!(kid)),
            None => members.remove("kid"),
        };
        jwk
    }

    /// Another provider's public key (from tests/idp/keys-b.json), under `kid`.
    fn other_public_jwk(name: &str, kid: &str) -> serde_json::Value {
        let set: serde_json::Value = serde_json::from_str(include_str!("idp/keys-b.json")).unwrap();
        let mut jwk = set["keys"].as_array().unwrap().iter().find(|key| key["kid"] == name).unwrap().clone();
        let members = jwk.as_object_mut().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
            members.remove(private);
        }
        members.insert("kid".into(), json!(kid));
        jwk
    }

    fn remote_config(remote: &tower_jwt_auth::RemoteJwks) -> JwtAuthConfig {
        JwtAuthConfig::builder()
            .remote_jwks(remote.clone())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_cached_token_stops_when_a_refreshed_set_would_select_another_key_for_it() {
        use tower_jwt_auth::{ErrorKind, RemoteJwks};
        // A token without kid, verified by the set's only RS256 key; the provider then adds a
        // second RS256 key (a rotation), and a fresh verification can no longer tell which.
        let rsa = signer(TokenIssuer::builder().rsa_pem(include_str!("fixtures/rsa_private.pem")), None);
        let jwks = SwappableJwks::start(vec![public_jwk(&rsa, Some("rs-1"))]).await;
        let remote = RemoteJwks::from_url(&jwks.url).allow_http(true).build().unwrap();
        let layer = JwtAuthLayer::new(remote_config(&remote));
        let router = app(&layer);
        let kidless = rsa.issue(&json!({"sub": "alice"})).unwrap();
        for _ in 0..2 {
            assert_eq!(call(&router, &kidless).await.0, StatusCode::OK);
        }
        assert_eq!(stats(&layer).hits, 1);
        jwks.publish(vec![public_jwk(&rsa, Some("rs-1")), other_public_jwk("rs-b", "rs-2")]);
        remote.refresh().await.unwrap();
        assert_eq!(layer.config().verify(&kidless).unwrap_err().kind(), ErrorKind::AmbiguousKey);
        assert_eq!(
            call(&router, &kidless).await.0,
            StatusCode::UNAUTHORIZED,
            "the cached entry must not answer"
        );

        // A token with kid "x", verified by the set's one ES256 key without kid; the provider
        // then publishes another key under "x", which a fresh verification selects.
        let ec = signer(TokenIssuer::builder().ec_pem(include_str!("fixtures/ec256_private.pem")), Some("x"));
        let jwks = SwappableJwks::start(vec![public_jwk(&ec, None)]).await;
        let remote = RemoteJwks::from_url(&jwks.url).allow_http(true).build().unwrap();
        let layer = JwtAuthLayer::new(remote_config(&remote));
        let router = app(&layer);
        let token = ec.issue(&json!({"sub": "bob"})).unwrap();
        for _ in 0..2 {
            assert_eq!(call(&router, &token).await.0, StatusCode::OK);
        }
        assert_eq!(stats(&layer).hits, 1);
        jwks.publish(vec![public_jwk(&ec, None), other_public_jwk("es-b", "x")]);
        remote.refresh().await.unwrap();
        assert_eq!(layer.config().verify(&token).unwrap_err().kind(), ErrorKind::InvalidSignature);
        assert_eq!(
            call(&router, &token).await.0,
            StatusCode::UNAUTHORIZED,
            "the cached entry must not answer"
        );
    }

    #[tokio::test]
    async fn reused_tokens_alone_keep_the_remote_set_refreshed() {
        use tower_jwt_auth::RemoteJwks;
        let rsa =
            signer(TokenIssuer::builder().rsa_pem(include_str!("fixtures/rsa_private.pem")), Some("rs-1"));
        let jwks = SwappableJwks::start(vec![public_jwk(&rsa, Some("rs-1"))]).await;
        // The set is due for refresh about a second after each fetch.
        let remote = RemoteJwks::from_url(&jwks.url)
            .allow_http(true)
            .default_ttl(Duration::from_secs(1))
            .ttl_bounds(Duration::from_secs(1), Duration::from_secs(1))
            .build()
            .unwrap();
        let layer = JwtAuthLayer::new(remote_config(&remote));
        let router = app(&layer);
        let token = rsa.issue(&json!({"sub": "alice"})).unwrap();
        assert_eq!(call(&router, &token).await.0, StatusCode::OK);
        assert_eq!(jwks.fetches(), 1);

        // The provider withdraws the key. Only the cached token keeps arriving: its hits must
        // start the refresh a verification would start, and stop once the set no longer holds
        // the key (within the set's lifetime, not the cache's five minutes).
        jwks.publish(vec![other_public_jwk("rs-b", "rs-2")]);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut hits = 0;
        loop {
            match call(&router, &token).await.0 {
                StatusCode::OK => hits += 1,
                status => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED);
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the withdrawn key still authorises: {:?}",
                stats(&layer)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(hits > 0 && stats(&layer).hits > 0, "the token was served from the cache meanwhile");
        assert!(jwks.fetches() >= 2, "a hit started the refresh");
    }
}

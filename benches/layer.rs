//! What the layer costs per request, next to the least any verifier must do and next to
//! `jsonwebtoken::decode`, for HS256, RS256, PS256, ES256 and EdDSA.
//!
//! Benchmarks (criterion ids `<group>/<alg>`):
//!
//! - `floor`: split, base64url-decode header, payload and signature into stack buffers,
//!   verify the signature with aws-lc-rs directly (key parsed once), one `serde_json` parse
//!   of the payload into `Claims` (aws-lc-rs backend only);
//! - `jsonwebtoken_decode`: `jsonwebtoken::decode::<Claims>` with a `Validation` and a
//!   `DecodingKey` built once;
//! - `config_verify`: `JwtAuthConfig::verify_as::<Claims>`, the layer's verification alone;
//! - `threads/{verify_as,router_warm}/{1,2}`: HS256 `config_verify`, and the warm router
//!   (one router, its clones sharing the token cache), from one thread and from two threads
//!   at once: time per call, so perfect scaling halves it on two free cores;
//! - `keycloak/{floor,jsonwebtoken_decode,config_verify}`: the same three for an HS256 token
//!   shaped like a Keycloak access token (over 20 claims, roles two and three levels deep), read
//!   into a struct with its roles, `config_verify` with `ClaimPreset::keycloak`;
//! - `many_names/{roles_700,scopes_700,array_700,one_string}`: HS256 tokens of 9 to 11 KB
//!   whose bulk is 700 names (as roles, as scopes, as an array no path reads, as one
//!   string), read into a struct of `sub` alone: the cost of roles and scopes per name;
//! - `router_no_auth`: an axum `Router` with one GET handler, no auth, called in-process as
//!   `axum::serve` runs it (its routes built once with `with_state(())`, not per request);
//! - `router_with_layer`: the same router (the same handler) behind `JwtAuthLayer`, with the
//!   verified-token cache off: every request is verified in full (cold);
//! - `router_with_layer_warm`: the same with the cache on (the default), the token already
//!   verified once: every measured request is a cache hit;
//! - `router_with_minimal_layer`: the same router behind the least an auth layer can do (the
//!   floor's work on the `Authorization` header, the claims inserted as one extension; no
//!   header parse, claim check, roles or cache): what any auth layer inside axum pays at
//!   least, the baseline for the layer's own overhead;
//! - `config_verify_remote`, `router_with_remote_layer` (asymmetric algorithms, `jwks`
//!   feature): the same, with the key taken from a cached remote JWKS (served once by a
//!   loopback server before measuring) instead of a static key;
//! - `router_with_guards`: `router_with_layer` plus three guard layers between the layer and
//!   the handler (`Require::role`, `Require::any_role`, `Require::claim_equals`, stacked in
//!   one `ServiceBuilder` with the auth layer, so axum wraps the route once, as in
//!   `router_with_layer`), all satisfied: what authorisation adds on top of authentication;
//! - `router_with_all_of_guards`: the same three guards as one layer, `Require::all_of`;
//! - `guards_is_satisfied`: the same three guards' checks alone on a verified token;
//! - `router_with_route_layer_guards`: the same guards as a separate `route_layer`, which
//!   adds axum's own per-layer cost (one more boxed route per request).
//!
//! - `dpop/{bearer_warm,dpop_warm,dpop_cold,proof_floor}` (aws-lc-rs): an HS256 access
//!   token through the layer with DPoP allowed: a plain bearer token (a cache hit); a
//!   DPoP-bound token with a fresh ES256 proof (made in the untimed setup, as each proof is
//!   spent once), the token a cache hit (`dpop_warm`) or verified in full (`dpop_cold`); and
//!   the proof's crypto floor: its P-256 key parsed and its signature checked with aws-lc-rs
//!   directly. `dpop_warm` against `bearer_warm` is what DPoP adds per request.
//!
//! Both router benchmarks send the same request (with the `Authorization` header), built in
//! the untimed setup of `iter_batched`, so their difference is the layer's own cost.
//! Before measuring, the number of Rust heap allocations per call of each variant is printed
//! (allocations made inside aws-lc's C code are not seen). `python3 benches/summary.py`
//! turns criterion's estimates into the README's table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header::AUTHORIZATION};
use axum::routing::get;
use axum::{Extension, Router};
use criterion::{BatchSize, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};
use tower_jwt_auth::{
    JwtAuthConfig, JwtAuthLayer, Require, TokenIssuer, grants::ClaimPreset, guard::MethodPolicy,
    revoke::Revocations,
};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders-api";
const HMAC_SECRET: &[u8] = b"a benchmark secret of at least 32 bytes, for HS256";
const RSA_PRIVATE: &str = include_str!("../tests/fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../tests/fixtures/rsa_public.pem");
#[cfg(feature = "aws-lc-rs")]
const RSA_PUBLIC_DER: &[u8] = include_bytes!("../tests/fixtures/rsa_public.der");
const EC256_PRIVATE: &str = include_str!("../tests/fixtures/ec256_private.pem");
const EC256_PUBLIC: &str = include_str!("../tests/fixtures/ec256_public.pem");
const ED25519_PRIVATE: &str = include_str!("../tests/fixtures/ed25519_private.pem");
const ED25519_PUBLIC: &str = include_str!("../tests/fixtures/ed25519_public.pem");

/// The claims every benchmark parses.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // exp, iat and iss are parsed (that is the cost measured) but never read.
struct Claims {
    sub: String,
    role: String,
    exp: i64,
    iat: i64,
    iss: String,
    aud: String,
}

// ---------------------------------------------------------------------------------------
// Allocation counting: off (one relaxed load per allocation) except around the one-time
// report printed before the benchmarks.

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

fn count(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(size, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// The time `iterations` calls take when split across `threads` threads running at once;
/// each thread makes its worker with `worker` (untimed) before the start.
fn threaded<W: FnMut()>(iterations: u64, threads: u64, worker: impl Fn() -> W + Sync) -> Duration {
    let per_thread = iterations.div_ceil(threads);
    let start = std::sync::Barrier::new(threads as usize + 1);
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut work = worker();
                    start.wait();
                    for _ in 0..per_thread {
                        work();
                    }
                })
            })
            .collect();
        start.wait();
        let began = std::time::Instant::now();
        for thread in running {
            thread.join().expect("benchmark thread");
        }
        began.elapsed()
    })
}

/// Average allocations and bytes per call of `f`, after one uncounted call.
fn allocations_per_call(mut f: impl FnMut()) -> (f64, f64) {
    const CALLS: usize = 64;
    f();
    ALLOCATIONS.store(0, Ordering::SeqCst);
    ALLOCATED_BYTES.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..CALLS {
        f();
    }
    COUNTING.store(false, Ordering::SeqCst);
    let per_call = |total: &AtomicUsize| total.load(Ordering::SeqCst) as f64 / CALLS as f64;
    (per_call(&ALLOCATIONS), per_call(&ALLOCATED_BYTES))
}

// ---------------------------------------------------------------------------------------
// Fixtures.

/// One algorithm's token and keys, prepared outside every timed loop.
struct Case {
    name: &'static str,
    algorithm: Algorithm,
    token: String,
    bearer: HeaderValue,
    /// The token cache off: every request verified (cold).
    config: JwtAuthConfig,
    /// The token cache on (the default): after the first request, a hit (warm).
    warm_config: JwtAuthConfig,
    decoding_key: DecodingKey,
    validation: Validation,
    #[cfg(feature = "aws-lc-rs")]
    floor: std::sync::Arc<floor::FloorKey>,
    /// The public key as a JWK set (empty for HS256), for the remote-key benchmarks.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    jwks: serde_json::Value,
}

/// The crate's name for one of jsonwebtoken's algorithms.
fn ours(algorithm: Algorithm) -> tower_jwt_auth::Algorithm {
    format!("{algorithm:?}").parse().expect("every jsonwebtoken algorithm is one of ours")
}

fn issuer(algorithm: Algorithm) -> TokenIssuer {
    let builder = TokenIssuer::builder();
    let builder = match algorithm {
        Algorithm::HS256 => builder.hmac_secret(HMAC_SECRET),
        Algorithm::RS256 | Algorithm::PS256 => builder.rsa_pem(RSA_PRIVATE),
        Algorithm::ES256 => builder.ec_pem(EC256_PRIVATE),
        Algorithm::EdDSA => builder.ed25519_pem(ED25519_PRIVATE),
        other => unreachable!("{other:?} is not benchmarked"),
    };
    builder
        .algorithm(ours(algorithm))
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .lifetime(Duration::from_secs(24 * 60 * 60))
        .build()
        .expect("issuer")
}

fn decoding_key(algorithm: Algorithm) -> DecodingKey {
    match algorithm {
        Algorithm::HS256 => DecodingKey::from_secret(HMAC_SECRET),
        Algorithm::RS256 | Algorithm::PS256 => DecodingKey::from_rsa_pem(RSA_PUBLIC.as_bytes()),
        Algorithm::ES256 => DecodingKey::from_ec_pem(EC256_PUBLIC.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(ED25519_PUBLIC.as_bytes()),
        other => unreachable!("{other:?} is not benchmarked"),
    }
    .expect("decoding key")
}

fn case(name: &'static str, algorithm: Algorithm) -> Case {
    let issuer = issuer(algorithm);
    let token = issuer.issue(&serde_json::json!({"sub": "alice", "role": "admin"})).expect("token");
    // Cold: the verified-token cache off, so every request is verified in full.
    let config = JwtAuthConfig::builder()
        .key(issuer.verifying_key())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .token_cache(false)
        .build()
        .expect("config");
    let warm_config = JwtAuthConfig::builder()
        .key(issuer.verifying_key())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .expect("config with the token cache");
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
    Case {
        name,
        algorithm,
        #[cfg(feature = "aws-lc-rs")]
        floor: std::sync::Arc::new(floor::FloorKey::new(algorithm, &issuer)),
        decoding_key: decoding_key(algorithm),
        jwks: serde_json::to_value(issuer.jwk_set()).expect("jwks"),
        validation,
        token,
        bearer,
        config,
        warm_config,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("HS256", Algorithm::HS256),
        case("RS256", Algorithm::RS256),
        case("PS256", Algorithm::PS256),
        case("ES256", Algorithm::ES256),
        case("EdDSA", Algorithm::EdDSA),
    ]
}

// ---------------------------------------------------------------------------------------
// The floor: aws-lc-rs with a key parsed once, stack buffers, one JSON parse.

#[cfg(feature = "aws-lc-rs")]
mod floor {
    use aws_lc_rs::{hmac, signature};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::Algorithm;
    use jsonwebtoken::jwk::AlgorithmParameters;
    use std::hint::black_box;
    use tower_jwt_auth::TokenIssuer;

    use super::{HMAC_SECRET, RSA_PUBLIC_DER};

    pub(super) enum FloorKey {
        Hmac(Box<hmac::Key>),
        Public(signature::ParsedPublicKey),
    }

    fn b64(value: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(value).expect("base64url in the JWK")
    }

    impl FloorKey {
        pub(super) fn new(algorithm: Algorithm, issuer: &TokenIssuer) -> Self {
            let parameters = issuer.jwk_set().keys.first().map(|jwk| jwk.algorithm.clone());
            let (verification, bytes): (&'static dyn signature::VerificationAlgorithm, Vec<u8>) =
                match (algorithm, parameters) {
                    (Algorithm::HS256, None) => {
                        return Self::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, HMAC_SECRET)));
                    }
                    // `ParsedPublicKey` takes PKCS#1 `RSAPublicKey` or SPKI DER; this is SPKI.
                    (Algorithm::RS256, _) => {
                        (&signature::RSA_PKCS1_2048_8192_SHA256, RSA_PUBLIC_DER.to_vec())
                    }
                    (Algorithm::PS256, _) => (&signature::RSA_PSS_2048_8192_SHA256, RSA_PUBLIC_DER.to_vec()),
                    (Algorithm::ES256, Some(AlgorithmParameters::EllipticCurve(ec))) => {
                        let mut point = vec![0x04];
                        point.extend(b64(&ec.x));
                        point.extend(b64(&ec.y));
                        (&signature::ECDSA_P256_SHA256_FIXED, point)
                    }
                    (Algorithm::EdDSA, Some(AlgorithmParameters::OctetKeyPair(okp))) => {
                        (&signature::ED25519, b64(&okp.x))
                    }
                    (other, _) => unreachable!("{other:?} is not benchmarked"),
                };
            Self::Public(signature::ParsedPublicKey::new(verification, bytes).expect("public key"))
        }
    }

    /// The least a verifier must do: split, decode, verify, parse the payload once.
    pub(super) fn verify<T: serde::de::DeserializeOwned>(token: &str, key: &FloorKey) -> Option<T> {
        let (signed, signature_segment) = token.rsplit_once('.')?;
        let (header_segment, payload_segment) = signed.split_once('.')?;
        let mut header = [0u8; 256];
        let header_len = URL_SAFE_NO_PAD.decode_slice(header_segment, &mut header).ok()?;
        black_box(&header[..header_len]);
        let mut signature = [0u8; 512];
        let signature_len = URL_SAFE_NO_PAD.decode_slice(signature_segment, &mut signature).ok()?;
        let signature = &signature[..signature_len];
        let valid = match key {
            FloorKey::Hmac(key) => hmac::verify(key, signed.as_bytes(), signature).is_ok(),
            FloorKey::Public(key) => key.verify_sig(signed.as_bytes(), signature).is_ok(),
        };
        if !valid {
            return None;
        }
        let mut payload = [0u8; 1024];
        let payload_len = URL_SAFE_NO_PAD.decode_slice(payload_segment, &mut payload).ok()?;
        serde_json::from_slice(&payload[..payload_len]).ok()
    }
}

// ---------------------------------------------------------------------------------------
// A Keycloak access token: roles two and three levels deep, read with Keycloak's preset.

/// A claims type that reads `sub` alone.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // parsed (that is the cost measured), never read
struct Subject {
    sub: String,
}

/// The claims of a Keycloak access token an API reads.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // parsed (that is the cost measured), never read
struct KeycloakClaims {
    sub: String,
    exp: i64,
    iat: i64,
    iss: String,
    aud: Vec<String>,
    preferred_username: String,
    email: String,
    scope: String,
    realm_access: KeycloakRoles,
    resource_access: std::collections::HashMap<String, KeycloakRoles>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct KeycloakRoles {
    roles: Vec<String>,
}

/// An HS256 token shaped like Keycloak's, the configuration with `ClaimPreset::keycloak`,
/// and jsonwebtoken's validation for it.
fn keycloak_case() -> (String, JwtAuthConfig, Validation) {
    let issuer = issuer(Algorithm::HS256);
    let token = issuer
        .issue(&serde_json::json!({
            "auth_time": 1_764_400_000, "jti": "onrtac:6c3e0f4e-5a51-4a0e-9f0c-3f1f4f0b9a71",
            "aud": [AUDIENCE, "account"], "sub": "f1b7c0de-3a44-4c2e-9a1b-2f6d8e9c0a11", "typ": "Bearer",
            "azp": "orders-web", "sid": "8c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "acr": "1",
            "allowed-origins": ["https://app.example.com"],
            "realm_access": {"roles": ["default-roles-demo", "offline_access", "uma_authorization", "admin"]},
            "resource_access": {AUDIENCE: {"roles": ["writer"]}, "account": {"roles": ["manage-account", "view-profile"]}},
            "scope": "openid email profile", "email_verified": true, "name": "Alice Example",
            "preferred_username": "alice", "given_name": "Alice", "family_name": "Example", "email": "alice@example.com"
        }))
        .expect("token");
    let config = JwtAuthConfig::builder()
        .key(issuer.verifying_key())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .claim_preset(ClaimPreset::keycloak(AUDIENCE))
        .token_cache(false)
        .build()
        .expect("config");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    (token, config, validation)
}

// ---------------------------------------------------------------------------------------
// The routers.

async fn hello() -> &'static str {
    "hello"
}

async fn hello_claims(Extension(claims): Extension<tower_jwt_auth::Claims<Claims>>) -> &'static str {
    black_box(&claims.sub);
    "hello"
}

/// The router as a server runs it: `axum::serve` (through `into_make_service`) turns every
/// route into its final, layered form once, with `with_state(())`. Called as a `Service`
/// without that, a router rebuilds each route and applies its layers on every request, a
/// cost no server pays.
fn served(router: Router) -> Router {
    router.with_state(())
}

fn router_no_auth() -> Router {
    served(Router::new().route("/me", get(hello)))
}

/// The same router as `router_no_auth` (the same handler) behind the layer: the difference
/// is the layer's own cost.
fn router_with_layer(config: JwtAuthConfig) -> Router {
    served(Router::new().route("/me", get(hello)).layer(JwtAuthLayer::new(config).with_claims::<Claims>()))
}

/// The layer with a handler that reads the claims (axum's `Extension` extractor): what a
/// handler pays on top of the layer to use them.
fn router_with_layer_reading_claims(config: JwtAuthConfig) -> Router {
    served(
        Router::new()
            .route("/me", get(hello_claims))
            .layer(JwtAuthLayer::new(config).with_claims::<Claims>()),
    )
}

/// Any axum layer, even one that does nothing, costs some per-request plumbing (the route
/// is boxed once more): the part of a layer's cost no layer can avoid.
fn router_with_identity_layer() -> Router {
    served(Router::new().route("/me", get(hello)).layer(tower::layer::util::Identity::new()))
}

/// The least an auth layer can do, as a baseline for the layer's own overhead: the floor's
/// work (no header parse, no claim check, no roles) on the `Authorization` header, the claims
/// inserted as one extension, 401 otherwise. Not a usable layer: what any layer inside axum
/// pays at least on top of the floor. With a cache, the least a caching layer does: the
/// simplest verified-token cache (a `HashMap` from the token to its claims with aHash,
/// behind a `RwLock`), with no expiry check, no bound on its size and no second extension
/// for guards.
#[cfg(feature = "aws-lc-rs")]
mod minimal {
    use std::collections::HashMap;
    use std::sync::{Arc, RwLock};
    use std::task::{Context, Poll};

    use axum::body::Body;
    use axum::http::{Request, Response, StatusCode, header::AUTHORIZATION};
    use futures_util::future::{Either, Ready, ready};
    use tower::{Layer, Service};

    use super::floor::{self, FloorKey};

    pub(super) type Cache = RwLock<HashMap<Box<str>, Arc<super::Claims>, ahash::RandomState>>;

    #[derive(Clone)]
    pub(super) struct MinimalLayer {
        pub(super) key: Arc<FloorKey>,
        pub(super) cache: Option<Arc<Cache>>,
    }

    impl<S> Layer<S> for MinimalLayer {
        type Service = Minimal<S>;
        fn layer(&self, inner: S) -> Minimal<S> {
            Minimal { inner, key: self.key.clone(), cache: self.cache.clone() }
        }
    }

    #[derive(Clone)]
    pub(super) struct Minimal<S> {
        inner: S,
        key: Arc<FloorKey>,
        cache: Option<Arc<Cache>>,
    }

    impl<S> Minimal<S> {
        fn claims(&self, token: &str) -> Option<Arc<super::Claims>> {
            let Some(cache) = &self.cache else {
                return floor::verify::<super::Claims>(token, &self.key).map(Arc::new);
            };
            let cached = cache.read().ok().and_then(|cache| cache.get(token).cloned());
            cached.or_else(|| {
                let claims = Arc::new(floor::verify::<super::Claims>(token, &self.key)?);
                cache.write().ok()?.insert(token.into(), claims.clone());
                Some(claims)
            })
        }
    }

    impl<S> Service<Request<Body>> for Minimal<S>
    where
        S: Service<Request<Body>, Response = Response<Body>>,
    {
        type Response = Response<Body>;
        type Error = S::Error;
        type Future = Either<S::Future, Ready<Result<Response<Body>, S::Error>>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, mut request: Request<Body>) -> Self::Future {
            let claims = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .and_then(|token| self.claims(token));
            match claims {
                Some(claims) => {
                    request.extensions_mut().insert(claims);
                    Either::Left(self.inner.call(request))
                }
                None => {
                    let mut response = Response::new(Body::empty());
                    *response.status_mut() = StatusCode::UNAUTHORIZED;
                    Either::Right(ready(Ok(response)))
                }
            }
        }
    }
}

/// The same router behind the minimal layer above.
#[cfg(feature = "aws-lc-rs")]
fn router_with_minimal_layer(key: std::sync::Arc<floor::FloorKey>) -> Router {
    served(Router::new().route("/me", get(hello)).layer(minimal::MinimalLayer { key, cache: None }))
}

/// The same router behind the minimal layer with its cache, empty.
#[cfg(feature = "aws-lc-rs")]
fn router_with_minimal_cache_layer(key: std::sync::Arc<floor::FloorKey>) -> Router {
    let layer = minimal::MinimalLayer { key, cache: Some(Default::default()) };
    served(Router::new().route("/me", get(hello)).layer(layer))
}

/// The auth layer and three guards inside it, as one stack: one axum layer wrapping, as in
/// `router_with_layer`, so the difference is the guards' own cost.
fn router_with_guards(config: JwtAuthConfig) -> Router {
    let stack = tower::ServiceBuilder::new()
        .layer(JwtAuthLayer::new(config).with_claims::<Claims>())
        .layer(Require::role("admin"))
        .layer(Require::any_role(["editor", "admin"]))
        .layer(Require::claim_equals("sub", "alice"));
    served(Router::new().route("/me", get(hello)).layer(stack))
}

/// The same three guards composed into one layer with `Require::all_of`.
fn router_with_all_of_guards(config: JwtAuthConfig) -> Router {
    let guards = Require::all_of([
        Require::role("admin"),
        Require::any_role(["editor", "admin"]),
        Require::claim_equals("sub", "alice"),
    ]);
    let stack =
        tower::ServiceBuilder::new().layer(JwtAuthLayer::new(config).with_claims::<Claims>()).layer(guards);
    served(Router::new().route("/me", get(hello)).layer(stack))
}

/// The same three guards as a separate `route_layer` inside the auth layer: each extra axum
/// layer boxes the route once more, which axum charges per request.
fn router_with_route_layer_guards(config: JwtAuthConfig) -> Router {
    let guards = tower::ServiceBuilder::new()
        .layer(Require::role("admin"))
        .layer(Require::any_role(["editor", "admin"]))
        .layer(Require::claim_equals("sub", "alice"));
    served(
        Router::new()
            .route("/me", get(hello))
            .route_layer(guards)
            .layer(JwtAuthLayer::new(config).with_claims::<Claims>()),
    )
}

/// One `MethodPolicy` for the whole server instead of per-route guards: a table of 22 rules
/// (a public health check, 20 report routes for auditors, the benchmark's route for admins),
/// inside the auth layer as one stack.
fn router_with_method_policy(config: JwtAuthConfig) -> Router {
    let mut policy = MethodPolicy::deny_unlisted().public("GET /health");
    for index in 0..20 {
        policy = policy.require(format!("GET /reports/{index}"), Require::role("auditor"));
    }
    let policy = policy.require("GET /me", Require::role("admin")).build().expect("policy");
    let stack =
        tower::ServiceBuilder::new().layer(JwtAuthLayer::new(config).with_claims::<Claims>()).layer(policy);
    served(Router::new().route("/me", get(hello)).layer(stack))
}

/// A list with 10,000 revoked tokens, 1,000 subjects (the benchmark's `alice` among them,
/// revoked an hour before its tokens) and 1,000 sessions.
async fn busy_revocations() -> Revocations {
    let revocations = Revocations::in_memory();
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    let before = std::time::SystemTime::now() - Duration::from_secs(3600);
    for index in 0..10_000 {
        revocations.revoke_token(&format!("revoked-token-{index}"), later).await.expect("revoke");
    }
    for index in 0..1_000 {
        revocations.revoke_subject(&format!("user-{index}"), before).await.expect("revoke");
        revocations.revoke_session(&format!("session-{index}"), later).await.expect("revoke");
    }
    revocations.revoke_subject("alice", before).await.expect("revoke");
    revocations
}

fn request(bearer: &HeaderValue) -> Request<Body> {
    Request::builder().uri("/me").header(AUTHORIZATION, bearer.clone()).body(Body::empty()).expect("request")
}

async fn call(router: &mut Router, request: Request<Body>) -> StatusCode {
    let ready = ServiceExt::<Request<Body>>::ready(router).await.expect("ready");
    let response = ready.call(request).await.expect("infallible");
    black_box(response).status()
}

// ---------------------------------------------------------------------------------------

/// One criterion group of in-process router requests: `make` builds each case's router
/// (`None` skips the case). Each router answers one unmeasured request first, which must be
/// a 200 (and fills the token cache where it is on); then the same request is measured, built
/// in the untimed setup.
fn router_group(
    criterion: &mut Criterion,
    rt: &Runtime,
    name: &str,
    cases: &[Case],
    mut make: impl FnMut(usize, &Case) -> Option<Router>,
) {
    let mut group = criterion.benchmark_group(name);
    for (index, case) in cases.iter().enumerate() {
        let Some(mut router) = make(index, case) else { continue };
        assert_eq!(
            rt.block_on(call(&mut router, request(&case.bearer))),
            StatusCode::OK,
            "{name}/{}",
            case.name
        );
        group.bench_function(case.name, |b| {
            b.iter_batched(
                || request(&case.bearer),
                |request| rt.block_on(call(&mut router, request)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn print_allocations(cases: &[Case], rt: &Runtime) {
    println!("Rust heap allocations per call (count, bytes):");
    for case in cases {
        #[cfg(feature = "aws-lc-rs")]
        let floor = allocations_per_call(|| {
            black_box(floor::verify::<Claims>(&case.token, &case.floor).expect("floor"));
        });
        #[cfg(not(feature = "aws-lc-rs"))]
        let floor = (f64::NAN, f64::NAN);
        let decode = allocations_per_call(|| {
            black_box(
                jsonwebtoken::decode::<Claims>(&case.token, &case.decoding_key, &case.validation)
                    .expect("decode"),
            );
        });
        let verify = allocations_per_call(|| {
            black_box(case.config.verify_as::<Claims>(&case.token).expect("verify"));
        });
        let mut plain = router_no_auth();
        let no_auth = allocations_per_call(|| {
            let request = request(&case.bearer);
            rt.block_on(call(&mut plain, request));
        });
        let mut layered = router_with_layer(case.config.clone());
        let with_layer = allocations_per_call(|| {
            let request = request(&case.bearer);
            rt.block_on(call(&mut layered, request));
        });
        let mut warm = router_with_layer(case.warm_config.clone());
        rt.block_on(call(&mut warm, request(&case.bearer)));
        let with_layer_warm = allocations_per_call(|| {
            let request = request(&case.bearer);
            rt.block_on(call(&mut warm, request));
        });
        #[cfg(feature = "aws-lc-rs")]
        let with_minimal = {
            let mut minimal = router_with_minimal_layer(case.floor.clone());
            allocations_per_call(|| {
                let request = request(&case.bearer);
                rt.block_on(call(&mut minimal, request));
            })
        };
        #[cfg(not(feature = "aws-lc-rs"))]
        let with_minimal = (f64::NAN, f64::NAN);
        let mut guarded = router_with_guards(case.config.clone());
        let with_guards = allocations_per_call(|| {
            let request = request(&case.bearer);
            rt.block_on(call(&mut guarded, request));
        });
        let request_only = allocations_per_call(|| {
            black_box(request(&case.bearer));
        });
        println!(
            "  {:<6} floor {:>4.1} / {:>5.0} B   jsonwebtoken {:>4.1} / {:>5.0} B   verify_as {:>4.1} / {:>5.0} B   \
             router_no_auth {:>4.1} / {:>5.0} B   router_with_layer {:>4.1} / {:>5.0} B   \
             router_with_layer_warm {:>4.1} / {:>5.0} B   router_with_minimal_layer {:>4.1} / {:>5.0} B   \
             router_with_guards {:>4.1} / {:>5.0} B   (building the request: {:.1} / {:.0} B, in every router number)",
            case.name,
            floor.0,
            floor.1,
            decode.0,
            decode.1,
            verify.0,
            verify.1,
            no_auth.0,
            no_auth.1,
            with_layer.0,
            with_layer.1,
            with_layer_warm.0,
            with_layer_warm.1,
            with_minimal.0,
            with_minimal.1,
            with_guards.0,
            with_guards.1,
            request_only.0,
            request_only.1,
        );
    }
}

/// For each asymmetric case, a configuration whose key comes from a remote JWKS, fetched
/// once from a loopback server (so every measured verification is a cache hit).
#[cfg(feature = "jwks")]
fn remote_configs(cases: &[Case], rt: &Runtime) -> Vec<Option<JwtAuthConfig>> {
    use tower_jwt_auth::RemoteJwks;
    let mut router = Router::new();
    for case in cases {
        let body = case.jwks.to_string();
        router = router.route(&format!("/{}.json", case.name), get(move || async move { body }));
    }
    let base = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await.expect("jwks server") });
        format!("http://{address}")
    });
    cases
        .iter()
        .map(|case| {
            if case.algorithm == Algorithm::HS256 {
                return None;
            }
            let remote = RemoteJwks::from_url(&format!("{base}/{}.json", case.name))
                .allow_http(true)
                .default_ttl(Duration::from_secs(24 * 60 * 60))
                .ttl_bounds(Duration::from_secs(60), Duration::from_secs(24 * 60 * 60))
                .rsa_algorithm_without_alg(if case.algorithm == Algorithm::PS256 {
                    tower_jwt_auth::Algorithm::PS256
                } else {
                    tower_jwt_auth::Algorithm::RS256
                })
                .build()
                .expect("remote jwks");
            rt.block_on(remote.refresh()).expect("jwks fetched");
            let config = JwtAuthConfig::builder()
                .remote_jwks(remote)
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .token_cache(false)
                .build()
                .expect("remote config");
            assert!(config.verify_as::<Claims>(&case.token).is_ok(), "{}: remote key verifies", case.name);
            Some(config)
        })
        .collect()
}

fn sanity_checks(cases: &[Case], rt: &Runtime) {
    for case in cases {
        #[cfg(feature = "aws-lc-rs")]
        assert_eq!(
            floor::verify::<Claims>(&case.token, &case.floor).expect("floor").sub,
            "alice",
            "{}",
            case.name
        );
        let decoded = jsonwebtoken::decode::<Claims>(&case.token, &case.decoding_key, &case.validation)
            .expect("jsonwebtoken decode");
        assert_eq!(decoded.header.alg, case.algorithm);
        assert_eq!(decoded.claims.role, "admin");
        assert_eq!(case.config.verify_as::<Claims>(&case.token).expect("verify").aud, AUDIENCE);
        // The claims reach the handler (its extractor answers 500 without them).
        let mut reading = router_with_layer_reading_claims(case.warm_config.clone());
        assert_eq!(rt.block_on(call(&mut reading, request(&case.bearer))), StatusCode::OK, "{}", case.name);
        let mut layered = router_with_layer(case.config.clone());
        assert_eq!(rt.block_on(call(&mut layered, request(&case.bearer))), StatusCode::OK, "{}", case.name);
        let mut guarded = router_with_guards(case.config.clone());
        assert_eq!(rt.block_on(call(&mut guarded, request(&case.bearer))), StatusCode::OK, "{}", case.name);
        let no_token = Request::builder().uri("/me").body(Body::empty()).expect("request");
        assert_eq!(rt.block_on(call(&mut layered, no_token)), StatusCode::UNAUTHORIZED);
        #[cfg(feature = "aws-lc-rs")]
        {
            let mut minimal = router_with_minimal_layer(case.floor.clone());
            assert_eq!(
                rt.block_on(call(&mut minimal, request(&case.bearer))),
                StatusCode::OK,
                "{}",
                case.name
            );
            let no_token = Request::builder().uri("/me").body(Body::empty()).expect("request");
            assert_eq!(rt.block_on(call(&mut minimal, no_token)), StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(rt.block_on(call(&mut router_no_auth(), request(&cases[0].bearer))), StatusCode::OK);
}

/// The HS256 routers that `LAYER_BENCH_REPEAT` and `LAYER_BENCH_ROUNDS` know, by name.
const NAMED_ROUTERS: [&str; 8] =
    ["no_auth", "identity", "minimal", "minimal_warm", "cold", "warm", "guards_warm", "policy_warm"];

/// One of [`NAMED_ROUTERS`] for `case` (`None` for the minimal layers without aws-lc-rs).
fn named_router(name: &str, case: &Case) -> Option<Router> {
    Some(match name {
        "no_auth" => router_no_auth(),
        "identity" => router_with_identity_layer(),
        #[cfg(feature = "aws-lc-rs")]
        "minimal" => router_with_minimal_layer(case.floor.clone()),
        #[cfg(feature = "aws-lc-rs")]
        "minimal_warm" => router_with_minimal_cache_layer(case.floor.clone()),
        "cold" => router_with_layer(case.config.clone()),
        "warm" => router_with_layer(case.warm_config.clone()),
        "guards_warm" => router_with_guards(case.warm_config.clone()),
        "policy_warm" => router_with_method_policy(case.warm_config.clone()),
        _ => return None,
    })
}

/// `LAYER_BENCH_REPEAT=<router>:<n>` runs `n` HS256 requests through one of
/// [`NAMED_ROUTERS`] and exits, for counting instructions under callgrind (run twice with
/// different `n`: the difference over the difference in `n` is one request's count, setup
/// excluded).
fn repeat(spec: &str, cases: &[Case], rt: &Runtime) {
    let (name, count) = spec.split_once(':').expect("<router>:<n>");
    let count: usize = count.parse().expect("a count");
    let case = &cases[0];
    let mut router = named_router(name, case).unwrap_or_else(|| panic!("no router {name:?}"));
    for _ in 0..count {
        assert_eq!(rt.block_on(call(&mut router, request(&case.bearer))), StatusCode::OK);
    }
}

/// `LAYER_BENCH_ROUNDS=<n>` times HS256 requests through the [`NAMED_ROUTERS`] in `n`
/// rounds, each round a batch of 1,000 requests per router in turn (built before the clock
/// starts), and prints each router's fastest and median batch per request, then the layer's
/// costs from them. On a shared machine whose neighbours come and go, the fastest of many
/// interleaved batches is the figure their noise disturbs least (noise only ever adds time),
/// and interleaving gives every router the same conditions.
fn rounds_of_batches(rounds: usize, cases: &[Case], rt: &Runtime) {
    const BATCH: u32 = 1_000;
    let case = &cases[0];
    let mut routers: Vec<(&str, Router)> =
        NAMED_ROUTERS.iter().filter_map(|&name| Some((name, named_router(name, case)?))).collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); routers.len()];
    for _ in 0..rounds {
        for ((_, router), times) in routers.iter_mut().zip(&mut times) {
            let requests: Vec<_> = (0..BATCH).map(|_| request(&case.bearer)).collect();
            let start = std::time::Instant::now();
            rt.block_on(async {
                for request in requests {
                    assert_eq!(call(router, request).await, StatusCode::OK);
                }
            });
            times.push(start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH));
        }
    }
    let mut summary = std::collections::HashMap::new();
    println!("HS256, {rounds} rounds of {BATCH} requests per router, ns per request:");
    println!("| router | fastest batch | median batch |\n|---|---:|---:|");
    for ((name, _), mut times) in routers.iter().zip(times) {
        times.sort_by(f64::total_cmp);
        let (fastest, median) = (times[0], times[times.len() / 2]);
        println!("| {name} | {fastest:.0} | {median:.0} |");
        summary.insert(*name, (fastest, median));
    }
    let cost = |a: &str, b: &str| summary.get(a).zip(summary.get(b)).map(|(a, b)| (a.0 - b.0, a.1 - b.1));
    for (label, a, b) in [
        ("warm layer (warm - no_auth)", "warm", "no_auth"),
        ("cold layer (cold - no_auth)", "cold", "no_auth"),
        ("minimal layer (minimal - no_auth)", "minimal", "no_auth"),
        ("cold - minimal", "cold", "minimal"),
        ("minimal caching layer, warm (minimal_warm - no_auth)", "minimal_warm", "no_auth"),
        ("warm - minimal_warm", "warm", "minimal_warm"),
        ("identity layer (identity - no_auth)", "identity", "no_auth"),
        ("three guards, warm (guards_warm - warm)", "guards_warm", "warm"),
        ("method policy of 22 rules, warm (policy_warm - warm)", "policy_warm", "warm"),
    ] {
        if let Some((fastest, median)) = cost(a, b) {
            println!("{label}: {fastest:.0} ns by the fastest batches, {median:.0} ns by the medians");
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let cases = cases();
    if let Ok(spec) = std::env::var("LAYER_BENCH_REPEAT") {
        return repeat(&spec, &cases, &rt);
    }
    if let Ok(rounds) = std::env::var("LAYER_BENCH_ROUNDS") {
        return rounds_of_batches(rounds.parse().expect("a number of rounds"), &cases, &rt);
    }
    sanity_checks(&cases, &rt);
    print_allocations(&cases, &rt);

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(40)
        .nresamples(20_000)
        .without_plots()
        .configure_from_args();

    #[cfg(feature = "aws-lc-rs")]
    {
        let mut group = criterion.benchmark_group("floor");
        for case in &cases {
            group.bench_function(case.name, |b| {
                b.iter(|| floor::verify::<Claims>(black_box(&case.token), &case.floor))
            });
        }
        group.finish();
    }

    let mut group = criterion.benchmark_group("jsonwebtoken_decode");
    for case in &cases {
        group.bench_function(case.name, |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims>(black_box(&case.token), &case.decoding_key, &case.validation)
            })
        });
    }
    group.finish();

    let mut group = criterion.benchmark_group("config_verify");
    for case in &cases {
        group.bench_function(case.name, |b| {
            b.iter(|| case.config.verify_as::<Claims>(black_box(&case.token)))
        });
    }
    group.finish();

    // The same work from one thread and from two at once (one per core): the time per call
    // should halve with two, unless they contend on shared state (the header memo, the
    // token cache's shards, reference counts).
    let hs256 = &cases[0];
    let warm_router = served(router_with_layer(hs256.warm_config.clone()));
    let mut group = criterion.benchmark_group("threads");
    for threads in [1, 2] {
        group.bench_function(format!("verify_as/{threads}"), |b| {
            b.iter_custom(|iterations| {
                threaded(iterations, threads, || {
                    || {
                        black_box(hs256.config.verify_as::<Claims>(black_box(&hs256.token)).is_ok());
                    }
                })
            })
        });
        group.bench_function(format!("router_warm/{threads}"), |b| {
            b.iter_custom(|iterations| {
                threaded(iterations, threads, || {
                    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
                    let mut router = warm_router.clone();
                    assert_eq!(rt.block_on(call(&mut router, request(&hs256.bearer))), StatusCode::OK);
                    move || {
                        rt.block_on(call(&mut router, request(&hs256.bearer)));
                    }
                })
            })
        });
    }
    group.finish();

    {
        let (token, config, validation) = keycloak_case();
        let claims = config.verify_as::<KeycloakClaims>(&token).expect("the Keycloak token verifies");
        assert!(claims.grants().has_role("admin") && claims.grants().has_role("writer"));
        let (count, _) = allocations_per_call(|| {
            black_box(config.verify_as::<KeycloakClaims>(&token).expect("verify_as"));
        });
        println!("Keycloak-shaped token, HS256: verify_as {count:.1} allocations per call");
        let mut group = criterion.benchmark_group("keycloak");
        #[cfg(feature = "aws-lc-rs")]
        {
            let key = floor::FloorKey::new(Algorithm::HS256, &issuer(Algorithm::HS256));
            assert!(floor::verify::<KeycloakClaims>(&token, &key).is_some());
            let (count, _) = allocations_per_call(|| {
                black_box(floor::verify::<KeycloakClaims>(&token, &key).expect("floor"));
            });
            println!("Keycloak-shaped token, HS256: floor {count:.1} allocations per call");
            group.bench_function("floor", |b| {
                b.iter(|| floor::verify::<KeycloakClaims>(black_box(&token), &key))
            });
        }
        let key = decoding_key(Algorithm::HS256);
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| jsonwebtoken::decode::<KeycloakClaims>(black_box(&token), &key, &validation))
        });
        group.bench_function("config_verify", |b| {
            b.iter(|| config.verify_as::<KeycloakClaims>(black_box(&token)))
        });
        group.finish();
    }

    {
        // Tokens of about 9 to 11 KB whose bulk is 700 names: as roles, as scopes, as a
        // plain array no path reads, and as one long string, read into a struct of `sub`
        // alone: what the names cost beyond their bytes.
        let issuer = issuer(Algorithm::HS256);
        let config = JwtAuthConfig::builder()
            .key(issuer.verifying_key())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .max_token_size(64 * 1024)
            .token_cache(false)
            .build()
            .expect("config");
        let names: Vec<String> = (0..700).map(|i| format!("role-{i:04}")).collect();
        let mut group = criterion.benchmark_group("many_names");
        for (name, claims) in [
            ("roles_700", serde_json::json!({"sub": "alice", "roles": names})),
            ("scopes_700", serde_json::json!({"sub": "alice", "scope": names.join(" ")})),
            ("array_700", serde_json::json!({"sub": "alice", "other": names})),
            ("one_string", serde_json::json!({"sub": "alice", "other": names.join(",")})),
        ] {
            let token = issuer.issue(&claims).expect("token");
            config.verify_as::<Subject>(&token).expect("the token verifies");
            println!("many_names/{name}: {} bytes", token.len());
            group.bench_function(name, |b| b.iter(|| config.verify_as::<Subject>(black_box(&token))));
        }
        group.finish();
    }

    router_group(&mut criterion, &rt, "router_no_auth", &cases, |_, _| Some(router_no_auth()));
    router_group(&mut criterion, &rt, "router_with_layer", &cases, |_, case| {
        Some(router_with_layer(case.config.clone()))
    });

    #[cfg(feature = "jwks")]
    {
        let remote = remote_configs(&cases, &rt);
        let mut group = criterion.benchmark_group("config_verify_remote");
        for (case, config) in cases.iter().zip(&remote) {
            let Some(config) = config else { continue };
            group
                .bench_function(case.name, |b| b.iter(|| config.verify_as::<Claims>(black_box(&case.token))));
        }
        group.finish();
        router_group(&mut criterion, &rt, "router_with_remote_layer", &cases, |index, _| {
            remote[index].clone().map(router_with_layer)
        });
    }

    // The first (unmeasured) call verifies and caches: every measured request is a hit.
    router_group(&mut criterion, &rt, "router_with_layer_warm", &cases, |_, case| {
        Some(router_with_layer(case.warm_config.clone()))
    });
    router_group(&mut criterion, &rt, "router_with_layer_warm_reading_claims", &cases, |_, case| {
        Some(router_with_layer_reading_claims(case.warm_config.clone()))
    });
    #[cfg(feature = "aws-lc-rs")]
    router_group(&mut criterion, &rt, "router_with_minimal_layer", &cases, |_, case| {
        Some(router_with_minimal_layer(case.floor.clone()))
    });
    // Algorithm-independent: measured once.
    router_group(&mut criterion, &rt, "router_with_identity_layer", &cases[..1], |_, _| {
        Some(router_with_identity_layer())
    });
    #[cfg(feature = "aws-lc-rs")]
    router_group(&mut criterion, &rt, "router_with_minimal_cache_layer_warm", &cases[..1], |_, case| {
        Some(router_with_minimal_cache_layer(case.floor.clone()))
    });

    // The same warm request with a revocation list that holds entries of every kind, the
    // token's subject among them (revoked before the token was issued): every lookup runs.
    let revocations = rt.block_on(busy_revocations());
    router_group(&mut criterion, &rt, "router_with_layer_warm_revocations", &cases, |_, case| {
        let config = JwtAuthConfig::builder()
            .key(issuer(case.algorithm).verifying_key())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .revocations(revocations.clone())
            .build()
            .expect("config with revocations");
        Some(router_with_layer(config))
    });
    let mut group = criterion.benchmark_group("revocation_check");
    let checking = JwtAuthConfig::builder()
        .key(issuer(cases[0].algorithm).verifying_key())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .revocations(revocations.clone())
        .build()
        .expect("config with revocations");
    // Verified with revocations on: the ids are read once, as the layer caches them.
    let verified = checking.verify(&cases[0].token).expect("verify");
    let token = verified.token().clone();
    group.bench_function("is_revoked", |b| b.iter(|| revocations.is_revoked(black_box(&token))));
    group.finish();

    // The three guards' checks alone, on a verified token (no router, no futures).
    let mut group = criterion.benchmark_group("guards_is_satisfied");
    let guards = [
        Require::role("admin"),
        Require::any_role(["editor", "admin"]),
        Require::claim_equals("sub", "alice"),
    ];
    let extensions = axum::http::Extensions::new();
    for case in &cases {
        let verified = case.config.verify(&case.token).expect("verify");
        let token = verified.token().clone();
        group.bench_function(case.name, |b| {
            b.iter(|| {
                guards.iter().all(|guard| guard.is_satisfied(black_box(&token), &extensions) == Some(true))
            })
        });
    }
    group.finish();

    router_group(&mut criterion, &rt, "router_with_all_of_guards", &cases, |_, case| {
        Some(router_with_all_of_guards(case.config.clone()))
    });
    router_group(&mut criterion, &rt, "router_with_route_layer_guards", &cases, |_, case| {
        Some(router_with_route_layer_guards(case.config.clone()))
    });
    router_group(&mut criterion, &rt, "router_with_guards", &cases, |_, case| {
        Some(router_with_guards(case.config.clone()))
    });
    router_group(&mut criterion, &rt, "router_with_method_policy", &cases, |_, case| {
        Some(router_with_method_policy(case.config.clone()))
    });

    #[cfg(feature = "aws-lc-rs")]
    dpop::group(&mut criterion, &rt);

    criterion.final_summary();
}

/// DPoP's cost per request: see the module docs (`dpop/...`).
#[cfg(feature = "aws-lc-rs")]
mod dpop {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::EncodingKey;
    use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
    use tower_jwt_auth::dpop::DpopPolicy;

    const URL: &str = "https://api.example.com/me";

    struct Prover {
        key: EncodingKey,
        jwk: serde_json::Value,
        /// The public point, for the floor.
        point: Vec<u8>,
    }

    impl Prover {
        fn proof(&self, token: &str) -> String {
            static JTI: AtomicUsize = AtomicUsize::new(0);
            let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
            let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
            let iat =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs();
            let ath = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
            let claims = serde_json::json!({
                "jti": format!("proof-{}", JTI.fetch_add(1, Ordering::Relaxed)),
                "htm": "GET", "htu": URL, "iat": iat, "ath": b64(ath.as_ref()),
            });
            let signed =
                format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
            let signature =
                jsonwebtoken::crypto::sign(signed.as_bytes(), &self.key, Algorithm::ES256).expect("sign");
            format!("{signed}.{signature}")
        }
    }

    fn request(authorization: &HeaderValue, proof: Option<String>) -> Request<Body> {
        let mut request = Request::builder().uri("/me").header(AUTHORIZATION, authorization.clone());
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.body(Body::empty()).expect("request")
    }

    pub(super) fn group(criterion: &mut Criterion, rt: &Runtime) {
        let issuer = issuer(Algorithm::HS256);
        let key = EncodingKey::from_ec_pem(EC256_PRIVATE.as_bytes()).expect("EC key");
        let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).expect("jwk");
        let jkt = jwk.thumbprint(ThumbprintHash::SHA256).expect("thumbprint");
        let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm else { unreachable!("an EC key") };
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(&ec.x).expect("x"));
        point.extend(URL_SAFE_NO_PAD.decode(&ec.y).expect("y"));
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": ec.x, "y": ec.y});
        let prover = Prover { key, jwk, point };

        let claims = |bound: bool| {
            let mut claims = serde_json::json!({"sub": "alice", "role": "admin"});
            if bound {
                claims["cnf"] = serde_json::json!({"jkt": jkt});
            }
            issuer.issue(&claims).expect("token")
        };
        let (plain, bound) = (claims(false), claims(true));
        let config = |cache: bool| {
            JwtAuthConfig::builder()
                .key(issuer.verifying_key())
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .token_cache(cache)
                .dpop(DpopPolicy::allowed().replay_capacity(50_000_000))
                .external_url("https://api.example.com")
                .build()
                .expect("config")
        };
        let bearer = HeaderValue::from_str(&format!("Bearer {plain}")).expect("header");
        let dpop = HeaderValue::from_str(&format!("DPoP {bound}")).expect("header");

        let mut group = criterion.benchmark_group("dpop");
        let mut warm = router_with_layer(config(true));
        // First calls: a 200 each, and the tokens cached.
        assert_eq!(rt.block_on(call(&mut warm, request(&bearer, None))), StatusCode::OK);
        assert_eq!(rt.block_on(call(&mut warm, request(&dpop, Some(prover.proof(&bound))))), StatusCode::OK);
        group.bench_function("bearer_warm", |b| {
            b.iter_batched(
                || request(&bearer, None),
                |r| rt.block_on(call(&mut warm, r)),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("dpop_warm", |b| {
            b.iter_batched(
                || request(&dpop, Some(prover.proof(&bound))),
                |r| rt.block_on(call(&mut warm, r)),
                BatchSize::SmallInput,
            )
        });
        let mut cold = router_with_layer(config(false));
        assert_eq!(rt.block_on(call(&mut cold, request(&dpop, Some(prover.proof(&bound))))), StatusCode::OK);
        group.bench_function("dpop_cold", |b| {
            b.iter_batched(
                || request(&dpop, Some(prover.proof(&bound))),
                |r| rt.block_on(call(&mut cold, r)),
                BatchSize::SmallInput,
            )
        });
        // The floor: the proof's key parsed and its signature checked, nothing else.
        let proof = prover.proof(&bound);
        let (signed, signature) = proof.rsplit_once('.').expect("a JWS");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");
        group.bench_function("proof_floor", |b| {
            b.iter(|| {
                let key = aws_lc_rs::signature::UnparsedPublicKey::new(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                    black_box(&prover.point),
                );
                key.verify(signed.as_bytes(), &signature).expect("valid")
            })
        });
        group.finish();
    }
}

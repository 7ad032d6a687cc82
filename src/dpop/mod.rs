//! DPoP (RFC 9449), the resource server's side: tokens bound to a client's key, each request
//! signed by that key, so that a stolen token is useless alone.
//!
//! Turn it on with [`JwtAuthConfigBuilder::dpop`](crate::JwtAuthConfigBuilder::dpop):
//! [`DpopPolicy::allowed`] accepts both bearer and DPoP-bound tokens,
//! [`DpopPolicy::required`] only DPoP-bound ones. Off by default.
//!
//! A DPoP request carries `Authorization: DPoP <token>` and one `DPoP` header holding the
//! proof, a JWT signed with the client's key. The layer checks, in RFC 9449 section 4.3's
//! order, refusing with 401 `invalid_dpop_proof` (gRPC UNAUTHENTICATED) at the first that
//! fails:
//!
//! 1. exactly one `DPoP` header, at most 8 KiB;
//! 2. a well-formed JWT;
//! 3. every required member: `typ`, `alg`, `jwk`; `jti`, `htm`, `htu`, `iat`, `ath`;
//! 4. `typ` is `dpop+jwt`;
//! 5. `alg` is on the allowed list, which holds asymmetric algorithms only (never `none`
//!    or HMAC);
//! 6. and 7. `jwk` is a public key (no private members) and the signature verifies with it;
//! 8. `htm` is the request's method;
//! 9. `htu` is the request's URL without query and fragment, compared in RFC 3986's normal
//!    form (a proof whose `htu` has a query or fragment is refused): the server's own URL
//!    ([`external_url`](crate::JwtAuthConfigBuilder::external_url), else the protected
//!    resource's origin; on a loopback host in development, the `Host` header) and the
//!    request's path; for gRPC the path is the method's;
//! 10. the server's nonce, when [nonces](DpopPolicy::nonces) are on (else 401
//!     `use_dpop_nonce` with a `DPoP-Nonce` header);
//! 11. `iat` within the [window](DpopPolicy::proof_window) (default ±5 minutes);
//! 12. `ath` is the SHA-256 of the access token; then the token is verified as always, and
//!     its `cnf.jkt` must be the RFC 7638 thumbprint of the proof's key;
//!
//! and last the `jti` must not have been seen within the window: the proof is spent only
//! when everything else passed (in this instance's bounded cache, and with
//! [`shared_replays`](DpopPolicy::shared_replays) in Redis too, so that every instance
//! refuses it). A token with `cnf.jkt` sent as `Bearer` (or in a cookie) is
//! refused, and so is a token without one sent as `DPoP`. With DPoP off, a token with
//! `cnf.jkt` is refused too: it is no bearer token, and a thief would need no key here
//! ([`bound_tokens_as_bearer`](crate::JwtAuthConfigBuilder::bound_tokens_as_bearer) accepts
//! it, behind a gateway that checks the proofs). The verified-token cache never
//! skips any of this: each request's proof is checked, cache hit or not.
//!
//! Challenges name both schemes when both are accepted: `WWW-Authenticate: Bearer
//! realm="api"` and `WWW-Authenticate: DPoP algs="ES256 ..."`, the error on the one the
//! request used.
//!
//! ```
//! use http::{Request, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, TokenIssuer, dpop::DpopPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let secret = b"an example secret of at least 32 bytes!".to_vec();
//! let config = JwtAuthConfig::builder().hmac_secret(&secret).dpop(DpopPolicy::required()).build()?;
//! let service = ServiceBuilder::new()
//!     .layer(JwtAuthLayer::new(config))
//!     .service(service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(http::Response::new(String::new())) }));
//!
//! // A bearer token where DPoP is required: not a credential this server takes.
//! let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
//! let request = Request::get("/").header("authorization", format!("Bearer {token}")).body(())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert!(response.headers()["www-authenticate"].to_str()?.starts_with("DPoP algs=\"ES256"));
//! # Ok(())
//! # }
//! ```

mod nonce;
pub(crate) mod proof;
mod replay;

/// The RFC 7638 SHA-256 thumbprint of a public key given as a JWK (JSON), base64url: the
/// `cnf.jkt` of a token bound to that key, for issuing one yourself (in tests, say). The
/// JWK is read as the layer reads a proof's: a public signing key (`EC`, `RSA` or `OKP`),
/// no private members; else a [`ConfigError`] of kind
/// [`InvalidKey`](crate::error::ConfigErrorKind::InvalidKey).
///
/// ```
/// use tower_jwt_auth::{TokenIssuer, dpop};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // The example key of RFC 7638, section 3.1, and its thumbprint.
/// let jwk = r#"{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;
/// let jkt = dpop::thumbprint(jwk)?;
/// assert_eq!(jkt, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
///
/// // A token bound to that key: the layer takes it only with a proof the key signed.
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!").build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice", "cnf": {"jkt": jkt}}))?;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
pub fn thumbprint(jwk: &str) -> Result<String, ConfigError> {
    crate::keys::public_thumbprint(jwk).map_err(ConfigError::key)
}

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::header::HOST;

use crate::clock::seconds;
use crate::error::{ConfigError, ErrorKind};
use crate::keys::{Algorithm, Family};
use crate::response::RequestHead;
use crate::url::{HttpUrl, is_loopback, is_normal_path};

pub(crate) use nonce::Nonces;
pub(crate) use proof::CheckedProof;
use replay::ReplayCache;

/// Default window around now within which a proof's `iat` must fall.
const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// The longest proof window and nonce period accepted.
const MAX_WINDOW: Duration = Duration::from_secs(3600);
/// Default number of spent proofs remembered.
const DEFAULT_REPLAY_CAPACITY: usize = 1_000_000;

/// How this server takes DPoP-bound tokens (RFC 9449). See the [module](self) for the
/// checks.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{Algorithm, JwtAuthConfig, dpop::DpopPolicy};
///
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .dpop(
///         DpopPolicy::allowed()
///             .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///             .proof_window(Duration::from_secs(120))
///             .nonces(Duration::from_secs(30)),
///     )
///     .build()
///     .unwrap();
/// # let _ = config;
///
/// // HMAC can never sign a proof: a secret cannot prove who holds a key.
/// let error = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .dpop(DpopPolicy::allowed().algorithms([Algorithm::HS256]))
///     .build()
///     .unwrap_err();
/// assert!(error.message().contains("asymmetric"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct DpopPolicy {
    required: bool,
    algorithms: Vec<Algorithm>,
    window: Duration,
    replay_capacity: usize,
    nonce_period: Option<Duration>,
    nonce_secret: Option<[u8; 32]>,
    #[cfg(feature = "redis")]
    shared: Option<crate::revoke::Revocations>,
    #[cfg(feature = "redis")]
    local_during_outage: bool,
}

impl fmt::Debug for DpopPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopPolicy")
            .field("required", &self.required)
            .field("algorithms", &self.algorithms)
            .field("window", &self.window)
            .field("replay_capacity", &self.replay_capacity)
            .field("nonce_period", &self.nonce_period)
            .finish_non_exhaustive()
    }
}

impl DpopPolicy {
    fn new(required: bool) -> Self {
        Self {
            required,
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::ES512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::EdDSA,
            ],
            window: DEFAULT_WINDOW,
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            nonce_period: None,
            nonce_secret: None,
            #[cfg(feature = "redis")]
            shared: None,
            #[cfg(feature = "redis")]
            local_during_outage: false,
        }
    }

    /// Accepts DPoP-bound tokens with their proofs, and bearer tokens as before.
    pub fn allowed() -> Self {
        Self::new(false)
    }

    /// Accepts DPoP-bound tokens with their proofs only: `Authorization: Bearer` is not a
    /// credential here (401 with the DPoP challenge), and the token sources must be the
    /// `Authorization` header alone.
    pub fn required() -> Self {
        Self::new(true)
    }

    /// The algorithms a proof may be signed with. Default: every asymmetric one (ES256,
    /// ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512, EdDSA, which proofs may also
    /// name `Ed25519`). HMAC is refused by `build()`.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far a proof's `iat` may be from now, either way. Default: 5 minutes. Spent
    /// proofs are remembered this long.
    pub fn proof_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How many spent proofs this instance remembers (about 40 bytes each). Default:
    /// 1,000,000. When it is full of proofs still inside their window, new proofs are
    /// refused with 503 ([`ErrorKind::ReplayCheckUnavailable`]) rather than a replay risked.
    pub fn replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Requires a server nonce in every proof (RFC 9449 section 9): a proof without one, or
    /// with an old one, gets 401 `use_dpop_nonce` and a `DPoP-Nonce` header to retry with;
    /// every answer to a DPoP request carries the current nonce. A nonce is current for
    /// `period` and accepted for twice as long. Default: off.
    pub fn nonces(mut self, period: Duration) -> Self {
        self.nonce_period = Some(period);
        self
    }

    /// The secret nonces are made with, so that several instances accept each other's.
    /// Default: a random one for each configuration.
    pub fn nonce_secret(mut self, secret: [u8; 32]) -> Self {
        self.nonce_secret = Some(secret);
        self
    }

    /// Spends proofs in the Redis server of `revocations` too (feature `redis`; a list
    /// started with [`RevocationsBuilder::redis`](crate::revoke::RevocationsBuilder::redis)),
    /// so that a proof spent on any instance is refused on every other: each request's
    /// proof is written there with `SET NX`, kept until its window ends, after this
    /// instance's own replay cache passed it. Give every instance the same list (the same
    /// Redis server and prefix). When Redis does not answer within the list's timeout, the
    /// request is refused with 503 (`ReplayCheckUnavailable`): see
    /// [`local_replays_during_outage`](Self::local_replays_during_outage).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_replays(mut self, revocations: crate::revoke::Revocations) -> Self {
        self.shared = Some(revocations);
        self
    }

    /// What a Redis outage does to DPoP requests when replays are
    /// [shared](Self::shared_replays): `false` (the default) refuses them with 503, since a
    /// proof could then be replayed to another instance unseen; `true` admits them on this
    /// instance's own replay check alone until Redis is back (a proof replayed to another
    /// instance during the outage passes there).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn local_replays_during_outage(mut self, local: bool) -> Self {
        self.local_during_outage = local;
        self
    }

    pub(crate) fn prepare(self, external_url: Option<HttpUrl>) -> Result<PreparedDpop, ConfigError> {
        #[cfg(feature = "redis")]
        if self.shared.as_ref().is_some_and(|revocations| !revocations.is_shared()) {
            return Err(ConfigError::setting(
                "shared_replays needs a revocation list started with Revocations::builder().redis(client)",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::setting("DPoP needs at least one proof algorithm"));
        }
        if let Some(hmac) = self.algorithms.iter().find(|algorithm| algorithm.family() == Family::Hmac) {
            return Err(ConfigError::setting(format!(
                "{hmac} cannot sign DPoP proofs; they need an asymmetric algorithm"
            )));
        }
        if self.window.is_zero() || self.replay_capacity == 0 {
            return Err(ConfigError::setting("the DPoP proof window and replay capacity must be above zero"));
        }
        if self.window > MAX_WINDOW
            || self.nonce_period.is_some_and(|period| period.is_zero() || period > MAX_WINDOW)
        {
            return Err(ConfigError::setting(
                "the DPoP proof window and nonce period must be at most an hour (a proof is a one-time signature)",
            ));
        }
        let nonces = self.nonce_period.map(|period| {
            let key = self.nonce_secret.unwrap_or_else(|| {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).expect("the system's random source is available");
                key
            });
            Arc::new(Nonces::new(key, seconds(period)))
        });
        Ok(PreparedDpop {
            required: self.required,
            algorithms: self.algorithms,
            window: seconds(self.window),
            replay: ReplayCache::new(self.replay_capacity),
            nonces,
            external_url,
            #[cfg(feature = "redis")]
            shared: self.shared,
            #[cfg(feature = "redis")]
            local_during_outage: self.local_during_outage,
        })
    }
}

/// A proof's spending in a shared store, still to be awaited before the request goes on.
pub(crate) type PendingSpend = Pin<Box<dyn Future<Output = Result<(), ErrorKind>> + Send>>;

/// A [`DpopPolicy`] checked by `build()`, with its replay cache.
pub(crate) struct PreparedDpop {
    pub(crate) required: bool,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) window: i64,
    replay: ReplayCache,
    pub(crate) nonces: Option<Arc<Nonces>>,
    external_url: Option<HttpUrl>,
    #[cfg(feature = "redis")]
    shared: Option<crate::revoke::Revocations>,
    #[cfg(feature = "redis")]
    local_during_outage: bool,
}

impl PreparedDpop {
    /// The algorithms' names, as the challenge's `algs` and the metadata list them.
    pub(crate) fn algorithm_names(&self) -> Vec<&'static str> {
        self.algorithms.iter().map(|algorithm| algorithm.name()).collect()
    }

    /// The URL the client addressed: the external URL (or the protected resource's origin)
    /// and the request's path when one is configured; else, for a loopback server only (a
    /// development one), the request's own scheme and authority (HTTP/2), or its `Host` with
    /// `http`. Anywhere else a server that does not know its own URL cannot tell a proof made
    /// for it from one made for another server: `None`, and the proof is refused. A path a
    /// router would read differently from its normal form (dot segments, encoded letters) is
    /// refused too.
    pub(crate) fn request_url(&self, request: &RequestHead<'_>) -> Option<HttpUrl> {
        let path = request.uri.path();
        if !is_normal_path(path) {
            return None;
        }
        if let Some(base) = &self.external_url {
            return Some(base.join(path));
        }
        let authority = match request.uri.authority() {
            Some(authority) => authority.as_str(),
            None => {
                let mut hosts = request.headers.get_all(HOST).iter();
                match (hosts.next(), hosts.next()) {
                    (Some(host), None) => host.to_str().ok()?,
                    _ => return None,
                }
            }
        };
        if !is_loopback(authority.as_bytes()) {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "a DPoP proof was refused: this server does not know its own URL; set \
                     JwtAuthConfigBuilder::external_url (or protected_resource)"
                );
            }
            return None;
        }
        HttpUrl::from_request(request.uri.scheme_str().unwrap_or("http"), authority, path).ok()
    }

    /// The binding of a verified token to the request's proof (RFC 9449 section 4.3 step
    /// 12, and section 7.2), then the replay check, which spends the proof. `proof`: the
    /// checked proof of a DPoP request, `None` for another scheme; `bound`: the token's
    /// `cnf.jkt`.
    pub(crate) fn bind(
        &self,
        proof: Option<CheckedProof>,
        bound: Option<&str>,
        now: i64,
    ) -> Result<Option<PendingSpend>, ErrorKind> {
        match (proof, bound) {
            (Some(proof), Some(jkt)) if proof.jkt == jkt => self.spend(&proof, now),
            (Some(_), Some(_)) => Err(ErrorKind::ProofKeyMismatch),
            (Some(_), None) => Err(ErrorKind::UnboundTokenWithProof),
            (None, Some(_)) => Err(ErrorKind::BoundTokenWithoutProof),
            (None, None) => Ok(None),
        }
    }

    /// Spends the proof here, then in the shared store if there is one.
    fn spend(&self, proof: &CheckedProof, now: i64) -> Result<Option<PendingSpend>, ErrorKind> {
        self.replay.spend(proof.replay_key, proof.usable_until, now)?;
        #[cfg(feature = "redis")]
        if let Some(spending) =
            self.shared.as_ref().and_then(|shared| shared.spend_proof(proof.replay_key, proof.usable_until))
        {
            let local_during_outage = self.local_during_outage;
            return Ok(Some(Box::pin(async move {
                match spending.await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(ErrorKind::ReplayedProof),
                    // Spent here already: this instance's check is all there is until Redis
                    // is back.
                    Err(_) if local_during_outage => Ok(()),
                    Err(_) => Err(ErrorKind::ReplayCheckUnavailable),
                }
            })));
        }
        Ok(None)
    }
}

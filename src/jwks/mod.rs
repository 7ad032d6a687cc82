//! Remote key sets: a JWKS fetched over https (directly, or found by OIDC discovery) and
//! cached with lock-free reads.
//!
//! How the cache behaves:
//!
//! - **Reads never wait on the network** for a key that is already known: the current set
//!   sits behind an [`ArcSwapOption`], and a refresh replaces it whole.
//! - **Lifetime**: the response's `Cache-Control: max-age`, clamped to [1 min, 24 h], else
//!   10 minutes. A refresh starts in the background at a random point between 80 % and 95 %
//!   of that lifetime (jitter, so a fleet does not refresh at once), on the first request
//!   after that point. One fetch at a time (single-flight).
//! - **Failures**: the last good set is kept and served for up to 24 h after it was fetched
//!   (the maximum staleness); retries back off exponentially (1 s doubling to 5 min, with
//!   jitter). One warning per outage and one line on recovery. A document that yields no
//!   key fit to verify (every key unfit, junk entries, an empty set) is a failure too, so a
//!   bad publication never throws the good keys away; an empty set counts as withdrawn only
//!   with [`RemoteJwksBuilder::allow_empty_set`]. A set of more than 100 entries
//!   ([`RemoteJwksBuilder::max_keys`]) is refused whole before any key is read, and reading
//!   a set counts against the fetch's timeout.
//! - **Unknown kid**: one refetch, shared by every request that waits for it, at most once
//!   per 30 s (the cooldown). Inside the cooldown an unknown kid fails at once with 401, and
//!   a kid looked up and not found is remembered for one cooldown (the negative cache,
//!   bounded, keyed by hash), so a flood of random kids costs no network and takes no lock
//!   longer than a lookup. A bad signature with a known kid never
//!   fetches. The algorithm allowlist (and the issuer, before any wait) is checked first.
//! - **Cold start**: lazy by default ([`RemoteJwksBuilder::prefetch`] starts at build when a
//!   Tokio runtime is running). Before the first successful fetch, requests wait for the one
//!   fetch in flight and, if it fails, get 503 with `Retry-After` (gRPC: UNAVAILABLE).
//! - **Where fetches run**: on one background thread the crate starts on the first fetch
//!   (a current-thread Tokio runtime, thread `tower-jwt-auth`), never on the runtime of the
//!   request that started them. A fetch ends, by its timeout at the latest, however busy
//!   or idle that runtime is, even after it shut down, so a waiting request never waits
//!   longer than the timeout.
//!
//! ```no_run
//! use tower_jwt_auth::{JwtAuthConfig, RemoteJwks};
//!
//! # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
//! let config = JwtAuthConfig::builder()
//!     .remote_jwks(RemoteJwks::discover("https://idp.example.com/realms/main").build()?)
//!     .issuer("https://idp.example.com/realms/main")
//!     .audience("orders-api")
//!     .build()?;
//! # let _ = config;
//! # Ok(())
//! # }
//! ```

pub(crate) mod fetch;

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::keys::Algorithm;
use arc_swap::ArcSwapOption;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use reqwest::{Client, Url};

use crate::error::{ConfigError, ErrorKind};
use crate::keys::{
    KeySet, PreparedKey, RemoteKeys, RemoteSetError, install_default_provider, parse_remote_jwk_set,
    public_key_algorithms,
};
use crate::observe;
use crate::wait::{KeyWait, Stop};

pub use fetch::JwksErrorKind;
use fetch::{FetchLimits, discovery_url, jwks_uri_from_discovery, scheme_allowed};

/// Default freshness lifetime of a fetched set without `Cache-Control: max-age`.
const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(600);
/// Default bounds `Cache-Control: max-age` is clamped to.
const DEFAULT_JWKS_TTL_BOUNDS: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(86_400));
/// Default time after its fetch that a set is still served while refreshes fail.
const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(86_400);
/// Default minimum time between two refetches caused by unknown kids.
const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// Default timeout of one fetch, connection to last body byte.
const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on a fetched document's body.
const DEFAULT_MAX_BODY_SIZE: usize = 64 * 1024;
/// Default cap on the entries of a fetched key set.
const DEFAULT_MAX_KEYS: usize = 100;

/// At most this many kids are remembered as not found (for one cooldown); beyond, all are
/// forgotten at once.
const NEGATIVE_CAPACITY: usize = 4096;
/// Every configured duration is capped here (about 100 years), so no instant overflows.
const MAX_SETTING: Duration = Duration::from_secs(100 * 365 * 86_400);
/// Retry backoff after failed fetches: first delay and ceiling.
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// A remote JWKS: where it is, how it is fetched, and its cache. Cheap to clone (an `Arc`
/// inside); clones share one cache.
///
/// ```
/// use tower_jwt_auth::{DefaultClaims, ErrorKind, JwtAuthConfig, RemoteJwks, TokenIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ec256_private.pem"))?;
/// // The identity provider signs with an EC key and serves its public half at `url`.
/// let provider = TokenIssuer::builder().ec_pem(&pem).kid("2024-06").build()?;
/// # let jwks = provider.jwk_set();
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/jwks.json", listener.local_addr()?);
/// # let app = axum::Router::new().route("/jwks.json", axum::routing::get(move || {
/// #     let jwks = jwks.clone();
/// #     async move { axum::Json(jwks) }
/// # }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// let keys = RemoteJwks::from_url(&url).allow_http(true).build()?; // http: a loopback test
/// let config = JwtAuthConfig::builder().remote_jwks(keys.clone()).build()?;
/// let token = provider.issue(&serde_json::json!({"sub": "alice"}))?;
///
/// // Nothing is fetched yet, and `verify` never waits: the keys are unavailable (503).
/// assert_eq!(config.verify(&token).unwrap_err().kind(), ErrorKind::KeysUnavailable);
/// // `verify_async`, like the layer, fetches the set once; then it is cached.
/// let claims = config.verify_async::<DefaultClaims>(&token).await?;
/// assert_eq!(claims.sub.as_deref(), Some("alice"));
/// assert!(config.verify(&token).is_ok());
/// assert_eq!(keys.status().fetches, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

struct Inner {
    location: Location,
    client: Client,
    limits: FetchLimits,
    allow_foreign_jwks_uri: bool,
    default_ttl: Duration,
    ttl_bounds: (Duration, Duration),
    max_staleness: Duration,
    cooldown: Duration,
    algorithms: Vec<Algorithm>,
    rsa_default: Algorithm,
    max_keys: usize,
    allow_empty_set: bool,
    current: ArcSwapOption<Snapshot>,
    state: Mutex<State>,
    /// Keys the negative cache's hashes (random per set: kids cannot be chosen to collide).
    negative_hasher: RandomState,
    /// Milliseconds since `epoch` before which no background refresh starts (`u64::MAX`
    /// while a fetch runs): read without the lock by every request once a refresh is due.
    quiet_until: AtomicU64,
    epoch: Instant,
}

enum Location {
    Jwks(Url),
    Discovery { issuer: String, url: Url },
}

/// A fetched set and its timing.
struct Snapshot {
    keys: KeySet,
    fetched_at: Instant,
    refresh_at: Instant,
    expires_at: Instant,
    skipped: usize,
}

#[derive(Default)]
struct State {
    in_flight: Option<Shared<BoxFuture<'static, Result<(), JwksError>>>>,
    /// When the last refetch caused by an unknown kid started.
    last_kid_refetch: Option<Instant>,
    /// Kids looked up and not found (as keyed hashes, so a long kid costs no memory), with
    /// when.
    negative: HashMap<u64, Instant>,
    /// Bumped by every fetch started; a fetch that ends (or is dropped) clears `in_flight`
    /// only if it is still the current one.
    generation: u64,
    /// Failed fetches in a row, and when the next attempt may start.
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<JwksError>,
    /// The jwks_uri found by discovery, kept until a fetch from it fails.
    discovered: Option<Url>,
    /// Whether the current outage was logged at warn.
    outage_logged: bool,
    fetches: u64,
}

/// Why fetching a remote key set failed: a [`kind`](Self::kind) to match on, and a fixed
/// sentence. Neither names a URL, a header or body content, so the error is safe to show on
/// a health endpoint ([`JwksStatus::last_error`]); the transport's own error, which names the
/// URL, goes to the `tracing` debug log instead of [`source`](std::error::Error::source).
///
/// ```
/// use tower_jwt_auth::{RemoteJwks, jwks::JwksErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/jwks.json", listener.local_addr()?);
/// # tokio::spawn(async move { axum::serve(listener, axum::Router::<()>::new()).await });
/// // `url`: a server that answers 404 for everything.
/// let keys = RemoteJwks::from_url(&url).allow_http(true).build()?;
/// let error = keys.refresh().await.unwrap_err();
/// assert_eq!(error.kind(), JwksErrorKind::Status(404));
/// assert!(!error.during_discovery());
/// // A fixed sentence, without the URL: safe on a health endpoint.
/// assert_eq!(error.to_string(), "JWKS fetch failed: the server answered with status 404, not 200");
/// assert_eq!(keys.status().last_error, Some(error));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksError {
    failure: JwksErrorKind,
    discovery: bool,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.discovery { "OIDC discovery" } else { "JWKS fetch" };
        write!(f, "{what} failed: {}", self.failure)
    }
}

impl std::error::Error for JwksError {}

impl JwksError {
    /// What went wrong.
    pub fn kind(&self) -> JwksErrorKind {
        self.failure
    }

    /// True when the OIDC discovery document failed, rather than the key set itself.
    pub fn during_discovery(&self) -> bool {
        self.discovery
    }

    /// A fetch that failed without an answer to judge: no connection, or a fetch that
    /// ended without its result (a panic, a dropped task), or no runtime to run it.
    fn transport() -> Self {
        Self { failure: JwksErrorKind::Transport, discovery: false }
    }
}

/// A point-in-time view of a remote key set, for health endpoints.
///
/// ```
/// use tower_jwt_auth::{RemoteJwks, TokenIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ec256_private.pem"))?;
/// # let jwks = TokenIssuer::builder().ec_pem(&pem).build()?.jwk_set();
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/jwks.json", listener.local_addr()?);
/// # let app = axum::Router::new().route("/jwks.json", axum::routing::get(move || {
/// #     let jwks = jwks.clone();
/// #     async move { axum::Json(jwks) }
/// # }));
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// // `url`: a key set of one key.
/// let keys = RemoteJwks::from_url(&url).allow_http(true).build()?;
/// let status = keys.status();
/// assert!(!status.ready && status.keys == 0 && status.fetches == 0); // lazy: nothing fetched
///
/// keys.refresh().await?;
/// let status = keys.status();
/// assert!(status.ready && !status.stale);
/// assert_eq!((status.keys, status.fetches, status.consecutive_failures), (1, 1, 0));
/// assert_eq!(status.last_error, None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStatus {
    /// A usable set with at least one key is cached (fetched and not older than the
    /// maximum staleness): requests can be verified.
    pub ready: bool,
    /// Keys in the cached set.
    pub keys: usize,
    /// Keys of the last fetched document that were skipped as unfit.
    pub skipped_keys: usize,
    /// Time since the cached set was fetched.
    pub age: Option<Duration>,
    /// The cached set is past its freshness lifetime (refreshes are failing).
    pub stale: bool,
    /// Failed fetches in a row.
    pub consecutive_failures: u32,
    /// The last fetch's error, while failures continue.
    pub last_error: Option<JwksError>,
    /// Fetches started so far (successful or not).
    pub fetches: u64,
}

/// Builds a [`RemoteJwks`]. Every limit has a documented default.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{Algorithm, RemoteJwks, error::ConfigErrorKind};
///
/// # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
/// let keys = RemoteJwks::from_url("https://idp.example.com/jwks.json")
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     .timeout(Duration::from_secs(2))
///     .default_ttl(Duration::from_secs(300))
///     .max_staleness(Duration::from_secs(6 * 3600))
///     .unknown_kid_cooldown(Duration::from_secs(60))
///     .build()?; // no network access here
/// assert_eq!(keys.status().fetches, 0);
///
/// // Plain http is refused unless allowed, with a sentence that says how.
/// let error = RemoteJwks::from_url("http://idp.example.com/jwks.json").build().unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::InvalidUrl);
/// assert!(error.message().contains("allow_http(true)"));
/// // A published key is public: HMAC algorithms make no sense for a remote set.
/// let error = RemoteJwks::from_url("https://idp.example.com/jwks.json")
///     .algorithms([Algorithm::HS256])
///     .build()
///     .unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::InvalidSetting);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct RemoteJwksBuilder {
    location: Result<LocationSpec, String>,
    client: Option<Client>,
    limits: FetchLimits,
    allow_foreign_jwks_uri: bool,
    default_ttl: Duration,
    ttl_bounds: (Duration, Duration),
    max_staleness: Duration,
    cooldown: Duration,
    algorithms: Vec<Algorithm>,
    rsa_default: Algorithm,
    max_keys: usize,
    allow_empty_set: bool,
    prefetch: bool,
}

enum LocationSpec {
    Jwks(Url),
    Discovery(String),
}

impl fmt::Debug for RemoteJwksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwksBuilder").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl RemoteJwks {
    /// A set fetched from a JWKS URL (`https://.../jwks.json`).
    pub fn from_url(url: &str) -> RemoteJwksBuilder {
        let location = Url::parse(url).map(LocationSpec::Jwks).map_err(|_| format!("{url:?} is not a URL"));
        RemoteJwksBuilder::new(location)
    }

    /// A set found by OpenID Connect discovery: `{issuer}/.well-known/openid-configuration`
    /// names the `jwks_uri`. The document's `issuer` must equal `issuer` exactly, and the
    /// `jwks_uri` must be on the issuer's origin unless
    /// [`allow_foreign_jwks_uri`](RemoteJwksBuilder::allow_foreign_jwks_uri).
    pub fn discover(issuer: &str) -> RemoteJwksBuilder {
        RemoteJwksBuilder::new(Ok(LocationSpec::Discovery(issuer.to_owned())))
    }

    /// The issuer this set was discovered from, if it was.
    pub fn discovered_issuer(&self) -> Option<&str> {
        match &self.inner.location {
            Location::Discovery { issuer, .. } => Some(issuer),
            Location::Jwks(_) => None,
        }
    }

    /// Fetches the set now, joining a fetch already in flight; ignores the cooldown and the
    /// failure backoff. On failure the cached set, if any, stays.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        let wait = {
            let mut state = self.inner.lock();
            match &state.in_flight {
                Some(in_flight) => in_flight.clone(),
                None => self.inner.start_fetch(&mut state),
            }
        };
        wait.await
    }

    /// The cache's state, for a health or readiness endpoint.
    pub fn status(&self) -> JwksStatus {
        let now = Instant::now();
        let snapshot = self.inner.current.load();
        let state = self.inner.lock();
        let usable = snapshot.as_ref().filter(|snapshot| self.inner.usable(snapshot, now));
        JwksStatus {
            ready: usable.is_some_and(|snapshot| snapshot.keys.len() > 0),
            keys: usable.map_or(0, |snapshot| snapshot.keys.len()),
            skipped_keys: snapshot.as_ref().map_or(0, |snapshot| snapshot.skipped),
            age: snapshot.as_ref().map(|snapshot| now.saturating_duration_since(snapshot.fetched_at)),
            stale: snapshot.as_ref().is_some_and(|snapshot| now >= snapshot.expires_at),
            consecutive_failures: state.failures,
            last_error: state.last_error.clone(),
            fetches: state.fetches,
        }
    }

    /// True when the cached set (not older than the maximum staleness) would select the key
    /// with this fingerprint for `kid` and `algorithm`: the key is still there, and no key
    /// added since (a second key of the algorithm for a token without `kid`, a key under the
    /// token's own `kid`) would be chosen instead. Like a verification, a set due for
    /// refresh starts one in the background.
    pub(crate) fn still_selects(&self, kid: Option<&str>, algorithm: Algorithm, fingerprint: u64) -> bool {
        let current = self.inner.current.load();
        self.inner.servable(current.as_ref(), Instant::now()).is_some_and(|snapshot| {
            snapshot.keys.select(kid, algorithm).is_ok_and(|key| key.fingerprint() == fingerprint)
        })
    }

    /// True when `algorithm` may be verified with a key from this set.
    pub(crate) fn allows(&self, algorithm: Algorithm) -> bool {
        self.inner.algorithms.contains(&algorithm)
    }

    /// Finds the key for `kid`/`algorithm` and hands it to `use_key`. When the key is not
    /// cached and a fetch could bring it, and `may_wait`, returns [`Stop::Wait`]: the
    /// caller awaits it and asks again with `may_wait` false. `admit` runs before any fetch
    /// is started or joined (say, to refuse a foreign issuer without network access).
    pub(crate) fn with_key<R>(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
        may_wait: bool,
        admit: impl FnOnce() -> Result<(), ErrorKind>,
        use_key: impl FnOnce(&PreparedKey) -> R,
    ) -> Result<R, Stop> {
        if !self.allows(algorithm) {
            return Err(Stop::Reject(ErrorKind::UnsupportedAlgorithm));
        }
        let inner = &self.inner;
        let mut admit = Some(admit);
        let mut use_key = Some(use_key);
        let mut run_admit = || admit.take().map_or(Ok(()), |admit| admit()).map_err(Stop::Reject);
        loop {
            let now = Instant::now();
            let current = inner.current.load();
            let usable = inner.servable(current.as_ref(), now);
            if let Some(snapshot) = usable {
                match snapshot.keys.select(kid, algorithm) {
                    Ok(key) => {
                        if now >= snapshot.expires_at {
                            observe::jwks_stale_served();
                        }
                        let use_key = use_key.take().expect("a key is used once");
                        return Ok(use_key(key));
                    }
                    Err(ErrorKind::UnknownKey) => {}
                    // A known kid with another algorithm, or a set with no key of this
                    // algorithm at all and a kid it does not know: only the latter may be a
                    // rotation worth a fetch.
                    Err(ErrorKind::UnsupportedAlgorithm)
                        if kid.is_none_or(|kid| !snapshot.keys.has_kid(kid)) => {}
                    Err(other) => return Err(Stop::Reject(other)),
                }
            }
            let cold = usable.is_none();
            let missing = |state: &mut State| {
                if cold {
                    ErrorKind::KeysUnavailable
                } else {
                    state.remember_missing(&inner.negative_hasher, kid, now);
                    ErrorKind::UnknownKey
                }
            };
            if !may_wait {
                return Err(Stop::Reject(missing(&mut inner.lock())));
            }
            run_admit()?;
            let mut state = inner.lock();
            // A fetch may have stored a new set between the read above and this lock: if so,
            // look again (the lock orders this check after any such store).
            if !same_snapshot(&current, &inner.current.load()) {
                continue;
            }
            if let Some(in_flight) = &state.in_flight {
                return Err(Stop::Wait(wait_for(in_flight)));
            }
            let backing_off = state.retry_at.is_some_and(|at| now < at);
            if cold {
                return if backing_off {
                    Err(Stop::Reject(ErrorKind::KeysUnavailable))
                } else {
                    Err(Stop::Wait(wait_for(&inner.start_fetch(&mut state))))
                };
            }
            let known_missing = state.is_known_missing(&inner.negative_hasher, kid, now, inner.cooldown);
            let cooling =
                state.last_kid_refetch.is_some_and(|at| now < at.checked_add(inner.cooldown).unwrap_or(now));
            if known_missing || cooling || backing_off {
                observe::jwks_refetch_refused();
                tracing::debug!("unknown kid: rejected without a fetch (cooldown, backoff or known missing)");
                return Err(Stop::Reject(missing(&mut state)));
            }
            state.last_kid_refetch = Some(now);
            tracing::debug!("unknown kid: refetching the key set");
            return Err(Stop::Wait(wait_for(&inner.start_fetch(&mut state))));
        }
    }
}

/// A wait for a fetch in flight: it ends with the fetch, whatever its outcome.
fn wait_for(fetch: &Shared<BoxFuture<'static, Result<(), JwksError>>>) -> KeyWait {
    KeyWait::new(fetch.clone().map(drop))
}

/// True when both loads saw the same stored set (or both saw none).
fn same_snapshot(a: &Option<Arc<Snapshot>>, b: &Option<Arc<Snapshot>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = match &self.inner.location {
            Location::Jwks(url) => url.as_str(),
            Location::Discovery { issuer, .. } => issuer.as_str(),
        };
        f.debug_struct("RemoteJwks").field("location", &location).finish_non_exhaustive()
    }
}

impl State {
    fn remember_missing(&mut self, hasher: &RandomState, kid: Option<&str>, now: Instant) {
        if self.negative.len() >= NEGATIVE_CAPACITY {
            // Bounded: forget everything at once (O(n) once per NEGATIVE_CAPACITY inserts).
            self.negative.clear();
        }
        self.negative.insert(hasher.hash_one(kid), now);
    }

    /// A kid looked up and not found within the last `ttl`.
    fn is_known_missing(&self, hasher: &RandomState, kid: Option<&str>, now: Instant, ttl: Duration) -> bool {
        self.negative.get(&hasher.hash_one(kid)).is_some_and(|at| now < at.checked_add(ttl).unwrap_or(now))
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state holds no invariant a panic could break half-way: recover from poisoning.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `current` when it may be served at `now`; a set due for refresh starts one in the
    /// background.
    fn servable<'c>(
        self: &Arc<Self>,
        current: Option<&'c Arc<Snapshot>>,
        now: Instant,
    ) -> Option<&'c Arc<Snapshot>> {
        let snapshot = current.filter(|snapshot| self.usable(snapshot, now))?;
        if now >= snapshot.refresh_at {
            self.refresh_in_background(now);
        }
        Some(snapshot)
    }

    /// A set is served within its own lifetime, and past it until the maximum staleness
    /// (counted from its fetch) while refreshes fail. A staleness shorter than the lifetime
    /// never makes a fresh set unusable (each request would fetch again).
    fn usable(&self, snapshot: &Snapshot, now: Instant) -> bool {
        now < snapshot.expires_at
            || snapshot.fetched_at.checked_add(self.max_staleness).is_none_or(|end| now < end)
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn refresh_in_background(self: &Arc<Self>, now: Instant) {
        // Without the quiet window passed, a fetch runs or the backoff holds: no lock taken.
        if self.millis(now) < self.quiet_until.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.lock();
        if state.in_flight.is_some() || state.retry_at.is_some_and(|at| now < at) {
            return;
        }
        drop(self.start_fetch(&mut state));
    }

    /// Starts a fetch (the caller checked none is in flight) and returns the shared handle.
    /// The fetch runs as a task on the crate's background runtime, so it ends, by its
    /// own timeout at the latest, whatever becomes of the requests that wait for it and of
    /// their runtime; waiters only wait for the task's end. A fetch that ends without its
    /// result applied (a panic anywhere in it, a task dropped) counts as a failed one.
    /// Without any runtime to run it, the answer is an error at once.
    fn start_fetch(self: &Arc<Self>, state: &mut State) -> Shared<BoxFuture<'static, Result<(), JwksError>>> {
        self.start_fetch_on(state, crate::background::runtime())
    }

    /// [`start_fetch`](Self::start_fetch) on `runtime`.
    fn start_fetch_on(
        self: &Arc<Self>,
        state: &mut State,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Shared<BoxFuture<'static, Result<(), JwksError>>> {
        state.fetches += 1;
        let Some(runtime) = runtime else {
            // Counted and backed off like any failed fetch: requests until the backoff ends
            // get their answer without trying again.
            return self.failed_start(state);
        };
        state.generation = state.generation.wrapping_add(1);
        self.quiet_until.store(u64::MAX, Ordering::Relaxed);
        let mut guard = FetchGuard { inner: Arc::clone(self), generation: state.generation, done: false };
        let future = async move {
            let inner = Arc::clone(&guard.inner);
            let timeout = inner.limits.timeout;
            // One timeout over the whole fetch, discovery and JWKS together, and reading it.
            let deadline = Instant::now().checked_add(timeout).unwrap_or_else(Instant::now);
            let fetch = tokio::time::timeout(timeout, AssertUnwindSafe(inner.fetch(deadline)).catch_unwind());
            let outcome = match fetch.await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_panic)) => Err(JwksError::transport()),
                Err(_elapsed) => Err(JwksError { failure: JwksErrorKind::Timeout, discovery: false }),
            };
            let applied = inner.apply(outcome);
            guard.disarm();
            applied
        };
        // The caller holds the state's lock: a task dropped inside `spawn` (its runtime
        // shutting down) must not take it again (see `FetchGuard`).
        SPAWNING.set(true);
        let task = runtime.spawn(future);
        SPAWNING.set(false);
        if DROPPED_WHILE_SPAWNING.replace(false) {
            return self.failed_start(state);
        }
        let shared = async move { task.await.unwrap_or(Err(JwksError::transport())) }.boxed().shared();
        state.in_flight = Some(shared.clone());
        shared
    }

    /// Fetches the set (discovering its URL first when needed) and reads it, all within
    /// the fetch's time budget: a document read after its deadline is a timeout.
    async fn fetch(&self, deadline: Instant) -> Result<(RemoteKeys, Option<Duration>), JwksError> {
        let jwks_error = |failure| JwksError { failure, discovery: false };
        let url = match &self.location {
            Location::Jwks(url) => url.clone(),
            Location::Discovery { issuer, url } => {
                let cached = self.lock().discovered.clone();
                match cached {
                    Some(jwks_uri) => jwks_uri,
                    None => {
                        let discovery_error = |failure| JwksError { failure, discovery: true };
                        let document =
                            fetch::get(&self.client, url, &self.limits).await.map_err(discovery_error)?;
                        let jwks_uri = jwks_uri_from_discovery(
                            &document.body,
                            issuer,
                            self.limits.allow_http,
                            self.allow_foreign_jwks_uri,
                        )
                        .map_err(discovery_error)?;
                        self.lock().discovered = Some(jwks_uri.clone());
                        jwks_uri
                    }
                }
            }
        };
        let fetched = fetch::get(&self.client, &url, &self.limits).await.map_err(jwks_error)?;
        let remote = parse_remote_jwk_set(&fetched.body, &self.algorithms, self.rsa_default, self.max_keys)
            .map_err(|error| jwks_error(error.into()))?;
        if Instant::now() > deadline {
            return Err(jwks_error(JwksErrorKind::Timeout));
        }
        // A document with no key to verify with would throw away the last good set: a failed
        // fetch, unless it is empty on purpose (a set withdrawn whole, when allowed).
        let withdrawn = remote.skipped == 0 && self.allow_empty_set;
        if remote.keys.is_empty() && !withdrawn {
            return Err(jwks_error(JwksErrorKind::NoUsableKey));
        }
        Ok((remote, fetched.max_age))
    }

    /// Stores a fetched set, or records the failure; ends the fetch in flight.
    fn apply(&self, outcome: Result<(RemoteKeys, Option<Duration>), JwksError>) -> Result<(), JwksError> {
        let now = Instant::now();
        let mut state = self.lock();
        match outcome {
            Ok((remote, max_age)) => {
                let ttl = max_age.unwrap_or(self.default_ttl).clamp(self.ttl_bounds.0, self.ttl_bounds.1);
                let refresh_after = ttl.mul_f64(0.80 + 0.15 * unit_random());
                let (count, skipped) = (remote.keys.len(), remote.skipped);
                // Durations are capped at build, so these never overflow.
                let refresh_at = now.checked_add(refresh_after).unwrap_or(now);
                self.current.store(Some(Arc::new(Snapshot {
                    keys: KeySet::from_vetted(remote.keys),
                    fetched_at: now,
                    refresh_at,
                    expires_at: now.checked_add(ttl).unwrap_or(now),
                    skipped,
                })));
                self.quiet_until.store(self.millis(refresh_at), Ordering::Relaxed);
                state.in_flight = None;
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                let recovered = std::mem::take(&mut state.outage_logged);
                state.negative.clear();
                drop(state);
                // The fetch is settled before logs and metrics, which run the application's
                // code (a subscriber, a recorder) and may panic.
                observe::jwks_fetch(true);
                if recovered {
                    tracing::info!(keys = count, "JWKS fetch recovered");
                } else {
                    tracing::debug!(keys = count, skipped, ttl_seconds = ttl.as_secs(), "JWKS fetched");
                }
                Ok(())
            }
            Err(error) => {
                let report = self.settle_failure(&mut state, error.clone(), now);
                drop(state);
                self.report_failure(&error, report);
                Err(error)
            }
        }
    }

    /// Records a failed fetch: ends the fetch in flight, sets the backoff, keeps the
    /// error. Returns what [`report_failure`](Self::report_failure) says of it.
    fn settle_failure(&self, state: &mut State, error: JwksError, now: Instant) -> FailureReport {
        state.in_flight = None;
        state.failures = state.failures.saturating_add(1);
        let exponent = state.failures.saturating_sub(1).min(16);
        let backoff = BACKOFF_START.saturating_mul(1 << exponent).min(BACKOFF_MAX);
        let retry_at = now + backoff.mul_f64(0.5 + 0.5 * unit_random());
        state.retry_at = Some(retry_at);
        self.quiet_until.store(self.millis(retry_at), Ordering::Relaxed);
        // Discover again next time: the provider may have moved its keys.
        state.discovered = None;
        state.last_error = Some(error);
        let first = !std::mem::replace(&mut state.outage_logged, true);
        FailureReport { first, failures: state.failures }
    }

    /// Counts and logs a failed fetch (one warning per outage), once it is settled: this
    /// runs the application's code, which may panic.
    fn report_failure(&self, error: &JwksError, report: FailureReport) {
        observe::jwks_fetch(false);
        if report.first {
            let cached = self.current.load().is_some();
            tracing::warn!(error = %error, serving_cached_keys = cached, "JWKS fetch failed; retrying with backoff");
        } else {
            tracing::debug!(error = %error, failures = report.failures, "JWKS fetch failed again");
        }
    }

    /// A fetch that could not start: settled and reported as failed, its answer ready.
    fn failed_start(&self, state: &mut State) -> Shared<BoxFuture<'static, Result<(), JwksError>>> {
        let report = self.settle_failure(state, JwksError::transport(), Instant::now());
        self.report_failure(&JwksError::transport(), report);
        futures_util::future::ready(Err(JwksError::transport())).boxed().shared()
    }
}

/// What a failed fetch's report says: the first of an outage is a warning.
struct FailureReport {
    first: bool,
    failures: u32,
}

std::thread_local! {
    /// Set while `start_fetch` spawns a fetch, holding the state's lock.
    static SPAWNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set when a fetch task was dropped inside that spawn (its runtime shutting down).
    static DROPPED_WHILE_SPAWNING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Ends a fetch that ends without its result applied (a panic in it, its task dropped)
/// as a failed fetch, so the next request after the backoff can start another.
struct FetchGuard {
    inner: Arc<Inner>,
    generation: u64,
    done: bool,
}

impl FetchGuard {
    /// The fetch reached its end: `apply` ended it.
    fn disarm(&mut self) {
        self.done = true;
    }
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if SPAWNING.get() {
            // Dropped inside `spawn`, whose caller holds the lock: it ends the fetch.
            DROPPED_WHILE_SPAWNING.set(true);
            return;
        }
        let mut state = self.inner.lock();
        // Unless it was settled already (a panic in the logs or metrics after `apply` had
        // stored its outcome) or another fetch started since (which ends on its own).
        if state.generation == self.generation && state.in_flight.is_some() {
            let error = JwksError::transport();
            let report = self.inner.settle_failure(&mut state, error.clone(), Instant::now());
            drop(state);
            // Logs and metrics run the application's code: never while unwinding, where a
            // second panic would abort the process.
            if !std::thread::panicking() {
                self.inner.report_failure(&error, report);
            }
        }
    }
}

/// A uniform random number in [0, 1), for jitter.
fn unit_random() -> f64 {
    f64::from(getrandom::u32().unwrap_or(u32::MAX / 2)) / (f64::from(u32::MAX) + 1.0)
}

impl RemoteJwksBuilder {
    fn new(location: Result<LocationSpec, String>) -> Self {
        Self {
            location,
            client: None,
            limits: FetchLimits {
                timeout: DEFAULT_FETCH_TIMEOUT,
                max_body: DEFAULT_MAX_BODY_SIZE,
                allow_http: false,
            },
            allow_foreign_jwks_uri: false,
            default_ttl: DEFAULT_JWKS_TTL,
            ttl_bounds: DEFAULT_JWKS_TTL_BOUNDS,
            max_staleness: DEFAULT_MAX_STALENESS,
            cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
            algorithms: public_key_algorithms(),
            rsa_default: Algorithm::RS256,
            max_keys: DEFAULT_MAX_KEYS,
            allow_empty_set: false,
            prefetch: false,
        }
    }

    /// Uses your own client (custom CA, proxy, mTLS) for every fetch, discovery and JWKS
    /// alike. Redirects are refused even when your client follows them; give it
    /// `redirect(Policy::none())` so none is followed at all.
    ///
    /// Fetches run on the crate's background thread, and a client's pooled connections
    /// belong to the runtime that opened them: a connection your code opened with the same
    /// client on a runtime that is now idle (neither running nor shut down) stalls the
    /// fetch that reuses it until its timeout. Give the key set a client of its own.
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Allows plain `http` URLs, for any host: meant for development and tests (a local
    /// provider, a container on a private network). Keys fetched over plain http can be
    /// replaced by anyone on the path, so keep it off in production. Off by default: https
    /// only.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.limits.allow_http = allow;
        self
    }

    /// Allows a discovered `jwks_uri` on another origin than the issuer's. Off by default.
    pub fn allow_foreign_jwks_uri(mut self, allow: bool) -> Self {
        self.allow_foreign_jwks_uri = allow;
        self
    }

    /// The timeout of one fetch, from connecting to the last body byte, discovery and JWKS
    /// together (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// The cap on a fetched body, enforced while streaming (default 64 KiB).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.limits.max_body = bytes;
        self
    }

    /// The lifetime of a set fetched without `Cache-Control: max-age` (default 10 min).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The bounds a set's lifetime is clamped to (default 1 min to 24 h).
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.ttl_bounds = (min, max);
        self
    }

    /// How long after its fetch a set is still served while refreshes fail (default 24 h).
    /// A set is always served within its own lifetime, whatever this says.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// The minimum time between two refetches caused by unknown kids (default 30 s).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The algorithms a key from this set may verify (default: RS256/384/512,
    /// PS256/384/512, ES256, ES384, ES512, EdDSA). Keys whose `alg` is outside are skipped; a token
    /// naming another algorithm is rejected before any fetch.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The algorithm of RSA keys published without `alg` (default RS256). A key verifies
    /// one algorithm only (RFC 8725 section 3.1).
    pub fn rsa_algorithm_without_alg(mut self, algorithm: Algorithm) -> Self {
        self.rsa_default = algorithm;
        self
    }

    /// The most entries a fetched key set may hold (default 100; providers publish a few).
    /// A document with more is a failed fetch (`JwksErrorKind::TooManyKeys`): the last good
    /// set stays in use, as for any failure, and no key of that document is read.
    pub fn max_keys(mut self, entries: usize) -> Self {
        self.max_keys = entries;
        self
    }

    /// Accepts an empty key set (`{"keys": []}`) as a set withdrawn whole: its tokens then
    /// fail with 401 until keys are published again. Off by default: an empty document is a
    /// failed fetch (`JwksErrorKind::NoUsableKey`), like one whose every key is unfit, and
    /// the last good set stays in use.
    pub fn allow_empty_set(mut self, allow: bool) -> Self {
        self.allow_empty_set = allow;
        self
    }

    /// Starts the first fetch at build when a Tokio runtime is running, instead of at the
    /// first request. The build never waits for it and never fails because of it.
    pub fn prefetch(mut self, prefetch: bool) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// Checks the settings and builds the set. No network access happens here (unless
    /// [`prefetch`](Self::prefetch), in the background).
    pub fn build(self) -> Result<RemoteJwks, ConfigError> {
        install_default_provider();
        let allow_http = self.limits.allow_http;
        let location = match self.location.map_err(ConfigError::url)? {
            LocationSpec::Jwks(url) => {
                if !scheme_allowed(&url, allow_http) {
                    return Err(ConfigError::url(
                        "the JWKS URL must use https; allow plain http explicitly with \
                         RemoteJwks::from_url(url).allow_http(true) (for development and tests)",
                    ));
                }
                Location::Jwks(url)
            }
            LocationSpec::Discovery(issuer) => {
                let url = discovery_url(&issuer).map_err(ConfigError::url)?;
                if !scheme_allowed(&url, allow_http) {
                    return Err(ConfigError::url(
                        "the issuer URL must use https; for development and tests, allow plain http \
                         with RemoteJwksBuilder::allow_http(true)",
                    ));
                }
                Location::Discovery { issuer, url }
            }
        };
        if self.algorithms.is_empty()
            || self
                .algorithms
                .iter()
                .any(|algorithm| matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::setting(
                "a remote key set verifies public-key algorithms only: list at least one of RS*, PS*, ES*, \
                 EdDSA and no HS*",
            ));
        }
        if !matches!(
            self.rsa_default,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) {
            return Err(ConfigError::setting(
                "the algorithm for RSA keys without `alg` must be an RS* or PS* one",
            ));
        }
        if self.limits.timeout.is_zero() || self.limits.max_body == 0 || self.max_keys == 0 {
            return Err(ConfigError::setting(
                "the fetch timeout, the body cap and max_keys must be above zero",
            ));
        }
        if self.ttl_bounds.0 > self.ttl_bounds.1 || self.ttl_bounds.0.is_zero() {
            return Err(ConfigError::setting("the lifetime bounds must satisfy 0 < min <= max"));
        }
        let client = match self.client {
            Some(client) => client,
            None => Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .https_only(!allow_http)
                .build()
                .map_err(|error| {
                    ConfigError::setting("the HTTP client for the JWKS could not be built").caused_by(error)
                })?,
        };
        let cap = |duration: Duration| duration.min(MAX_SETTING);
        let mut limits = self.limits;
        limits.timeout = cap(limits.timeout);
        let remote = RemoteJwks {
            inner: Arc::new(Inner {
                location,
                client,
                limits,
                allow_foreign_jwks_uri: self.allow_foreign_jwks_uri,
                default_ttl: cap(self.default_ttl),
                ttl_bounds: (cap(self.ttl_bounds.0), cap(self.ttl_bounds.1)),
                max_staleness: cap(self.max_staleness),
                cooldown: cap(self.cooldown),
                algorithms: self.algorithms,
                rsa_default: self.rsa_default,
                max_keys: self.max_keys,
                allow_empty_set: self.allow_empty_set,
                current: ArcSwapOption::empty(),
                state: Mutex::new(State::default()),
                negative_hasher: RandomState::new(),
                quiet_until: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        };
        if self.prefetch && tokio::runtime::Handle::try_current().is_ok() {
            let mut state = remote.inner.lock();
            drop(remote.inner.start_fetch(&mut state));
        }
        Ok(remote)
    }
}

impl From<RemoteSetError> for JwksErrorKind {
    fn from(error: RemoteSetError) -> Self {
        match error {
            RemoteSetError::Malformed => Self::Malformed,
            RemoteSetError::TooManyKeys => Self::TooManyKeys,
        }
    }
}

/// Not part of the API, and outside semver: what a remote set makes of a fetched document,
/// for the repository's fuzz targets and the test that replays their corpora. With
/// `discovery`, the document is read as the OpenID discovery document of the issuer
/// `https://issuer.example` and yields its `jwks_uri`; else it is read as a JWK set, with the
/// default algorithms and key cap, and every key it yields is looked up by its kid.
#[doc(hidden)]
pub fn __fuzz_document(document: &[u8], discovery: bool) -> Result<usize, JwksErrorKind> {
    if discovery {
        return jwks_uri_from_discovery(document, "https://issuer.example", false, false).map(|_| 1);
    }
    let remote =
        parse_remote_jwk_set(document, &public_key_algorithms(), Algorithm::RS256, DEFAULT_MAX_KEYS)?;
    let kids: Vec<(Option<String>, Algorithm)> =
        remote.keys.iter().map(|key| (key.kid().map(str::to_owned), key.algorithm())).collect();
    let keys = KeySet::from_vetted(remote.keys);
    for (kid, algorithm) in &kids {
        // A kept kid is unique in its set, so it finds its own key.
        if kid.is_some() {
            assert!(keys.select(kid.as_deref(), *algorithm).is_ok(), "a kept kid must find its key");
        }
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set whose provider takes connections and never answers.
    fn silent_provider() -> (RemoteJwks, std::net::TcpListener) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        (RemoteJwks::from_url(&url).allow_http(true).build().unwrap(), listener)
    }

    fn failures(jwks: &RemoteJwks) -> (u32, bool, bool) {
        let state = jwks.inner.lock();
        (state.failures, state.last_error.is_some(), state.in_flight.is_some())
    }

    #[test]
    fn a_fetch_task_dropped_inside_spawn_fails_at_once_and_takes_no_lock_again() {
        // The runtime is gone: `spawn` drops the task at once, inside the call, while the
        // caller holds the state's lock. Before, the dropped task took that lock again and
        // the thread deadlocked.
        let (jwks, _provider) = silent_provider();
        let gone = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let handle = gone.handle().clone();
        drop(gone);
        let fetch = {
            let mut state = jwks.inner.lock();
            jwks.inner.start_fetch_on(&mut state, Some(handle))
        };
        assert!(futures_util::FutureExt::now_or_never(fetch).is_some_and(|outcome| outcome.is_err()));
        assert_eq!(failures(&jwks), (1, true, false), "a failed fetch, with its backoff; none in flight");
    }

    /// Panics on the crate's warnings logged on the background thread, while armed.
    struct PanickingSubscriber;

    static PANIC_ON_WARN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    impl tracing::Subscriber for PanickingSubscriber {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN
                && std::thread::current().name() == Some("tower-jwt-auth")
                && PANIC_ON_WARN.load(Ordering::SeqCst)
            {
                panic!("a subscriber that panics");
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn a_subscriber_that_panics_costs_one_failed_fetch_and_never_the_process() {
        // The provider refuses connections, so the fetch fails and warns; the subscriber
        // panics on that warning. Before, the fetch's guard logged the failure again while
        // unwinding: a second panic, and the process aborted.
        let _ = tracing::subscriber::set_global_default(PanickingSubscriber);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/jwks.json");
        let jwks = RemoteJwks::from_url(&url).allow_http(true).build().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        PANIC_ON_WARN.store(true, Ordering::SeqCst);
        let outcome =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), jwks.refresh()).await });
        PANIC_ON_WARN.store(false, Ordering::SeqCst);
        assert!(matches!(outcome, Ok(Err(_))), "{outcome:?}");
        let status = jwks.status();
        assert_eq!((status.fetches, status.consecutive_failures), (1, 1), "one fetch, one failure");
        assert!(status.last_error.is_some());
    }

    #[test]
    fn a_fetch_that_ends_without_its_result_counts_as_a_failed_one() {
        // The fetch's task goes with its runtime before the provider answers: the next
        // request may start another after the backoff, and the status tells why.
        let (jwks, _provider) = silent_provider();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let fetch = {
            let mut state = jwks.inner.lock();
            jwks.inner.start_fetch_on(&mut state, Some(runtime.handle().clone()))
        };
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
        assert_eq!(failures(&jwks), (0, false, true), "in flight, waiting for the provider");
        // The task goes with its runtime, here, on this thread: counted like any failure.
        #[cfg(feature = "metrics")]
        {
            let recorder = metrics_util::debugging::DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            metrics::with_local_recorder(&recorder, || drop(runtime));
            let errors: u64 = snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .filter(|(key, ..)| {
                    key.key().name() == "tower_jwt_auth_jwks_fetches_total"
                        && key.key().labels().any(|label| label.value() == "error")
                })
                .map(|(.., value)| match value {
                    metrics_util::debugging::DebugValue::Counter(count) => count,
                    _ => 0,
                })
                .sum();
            assert_eq!(errors, 1, "the failed fetch is counted");
        }
        #[cfg(not(feature = "metrics"))]
        drop(runtime);
        assert_eq!(failures(&jwks), (1, true, false));
        assert!(futures_util::FutureExt::now_or_never(fetch).is_some_and(|outcome| outcome.is_err()));
        let status = jwks.status();
        assert_eq!(status.consecutive_failures, 1);
        assert!(status.last_error.is_some());
    }
}

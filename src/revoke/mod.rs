//! Taking tokens back before they expire: a [`Revocations`] list that the layer checks on
//! every request, kept in memory and (feature `redis`) shared between instances through
//! Redis ([`RedisRevocations`]). A logout revokes the token or its whole session; "log out
//! everywhere" revokes a subject.
//!
//! ```
//! use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, revoke::Revocations};
//!
//! # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
//! let revocations = Revocations::in_memory();
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .revocations(revocations.clone()) // checked on every request
//!     .build()?;
//! let layer = JwtAuthLayer::new(config);
//! // Keep `revocations` for the logout endpoint: `revocations.revoke(claims.token()).await`.
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "redis")]
mod redis;
mod rotation;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::claims::VerifiedToken;
use crate::clock::{epoch_seconds, now};
use crate::payload::TokenIds;
use rotation::{Rotation, RotationStore, redeem};

#[cfg(feature = "redis")]
pub use self::redis::RedisRevocations;

/// Default bound on the entries a revocation list holds.
const DEFAULT_REVOCATION_CAPACITY: usize = 100_000;
/// Default longest lifetime of the tokens a subject revocation must cover: 7 days, the
/// default refresh-token lifetime.
const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How much longer than the tokens it covers an entry is kept: more than any leeway the
/// layer allows on `exp` ([`JwtAuthConfigBuilder::build`](crate::JwtAuthConfigBuilder::build)
/// refuses a larger leeway with revocations on).
pub(crate) const REVOCATION_GRACE: Duration = Duration::from_secs(10 * 60);

const SHARDS: usize = 16;
/// How often, at most, an insert sweeps expired entries out of the whole list.
const PURGE_INTERVAL: i64 = 60;

/// Taking tokens back before they expire: a revocation list the layer checks on every
/// request, after verification and on every token-cache hit.
///
/// Three kinds of entry, each kept only as long as the tokens it covers could still be
/// accepted:
///
/// | call | revokes | entry kept until |
/// |---|---|---|
/// | [`Revocations::revoke`], [`Revocations::revoke_token`] | one token, by its `jti` | its `exp` |
/// | [`Revocations::revoke_subject`] | every token of a `sub` issued at or before an instant ("log out everywhere") | the instant plus [`max_token_lifetime`](RevocationsBuilder::max_token_lifetime) |
/// | [`Revocations::revoke_session`] | every token of a session, by its `sid` (a refresh-token family, see [`TokenIssuer::issue_pair`](crate::TokenIssuer::issue_pair)) | the instant given |
///
/// Every entry is kept 10 minutes longer (the grace), which covers the leeway the layer
/// allows on `exp` (at most 10 minutes with revocations). A revoked token gets 401 `invalid_token` ([`ErrorKind::Revoked`](crate::ErrorKind::Revoked)).
///
/// The request path only ever reads a local, in-memory list: sharded read-write locks, and
/// nothing at all to do while a kind of entry is empty. The list is bounded
/// ([`capacity`](RevocationsBuilder::capacity), 100,000 entries by default, about 100 bytes
/// each plus the id): a revocation that does not fit after expired entries are dropped
/// fails with [`RevocationErrorKind::Full`] rather than evicting another one.
///
/// With the `redis` feature, `RevocationsBuilder::redis` shares the list between
/// instances; see that method.
///
/// ```
/// use std::time::SystemTime;
/// use tower_jwt_auth::{ErrorKind, JwtAuthConfig, TokenIssuer, revoke::Revocations};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let revocations = Revocations::in_memory();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).revocations(revocations.clone()).build()?;
///
/// let issuer = TokenIssuer::builder().hmac_secret(secret).build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice"}))?;
/// let claims = config.verify(&token)?;
///
/// revocations.revoke(claims.token()).await?;
/// assert_eq!(config.verify(&token).unwrap_err().kind(), ErrorKind::Revoked);
/// # Ok(())
/// # }
/// ```
///
/// A `Revocations` is cheap to clone (an `Arc` inside). Hand one clone to
/// [`JwtAuthConfigBuilder::revocations`](crate::JwtAuthConfigBuilder::revocations) and keep
/// another for the endpoints that revoke (logout, an admin action).
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

struct Inner {
    list: LocalList,
    max_token_lifetime: i64,
    #[cfg(feature = "redis")]
    shared: Option<redis::Shared>,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Revocations");
        debug.field("entries", &self.len()).field("capacity", &self.inner.list.capacity);
        #[cfg(feature = "redis")]
        debug.field("redis", &self.inner.shared.is_some());
        debug.finish()
    }
}

/// Why a revocation could not be recorded (or not everywhere).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_jwt_auth::revoke::{RevocationErrorKind, Revocations};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let revocations = Revocations::builder().capacity(1).build();
/// let expires_at = SystemTime::now() + Duration::from_secs(900);
/// revocations.revoke_token("first-jti", expires_at).await.unwrap();
///
/// // No room for a second entry: refused rather than evicting the first.
/// let error = revocations.revoke_token("second-jti", expires_at).await.unwrap_err();
/// assert_eq!(error.kind(), RevocationErrorKind::Full);
/// assert_eq!(error.to_string(), "the revocation list is full");
/// assert_eq!(revocations.len(), 1);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationError {
    kind: RevocationErrorKind,
}

/// What went wrong with a revocation.
///
/// A logout endpoint tells the kinds apart: `Deferred` has taken effect here already,
/// `MissingId` has a fallback, the others mean the token is still accepted.
///
/// ```
/// use std::time::SystemTime;
/// use tower_jwt_auth::{Claims, JwtAuthConfig, TokenIssuer};
/// use tower_jwt_auth::revoke::{RevocationError, RevocationErrorKind, Revocations};
///
/// async fn logout(revocations: &Revocations, claims: &Claims) -> Result<(), RevocationError> {
///     match revocations.revoke(claims.token()).await {
///         Err(error) if error.kind() == RevocationErrorKind::Deferred => Ok(()), // holds here, shared later
///         Err(error) if error.kind() == RevocationErrorKind::MissingId => match claims.sub.as_deref() {
///             // No `jti` to revoke this token alone by: log the subject out everywhere.
///             Some(sub) => revocations.revoke_subject(sub, SystemTime::now()).await,
///             None => Err(error),
///         },
///         other => other, // `Full`, `Unavailable`: the token is still accepted
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let secret = b"an example secret of at least 32 bytes!".to_vec();
/// # let revocations = Revocations::in_memory();
/// # let config = JwtAuthConfig::builder().hmac_secret(&secret).revocations(revocations.clone()).build()?;
/// # let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
///
/// let claims = config.verify(&token)?;
/// logout(&revocations, &claims).await?;
/// assert!(config.verify(&token).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationErrorKind {
    /// The list is at its capacity even without expired entries; nothing was recorded
    /// here. With Redis reachable the revocation was still shared with the other
    /// instances, which may have room for it (while Redis is down it reached no one); treat
    /// it as not done.
    Full,
    /// The token has no `jti` (or `sub`, or `sid`) to revoke it by, or one of them cannot be
    /// read (not a string, or repeated); nothing was recorded.
    MissingId,
    /// Redis could not be reached: the revocation holds on this instance from now on, and
    /// is written to Redis (and so reaches the other instances) when it is back.
    Deferred,
    /// Redis could not be reached and the operation needs it (refresh-token rotation must
    /// know every instance's view); nothing was recorded.
    Unavailable,
}

impl RevocationError {
    pub(crate) fn new(kind: RevocationErrorKind) -> Self {
        Self { kind }
    }

    /// What went wrong.
    pub fn kind(&self) -> RevocationErrorKind {
        self.kind
    }
}

impl fmt::Display for RevocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            RevocationErrorKind::Full => "the revocation list is full",
            RevocationErrorKind::MissingId => "the token has no id to revoke it by",
            RevocationErrorKind::Deferred => {
                "the revocation holds on this instance; the shared store is unreachable and gets it later"
            }
            RevocationErrorKind::Unavailable => "the shared revocation store is unreachable",
        })
    }
}

impl std::error::Error for RevocationError {}

/// One revocation, as recorded locally and (with Redis) shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// One token by `jti`, until (seconds since the epoch).
    Token { jti: Box<str>, until: i64 },
    /// Every token of `sub` with `iat <= before`, until.
    Subject { sub: Box<str>, before: i64, until: i64 },
    /// Every token with this `sid`, until.
    Session { sid: Box<str>, until: i64 },
}

impl Record {
    pub(crate) fn until(&self) -> i64 {
        match self {
            Self::Token { until, .. } | Self::Subject { until, .. } | Self::Session { until, .. } => *until,
        }
    }
}

fn grace() -> i64 {
    REVOCATION_GRACE.as_secs() as i64
}

impl Revocations {
    /// An in-memory list for a single instance, with the defaults.
    pub fn in_memory() -> Self {
        RevocationsBuilder::default().build()
    }

    /// A builder for the capacity and the longest token lifetime.
    pub fn builder() -> RevocationsBuilder {
        RevocationsBuilder::default()
    }

    /// Revokes this token by its `jti` until it expires. Tokens made by
    /// [`TokenIssuer`](crate::TokenIssuer) always have one; a token without one cannot be
    /// revoked alone ([`RevocationErrorKind::MissingId`]): revoke its subject instead.
    pub async fn revoke(&self, token: &VerifiedToken) -> Result<(), RevocationError> {
        let missing = || RevocationError::new(RevocationErrorKind::MissingId);
        let ids = token.ids().ok_or_else(missing)?;
        let jti = ids.jti.as_deref().ok_or_else(missing)?;
        self.record(Record::Token { jti: jti.into(), until: token.facts().exp.saturating_add(grace()) }).await
    }

    /// Revokes the token whose `jti` is `jti`, which expires at `expires_at`.
    pub async fn revoke_token(&self, jti: &str, expires_at: SystemTime) -> Result<(), RevocationError> {
        let until = epoch_seconds(expires_at).saturating_add(grace());
        self.record(Record::Token { jti: jti.into(), until }).await
    }

    /// Revokes every token of `sub` issued at or before `issued_before` ("log out
    /// everywhere"), refresh tokens included. `iat` counts whole seconds, so a token issued
    /// in the same second as `issued_before` is revoked too (a configuration with
    /// revocations refuses tokens without `iat`). Later calls for the same subject keep
    /// the latest instant. An issuer whose clock runs ahead of this one stamps tokens with
    /// an `iat` in the future (the leeway lets them through): such tokens count as issued
    /// after `issued_before`, so pass an instant later by that skew to cover them too (at
    /// the cost of also revoking tokens issued in that window).
    pub async fn revoke_subject(&self, sub: &str, issued_before: SystemTime) -> Result<(), RevocationError> {
        let before = epoch_seconds(issued_before);
        let until = before.saturating_add(self.inner.max_token_lifetime).saturating_add(grace());
        self.record(Record::Subject { sub: sub.into(), before, until }).await
    }

    /// Revokes every token that carries `sid` (a session, or a refresh-token family), until
    /// `until`: the latest expiry of any token of the session.
    pub async fn revoke_session(&self, sid: &str, until: SystemTime) -> Result<(), RevocationError> {
        let until = epoch_seconds(until).saturating_add(grace());
        self.record(Record::Session { sid: sid.into(), until }).await
    }

    /// True if the token is revoked. A local lookup: never waits on the network. Also true
    /// when the token's ids cannot be read (a `jti`, `sub` or `sid` that is not a string,
    /// or is repeated): such a token is never taken for one that was not revoked.
    pub fn is_revoked(&self, token: &VerifiedToken) -> bool {
        token.ids().is_none_or(|ids| self.inner.list.covers(&ids))
    }

    /// An entry shared by another instance, kept at least as long as this instance's own
    /// would be (instances may be configured with different lifetimes). A subject entry is
    /// measured from its instant. A session entry just announced (`announced`) is measured
    /// from now, when its revocation was made: tokens of the session that this instance
    /// accepts expire within its lifetime from then. One read back in a resync has no such
    /// instant and is kept as it is.
    #[cfg(feature = "redis")]
    pub(crate) fn widen(&self, record: Record, announced: bool) -> Record {
        let own_from =
            |instant: i64| instant.saturating_add(self.inner.max_token_lifetime).saturating_add(grace());
        match record {
            Record::Subject { sub, before, until } => {
                Record::Subject { sub, before, until: until.max(own_from(before)) }
            }
            // Within half the grace of this instance's own it is kept as it came: an
            // announcement of an entry another instance like this one widened a moment
            // ago must not be widened (and announced) again, back and forth.
            Record::Session { sid, until }
                if announced && own_from(now()) > until.saturating_add(grace() / 2) =>
            {
                Record::Session { sid, until: own_from(now()) }
            }
            other => other,
        }
    }

    /// The longest token lifetime a subject revocation covers, in seconds.
    pub(crate) fn max_token_lifetime(&self) -> i64 {
        self.inner.max_token_lifetime
    }

    /// The number of entries held locally, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.inner.list.len.load(Ordering::Relaxed)
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn covers(&self, ids: &TokenIds) -> bool {
        self.inner.list.covers(ids)
    }

    /// Records locally, then shares (with Redis): shared even when it does not fit here
    /// (then `Full`), since the other instances may have room for it.
    async fn record(&self, record: Record) -> Result<(), RevocationError> {
        let local = self.inner.list.insert(&record, now());
        if local.is_err() {
            tracing::warn!(
                capacity = self.inner.list.capacity,
                "the revocation list is full: a revocation was refused here"
            );
        }
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.inner.shared {
            let published = shared.publish(record).await;
            return local.and(published);
        }
        local
    }

    /// Moves session `sid` past refresh-token generation `generation`, remembered until
    /// `until`. `Ok(false)`: that generation was redeemed before (the reuse that revokes
    /// the family); from then on every generation of the session is refused. One entry per
    /// session, however often it rotates; atomic across instances with Redis.
    pub(crate) async fn advance(
        &self,
        sid: &str,
        generation: u64,
        until: i64,
    ) -> Result<bool, RevocationError> {
        let until = until.saturating_add(grace());
        let step = move |current| redeem(current, generation, until);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.inner.shared {
            return shared.update_rotation(sid, step).await;
        }
        self.inner.list.update_rotation(sid, step).await
    }

    /// Spends a DPoP proof in this list's Redis, when it has one (else `None`); see
    /// [`DpopPolicy::shared_replays`](crate::dpop::DpopPolicy::shared_replays).
    #[cfg(feature = "redis")]
    pub(crate) fn spend_proof(
        &self,
        key: [u8; 16],
        until: i64,
    ) -> Option<impl Future<Output = Result<bool, RevocationError>> + Send + 'static> {
        self.inner.shared.as_ref().map(|shared| shared.spend_proof(key, until))
    }

    /// True when this list is shared through Redis.
    #[cfg(feature = "redis")]
    pub(crate) fn is_shared(&self) -> bool {
        self.inner.shared.is_some()
    }

    #[cfg(feature = "redis")]
    pub(crate) fn list(&self) -> &LocalList {
        &self.inner.list
    }
}

/// Builds [`Revocations`].
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{ErrorKind, JwtAuthConfig, TokenIssuer, revoke::Revocations};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let revocations = Revocations::builder()
///     .capacity(10_000)
///     .max_token_lifetime(Duration::from_secs(3600)) // no token of ours lives longer
///     .build();
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).revocations(revocations).build()?;
/// let claims = serde_json::json!({"sub": "alice"});
///
/// // A token that outlives what a subject revocation covers is refused.
/// let day_long = TokenIssuer::builder().hmac_secret(secret.clone()).lifetime(Duration::from_secs(86_400));
/// let token = day_long.build()?.issue(&claims)?;
/// assert_eq!(config.verify(&token).unwrap_err().kind(), ErrorKind::LifetimeTooLong);
/// // The default 15 minutes fit.
/// let issuer = TokenIssuer::builder().hmac_secret(secret).build()?;
/// assert!(config.verify(&issuer.issue(&claims)?).is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RevocationsBuilder {
    capacity: usize,
    max_token_lifetime: Duration,
}

impl Default for RevocationsBuilder {
    fn default() -> Self {
        Self { capacity: DEFAULT_REVOCATION_CAPACITY, max_token_lifetime: DEFAULT_MAX_TOKEN_LIFETIME }
    }
}

impl RevocationsBuilder {
    /// The most entries the list holds (default 100,000). The refresh-token sessions it
    /// follows for reuse detection (one entry per session, however often it rotates) have a
    /// budget of the same size of their own, so rotations never crowd out revocations.
    pub fn capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }

    /// The longest lifetime of any token a subject revocation must cover (default 7 days,
    /// the default refresh-token lifetime): such an entry is kept that long after its
    /// instant. Tokens living longer would become valid again when it is dropped, so they
    /// are refused: a configuration with these revocations refuses tokens whose lifetime
    /// (`exp - iat`) is longer ([`ErrorKind::LifetimeTooLong`](crate::ErrorKind::LifetimeTooLong)),
    /// and [`TokenIssuer::redeem`](crate::TokenIssuer::redeem) refuses such refresh tokens.
    /// Keep this at least as long as your longest-lived token, and where you can the same
    /// on every instance that shares a list through Redis (instances with a longer one
    /// keep, and write back, the revocations of those with a shorter one that they hear
    /// of).
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = lifetime;
        self
    }

    /// A list shared between instances through Redis (feature `redis`), with this capacity
    /// and longest token lifetime: each instance keeps a local copy that the request path
    /// reads, kept current by pub/sub and a periodic full read. Configure it further, then
    /// [`start`](RedisRevocations::start) it; see [`RedisRevocations`] for what happens at
    /// start, during an outage and when Redis comes back.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(self, client: ::redis::Client) -> RedisRevocations {
        RedisRevocations::new(self, client)
    }

    /// An in-memory list for a single instance.
    pub fn build(self) -> Revocations {
        self.finish(
            #[cfg(feature = "redis")]
            None,
        )
    }

    fn finish(self, #[cfg(feature = "redis")] shared: Option<redis::Shared>) -> Revocations {
        let lifetime = i64::try_from(self.max_token_lifetime.as_secs()).unwrap_or(i64::MAX);
        Revocations {
            inner: Arc::new(Inner {
                list: LocalList::new(self.capacity),
                max_token_lifetime: lifetime,
                #[cfg(feature = "redis")]
                shared,
            }),
        }
    }
}

/// Which map of a shard an entry sits in.
#[derive(Clone, Copy)]
enum Kind {
    Token = 0,
    Subject = 1,
    Session = 2,
}

/// A map from ids, hashed with randomly keyed aHash (fast on short strings, and not
/// predictable from outside).
type IdMap<V> = HashMap<Box<str>, V, ahash::RandomState>;

#[derive(Default)]
struct Shard {
    /// `jti` → until.
    tokens: IdMap<i64>,
    /// `sub` → (before, until).
    subjects: IdMap<(i64, i64)>,
    /// `sid` → until.
    sessions: IdMap<i64>,
    /// Refresh-token session `sid` → (the next generation to redeem, until); never read on
    /// the request path.
    rotations: IdMap<(u64, i64)>,
}

impl Shard {
    fn purge(&mut self, now: i64) -> [usize; 4] {
        let before = [self.tokens.len(), self.subjects.len(), self.sessions.len(), self.rotations.len()];
        self.tokens.retain(|_, until| *until > now);
        self.subjects.retain(|_, (_, until)| *until > now);
        self.sessions.retain(|_, until| *until > now);
        self.rotations.retain(|_, (_, until)| *until > now);
        [
            before[0] - self.tokens.len(),
            before[1] - self.subjects.len(),
            before[2] - self.sessions.len(),
            before[3] - self.rotations.len(),
        ]
    }
}

/// The in-memory list every instance reads on the request path.
pub(crate) struct LocalList {
    shards: Box<[RwLock<Shard>]>,
    /// Live entries per [`Kind`]: zero lets the check skip that kind without a lock.
    counts: [AtomicUsize; 3],
    /// Revocation entries; at most `capacity`.
    len: AtomicUsize,
    /// Refresh-token sessions followed; at most `capacity` too, a budget of their own.
    rotations: AtomicUsize,
    capacity: usize,
    next_purge: AtomicI64,
    /// The second of the last sweep made because the list was full: at most one a second.
    last_full_sweep: AtomicI64,
}

/// FNV-1a: only spreads ids over shards (each shard's map hashes with its own random keys).
fn shard_of(id: &str) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in id.as_bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash as usize % SHARDS
}

impl LocalList {
    fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            counts: Default::default(),
            len: AtomicUsize::new(0),
            rotations: AtomicUsize::new(0),
            capacity,
            next_purge: AtomicI64::new(0),
            last_full_sweep: AtomicI64::new(i64::MIN),
        }
    }

    fn read(&self, id: &str) -> std::sync::RwLockReadGuard<'_, Shard> {
        // A panic while holding the lock cannot leave a map half-updated in a way that
        // matters here: the data stays usable.
        self.shards[shard_of(id)].read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self, id: &str) -> std::sync::RwLockWriteGuard<'_, Shard> {
        self.shards[shard_of(id)].write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn has(&self, kind: Kind) -> bool {
        self.counts[kind as usize].load(Ordering::Relaxed) != 0
    }

    /// True if any entry covers a token with these ids. Expired entries need no clock here:
    /// the tokens they cover are expired anyway.
    pub(crate) fn covers(&self, ids: &TokenIds) -> bool {
        if self.has(Kind::Token)
            && let Some(jti) = ids.jti.as_deref()
            && self.read(jti).tokens.contains_key(jti)
        {
            return true;
        }
        if self.has(Kind::Session)
            && let Some(sid) = ids.sid.as_deref()
            && self.read(sid).sessions.contains_key(sid)
        {
            return true;
        }
        if self.has(Kind::Subject)
            && let Some(sub) = ids.sub.as_deref()
            && let Some(&(before, _)) = self.read(sub).subjects.get(sub)
        {
            return ids.iat.is_none_or(|iat| iat <= before);
        }
        false
    }

    /// Sweeps expired entries when due, or when the budget `counter` counts is full (then
    /// at most once a second, so a full list does not sweep on every call). Takes every
    /// shard's lock in turn: call it holding none.
    fn sweep_if_due(&self, counter: &AtomicUsize, now: i64) {
        let due = now >= self.next_purge.load(Ordering::Relaxed);
        let full = counter.load(Ordering::Relaxed) >= self.capacity;
        if due || (full && self.last_full_sweep.swap(now, Ordering::Relaxed) < now) {
            self.purge(now);
        }
    }

    /// Takes a place for one new entry in the budget `counter` counts. Called holding the
    /// shard's lock, after finding no entry for the id there, so racing writers never take
    /// the list past its capacity, and two writers of one id never take two places.
    fn reserve(&self, counter: &AtomicUsize, what: &str) -> Result<(), RevocationError> {
        let room = |count: usize| (count < self.capacity).then(|| count + 1);
        if counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, room).is_err() {
            tracing::debug!(capacity = self.capacity, "the revocation list is full: {what} was refused");
            return Err(RevocationError::new(RevocationErrorKind::Full));
        }
        Ok(())
    }

    /// Every entry that outlives `now`, as records (to share them again).
    #[cfg(feature = "redis")]
    pub(crate) fn records(&self, now: i64) -> Vec<Record> {
        let mut records = Vec::new();
        for shard in &self.shards {
            let shard = shard.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tokens = shard.tokens.iter().filter(|(_, until)| **until > now);
            records.extend(tokens.map(|(jti, &until)| Record::Token { jti: jti.clone(), until }));
            let subjects = shard.subjects.iter().filter(|(_, (_, until))| *until > now);
            records.extend(subjects.map(|(sub, &(before, until))| Record::Subject {
                sub: sub.clone(),
                before,
                until,
            }));
            let sessions = shard.sessions.iter().filter(|(_, until)| **until > now);
            records.extend(sessions.map(|(sid, &until)| Record::Session { sid: sid.clone(), until }));
        }
        records
    }

    /// Drops every entry whose tokens have expired.
    pub(crate) fn purge(&self, now: i64) {
        self.next_purge.store(now.saturating_add(PURGE_INTERVAL), Ordering::Relaxed);
        for shard in &self.shards {
            // The counts change under the shard's lock, as inserts change them.
            let mut shard = shard.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let removed = shard.purge(now);
            for (kind, count) in removed.iter().take(3).enumerate() {
                self.counts[kind].fetch_sub(*count, Ordering::Relaxed);
            }
            self.len.fetch_sub(removed[..3].iter().sum(), Ordering::Relaxed);
            self.rotations.fetch_sub(removed[3], Ordering::Relaxed);
        }
    }

    /// Records one revocation (an existing entry is extended, never shortened, even when
    /// the list is full).
    pub(crate) fn insert(&self, record: &Record, now: i64) -> Result<(), RevocationError> {
        if record.until() <= now {
            return Ok(()); // covers only expired tokens
        }
        self.sweep_if_due(&self.len, now);
        let (id, kind) = match record {
            Record::Token { jti, .. } => (jti, Kind::Token),
            Record::Subject { sub, .. } => (sub, Kind::Subject),
            Record::Session { sid, .. } => (sid, Kind::Session),
        };
        let mut shard = self.write(id);
        let room = || self.reserve(&self.len, "a revocation");
        let added = match record {
            Record::Token { jti, until } => {
                extend(&mut shard.tokens, jti, *until, room, |old, new| (*old).max(new))
            }
            Record::Session { sid, until } => {
                extend(&mut shard.sessions, sid, *until, room, |old, new| (*old).max(new))
            }
            Record::Subject { sub, before, until } => {
                extend(&mut shard.subjects, sub, (*before, *until), room, |old, new| {
                    (old.0.max(new.0), old.1.max(new.1))
                })
            }
        }?;
        if added {
            // Counted under the shard's lock, so a sweep never sees the entry uncounted.
            self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// [`RotationStore::update_rotation`] at `now`, under the session's shard lock: an entry
    /// expired but not swept yet counts as none; a new one takes a place in the rotations'
    /// budget.
    fn update_rotation_at<T>(
        &self,
        sid: &str,
        step: impl Fn(Option<Rotation>) -> (Rotation, T),
        now: i64,
    ) -> Result<T, RevocationError> {
        self.sweep_if_due(&self.rotations, now);
        let mut shard = self.write(sid);
        let current = shard.rotations.get(sid).filter(|(_, kept)| *kept > now);
        let (rotation, answer) = step(current.map(|&(next, kept)| Rotation { next, kept }));
        let entry = (rotation.next, rotation.kept);
        match shard.rotations.get_mut(sid) {
            Some(present) => *present = entry,
            None => {
                self.reserve(&self.rotations, "a refresh-token rotation")?;
                shard.rotations.insert(sid.into(), entry);
            }
        }
        Ok(answer)
    }
}

impl RotationStore for LocalList {
    fn update_rotation<T, F>(
        &self,
        sid: &str,
        step: F,
    ) -> impl Future<Output = Result<T, RevocationError>> + Send
    where
        T: Send + 'static,
        F: Fn(Option<Rotation>) -> (Rotation, T) + Send + Sync + 'static,
    {
        std::future::ready(self.update_rotation_at(sid, step, now()))
    }
}

/// Merges `value` into the entry for `id`; when there is none, makes it if `room` gives a
/// place. `Ok(true)`: made; `Ok(false)`: merged.
fn extend<V: Copy>(
    map: &mut IdMap<V>,
    id: &str,
    value: V,
    room: impl FnOnce() -> Result<(), RevocationError>,
    merge: impl FnOnce(&V, V) -> V,
) -> Result<bool, RevocationError> {
    if let Some(present) = map.get_mut(id) {
        *present = merge(present, value);
        Ok(false)
    } else {
        room()?;
        map.insert(id.into(), value);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LocalList {
        /// Redeems a generation at `now`, by the one rule.
        fn advance(&self, sid: &str, generation: u64, until: i64, now: i64) -> Result<bool, RevocationError> {
            self.update_rotation_at(sid, |current| redeem(current, generation, until), now)
        }
    }

    fn ids(jti: Option<&str>, sub: Option<&str>, sid: Option<&str>, iat: Option<i64>) -> TokenIds {
        TokenIds { jti: jti.map(Into::into), sub: sub.map(Into::into), sid: sid.map(Into::into), iat }
    }

    #[test]
    fn a_token_entry_covers_its_jti_only() {
        let list = LocalList::new(10);
        list.insert(&Record::Token { jti: "a".into(), until: 2_000 }, 1_000).unwrap();
        assert!(list.covers(&ids(Some("a"), Some("alice"), None, Some(900))));
        assert!(!list.covers(&ids(Some("b"), Some("alice"), None, Some(900))));
        assert!(!list.covers(&ids(None, Some("alice"), None, Some(900))));
    }

    #[test]
    fn a_subject_entry_covers_tokens_issued_at_or_before_its_instant() {
        let list = LocalList::new(10);
        list.insert(&Record::Subject { sub: "alice".into(), before: 1_000, until: 9_000 }, 1_000).unwrap();
        assert!(list.covers(&ids(None, Some("alice"), None, Some(999))));
        assert!(list.covers(&ids(None, Some("alice"), None, Some(1_000))));
        assert!(!list.covers(&ids(None, Some("alice"), None, Some(1_001))));
        assert!(list.covers(&ids(None, Some("alice"), None, None)), "no iat: cannot be shown to be newer");
        assert!(!list.covers(&ids(None, Some("bob"), None, Some(10))));
        // A later instant wins; an earlier one does not shorten it.
        list.insert(&Record::Subject { sub: "alice".into(), before: 1_500, until: 9_500 }, 1_000).unwrap();
        list.insert(&Record::Subject { sub: "alice".into(), before: 1_200, until: 9_200 }, 1_000).unwrap();
        assert!(list.covers(&ids(None, Some("alice"), None, Some(1_400))));
        assert_eq!(list.len.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_session_entry_covers_its_sid() {
        let list = LocalList::new(10);
        list.insert(&Record::Session { sid: "s1".into(), until: 2_000 }, 1_000).unwrap();
        assert!(list.covers(&ids(Some("x"), None, Some("s1"), None)));
        assert!(!list.covers(&ids(Some("x"), None, Some("s2"), None)));
    }

    #[test]
    fn entries_expire_and_the_list_stays_bounded() {
        let list = LocalList::new(3);
        for (index, until) in [(0, 1_100), (1, 1_200), (2, 5_000)] {
            list.insert(&Record::Token { jti: format!("t{index}").into(), until }, 1_000).unwrap();
        }
        // Full, and nothing has expired yet: refused, nothing evicted.
        let error = list.insert(&Record::Token { jti: "t3".into(), until: 5_000 }, 1_000).unwrap_err();
        assert_eq!(error.kind(), RevocationErrorKind::Full);
        assert!(list.covers(&ids(Some("t0"), None, None, None)));
        // Later, two have expired: swept, and the new one fits.
        list.insert(&Record::Token { jti: "t3".into(), until: 5_000 }, 1_300).unwrap();
        assert_eq!(list.len.load(Ordering::Relaxed), 2);
        assert!(!list.covers(&ids(Some("t0"), None, None, None)));
        assert!(list.covers(&ids(Some("t3"), None, None, None)));
        // An entry that covers only expired tokens is not kept at all.
        list.insert(&Record::Token { jti: "old".into(), until: 1_000 }, 1_300).unwrap();
        assert!(!list.covers(&ids(Some("old"), None, None, None)));
        // Sweeping the rest empties the counts, so the check skips the list again.
        list.purge(10_000);
        assert_eq!(list.len.load(Ordering::Relaxed), 0);
        assert!(!list.has(Kind::Token));
    }

    #[test]
    fn a_session_redeems_each_generation_once_in_one_entry() {
        let list = LocalList::new(2);
        assert_eq!(list.advance("s1", 0, 2_000, 1_000), Ok(true));
        assert_eq!(list.advance("s1", 1, 2_000, 1_001), Ok(true));
        assert_eq!(list.advance("s1", 2, 2_000, 1_002), Ok(true));
        // An older generation again: reuse.
        assert_eq!(list.advance("s1", 0, 2_000, 1_003), Ok(false));
        assert_eq!(list.advance("s1", 2, 2_000, 1_003), Ok(false));
        assert_eq!(list.rotations.load(Ordering::Relaxed), 1, "one entry however often it rotates");
        // Sessions have their own budget: they never take the revocations' room.
        assert_eq!(list.advance("s2", 0, 2_000, 1_003), Ok(true));
        assert_eq!(list.advance("s3", 0, 2_000, 1_003).unwrap_err().kind(), RevocationErrorKind::Full);
        list.insert(&Record::Token { jti: "a".into(), until: 2_000 }, 1_003).unwrap();
        list.insert(&Record::Token { jti: "b".into(), until: 2_000 }, 1_003).unwrap();
        // Followed sessions are never read by the request check.
        assert!(!list.covers(&ids(None, None, Some("s1"), None)));
        // Once expired, a session's entry goes.
        list.purge(3_000);
        assert_eq!(list.rotations.load(Ordering::Relaxed), 0);
        assert_eq!(list.len.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn concurrent_writers_never_take_the_list_past_its_capacity() {
        // Four threads race to fill lists of 16 entries, and to follow 16 sessions, with
        // distinct ids: exactly 16 succeed each time, however they interleave.
        const CAPACITY: usize = 16;
        for round in 0..300 {
            let list = LocalList::new(CAPACITY);
            let barrier = std::sync::Barrier::new(4);
            let (added, followed) = std::thread::scope(|scope| {
                let writers: Vec<_> = (0..4)
                    .map(|writer| {
                        let (list, barrier) = (&list, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            let (mut added, mut followed) = (0, 0);
                            for index in 0..8 {
                                let id = format!("{round}-{writer}-{index}");
                                let record = Record::Token { jti: id.as_str().into(), until: 2_000 };
                                added += usize::from(list.insert(&record, 1_000).is_ok());
                                followed += usize::from(list.advance(&id, 0, 2_000, 1_000).is_ok());
                            }
                            (added, followed)
                        })
                    })
                    .collect();
                writers
                    .into_iter()
                    .map(|writer| writer.join().unwrap())
                    .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
            });
            assert_eq!((added, followed), (CAPACITY, CAPACITY), "round {round}");
            assert_eq!(list.len.load(Ordering::Relaxed), CAPACITY);
            assert_eq!(list.rotations.load(Ordering::Relaxed), CAPACITY);
        }
    }

    #[test]
    fn writers_of_one_id_take_one_place_and_never_crowd_out_another() {
        // Two threads revoke the same new id while a third revokes another, with two places
        // left: both fit, every time. Before, both writers of the one id took a place
        // (one gave it back later), and the third was sometimes refused as `Full`.
        for round in 0..20_000 {
            let list = LocalList::new(3);
            list.insert(&Record::Token { jti: "old".into(), until: 2_000 }, 1_000).unwrap();
            let barrier = std::sync::Barrier::new(3);
            let outcomes: Vec<bool> = std::thread::scope(|scope| {
                let writers: Vec<_> = ["same", "same", "other"]
                    .into_iter()
                    .map(|id| {
                        let (list, barrier) = (&list, &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            list.insert(&Record::Token { jti: id.into(), until: 2_000 }, 1_000).is_ok()
                        })
                    })
                    .collect();
                writers.into_iter().map(|writer| writer.join().unwrap()).collect()
            });
            assert_eq!(outcomes, [true, true, true], "round {round}");
            assert_eq!(list.len.load(Ordering::Relaxed), 3);
        }
    }
}

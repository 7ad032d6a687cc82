//! The verified-token cache: a token that passed every check is remembered with its typed
//! claims, so the next request with the same token skips the base64, JSON and signature
//! work.
//!
//! - Keyed by the whole token (exact bytes, hashed by its last 16 bytes, its signature, with
//!   a random key; the full token is compared on lookup). Tokens above
//!   [`MAX_CACHED_TOKEN`] bytes are not cached.
//! - On every hit `exp` and `nbf` are checked against the clock with the configured leeway,
//!   so a cached token expires exactly like an uncached one; an entry also lives no longer
//!   than the configured maximum age (5 minutes by default). The clock read is the coarse
//!   one, and the precise one within a second of a bound (see [`TokenCache::get`]).
//! - An entry verified by a key from a remote set is used only while that key (same kid,
//!   algorithm and material) is still in the set: a withdrawn or replaced key stops
//!   authorising at the next refresh.
//! - Bounded: at most the configured number of entries (10,000 by default), evicted by
//!   S3-FIFO (quick_cache), which keeps hot tokens and resists scans of one-off tokens.
//!   Reads take one shard's read lock; shards are independent.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use quick_cache::UnitWeighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

use crate::claims::{Claims, KeyRef, VerifiedToken};
use crate::clock::{coarse_now, now};
use crate::config::CacheSettings;

/// Tokens longer than this are verified every time, never cached.
pub(crate) const MAX_CACHED_TOKEN: usize = 4 * 1024;

/// Hit and miss counts of a layer's token cache, from
/// [`JwtAuthLayer::cache_stats`](crate::JwtAuthLayer::cache_stats) or
/// [`JwtAuth::cache_stats`](crate::JwtAuth::cache_stats).
///
/// ```
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use tower_jwt_auth::{JwtAuthConfig, JwtAuthLayer, TokenIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let layer = JwtAuthLayer::new(JwtAuthConfig::builder().hmac_secret(&secret).build()?);
/// let service = ServiceBuilder::new()
///     .layer(layer.clone()) // clones share one cache
///     .service(service_fn(|_: Request<()>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(String::from("orders")))
///     }));
///
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({"sub": "alice"}))?;
/// for _ in 0..2 {
///     let request = Request::builder().header("authorization", format!("Bearer {token}")).body(())?;
///     service.clone().oneshot(request).await?;
/// }
///
/// // The first request verified the token, the second found it verified.
/// let stats = layer.cache_stats().expect("the cache is on by default");
/// assert_eq!((stats.entries, stats.misses, stats.hits), (1, 1, 1));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCacheStats {
    /// Tokens in the cache now.
    pub entries: usize,
    /// Lookups that found an entry (including one then found expired or stale and dropped).
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
}

/// A cached verification: the claims (with their [`VerifiedToken`](crate::claims::VerifiedToken))
/// and the second from which the entry must not be used any more.
struct Entry<C> {
    claims: Claims<C>,
    /// Seconds since the epoch: the cache's maximum age from insertion.
    until: i64,
}

impl<C> Clone for Entry<C> {
    fn clone(&self) -> Self {
        Self { claims: self.claims.clone(), until: self.until }
    }
}

/// One layer's cache (shared by its clones and by every service it made).
pub(crate) struct TokenCache<C> {
    entries: Entries<C>,
    max_age: i64,
}

type Entries<C> = Cache<Box<[u8]>, Entry<C>, UnitWeighter, TailHash, DefaultLifecycle<Box<[u8]>, Entry<C>>>;

/// How many bytes at the end of a token are hashed: they hold its signature.
const HASHED_TAIL: usize = 16;

/// Hashes a token by its last [`HASHED_TAIL`] bytes and its length, mixed with a per-cache
/// random key by two folded multiplications. Only verified tokens are cached, and two
/// different verified tokens end in different signatures (16 base64url characters are 96
/// bits of them), so the tail spreads them as well as the whole token would, at a fraction
/// of the cost on every lookup; the random key keeps which tokens share a bucket
/// unpredictable. Entries are still found by comparing the whole token; a crafted token
/// sharing a cached one's tail only costs that comparison.
#[derive(Clone)]
struct TailHash([u64; 2]);

impl Default for TailHash {
    fn default() -> Self {
        let random = ahash::RandomState::new();
        Self([random.hash_one(1u8), random.hash_one(2u8)])
    }
}

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher { key: self.0, state: 0 }
    }
}

struct TailHasher {
    key: [u64; 2],
    state: u64,
}

/// The high and the low half of a full product, folded: every input bit reaches every
/// output bit.
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let word = |at: usize| {
            bytes.get(at..at + 8).map_or(0, |word| u64::from_le_bytes(word.try_into().unwrap_or_default()))
        };
        let (low, high) = match bytes.len().checked_sub(HASHED_TAIL) {
            Some(tail) => (word(tail), word(tail + 8)),
            // Shorter than the tail (no token is): byte by byte.
            None => (bytes.iter().fold(0, |word, &byte| word << 8 | u64::from(byte)), 0),
        };
        let length = bytes.len() as u64;
        let mixed = folded_multiply(low ^ self.key[0] ^ self.state, high ^ self.key[1] ^ length);
        self.state = folded_multiply(mixed, self.key[1] | 1);
    }

    /// The length a slice's hash starts with: the bytes' own `write` mixes it in anyway.
    fn write_usize(&mut self, length: usize) {
        self.state ^= length as u64;
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

impl<C> TokenCache<C> {
    /// A cache with these settings, or `None` when caching is off.
    pub(crate) fn new(settings: CacheSettings) -> Option<Arc<Self>> {
        (settings.capacity > 0).then(|| {
            Arc::new(Self {
                entries: Cache::with(
                    settings.capacity,
                    u64::try_from(settings.capacity).unwrap_or(u64::MAX),
                    UnitWeighter,
                    TailHash::default(),
                    DefaultLifecycle::default(),
                ),
                max_age: i64::try_from(settings.max_age.as_secs()).unwrap_or(i64::MAX),
            })
        })
    }

    /// The cached claims for `token`, if they may be used now.
    ///
    /// The entry may be used from `starts` (its `nbf` less the leeway) while the time is
    /// before `ends` (the earlier of its `exp` plus the leeway and the cache's maximum age).
    /// The cheap coarse clock decides when both bounds are more than a second away from it
    /// (it is never ahead of the precise clock and less than a second behind), the precise
    /// clock otherwise: an entry expires at exactly the second an uncached token would.
    pub(crate) fn get(&self, token: &[u8]) -> Option<Claims<C>> {
        if token.len() > MAX_CACHED_TOKEN {
            return None;
        }
        let entry = self.entries.get(token)?;
        let verified = entry.claims.token();
        let facts = verified.facts();
        let ends = entry.until.min(facts.exp.saturating_add(facts.leeway));
        let starts = facts.nbf.map(|nbf| nbf.saturating_sub(facts.leeway));
        let coarse = coarse_now();
        let within = if coarse.saturating_add(1) < ends && starts.is_none_or(|starts| coarse >= starts) {
            true
        } else {
            let now = now();
            now < ends && starts.is_none_or(|starts| now >= starts)
        };
        let fresh = within && key_still_trusted(verified);
        if fresh {
            Some(entry.claims)
        } else {
            self.entries.remove(token);
            None
        }
    }

    /// Remembers a verification that just passed every check. The maximum age counts from
    /// the coarse clock, which is never ahead: an entry lives at most that long.
    pub(crate) fn insert(&self, token: &[u8], claims: &Claims<C>) {
        if token.len() > MAX_CACHED_TOKEN {
            return;
        }
        let until = coarse_now().saturating_add(self.max_age);
        self.entries.insert(token.into(), Entry { claims: claims.clone(), until });
    }

    /// The cache's counts.
    pub(crate) fn stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            entries: self.entries.len(),
            hits: self.entries.hits(),
            misses: self.entries.misses(),
        }
    }
}

/// True while the key that verified `token` may still be trusted for it: static keys
/// always (a static set never changes); a remote key while its set (not older than its
/// maximum staleness) would still select that very key for the token's `kid` and algorithm,
/// as a fresh verification would. A set due for refresh starts one, as a verification does,
/// so reused tokens alone keep the set current.
fn key_still_trusted(token: &VerifiedToken) -> bool {
    match &token.facts().key {
        KeyRef::Static => true,
        #[cfg(feature = "jwks")]
        KeyRef::Remote { set, fingerprint } => {
            let header = token.header();
            set.still_selects(header.kid(), header.algorithm(), *fingerprint)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn the_tail_hash_spreads_tokens_and_agrees_for_equal_ones() {
        let hash = TailHash::default();
        let token = |n: u64| {
            let tail = format!("{:016x}", folded_multiply(n.wrapping_add(1), 0x9e37_79b9_7f4a_7c15));
            format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.{tail}").into_bytes().into_boxed_slice()
        };
        // A cached key and the slice it is looked up by hash alike.
        let boxed = token(7);
        assert_eq!(hash.hash_one(&boxed), hash.hash_one(&boxed[..]));
        assert_ne!(hash.hash_one(&token(7)[..]), hash.hash_one(&token(8)[..]));
        // Short keys, shorter than the tail, hash too (and by their length).
        assert_ne!(hash.hash_one(&b"a"[..]), hash.hash_one(&b"a\0"[..]));
        // 16,384 tokens over 256 buckets, by the low bits and by the high bits alike.
        for shift in [0, 56] {
            let mut buckets = [0u32; 256];
            for n in 0..16_384 {
                buckets[(hash.hash_one(&token(n)[..]) >> shift) as usize & 255] += 1;
            }
            let (least, most) = (buckets.iter().min().unwrap(), buckets.iter().max().unwrap());
            assert!(*least > 16 && *most < 128, "shift {shift}: {least}..{most}");
        }
        // Another cache's key puts the same tokens elsewhere, each half of the key alone too.
        assert_ne!(TailHash::default().hash_one(&token(1)[..]), hash.hash_one(&token(1)[..]));
        let [a, b] = hash.0;
        for other in [TailHash([a ^ 1, b]), TailHash([a, b ^ 2])] {
            assert_ne!(other.hash_one(&token(1)[..]), hash.hash_one(&token(1)[..]));
        }
    }
}

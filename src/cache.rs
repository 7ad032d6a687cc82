//! The verified-token cache: a token that passed every check is remembered with its typed
//! claims, so the next request with the same token skips the base64, JSON and signature
//! work.
//!
//! - Keyed by the whole token (exact bytes, hashed with a fast non-cryptographic hash; the
//!   full token is compared on lookup). Tokens above [`MAX_CACHED_TOKEN`] bytes are not
//!   cached.
//! - On every hit `exp` and `nbf` are checked against the clock with the configured leeway,
//!   so a cached token expires exactly like an uncached one; an entry also lives no longer
//!   than the configured maximum age (5 minutes by default).
//! - An entry verified by a key from a remote set is used only while that key (same kid,
//!   algorithm and material) is still in the set: a withdrawn or replaced key stops
//!   authorising at the next refresh.
//! - Bounded: at most the configured number of entries (10,000 by default), evicted by
//!   S3-FIFO (quick_cache), which keeps hot tokens and resists scans of one-off tokens.
//!   Reads take one shard's read lock; shards are independent.

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::claims::Claims;
use crate::config::JwtAuthConfig;

/// Tokens longer than this are verified every time, never cached.
pub const MAX_CACHED_TOKEN: usize = 4 * 1024;

/// Hit and miss counts of a layer's token cache.
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

/// A cached verification: the claims (with their [`VerifiedToken`](crate::VerifiedToken))
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
    entries: Cache<Box<str>, Entry<C>>,
    max_age: i64,
}

impl<C> TokenCache<C> {
    /// A cache for `config`'s settings, or `None` when caching is off.
    pub(crate) fn for_config(config: &JwtAuthConfig) -> Option<Arc<Self>> {
        let settings = config.cache_settings();
        (settings.capacity > 0).then(|| {
            Arc::new(Self {
                entries: Cache::new(settings.capacity),
                max_age: i64::try_from(settings.max_age.as_secs()).unwrap_or(i64::MAX),
            })
        })
    }

    /// The cached claims for `token`, if they may be used at `now` (seconds since the epoch).
    pub(crate) fn get(&self, token: &str, now: i64) -> Option<Claims<C>> {
        if token.len() > MAX_CACHED_TOKEN {
            return None;
        }
        let entry = self.entries.get(token)?;
        let verified = entry.claims.token();
        let facts = verified.facts();
        let fresh = now < entry.until
            && now < facts.exp.saturating_add(facts.leeway)
            && facts.nbf.is_none_or(|nbf| now.saturating_add(facts.leeway) >= nbf)
            && verified.config().key_still_trusted(&facts.key);
        if fresh {
            Some(entry.claims)
        } else {
            self.entries.remove(token);
            None
        }
    }

    /// Remembers a verification that just passed every check at `now`.
    pub(crate) fn insert(&self, token: &str, claims: &Claims<C>, now: i64) {
        if token.len() > MAX_CACHED_TOKEN {
            return;
        }
        let until = now.saturating_add(self.max_age);
        self.entries.insert(token.into(), Entry { claims: claims.clone(), until });
    }

    pub(crate) fn stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            entries: self.entries.len(),
            hits: self.entries.hits(),
            misses: self.entries.misses(),
        }
    }
}

//! The replay cache: the DPoP proofs already spent, each kept for as long as a replay of it
//! would still pass the `iat` check, and no longer.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::ErrorKind;

/// Shards, so that concurrent requests rarely wait on the same lock.
const SHARDS: usize = 16;

/// The spent proofs of one instance, bounded: a full cache refuses new proofs
/// ([`ErrorKind::ReplayCheckUnavailable`]) rather than forget a proof that could still be
/// replayed.
pub(crate) struct ReplayCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// Picks a key's shard with a secret of this process: a client choosing its `jti`s cannot
    /// aim them all at one shard.
    shard_of: ahash::RandomState,
}

#[derive(Default)]
struct Shard {
    /// Replay key -> until when a replay would pass the `iat` check.
    spent: HashMap<[u8; 16], i64, ahash::RandomState>,
    /// The size at which expired entries are swept next.
    sweep_at: usize,
    /// While full of live entries: no sweep before this second (a full shard refuses at
    /// once instead of scanning every entry on every request).
    quiet_until: i64,
}

impl ReplayCache {
    /// A cache holding at most about `capacity` proofs.
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        let shards =
            (0..SHARDS).map(|_| Mutex::new(Shard { sweep_at: per_shard.min(1024), ..Shard::default() }));
        Self { shards: shards.collect(), per_shard, shard_of: ahash::RandomState::new() }
    }

    /// Spends a proof: refused when it was spent before (and could still pass the `iat`
    /// check), or when the cache is full of proofs that could.
    pub(crate) fn spend(&self, key: [u8; 16], usable_until: i64, now: i64) -> Result<(), ErrorKind> {
        // The hash's low bits, reduced: the shard index.
        let index = (self.shard_of.hash_one(key) % SHARDS as u64) as usize;
        let mut shard = self.shards[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if shard.spent.get(&key).is_some_and(|&until| until >= now) {
            return Err(ErrorKind::ReplayedProof);
        }
        if shard.spent.len() >= shard.sweep_at && now >= shard.quiet_until {
            shard.spent.retain(|_, until| *until >= now);
            // Sweep again when the live entries have doubled: amortised constant time.
            shard.sweep_at = (shard.spent.len() * 2).clamp(1024.min(self.per_shard), self.per_shard);
            shard.quiet_until = if shard.spent.len() >= self.per_shard { now + 1 } else { now };
        }
        if shard.spent.len() >= self.per_shard && !shard.spent.contains_key(&key) {
            tracing::warn!("the DPoP replay cache is full; proofs are refused until entries expire");
            return Err(ErrorKind::ReplayCheckUnavailable);
        }
        shard.spent.insert(key, usable_until);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> [u8; 16] {
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&n.to_le_bytes());
        key
    }

    #[test]
    fn a_proof_is_spent_once_until_it_could_no_longer_pass() {
        let cache = ReplayCache::new(100);
        assert_eq!(cache.spend(key(1), 1_000, 900), Ok(()));
        assert_eq!(cache.spend(key(1), 1_000, 950), Err(ErrorKind::ReplayedProof));
        assert_eq!(cache.spend(key(1), 1_000, 1_000), Err(ErrorKind::ReplayedProof));
        // Past its window a replay fails the `iat` check anyway: the entry may go.
        assert_eq!(cache.spend(key(1), 1_400, 1_001), Ok(()));
    }

    #[test]
    fn a_full_cache_refuses_rather_than_forgets_and_recovers_as_entries_expire() {
        let cache = ReplayCache::new(SHARDS); // one entry a shard
        // Some key lands in a shard already holding one: by 17 keys at the latest.
        let refused = (0..=SHARDS as u32)
            .find(|&n| cache.spend(key(n), 1_000, 900) == Err(ErrorKind::ReplayCheckUnavailable))
            .expect("a full shard refuses");
        assert_eq!(cache.spend(key(0), 1_000, 900), Err(ErrorKind::ReplayedProof));
        // Once the entries could no longer pass the `iat` check, there is room again.
        assert_eq!(cache.spend(key(refused), 2_000, 1_001), Ok(()));
    }
}

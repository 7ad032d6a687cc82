//! Refresh-token rotation: the one rule by which a session redeems its refresh tokens'
//! generations ([`redeem`]), and the stores that apply it atomically ([`RotationStore`]):
//! the local list under its shard's lock, and Redis with a compare-and-set.

use std::future::Future;

use super::RevocationError;

/// One session's rotation as a store keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rotation {
    /// The generation redeemed next; `u64::MAX` once a reuse ended the session.
    pub(crate) next: u64,
    /// Until when the entry is kept (seconds since the epoch): as long as the session's newest
    /// tokens live, so that an earlier generation still counts as a reuse.
    pub(crate) kept: i64,
}

/// Redeems generation `generation` of a session whose rotation is `current` (`None`: not
/// followed yet, or its entry expired), to be remembered until `until`: the new rotation,
/// and true when `generation` was the one to redeem. An earlier one is a reuse, and ends
/// the session's rotation for good: every later generation counts as reused too, so the
/// family cannot go on even when its revocation cannot be recorded (a full list). An entry
/// is never kept shorter than before.
pub(crate) fn redeem(current: Option<Rotation>, generation: u64, until: i64) -> (Rotation, bool) {
    match current {
        Some(current) if generation < current.next => {
            (Rotation { next: u64::MAX, kept: current.kept.max(until) }, false)
        }
        Some(current) => {
            (Rotation { next: generation.saturating_add(1), kept: current.kept.max(until) }, true)
        }
        None => (Rotation { next: generation.saturating_add(1), kept: until }, true),
    }
}

/// Where rotations are kept. Each store applies an update atomically in its own way; the
/// rule ([`redeem`]) is the same for all.
pub(crate) trait RotationStore {
    /// Replaces session `sid`'s rotation by what `step` makes of it, atomically, and returns
    /// what `step` says. `step` may run more than once (a store that retries after another
    /// writer won the race); only its last result counts.
    fn update_rotation<T, F>(
        &self,
        sid: &str,
        step: F,
    ) -> impl Future<Output = Result<T, RevocationError>> + Send
    where
        T: Send + 'static,
        F: Fn(Option<Rotation>) -> (Rotation, T) + Send + Sync + 'static;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_generation_redeems_once_and_a_reuse_ends_the_session() {
        let (first, redeemed) = redeem(None, 0, 2_000);
        assert_eq!((first, redeemed), (Rotation { next: 1, kept: 2_000 }, true));
        let (second, redeemed) = redeem(Some(first), 1, 3_000);
        assert_eq!((second, redeemed), (Rotation { next: 2, kept: 3_000 }, true));
        // An earlier generation again: a reuse, and no generation redeems after it.
        let (ended, redeemed) = redeem(Some(second), 0, 1_000);
        assert_eq!((ended, redeemed), (Rotation { next: u64::MAX, kept: 3_000 }, false));
        assert!(!redeem(Some(ended), 7, 4_000).1);
        // A later generation than expected (a lost answer) moves the session on.
        assert_eq!(redeem(Some(second), 5, 2_500), (Rotation { next: 6, kept: 3_000 }, true));
    }
}

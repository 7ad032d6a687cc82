//! Time: seconds since the epoch, from the precise clock or the cheap coarse one, and back
//! to [`SystemTime`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub(crate) fn now() -> i64 {
    epoch_seconds(SystemTime::now())
}

/// Seconds since the epoch of `time`, saturating (0 before the epoch).
pub(crate) fn epoch_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, seconds)
}

/// A duration in whole seconds, saturating at `i64::MAX`.
pub(crate) fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Seconds since the epoch as of the kernel's last timer tick: never ahead of [`now`], and
/// behind it by at most one tick (a few milliseconds), so at most one second behind in
/// whole seconds. It costs a few nanoseconds where [`now`] costs tens in a virtual machine;
/// the token cache reads it on every hit and reads [`now`] only near a bound.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
pub(crate) fn coarse_now() -> i64 {
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `time` is a valid, writable `timespec` for the call's duration, and
    // CLOCK_REALTIME_COARSE is a clock id every supported kernel has (Linux 2.6.32 on).
    let status = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut time) };
    // `time_t` is 32 bits wide on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let seconds = i64::from(time.tv_sec);
    if status == 0 { seconds } else { now() }
}

/// Elsewhere the precise clock (the cache's margin logic holds for any clock not ahead of
/// [`now`]).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn coarse_now() -> i64 {
    now()
}

/// The last second [`SystemTime`] can hold on every platform (9999-12-31T23:59:59Z).
const LAST_REPRESENTABLE_SECOND: i64 = 253_402_300_799;

/// Seconds since the epoch as a [`SystemTime`], clamped to what every platform can hold.
pub(crate) fn system_time(seconds: i64) -> SystemTime {
    let seconds = seconds.clamp(0, LAST_REPRESENTABLE_SECOND).unsigned_abs();
    UNIX_EPOCH + Duration::from_secs(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_is_never_ahead_and_at_most_a_second_behind() {
        for _ in 0..1000 {
            let coarse = coarse_now();
            let precise = now();
            assert!(coarse <= precise && precise <= coarse + 1, "{coarse} {precise}");
        }
    }

    #[test]
    fn times_outside_what_system_time_holds_are_clamped() {
        assert_eq!(system_time(-5), UNIX_EPOCH);
        assert_eq!(epoch_seconds(system_time(i64::MAX)), LAST_REPRESENTABLE_SECOND);
        assert_eq!(seconds(Duration::MAX), i64::MAX);
    }
}

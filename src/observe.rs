//! Counters behind the `metrics` feature (the `metrics` facade: install any recorder, such
//! as a Prometheus exporter). Without the feature every function here is empty.
//!
//! | counter | labels | counts |
//! |---|---|---|
//! | `tower_jwt_auth_verifications_total` | `outcome`: `ok` or an [`ErrorKind::name`] | requests the layer decided |
//! | `tower_jwt_auth_token_cache_total` | `result`: `hit` or `miss` | verified-token cache lookups |
//! | `tower_jwt_auth_jwks_fetches_total` | `result`: `ok` or `error` | remote key set fetches |
//! | `tower_jwt_auth_jwks_stale_served_total` | | verifications with a set past its lifetime (refreshes failing) |
//! | `tower_jwt_auth_jwks_refetch_refused_total` | | unknown kids refused without a fetch (cooldown, negative cache, backoff) |

#[cfg(feature = "metrics")]
use crate::error::ErrorKind;

/// A request was decided: `None` for success, else the rejection's kind.
#[cfg(feature = "metrics")]
pub(crate) fn verification(outcome: Option<ErrorKind>) {
    let outcome = outcome.map_or("ok", ErrorKind::name);
    metrics::counter!("tower_jwt_auth_verifications_total", "outcome" => outcome).increment(1);
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn verification(_: Option<crate::error::ErrorKind>) {}

/// A token-cache lookup: `true` for a usable entry.
#[cfg(feature = "metrics")]
pub(crate) fn token_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("tower_jwt_auth_token_cache_total", "result" => result).increment(1);
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn token_cache(_: bool) {}

/// A remote key set fetch ended.
#[cfg(all(feature = "metrics", feature = "jwks"))]
pub(crate) fn jwks_fetch(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("tower_jwt_auth_jwks_fetches_total", "result" => result).increment(1);
}

#[cfg(all(not(feature = "metrics"), feature = "jwks"))]
pub(crate) fn jwks_fetch(_: bool) {}

/// A key from a set past its lifetime verified a token.
#[cfg(all(feature = "metrics", feature = "jwks"))]
pub(crate) fn jwks_stale_served() {
    metrics::counter!("tower_jwt_auth_jwks_stale_served_total").increment(1);
}

#[cfg(all(not(feature = "metrics"), feature = "jwks"))]
pub(crate) fn jwks_stale_served() {}

/// An unknown kid was refused without a fetch.
#[cfg(all(feature = "metrics", feature = "jwks"))]
pub(crate) fn jwks_refetch_refused() {
    metrics::counter!("tower_jwt_auth_jwks_refetch_refused_total").increment(1);
}

#[cfg(all(not(feature = "metrics"), feature = "jwks"))]
pub(crate) fn jwks_refetch_refused() {}

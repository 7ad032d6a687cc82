//! The route and the key: which group of keys verifies a token (a trusted issuer's, chosen
//! by the token's unverified `iss`, or the configuration's own), and which key of that group
//! checks the signature (a static key, else the remote set, which may ask to wait for a
//! fetch first).

use crate::claims::KeyRef;
use crate::config::{KeySource, Settings};
use crate::error::ErrorKind;
#[cfg(feature = "jwks")]
use crate::keys::PreparedKey;
use crate::payload::unverified_issuer;
use crate::wait::Stop;

use super::precheck::{Prechecked, VerifiedJws};

/// The keys a token is verified with, and the issuers and audiences its claims must name.
pub(crate) struct Route<'s> {
    pub(crate) keys: &'s KeySource,
    pub(crate) issuers: &'s [String],
    pub(crate) audiences: &'s [String],
}

/// Chooses the route by the exact `iss` of the (not yet verified) payload when trusted
/// issuers are configured. A token from no trusted issuer goes to the configuration's own
/// keys when it has any, else it is refused: no key, no network access.
pub(crate) fn choose<'s>(settings: &'s Settings, payload_segment: &[u8]) -> Result<Route<'s>, ErrorKind> {
    let rules = &settings.rules;
    let own = Route { keys: &settings.keys, issuers: &rules.issuers, audiences: &rules.audiences };
    if settings.routes.is_empty() {
        return Ok(own);
    }
    let iss = unverified_issuer(payload_segment);
    match settings.routes.iter().find(|route| iss.as_deref() == Some(route.issuer[0].as_str())) {
        Some(route) => {
            let audiences = if route.audiences.is_empty() { &rules.audiences } else { &route.audiences };
            Ok(Route { keys: &route.source, issuers: &route.issuer, audiences })
        }
        None if !settings.keys.is_empty() => Ok(own),
        None => Err(ErrorKind::InvalidIssuer),
    }
}

/// Selects the key and checks the signature: a static key when one fits the token's `kid`
/// and algorithm, else the remote set (when the static keys know no such key and the set
/// allows the algorithm). `may_wait`: a key the remote set lacks may be fetched first.
pub(crate) fn verify_signature(
    route: &Route<'_>,
    prechecked: Prechecked<'_>,
    may_wait: bool,
) -> Result<(VerifiedJws, KeyRef), Stop> {
    let source = route.keys;
    let local_error = match source.keys.select(prechecked.kid.as_deref(), prechecked.algorithm) {
        Ok(key) => return Ok((prechecked.verify_with(key)?, KeyRef::Static)),
        Err(kind) => kind,
    };
    #[cfg(feature = "jwks")]
    if let Some(remote) = &source.remote
        && matches!(local_error, ErrorKind::UnknownKey | ErrorKind::UnsupportedAlgorithm)
        && remote.allows(prechecked.algorithm)
    {
        // A copy of the kid (shared, not copied) so the closure can own the rest.
        let kid = prechecked.kid.clone();
        let algorithm = prechecked.algorithm;
        let payload = prechecked.payload_segment();
        let issuers = route.issuers;
        // Refuse a foreign token before any network access.
        let admit = || match issuers.is_empty()
            || unverified_issuer(payload).is_some_and(|iss| issuers.contains(&iss))
        {
            true => Ok(()),
            false => Err(ErrorKind::InvalidIssuer),
        };
        let verify = |key: &PreparedKey| prechecked.verify_with(key).map(|jws| (jws, key.fingerprint()));
        let (jws, fingerprint) = remote.with_key(kid.as_deref(), algorithm, may_wait, admit, verify)??;
        return Ok((jws, KeyRef::Remote { set: remote.clone(), fingerprint }));
    }
    let _ = may_wait;
    Err(local_error.into())
}

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

/// Selects the key and checks the signature. The order:
///
/// 1. a static key named by the token's `kid`;
/// 2. for a `kid` no static key names, the remote set (which may ask to wait for a fetch
///    when it does not know the kid either);
/// 3. the one static key without a `kid` for the token's algorithm, for a token without a
///    `kid`, or one whose `kid` the remote set does not know (or cannot tell, being down:
///    then a signature that does not verify counts as keys unavailable);
/// 4. the remote set, for a token no static key fits.
///
/// `may_wait`: a key the remote set lacks may be fetched first.
pub(crate) fn verify_signature(
    route: &Route<'_>,
    prechecked: &Prechecked<'_>,
    may_wait: bool,
) -> Result<(VerifiedJws, KeyRef), Stop> {
    let source = route.keys;
    let (kid, algorithm) = (prechecked.kid.as_deref(), prechecked.algorithm);
    let local = source.keys.select(kid, algorithm);
    #[cfg(feature = "jwks")]
    if let Some(remote) = &source.remote
        && remote.allows(algorithm)
    {
        let named_elsewhere = kid.is_some_and(|kid| !source.keys.has_kid(kid));
        let verify_static = |key| prechecked.verify_with(key).map(|jws| (jws, KeyRef::Static));
        match local {
            Ok(key) if !named_elsewhere => return Ok(verify_static(key)?),
            // A kid the static keys do not name goes to the remote set first: a static key
            // without a kid must not hide the set's keys.
            Ok(key) => {
                return match verify_remote(route, remote, prechecked, may_wait) {
                    Err(Stop::Reject(ErrorKind::UnknownKey)) => Ok(verify_static(key)?),
                    Err(Stop::Reject(ErrorKind::KeysUnavailable)) => {
                        verify_static(key).map_err(|error| match error {
                            ErrorKind::InvalidSignature => ErrorKind::KeysUnavailable.into(),
                            other => other.into(),
                        })
                    }
                    other => other,
                };
            }
            Err(ErrorKind::UnknownKey | ErrorKind::UnsupportedAlgorithm) => {
                return verify_remote(route, remote, prechecked, may_wait);
            }
            Err(other) => return Err(other.into()),
        }
    }
    let _ = may_wait;
    let key = local?;
    Ok((prechecked.verify_with(key)?, KeyRef::Static))
}

/// The signature checked with the remote set's key for the token's kid and algorithm,
/// once the token's (unverified) issuer is one this route accepts: a foreign token is
/// refused before any network access.
#[cfg(feature = "jwks")]
fn verify_remote(
    route: &Route<'_>,
    remote: &crate::jwks::RemoteJwks,
    prechecked: &Prechecked<'_>,
    may_wait: bool,
) -> Result<(VerifiedJws, KeyRef), Stop> {
    let payload = prechecked.payload_segment();
    let issuers = route.issuers;
    let admit =
        || match issuers.is_empty() || unverified_issuer(payload).is_some_and(|iss| issuers.contains(&iss)) {
            true => Ok(()),
            false => Err(ErrorKind::InvalidIssuer),
        };
    let verify = |key: &PreparedKey| prechecked.verify_with(key).map(|jws| (jws, key.fingerprint()));
    let (kid, algorithm) = (prechecked.kid.as_deref(), prechecked.algorithm);
    let (jws, fingerprint) = remote.with_key(kid, algorithm, may_wait, admit, verify)??;
    Ok((jws, KeyRef::Remote { set: remote.clone(), fingerprint }))
}

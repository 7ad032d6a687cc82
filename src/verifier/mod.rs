//! The verification pipeline: a request's credential in, typed claims or a [`Stop`] out.
//!
//! One straight line, each step in a room of its own, none looking back at an earlier one
//! and none holding a lock across an `.await`:
//!
//! ```text
//! extract     the configured token sources; conflicting or repeated credentials -> 400
//! cross-site  a cookie credential on a state-changing request from another site -> 403
//! cache       a token verified before, its exp, nbf and key checked again (cache.rs)
//! precheck    size cap, three segments, the header rules; the charset is checked by each
//!             segment's decoding, and over the whole token on a rejection (precheck.rs)
//! route       the trusted issuer the unverified `iss` names, else the own keys (route.rs)
//! key         kid -> a static key, or the remote set, which may ask to wait for a fetch
//! signature   with the key's own algorithm, never the token's say
//! claims      one pass over the payload: the claims type, the registered claims, the grants
//! revocation  the token's ids against the revocation list
//! ```
//!
//! [`JwtAuthConfig::verify`] and its siblings run it from the precheck on, without a
//! request; the layer runs all of it through [`admit`].

mod cache;
mod precheck;
mod route;

use serde::de::DeserializeOwned;

pub(crate) use cache::TokenCache;
pub use cache::TokenCacheStats;

use crate::claims::{Claims, DefaultClaims, KeyRef, TokenFacts, VerifiedToken};
use crate::codec::from_json;
use crate::config::{JwtAuthConfig, Settings};
use crate::dpop::{self, CheckedProof, PendingSpend};
use crate::error::{AuthError, ErrorKind};
use crate::extract::{extract, validate};
use crate::observe;
use crate::payload::{MemberIndex, PayloadScan, TokenIds};
use crate::response::RequestHead;
use crate::wait::Stop;
use precheck::{VerifiedJws, precheck, verify_signature};
use route::Route;

/// A request's credential, checked: its claims, `None` when the request carries no
/// credential at all, or why it stops (a rejection, or a fetch to wait for; `may_wait`
/// false: never). A token found in the verified-token cache (still within `exp`, `nbf`, the
/// cache's maximum age, and verified by a key still trusted) skips verification.
pub(crate) fn admit<C: DeserializeOwned>(
    settings: &Settings,
    cache: Option<&TokenCache<C>>,
    request: &RequestHead<'_>,
    may_wait: bool,
) -> Result<Option<Admitted<C>>, Stop> {
    let Some(credential) = extract(&settings.sources, request.headers, request.uri)? else {
        return Ok(None);
    };
    // A cookie credential on a state-changing request from another site: refused before any
    // verification.
    if credential.from_cookie && settings.csrf.as_ref().is_some_and(|check| !check.allows(request)) {
        return Err(ErrorKind::CrossSiteRequest.into());
    }
    // A DPoP request's proof, checked before its token (and on every request: a cached
    // token never skips it). The clock is read only when DPoP is on.
    let now = settings.dpop.as_ref().map_or(0, |_| crate::clock::now());
    let proof = match &settings.dpop {
        Some(dpop) if credential.dpop => Some(dpop::proof::check(dpop, request, credential.token, now)?),
        _ => None,
    };
    if let Some(cache) = cache {
        if let Some(claims) = cache.get(credential.token) {
            observe::token_cache(true);
            // Revocations are checked on every hit: a cached token dies with its entry.
            if revoked(settings, claims.token()) {
                return Err(ErrorKind::Revoked.into());
            }
            let spend = bind(settings, proof, &claims, now, credential.authorization)?;
            return Ok(Some(Admitted { claims, spend }));
        }
        observe::token_cache(false);
    }
    let claims = match verify(settings, credential.token, may_wait) {
        // Not even RFC 6750's token syntax: a bad request, whatever else is wrong. Checked
        // only after a failure: a token that verifies, or is parked for a key fetch, passed
        // the strict check of three base64url segments, which is stricter.
        Err(Stop::Reject(_)) if validate(credential.token).is_err() => {
            return Err(ErrorKind::MalformedRequest.into());
        }
        verified => verified?,
    };
    if let Some(cache) = cache {
        cache.insert(credential.token, &claims);
    }
    let spend = bind(settings, proof, &claims, now, credential.authorization)?;
    Ok(Some(Admitted { claims, spend }))
}

/// A request's verified claims, and with DPoP proofs shared through Redis, the proof's
/// spending there, which must succeed before the request goes on.
pub(crate) struct Admitted<C> {
    pub(crate) claims: Claims<C>,
    pub(crate) spend: Option<PendingSpend>,
}

/// With DPoP on: the token's binding matches the request's scheme and proof, and the proof
/// is spent (RFC 9449 section 4.3 step 12, section 7.2, and the replay check). With DPoP
/// off: a DPoP-bound token is refused (it is no bearer token: whoever stole it would use
/// it here without the key), unless the configuration says a gateway checked the proofs
/// and the token came, as the gateway passes it on, in the `Authorization` header
/// (`from_authorization`).
#[inline]
fn bind<C>(
    settings: &Settings,
    proof: Option<CheckedProof>,
    claims: &Claims<C>,
    now: i64,
    from_authorization: bool,
) -> Result<Option<PendingSpend>, Stop> {
    let Some(dpop) = &settings.dpop else {
        // Only a payload with a `cnf` member is read again, so a plain token costs a test.
        if claims.token().facts().cnf
            && !(settings.bound_tokens_as_bearer && from_authorization)
            && claims.token().confirmation_key()?.is_some()
        {
            return Err(ErrorKind::BoundTokenWithoutProof.into());
        }
        return Ok(None);
    };
    let bound = claims.token().confirmation_key()?;
    Ok(dpop.bind(proof, bound.as_deref(), now)?)
}

/// True when the configuration has revocations and they cover this token.
fn revoked(settings: &Settings, token: &VerifiedToken) -> bool {
    settings.revocations.as_ref().is_some_and(|revocations| revocations.is_revoked(token))
}

/// Verifies one token, top to bottom: precheck, route, key and signature, claims,
/// revocation. `may_wait` false: a key that only a fetch could bring is a final answer.
pub(crate) fn verify<C: DeserializeOwned>(
    settings: &Settings,
    token: &[u8],
    may_wait: bool,
) -> Result<Claims<C>, Stop> {
    let prechecked = precheck(token, &settings.rules)?;
    // The token's charset is checked by the decoding of its segments, and as a whole only on
    // a rejection, which then gives the precheck's answer as if it had checked the whole
    // token first (see `Prechecked::malformed`), and before a remote key set is asked for a
    // key, which may start a fetch.
    let malformed = |stop| match stop {
        Stop::Reject(kind) => Stop::Reject(prechecked.malformed().unwrap_or(kind)),
        wait => wait,
    };
    let route =
        route::choose(settings, prechecked.payload_segment()).map_err(|kind| malformed(kind.into()))?;
    if route.keys.has_remote()
        && let Some(kind) = prechecked.malformed()
    {
        return Err(kind.into());
    }
    let checked = route::verify_signature(&route, &prechecked, may_wait)
        .and_then(|(jws, key)| Ok(read_claims(settings, &route, jws, key)?));
    checked.map_err(malformed)
}

/// The claims step and the revocation step: the payload read once into `C`, the registered
/// claims checked, the grants collected, and the token's ids checked against the
/// revocation list.
fn read_claims<C: DeserializeOwned>(
    settings: &Settings,
    route: &Route<'_>,
    jws: VerifiedJws,
    key: KeyRef,
) -> Result<Claims<C>, ErrorKind> {
    let rules = &settings.rules;
    // One pass for the claims type and the checks; when `C` does not read the payload as a
    // map (or fails), the two separately, so the error is the one the checks give first.
    let (claims, scan) = match PayloadScan::read_with::<C>(&jws.payload, &rules.grant_paths) {
        Ok((claims, scan)) => (Some(claims), scan),
        Err(_) => {
            (None, PayloadScan::read(&jws.payload, &rules.grant_paths).map_err(|_| ErrorKind::InvalidClaims)?)
        }
    };
    rules.check_with(&scan, rules.check_time(&scan), route.issuers, route.audiences)?;
    let PayloadScan { grants, exp, nbf, iat, cnf, .. } = scan;
    // The member index now when revocations read the token's ids; else a claim guard makes
    // it when it first needs it.
    let (members, ids) = match &settings.revocations {
        None => (None, None),
        // Without `iat` a token's lifetime cannot be bounded (its `exp` could lie beyond any
        // subject revocation's entry): with revocations it is required.
        Some(_) if iat.is_none() => return Err(ErrorKind::MissingClaim),
        Some(revocations) => {
            let members = MemberIndex::of(&jws.payload);
            let ids = TokenIds::read(&jws.payload, &members, iat.map(|iat| iat.0))
                .ok_or(ErrorKind::InvalidClaims)?;
            if revocations.covers(&ids) {
                return Err(ErrorKind::Revoked);
            }
            (Some(members), Some(ids))
        }
    };
    let facts = TokenFacts {
        exp: exp.map_or(i64::MAX, |exp| exp.0), // the checks required exp
        nbf: nbf.map(|nbf| nbf.0),
        leeway: rules.leeway,
        key,
        cnf,
    };
    let claims: C = match claims {
        Some(claims) => claims,
        None => from_json(&jws.payload).map_err(|_| {
            log_claims_path::<C>(&jws.payload);
            ErrorKind::InvalidClaims
        })?,
    };
    let responder = settings.responder.clone();
    let token = VerifiedToken::new::<C>(jws.header, grants, jws.payload, members, facts, responder, ids);
    Ok(Claims::new(claims, token))
}

/// Logs at debug level where a verified payload does not fit the claims type `C`: the path
/// of the member (`address.zip`, `roles[2]`), names and indices only, never a value. Reads
/// the payload again, on this failure path alone and only when debug events are on.
fn log_claims_path<C: DeserializeOwned>(payload: &[u8]) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let mut json = serde_json::Deserializer::from_slice(payload);
    if let Err(error) = serde_path_to_error::deserialize::<_, C>(&mut json) {
        tracing::debug!(
            claim = %error.path(),
            claims_type = std::any::type_name::<C>(),
            "the token's claims do not fit the claims type"
        );
    }
}

/// A stop as an error, for callers that never wait: a fetch to wait for means the keys are
/// not there yet.
fn into_error(stop: Stop) -> AuthError {
    match stop {
        Stop::Reject(kind) => kind.into(),
        Stop::Wait(_) => ErrorKind::KeysUnavailable.into(),
    }
}

impl JwtAuthConfig {
    /// Verifies a token into [`DefaultClaims`]: signature, then every claim check.
    pub fn verify(&self, token: &str) -> Result<Claims<DefaultClaims>, AuthError> {
        self.verify_as(token)
    }

    /// Verifies a token into claims of type `C`: signature, then every claim check.
    ///
    /// Never waits: with a remote key set whose keys are not cached yet (or that lacks the
    /// token's kid), this fails with [`ErrorKind::KeysUnavailable`] or
    /// [`ErrorKind::UnknownKey`]. [`verify_async`](Self::verify_async) fetches first.
    ///
    /// There is no request here, so no DPoP proof: a DPoP-bound token (`cnf.jkt`) verifies
    /// like any other, and checking its binding is the caller's job (the layer refuses
    /// such a token without its proof; see [DPoP](crate::dpop)).
    pub fn verify_as<C: DeserializeOwned>(&self, token: &str) -> Result<Claims<C>, AuthError> {
        verify(self.settings(), token.as_bytes(), false).map_err(into_error)
    }

    /// Verifies a token into claims of type `C`, fetching a remote key set first when the
    /// token's key is not cached (at most one fetch, shared with concurrent callers and
    /// subject to the remote set's cooldown).
    pub async fn verify_async<C: DeserializeOwned>(&self, token: &str) -> Result<Claims<C>, AuthError> {
        match verify(self.settings(), token.as_bytes(), true) {
            Err(Stop::Wait(wait)) => {
                wait.await;
                self.verify_as(token)
            }
            verified => verified.map_err(into_error),
        }
    }

    /// Verifies a compact JWS whose payload is not a JWT claim set and returns the payload
    /// bytes. The precheck, header rules, key selection and signature are the same as for
    /// tokens (static keys only); no claim is checked, so never use this to authenticate a
    /// request.
    pub fn verify_jws_payload(&self, jws: &str) -> Result<Vec<u8>, AuthError> {
        let settings = self.settings();
        Ok(verify_signature(jws.as_bytes(), &settings.keys.keys, &settings.rules)?.payload)
    }
}

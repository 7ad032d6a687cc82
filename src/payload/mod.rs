//! Every read of a token's payload JSON, in one place.
//!
//! - [`wire`]: the payload's types as RFC 7519 defines them (NumericDate, audience, strict
//!   values that refuse a repeated member);
//! - [`scan`]: the one pass that reads the caller's claims type, the registered claims and
//!   the grants together;
//! - [`members`]: the member index, so later readers (a claim guard, the revocation check)
//!   parse one member instead of the whole payload;
//! - [`ids`]: the token ids a revocation list is checked against;
//! - [`seek`]: a claim's value compared where it stands.
//!
//! Before the signature is checked, only [`unverified_issuer`] reads the payload, to pick
//! the trusted issuer whose keys verify it.

pub(crate) mod ids;
pub(crate) mod members;
pub(crate) mod scan;
pub(crate) mod seek;
pub(crate) mod wire;

use serde::Deserialize;

pub(crate) use ids::TokenIds;
pub(crate) use members::MemberIndex;
pub(crate) use scan::{PayloadScan, path_at_registered_claim};
pub(crate) use seek::{claim_contains, claim_equals};
pub(crate) use wire::{Audience, NumericDate, StrictValue};

use crate::codec::{decode_segment, from_json};

/// The `iss` of an encoded payload, read before the signature is checked: only to pick an
/// issuer's keys or to refuse a foreign token before any network access, never to trust it.
pub(crate) fn unverified_issuer(payload_segment: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    let payload = decode_segment(payload_segment).ok()?;
    from_json::<Issuer>(&payload).ok()?.iss
}

/// The `cnf.jkt` of a verified payload (RFC 9449 section 6.1): the thumbprint of the key a
/// DPoP-bound token is bound to; `Ok(None)` for a token that is not (no `cnf`, or a `cnf`
/// without `jkt`, such as a certificate-bound one). `Err` for a `cnf` that is not an object
/// with a string `jkt`, or that is repeated.
pub(crate) fn confirmation_key(payload: &[u8], members: &MemberIndex) -> Result<Option<String>, ()> {
    #[derive(Deserialize)]
    struct Confirmation {
        jkt: Option<String>,
    }
    #[derive(Deserialize)]
    struct Payload {
        cnf: Option<Confirmation>,
    }
    match members.get(payload, "cnf") {
        members::Member::Absent => Ok(None),
        // `null` is no confirmation, as the full parse below reads it.
        members::Member::Value(value) => {
            from_json::<Option<Confirmation>>(value).map(|cnf| cnf.and_then(|cnf| cnf.jkt)).map_err(|_| ())
        }
        members::Member::Repeated => Err(()),
        members::Member::Unknown => {
            from_json::<Payload>(payload).map(|p| p.cnf.and_then(|cnf| cnf.jkt)).map_err(|_| ())
        }
    }
}

//! One DPoP proof, checked as RFC 9449 section 4.3 lists: what a request's `DPoP` header
//! must be before the token it comes with is even verified.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::codec::{decode_segment, from_json};
use crate::error::ErrorKind;
use crate::keys::{Algorithm, PreparedKey, proof_key, sha256};
use crate::payload::NumericDate;
use crate::response::RequestHead;
use crate::url::HttpUrl;

use super::{Nonces, PreparedDpop};

/// The largest proof read (RFC 9449 does not bound it; an RSA-4096 proof is under 2 KiB).
pub(crate) const MAX_PROOF_SIZE: usize = 8 * 1024;

/// A proof that passed every check that does not need the verified token: what the binding
/// and the replay check then read.
#[derive(Debug)]
pub(crate) struct CheckedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url.
    pub(crate) jkt: String,
    /// What identifies the proof in the replay cache: its key's thumbprint and its `jti`.
    pub(crate) replay_key: [u8; 16],
    /// Until when a replay of it would pass the `iat` check, seconds since the epoch.
    pub(crate) usable_until: i64,
}

#[derive(Deserialize)]
struct ProofHeader<'a> {
    typ: Option<String>,
    alg: Option<String>,
    #[serde(borrow)]
    jwk: Option<&'a RawValue>,
    /// Critical extensions: none is understood, so a proof naming one is refused.
    crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<NumericDate>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Refuses the proof, logging (at debug, a fixed name, never a value) which check failed.
fn refuse(check: &'static str) -> ErrorKind {
    tracing::debug!(check, "DPoP proof refused");
    ErrorKind::InvalidProof
}

/// Checks the request's DPoP proof for `token`, in RFC 9449 section 4.3's order, except
/// what needs the verified token (the key binding) and the replay check, which spends the
/// proof: both come after the token is verified.
pub(crate) fn check(
    policy: &PreparedDpop,
    request: &RequestHead<'_>,
    token: &[u8],
    now: i64,
) -> Result<CheckedProof, ErrorKind> {
    // 1. Exactly one `DPoP` header.
    let mut values = request.headers.get_all("dpop").iter();
    let proof = match (values.next(), values.next()) {
        (Some(value), None) => value.as_bytes(),
        (None, _) => return Err(refuse("missing")),
        (Some(_), Some(_)) => return Err(refuse("repeated")),
    };
    if proof.len() > MAX_PROOF_SIZE {
        return Err(refuse("size"));
    }
    // 2. A well-formed JWT: three base64url segments of JSON objects.
    let mut segments = proof.split(|&b| b == b'.');
    let (Some(header_segment), Some(payload_segment), Some(signature), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Err(refuse("segments"));
    };
    let header_json = decode_segment(header_segment).map_err(|_| refuse("header"))?;
    let payload_json = decode_segment(payload_segment).map_err(|_| refuse("payload"))?;
    let signature = decode_segment(signature).map_err(|_| refuse("signature encoding"))?;
    let header: ProofHeader<'_> = from_json(&header_json).map_err(|_| refuse("header"))?;
    let claims: ProofClaims = from_json(&payload_json).map_err(|_| refuse("payload"))?;
    if header.crit.is_some() {
        return Err(refuse("crit"));
    }
    // 3. Every required member.
    let (Some(typ), Some(alg), Some(jwk)) = (header.typ, header.alg, header.jwk) else {
        return Err(refuse("required header member"));
    };
    let (Some(jti), Some(htm), Some(htu), Some(iat)) = (claims.jti, claims.htm, claims.htu, claims.iat)
    else {
        return Err(refuse("required claim"));
    };
    let Some(ath) = claims.ath else {
        return Err(refuse("ath missing"));
    };
    if jti.is_empty() {
        return Err(refuse("jti"));
    }
    // 4. The type: `dpop+jwt` (the `application/` prefix may be written; compared without
    // regard to case, as media types are).
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    if !typ.eq_ignore_ascii_case("dpop+jwt") {
        return Err(refuse("typ"));
    }
    // 5. An asymmetric algorithm on the allowed list (the list never holds HMAC, and `none`
    // is no algorithm); `Ed25519` names EdDSA.
    let Some(algorithm) =
        Algorithm::from_key_name(&alg).filter(|algorithm| policy.algorithms.contains(algorithm))
    else {
        return Err(refuse("alg"));
    };
    // 7 (before 6, so no private key is ever used). A public key: no private members.
    // 6. The signature verifies with that key.
    let (key, jkt): (PreparedKey, [u8; 32]) = proof_key(jwk.get(), algorithm).map_err(|why| {
        tracing::debug!(why, "DPoP proof key refused");
        ErrorKind::InvalidProof
    })?;
    let signed = &proof[..header_segment.len() + 1 + payload_segment.len()];
    if !key.verify(signed, &signature) {
        return Err(refuse("signature"));
    }
    // 8. The method.
    if htm != request.method.as_str() {
        return Err(refuse("htm"));
    }
    // 9. The URI, without query and fragment (RFC 9449 section 4.2: a proof's `htu` has
    // neither, so one that has them is refused), compared in normal form.
    let expected = policy.request_url(request).ok_or_else(|| refuse("request url"))?;
    match HttpUrl::parse(&htu) {
        Ok(htu) if htu == expected => {}
        _ => return Err(refuse("htu")),
    }
    // 10. The server's nonce, when it asks for one.
    if let Some(nonces) = &policy.nonces {
        check_nonce(nonces, claims.nonce.as_deref(), now)?;
    }
    // 11. Created within the window.
    if now.saturating_sub(iat.0).unsigned_abs() > policy.window.unsigned_abs() {
        return Err(refuse("iat"));
    }
    // 12, the first half: `ath` is the hash of this token.
    if ath.as_bytes() != URL_SAFE_NO_PAD.encode(sha256(token)).as_bytes() {
        return Err(refuse("ath"));
    }
    let mut replay = Vec::with_capacity(32 + 1 + jti.len());
    replay.extend_from_slice(&jkt);
    replay.push(0);
    replay.extend_from_slice(jti.as_bytes());
    let mut replay_key = [0u8; 16];
    replay_key.copy_from_slice(&sha256(&replay)[..16]);
    Ok(CheckedProof {
        jkt: URL_SAFE_NO_PAD.encode(jkt),
        replay_key,
        usable_until: iat.0.saturating_add(policy.window),
    })
}

/// A nonce the server issued, recently enough.
fn check_nonce(nonces: &Nonces, nonce: Option<&str>, now: i64) -> Result<(), ErrorKind> {
    match nonce {
        Some(nonce) if nonces.accepts(nonce, now) => Ok(()),
        _ => {
            tracing::debug!(check = "nonce", "DPoP proof refused");
            Err(ErrorKind::UseDpopNonce)
        }
    }
}

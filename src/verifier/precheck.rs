//! The precheck and the signature: the size cap, the charset and the three segments, the
//! header (parsed and checked, or remembered from a token that verified before), then the
//! signature with the key chosen for the token.

use std::borrow::Cow;
use std::sync::Arc;

use crate::keys::Algorithm;

use crate::claims::VerifiedHeader;
use crate::codec::{decode_segment, with_decoded};
use crate::error::ErrorKind;
use crate::keys::{KeySet, PreparedKey};
use crate::rules::{HeaderFacts, HeaderMemo, Rules};

/// A token that passed the precheck and the signature check.
pub(crate) struct VerifiedJws {
    pub(crate) header: VerifiedHeader,
    pub(crate) payload: Vec<u8>,
}

/// 1 for a byte outside the base64url alphabet and `.`, else 0. Written as wrapping range
/// arithmetic on bytes, not a table, so that the loop over a whole token compiles to vector
/// instructions on byte lanes.
#[inline(always)]
fn outside_compact_charset(b: u8) -> u8 {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    u8::from(!(letter | digit | (b == b'-') | (b == b'_') | (b == b'.')))
}

/// A compact JWS's header, payload and signature segments, still encoded.
type Segments<'t> = (&'t [u8], &'t [u8], &'t [u8]);

/// Splits a compact JWS into its three segments after the size and charset checks. The
/// token is read as bytes: one that passes is base64url and dots, and so ASCII.
fn split_compact(token: &[u8], max_size: usize) -> Result<Segments<'_>, ErrorKind> {
    if token.len() > max_size {
        return Err(ErrorKind::TokenTooLarge);
    }
    // Branch-free over blocks of 32 bytes with byte-wide accumulators (32 dots fit a u8).
    let mut dots = 0usize;
    let mut invalid = 0u8;
    let mut blocks = token.chunks_exact(32);
    for block in &mut blocks {
        let (mut block_dots, mut block_invalid) = (0u8, 0u8);
        for &byte in block {
            block_dots += u8::from(byte == b'.');
            block_invalid |= outside_compact_charset(byte);
        }
        dots += usize::from(block_dots);
        invalid |= block_invalid;
    }
    for &byte in blocks.remainder() {
        dots += usize::from(byte == b'.');
        invalid |= outside_compact_charset(byte);
    }
    if invalid != 0 {
        return Err(ErrorKind::Malformed);
    }
    match dots {
        2 => {}
        4 => return Err(ErrorKind::EncryptedToken),
        _ => return Err(ErrorKind::Malformed),
    }
    // Two dots: the first from the front and the last from the back are they, and the
    // scans cross only the short header and signature, not the payload.
    let (Some(first), Some(last)) =
        (token.iter().position(|&byte| byte == b'.'), token.iter().rposition(|&byte| byte == b'.'))
    else {
        return Err(ErrorKind::Malformed);
    };
    match first {
        0 => Err(ErrorKind::Malformed),
        _ => Ok((&token[..first], &token[first + 1..last], &token[last + 1..])),
    }
}

/// A token that passed the precheck and the header rules, waiting for its key.
pub(crate) struct Prechecked<'t> {
    token: &'t [u8],
    signed_len: usize,
    header_segment: &'t [u8],
    payload_segment: &'t [u8],
    signature_segment: &'t [u8],
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<Arc<str>>,
    typ: Option<Cow<'static, str>>,
    /// Where to remember the header once the signature verifies; `None` when it came from
    /// there.
    memo: Option<&'t HeaderMemo>,
}

/// Size cap, charset, segments, and the header: everything before the key is chosen.
pub(crate) fn precheck<'t>(token: &'t [u8], rules: &'t Rules) -> Result<Prechecked<'t>, ErrorKind> {
    let segments = split_compact(token, rules.max_token_size)?;
    let (facts, memo) = match rules.header_memo.get(segments.0) {
        Some(facts) => (facts, None),
        None => {
            let facts = with_decoded(segments.0, |header_bytes| rules.check_header(header_bytes))?;
            (facts, Some(&rules.header_memo))
        }
    };
    let (header_segment, payload_segment, signature_segment) = segments;
    Ok(Prechecked {
        token,
        signed_len: header_segment.len() + 1 + payload_segment.len(),
        header_segment,
        payload_segment,
        signature_segment,
        algorithm: facts.algorithm,
        kid: facts.kid,
        typ: facts.typ,
        memo,
    })
}

impl<'t> Prechecked<'t> {
    /// Checks the signature with `key` (chosen for this token's kid and algorithm) and
    /// decodes the payload.
    pub(crate) fn verify_with(&self, key: &PreparedKey) -> Result<VerifiedJws, ErrorKind> {
        let message = &self.token[..self.signed_len];
        let verified = with_decoded(self.signature_segment, |signature| Ok(key.verify(message, signature)))?;
        if !verified {
            return Err(ErrorKind::InvalidSignature);
        }
        if let Some(memo) = self.memo {
            let facts =
                HeaderFacts { algorithm: self.algorithm, kid: self.kid.clone(), typ: self.typ.clone() };
            memo.remember(self.header_segment, facts);
        }
        let payload = decode_segment(self.payload_segment)?;
        Ok(VerifiedJws {
            header: VerifiedHeader {
                algorithm: key.algorithm(),
                kid: self.kid.clone(),
                typ: self.typ.clone(),
            },
            payload,
        })
    }

    /// The payload segment, still encoded.
    pub(crate) fn payload_segment(&self) -> &'t [u8] {
        self.payload_segment
    }
}

/// Precheck, header checks, key selection and signature: everything below the claims.
pub(crate) fn verify_signature(token: &[u8], keys: &KeySet, rules: &Rules) -> Result<VerifiedJws, ErrorKind> {
    let prechecked = precheck(token, rules)?;
    let key = keys.select(prechecked.kid.as_deref(), prechecked.algorithm)?;
    prechecked.verify_with(key)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn segment_count_and_charset_are_checked_before_decoding() {
        assert_eq!(split_compact(b"a.b.c", 100).unwrap(), (&b"a"[..], &b"b"[..], &b"c"[..]));
        assert_eq!(split_compact(b"a.b.c.d.e", 100).err(), Some(ErrorKind::EncryptedToken));
        assert_eq!(split_compact(b"a.b", 100).err(), Some(ErrorKind::Malformed));
        assert_eq!(split_compact(b"a.b.c=", 100).err(), Some(ErrorKind::Malformed));
        assert_eq!(split_compact(b"a+.b.c", 100).err(), Some(ErrorKind::Malformed));
        assert_eq!(split_compact(b"a.b.c", 4).err(), Some(ErrorKind::TokenTooLarge));
        assert_eq!(split_compact(b".b.c", 100).err(), Some(ErrorKind::Malformed));
    }

    #[test]
    fn the_compact_charset_is_base64url_and_dots() {
        for byte in 0..=255u8 {
            let inside = byte.is_ascii_alphanumeric() || b"-_.".contains(&byte);
            assert_eq!(outside_compact_charset(byte), u8::from(!inside), "{byte}");
        }
        // Blocks of 32 and the remainder: a bad byte anywhere, dots counted across blocks.
        let segment = "A".repeat(40);
        for at in [0, 31, 32, 63, 64, 100] {
            let mut token = format!("{segment}.{segment}.{segment}").into_bytes();
            assert!(split_compact(&token, 8192).is_ok());
            token[at] = b'+';
            assert_eq!(split_compact(&token, 8192), Err(ErrorKind::Malformed));
        }
        let five = [segment.as_str(); 5].join(".");
        assert_eq!(split_compact(five.as_bytes(), 8192), Err(ErrorKind::EncryptedToken));
    }

    #[test]
    fn the_header_memo_keeps_verified_headers_and_changes_no_verdict() {
        use crate::{JwtAuthConfig, TokenIssuer};
        let secret = b"a header memo secret of at least 32 bytes".to_vec();
        let issuer = TokenIssuer::builder().hmac_secret(secret.clone()).kid("k1").build().unwrap();
        let config = JwtAuthConfig::builder().hmac_secret(secret).build().unwrap();
        let token = issuer.issue(&serde_json::json!({"sub": "alice"})).unwrap();
        let (signed, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        let (header, _) = token.split_once('.').unwrap();
        let other_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":99999999999}"#);
        let spliced = format!("{header}.{other_payload}.{}", token.rsplit_once('.').unwrap().1);
        let refresh = issuer.issue_pair(&serde_json::json!({"sub": "alice"})).unwrap().refresh_token;
        let kind = |token: &str| config.verify(token).map(|_| ()).map_err(|error| error.kind());

        // Nothing unverified is remembered: a forged signature, a refresh token.
        assert_eq!(kind(&forged), Err(ErrorKind::InvalidSignature));
        assert_eq!(kind(&refresh), Err(ErrorKind::InvalidType));
        assert_eq!(config.settings().rules.header_memo.len(), 0);
        // The first verification remembers the header; later ones use it, with the same result.
        for round in 0..2 {
            let claims = config.verify(&token).unwrap();
            assert_eq!(claims.header().kid(), Some("k1"), "round {round}");
            assert_eq!(claims.header().algorithm(), Algorithm::HS256);
            assert_eq!(claims.header().typ(), Some("JWT"));
            assert_eq!(config.settings().rules.header_memo.len(), 1);
            assert_eq!(kind(&forged), Err(ErrorKind::InvalidSignature), "round {round}");
            assert_eq!(kind(&spliced), Err(ErrorKind::InvalidSignature), "round {round}");
            assert_eq!(kind(&refresh), Err(ErrorKind::InvalidType), "round {round}");
        }
        assert_eq!(config.settings().rules.header_memo.len(), 1);
    }
}

//! The precheck and the signature: the size cap and the three segments, the header (parsed
//! and checked, or remembered from a token that verified before), then the signature with
//! the key chosen for the token. The charset is checked by each segment's decoding, and over
//! the whole token when the token is refused, so that the answer is the one a check of the
//! whole token first would give (see [`Prechecked::malformed`]).

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

/// The three segments at the first and the last dot, their bytes unchecked: each is checked
/// by its decoding (a header found in the memo was decoded before, byte for byte), and the
/// strict split over the whole token runs only where its answer can matter: when
/// verification fails (see [`Prechecked::malformed`]), and before a remote key set is asked
/// for a key. A segment that is not base64url never decodes, so a token that verifies passes
/// the strict split too, and every other token gets the answer the strict split would have
/// given first.
fn split_at_outer_dots(token: &[u8], max_size: usize) -> Result<Segments<'_>, ErrorKind> {
    if token.len() > max_size {
        return Err(ErrorKind::TokenTooLarge);
    }
    match (memchr::memchr(b'.', token), memchr::memrchr(b'.', token)) {
        (Some(first), Some(last)) if first != 0 && first != last => {
            Ok((&token[..first], &token[first + 1..last], &token[last + 1..]))
        }
        _ => split_compact(token, max_size),
    }
}

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

/// Size cap, segments, and the header: everything before the key is chosen. The charset is
/// checked by each segment's decoding, and over the whole token on a rejection: see
/// [`Prechecked::malformed`].
pub(crate) fn precheck<'t>(token: &'t [u8], rules: &'t Rules) -> Result<Prechecked<'t>, ErrorKind> {
    let segments = split_at_outer_dots(token, rules.max_token_size)?;
    let (facts, memo) = match rules.header_memo.get(segments.0) {
        Some(facts) => (facts, None),
        None => {
            let checked = with_decoded(segments.0, |header_bytes| rules.check_header(header_bytes));
            let facts = checked.map_err(|kind| strict_error(token).unwrap_or(kind))?;
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
        let payload = decode_segment(self.payload_segment)?;
        // Remembered once the whole token proved well-formed (the payload's charset is
        // checked by its decoding).
        if let Some(memo) = self.memo {
            let facts =
                HeaderFacts { algorithm: self.algorithm, kid: self.kid.clone(), typ: self.typ.clone() };
            memo.remember(self.header_segment, facts);
        }
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

    /// The strict split's answer, when the token fails it (a byte outside base64url, a dot
    /// inside a segment: a token of five segments is an encrypted one): the answer every
    /// rejection of this token gives instead of its own, as if the whole token had been
    /// checked first. The header passed already (it was decoded, now or for the memo).
    pub(crate) fn malformed(&self) -> Option<ErrorKind> {
        strict_error(self.token)
    }
}

/// The strict split's error for `token`, if any; for a token within the size cap already.
fn strict_error(token: &[u8]) -> Option<ErrorKind> {
    split_compact(token, usize::MAX).err()
}

/// Precheck, header checks, key selection and signature: everything below the claims.
pub(crate) fn verify_signature(token: &[u8], keys: &KeySet, rules: &Rules) -> Result<VerifiedJws, ErrorKind> {
    let prechecked = precheck(token, rules)?;
    keys.select(prechecked.kid.as_deref(), prechecked.algorithm)
        .and_then(|key| prechecked.verify_with(key))
        .map_err(|kind| prechecked.malformed().unwrap_or(kind))
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
    fn a_segment_is_checked_whatever_its_length() {
        for length in [0, 1, 31, 32, 33, 63, 64, 65, 100] {
            let segment = "A".repeat(length);
            for at in 0..3 {
                let token = |segment: &str| {
                    let mut parts = ["h", "p", "s"];
                    parts[at] = segment;
                    parts.join(".")
                };
                // An empty header is malformed; an empty payload or signature passes the split.
                let whole = strict_error(token(&segment).as_bytes());
                assert_eq!(whole, (at == 0 && length == 0).then_some(ErrorKind::Malformed), "{length} {at}");
                for i in 0..length {
                    for bad in [".", "+", "=", "\u{80}"] {
                        let mut bad_segment = segment.clone();
                        bad_segment.replace_range(i..i + 1, bad);
                        let kind = strict_error(token(&bad_segment).as_bytes());
                        assert_eq!(kind, Some(ErrorKind::Malformed), "{length} {at} {i} {bad}");
                    }
                }
            }
        }
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

    /// The payload segment's charset is checked only on a rejection: every token still gets
    /// the answer of the strict split over the whole token, whatever else is wrong with it.
    #[test]
    fn a_token_the_strict_split_refuses_gets_its_answer_whatever_else_fails() {
        use crate::{JwtAuthConfig, TokenIssuer};
        let secret = b"a precheck test secret of at least 32 bytes".to_vec();
        let issuer = TokenIssuer::builder().hmac_secret(secret.clone()).kid("k1").build().unwrap();
        let config = JwtAuthConfig::builder()
            .key(issuer.verifying_key())
            .issuer("https://issuer.test")
            .build()
            .unwrap();
        let good = issuer.issue(&serde_json::json!({"sub": "alice", "iss": "https://issuer.test"})).unwrap();
        let other_kid = TokenIssuer::builder().hmac_secret(secret.clone()).kid("k2").build().unwrap();
        let unknown = other_kid.issue(&serde_json::json!({"sub": "alice"})).unwrap();
        let none =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), good.split_once('.').unwrap().1);
        let wrong_iss =
            issuer.issue(&serde_json::json!({"sub": "alice", "iss": "https://other.test"})).unwrap();
        let mut checked = 0;
        for base in [&good, &unknown, &none, &wrong_iss] {
            let (header, rest) = base.split_once('.').unwrap();
            let (payload, signature) = rest.rsplit_once('.').unwrap();
            let mut tokens = vec![base.to_string()];
            for bad in ["+", "/", "=", " ", ".", "..", "%", "\u{e9}"] {
                for at in [0, payload.len() / 2, payload.len()] {
                    let payload = format!("{}{bad}{}", &payload[..at], &payload[at..]);
                    tokens.push(format!("{header}.{payload}.{signature}"));
                }
                tokens.push(format!("{header}{bad}.{payload}.{signature}"));
                tokens.push(format!("{header}.{payload}.{signature}{bad}"));
            }
            tokens.push(format!("{header}.{payload}.x.y.{signature}"));
            tokens.push(format!("{header}.{payload}.{signature}.x.y"));
            // Every byte of the token replaced in turn.
            for at in 0..base.len() {
                for bad in ["+", ".", "="] {
                    tokens.push(format!("{}{bad}{}", &base[..at], &base[at + 1..]));
                }
            }
            for token in tokens {
                let kind = config.verify(&token).map(|_| ()).map_err(|error| error.kind());
                match split_compact(token.as_bytes(), 8192) {
                    Err(expected) => {
                        assert_eq!(kind, Err(expected), "{token}");
                        checked += 1;
                    }
                    Ok(_) => assert_ne!(kind, Err(ErrorKind::Malformed), "{token}"),
                }
            }
        }
        assert!(checked >= 4 * (8 * 5 + 2 * 100), "{checked}");
    }

    /// Before a remote key set is asked for a key (which may start a fetch), the token's
    /// charset is checked: a malformed token never reaches the set.
    #[cfg(feature = "jwks")]
    #[tokio::test]
    async fn a_malformed_token_never_reaches_a_remote_key_set() {
        use crate::JwtAuthConfig;
        use crate::jwks::RemoteJwks;
        // A listener that never answers: any fetch would connect to it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let remote = RemoteJwks::from_url(&url).allow_http(true).build().unwrap();
        let config = JwtAuthConfig::builder().remote_jwks(remote).build().unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","exp":99999999999}"#);
        let signature = URL_SAFE_NO_PAD.encode([7u8; 64]);
        let kind = |token: &str| config.verify(token).map(|_| ()).map_err(|error| error.kind());
        // Not fetched yet, and never waited for here: a well-formed token finds no keys.
        assert_eq!(kind(&format!("{header}.{payload}.{signature}")), Err(ErrorKind::KeysUnavailable));
        assert_eq!(kind(&format!("{header}.{payload}+.{signature}")), Err(ErrorKind::Malformed));
        assert_eq!(kind(&format!("{header}.{payload}.{signature}=")), Err(ErrorKind::Malformed));
        assert_eq!(kind(&format!("{header}%.{payload}.{signature}")), Err(ErrorKind::Malformed));
        assert_eq!(kind(&format!("{header}.{payload}.x.y.{signature}")), Err(ErrorKind::EncryptedToken));
        // Where a well-formed token would wait for a fetch, a malformed one is refused at once.
        let malformed = format!("{header}.{payload}.{signature}%");
        let verified = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            config.verify_async::<serde_json::Value>(&malformed),
        );
        let kind = verified.await.expect("no wait").map(|_| ()).map_err(|error| error.kind());
        assert_eq!(kind, Err(ErrorKind::Malformed));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(listener.accept().is_err(), "no fetch was started");
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

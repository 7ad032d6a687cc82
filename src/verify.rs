//! Precheck, signature and claims: one token in, typed claims or an error kind out. No I/O.
//!
//! The order is fixed: size cap, charset and segment count, the header (borrowed parse, or
//! the checked result remembered for the same header segment of a token that verified
//! before), key selection by `kid` with the key's own algorithm, the signature, and only
//! then the payload: read once, into the caller's type and the registered claims the checks
//! need together.
//!
//! ```
//! use tower_jwt_auth::{ErrorKind, JwtAuthConfig};
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .build()
//!     .unwrap();
//! // `{"alg":"none"}` is refused whatever its spelling.
//! let error = config.verify("eyJhbGciOiJub25lIn0.e30.").unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::UnsupportedAlgorithm);
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::claims::VerifiedHeader;
use crate::error::ErrorKind;
use crate::grants::{PathTree, PayloadScan};
use crate::keys::{KeySet, PreparedKey, algorithm_from_name};
use jsonwebtoken::Algorithm;

/// The JOSE header members we read. Unknown members are ignored; `jku`, `x5u`, `jwk` and
/// `x5c` are never read at all. A member named twice is refused. `crit`, `b64`, `enc` and
/// `zip` are only noted as present, whatever their value (`null` included).
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    typ: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
    #[serde(default, deserialize_with = "present")]
    enc: bool,
    #[serde(default, deserialize_with = "present")]
    zip: bool,
}

/// True for a member that is there, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The claim checks, built once from the configuration.
pub(crate) struct ClaimRules {
    pub(crate) leeway: i64,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) max_lifetime: Option<i64>,
    pub(crate) required_type: Option<String>,
    pub(crate) max_token_size: usize,
    /// Where roles and scopes are read from.
    pub(crate) grant_paths: PathTree,
    /// The headers of tokens that verified, already checked.
    pub(crate) header_memo: HeaderMemo,
}

/// What a header that passed the header rules says.
#[derive(Clone)]
pub(crate) struct HeaderFacts {
    algorithm: Algorithm,
    kid: Option<Arc<str>>,
    typ: Option<Cow<'static, str>>,
}

/// The most headers remembered, and the longest one (encoded): at most 64 × 512 bytes plus
/// their `kid`s.
const MEMO_HEADERS: usize = 64;
const MEMO_HEADER_LENGTH: usize = 512;

/// The checked headers of tokens whose signature verified, by their encoded segment: a
/// token whose header segment is byte for byte one of these skips the header's decode and
/// parse. A pure function of the segment and the configuration (no key is involved), so
/// an entry never goes stale; only verified tokens add one, so unsigned junk cannot crowd
/// out the real headers. Bounded, and evicts like the token cache.
pub(crate) struct HeaderMemo(quick_cache::sync::Cache<Box<str>, HeaderFacts>);

impl HeaderMemo {
    pub(crate) fn new() -> Self {
        Self(quick_cache::sync::Cache::new(MEMO_HEADERS))
    }

    fn get(&self, segment: &str) -> Option<HeaderFacts> {
        self.0.get(segment)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Remembers the header of a token whose signature just verified.
    fn remember(&self, segment: &str, facts: HeaderFacts) {
        if segment.len() <= MEMO_HEADER_LENGTH {
            self.0.insert(segment.into(), facts);
        }
    }
}

/// A token that passed the precheck and the signature check.
pub(crate) struct VerifiedJws {
    pub(crate) header: VerifiedHeader,
    pub(crate) payload: Vec<u8>,
    /// The fingerprint of the key that verified the signature.
    pub(crate) key: u64,
}

fn decode_segment(segment: &str) -> Result<Vec<u8>, ErrorKind> {
    // The engine refuses padding and non-zero trailing bits: only canonical base64url.
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| ErrorKind::Malformed)
}

/// The largest segment decoded on the stack: an RSA-4096 signature is 512 bytes, and
/// headers are far smaller. Larger segments go to the heap.
const STACK_SEGMENT: usize = 512;

/// Decodes a segment into `buffer` when it fits, else onto the heap; `f` reads the bytes.
fn with_decoded<T>(segment: &str, f: impl FnOnce(&[u8]) -> Result<T, ErrorKind>) -> Result<T, ErrorKind> {
    if segment.len() / 4 * 3 + 3 <= STACK_SEGMENT {
        let mut buffer = [0u8; STACK_SEGMENT];
        let length = URL_SAFE_NO_PAD.decode_slice(segment, &mut buffer).map_err(|_| ErrorKind::Malformed)?;
        f(&buffer[..length])
    } else {
        f(&decode_segment(segment)?)
    }
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

/// Splits a compact JWS into its three segments after the size and charset checks.
fn split_compact(token: &str, max_size: usize) -> Result<(&str, &str, &str), ErrorKind> {
    if token.len() > max_size {
        return Err(ErrorKind::TokenTooLarge);
    }
    // Branch-free over blocks of 32 bytes with byte-wide accumulators (32 dots fit a u8).
    let mut dots = 0usize;
    let mut invalid = 0u8;
    let mut blocks = token.as_bytes().chunks_exact(32);
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
    let mut parts = token.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature)) if !header.is_empty() => {
            Ok((header, payload, signature))
        }
        _ => Err(ErrorKind::Malformed),
    }
}

/// The `typ` of the refresh tokens [`TokenIssuer`](crate::TokenIssuer) makes.
pub(crate) const REFRESH_TOKEN_TYPE: &str = "refresh+jwt";

/// `typ` comparison per RFC 7515 section 4.1.9: case-insensitive, `application/` optional.
fn type_matches(actual: &str, required: &str) -> bool {
    fn strip(value: &str) -> &str {
        const PREFIX: &str = "application/";
        match value.get(..PREFIX.len()) {
            Some(head) if head.eq_ignore_ascii_case(PREFIX) => &value[PREFIX.len()..],
            _ => value,
        }
    }
    strip(actual).eq_ignore_ascii_case(strip(required))
}

/// A token that passed the precheck and the header rules, waiting for its key.
pub(crate) struct Prechecked<'t> {
    token: &'t str,
    signed_len: usize,
    header_segment: &'t str,
    payload_segment: &'t str,
    signature_segment: &'t str,
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<Arc<str>>,
    typ: Option<Cow<'static, str>>,
    /// Where to remember the header once the signature verifies; `None` when it came from
    /// there.
    memo: Option<&'t HeaderMemo>,
}

/// Size cap, charset, segments, and the header: everything before the key is chosen.
pub(crate) fn precheck<'t>(token: &'t str, rules: &'t ClaimRules) -> Result<Prechecked<'t>, ErrorKind> {
    let segments = split_compact(token, rules.max_token_size)?;
    let (facts, memo) = match rules.header_memo.get(segments.0) {
        Some(facts) => (facts, None),
        None => {
            let facts = with_decoded(segments.0, |header_bytes| precheck_header(header_bytes, rules))?;
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

/// The header rules, on the decoded header.
fn precheck_header(header_bytes: &[u8], rules: &ClaimRules) -> Result<HeaderFacts, ErrorKind> {
    // An object (RFC 7515 section 4): a derived `Deserialize` would also read an array by
    // position.
    if header_bytes.iter().find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) != Some(&b'{') {
        return Err(ErrorKind::Malformed);
    }
    let header: RawHeader<'_> = from_json(header_bytes).map_err(|_| ErrorKind::Malformed)?;
    if header.crit || header.b64 || header.enc || header.zip {
        // We implement no JWS extension (RFC 7515 section 4.1.11), and `b64` only makes sense
        // with `crit`; `enc` and `zip` belong to JWE.
        return Err(ErrorKind::UnsupportedHeader);
    }
    let algorithm = algorithm_from_name(&header.alg).ok_or(ErrorKind::UnsupportedAlgorithm)?;
    match (&rules.required_type, header.typ.as_deref()) {
        (Some(required), typ) if !typ.is_some_and(|typ| type_matches(typ, required)) => {
            return Err(ErrorKind::InvalidType);
        }
        // A refresh token is never an access token, even when signed by the same key for
        // the same audience: only a configuration that asks for that type accepts one.
        (None, Some(typ)) if type_matches(typ, REFRESH_TOKEN_TYPE) => return Err(ErrorKind::InvalidType),
        _ => {}
    }
    Ok(HeaderFacts {
        algorithm,
        kid: header.kid.map(|kid| Arc::from(kid.as_ref())),
        typ: header
            .typ
            .map(|typ| if typ == "JWT" { Cow::Borrowed("JWT") } else { Cow::Owned(typ.into_owned()) }),
    })
}

impl<'t> Prechecked<'t> {
    /// Checks the signature with `key` (chosen for this token's kid and algorithm) and
    /// decodes the payload.
    pub(crate) fn verify_with(self, key: &PreparedKey) -> Result<VerifiedJws, ErrorKind> {
        let message = &self.token.as_bytes()[..self.signed_len];
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
            header: VerifiedHeader { algorithm: key.algorithm(), kid: self.kid, typ: self.typ },
            payload,
            key: key.fingerprint(),
        })
    }

    /// The payload segment, still encoded.
    pub(crate) fn payload_segment(&self) -> &'t str {
        self.payload_segment
    }
}

/// The `iss` of an encoded payload, read before the signature is checked: only to pick an
/// issuer's keys or to refuse a foreign token before any network access, never to trust it.
pub(crate) fn unverified_issuer(payload_segment: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    let payload = decode_segment(payload_segment).ok()?;
    from_json::<Issuer>(&payload).ok()?.iss
}

/// Precheck, header checks, key selection and signature: everything below the claims.
pub(crate) fn verify_signature(
    token: &str,
    keys: &KeySet,
    rules: &ClaimRules,
) -> Result<VerifiedJws, ErrorKind> {
    let prechecked = precheck(token, rules)?;
    let key = keys.select(prechecked.kid.as_deref(), prechecked.algorithm)?;
    prechecked.verify_with(key)
}

impl ClaimRules {
    /// Checks the registered claims against `now` (seconds since the epoch).
    #[cfg(test)]
    pub(crate) fn check(&self, claims: &PayloadScan<'_>, now: i64) -> Result<(), ErrorKind> {
        self.check_with(claims, now, &self.issuers, &self.audiences)
    }

    /// The time to check `claims` at: the coarse clock when no point where a check's verdict
    /// changes (`exp` plus the leeway, `nbf` and `iat` less it, `exp` less the maximum
    /// lifetime when there is no `iat`) is within a second of it, for then the precise clock,
    /// never behind it by more than a second, gives the same verdicts; else the precise clock.
    pub(crate) fn check_time(&self, claims: &PayloadScan<'_>) -> i64 {
        self.check_time_from(claims, coarse_now(), now)
    }

    /// `check_time` with the two clocks given.
    fn check_time_from(&self, claims: &PayloadScan<'_>, coarse: i64, precise: impl FnOnce() -> i64) -> i64 {
        let exp = claims.exp.as_ref().map(|exp| exp.0);
        let lifetime_start = match (&claims.iat, self.max_lifetime) {
            (None, Some(max)) => exp.map(|exp| exp.saturating_sub(max)),
            _ => None,
        };
        let bounds = [
            exp.map(|exp| exp.saturating_add(self.leeway)),
            claims.nbf.as_ref().map(|nbf| nbf.0.saturating_sub(self.leeway)),
            claims.iat.as_ref().map(|iat| iat.0.saturating_sub(self.leeway)),
            lifetime_start,
        ];
        if bounds.iter().flatten().any(|bound| bound.abs_diff(coarse) <= 1) { precise() } else { coarse }
    }

    /// Checks the registered claims against `now`, with these issuers and audiences (a
    /// trusted issuer's own, or the configuration's).
    pub(crate) fn check_with(
        &self,
        claims: &PayloadScan<'_>,
        now: i64,
        issuers: &[String],
        audiences: &[String],
    ) -> Result<(), ErrorKind> {
        let exp = claims.exp.as_ref().ok_or(ErrorKind::MissingClaim)?.0;
        if now >= exp.saturating_add(self.leeway) {
            return Err(ErrorKind::Expired);
        }
        if let Some(nbf) = &claims.nbf
            && now.saturating_add(self.leeway) < nbf.0
        {
            return Err(ErrorKind::NotYetValid);
        }
        if let Some(iat) = &claims.iat
            && iat.0 > now.saturating_add(self.leeway)
        {
            return Err(ErrorKind::IssuedInFuture);
        }
        if let Some(max) = self.max_lifetime {
            let start = claims.iat.as_ref().map_or(now, |iat| iat.0);
            if exp.saturating_sub(start) > max {
                return Err(ErrorKind::LifetimeTooLong);
            }
        }
        if !issuers.is_empty() {
            let iss = claims.iss.as_deref().ok_or(ErrorKind::MissingClaim)?;
            if !issuers.iter().any(|allowed| allowed == iss) {
                return Err(ErrorKind::InvalidIssuer);
            }
        }
        if !audiences.is_empty() {
            let aud = claims.aud.as_ref().ok_or(ErrorKind::MissingClaim)?;
            if !aud.iter().any(|aud| audiences.iter().any(|allowed| allowed == aud)) {
                return Err(ErrorKind::InvalidAudience);
            }
        }
        Ok(())
    }
}

/// Parses JSON bytes after checking once that they are UTF-8: serde_json then skips checking
/// each string on its own, which `from_slice` does. The same texts are accepted.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| <serde_json::Error as serde::de::Error>::custom("the JSON text is not UTF-8"))?;
    serde_json::from_str(text)
}

/// Seconds since the epoch, now.
pub(crate) fn now() -> i64 {
    epoch_seconds(std::time::SystemTime::now())
}

/// Seconds since the epoch of `time`, saturating (0 before the epoch).
pub(crate) fn epoch_seconds(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
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
    fn segment_count_and_charset_are_checked_before_decoding() {
        assert_eq!(split_compact("a.b.c", 100).unwrap(), ("a", "b", "c"));
        assert_eq!(split_compact("a.b.c.d.e", 100).err(), Some(ErrorKind::EncryptedToken));
        assert_eq!(split_compact("a.b", 100).err(), Some(ErrorKind::Malformed));
        assert_eq!(split_compact("a.b.c=", 100).err(), Some(ErrorKind::Malformed));
        assert_eq!(split_compact("a+.b.c", 100).err(), Some(ErrorKind::Malformed));
        assert_eq!(split_compact("a.b.c", 4).err(), Some(ErrorKind::TokenTooLarge));
        assert_eq!(split_compact(".b.c", 100).err(), Some(ErrorKind::Malformed));
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
            assert!(split_compact(std::str::from_utf8(&token).unwrap(), 8192).is_ok());
            token[at] = b'+';
            assert_eq!(split_compact(std::str::from_utf8(&token).unwrap(), 8192), Err(ErrorKind::Malformed));
        }
        let five = [segment.as_str(); 5].join(".");
        assert_eq!(split_compact(&five, 8192), Err(ErrorKind::EncryptedToken));
    }

    #[test]
    fn non_canonical_base64url_is_refused() {
        // "eQ" decodes to 'y'; "eR" has non-zero trailing bits.
        assert!(decode_segment("eQ").is_ok());
        assert_eq!(decode_segment("eR").err(), Some(ErrorKind::Malformed));
        assert_eq!(decode_segment("eQ==").err(), Some(ErrorKind::Malformed));
    }

    /// Only headers of tokens whose signature verified are remembered, and a remembered
    /// header gives what a parsed one gives: the same verdicts, the same verified header.
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
        assert_eq!(config.memoized_headers(), 0);
        // The first verification remembers the header; later ones use it, with the same result.
        for round in 0..2 {
            let claims = config.verify(&token).unwrap();
            assert_eq!(claims.header().kid(), Some("k1"), "round {round}");
            assert_eq!(claims.header().algorithm(), Algorithm::HS256);
            assert_eq!(claims.header().typ(), Some("JWT"));
            assert_eq!(config.memoized_headers(), 1);
            assert_eq!(kind(&forged), Err(ErrorKind::InvalidSignature), "round {round}");
            assert_eq!(kind(&spliced), Err(ErrorKind::InvalidSignature), "round {round}");
            assert_eq!(kind(&refresh), Err(ErrorKind::InvalidType), "round {round}");
        }
        assert_eq!(config.memoized_headers(), 1);
    }

    #[test]
    fn typ_compares_without_case_or_application_prefix() {
        assert!(type_matches("at+jwt", "at+jwt"));
        assert!(type_matches("application/AT+JWT", "at+jwt"));
        assert!(!type_matches("JWT", "at+jwt"));
    }

    fn rules() -> ClaimRules {
        ClaimRules {
            leeway: 0,
            issuers: vec!["https://issuer".into()],
            audiences: vec!["api".into()],
            max_lifetime: Some(3600),
            required_type: None,
            max_token_size: 8192,
            grant_paths: PathTree::default(),
            header_memo: HeaderMemo::new(),
        }
    }

    fn check(json: &str, now: i64) -> Result<(), ErrorKind> {
        let rules = rules();
        let claims = PayloadScan::read(json.as_bytes(), &rules.grant_paths).unwrap();
        rules.check(&claims, now)
    }

    /// The checks give the same verdicts at `check_time` as at the precise time, with every
    /// bound around the current second, whether the coarse clock is on the same second as the
    /// precise one or a second behind.
    #[test]
    fn checks_at_the_check_time_match_checks_at_the_precise_time() {
        let mut rules = rules();
        rules.leeway = 1;
        let precise = 1_800_000_000;
        for offset in -4..=4 {
            let at = precise + offset;
            let later = precise + 60;
            for json in [
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{at}}}"#),
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{later},"nbf":{at}}}"#),
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{later},"iat":{at}}}"#),
                format!(r#"{{"iss":"https://issuer","aud":"api","exp":{}}}"#, at + 3600),
            ] {
                let claims = PayloadScan::read(json.as_bytes(), &rules.grant_paths).unwrap();
                for coarse in [precise, precise - 1] {
                    let time = rules.check_time_from(&claims, coarse, || precise);
                    assert_eq!(
                        rules.check(&claims, time),
                        rules.check(&claims, precise),
                        "{json}, coarse {coarse}"
                    );
                }
            }
        }
        // Far from every bound, the coarse clock is used as it is.
        let json = format!(r#"{{"exp":{}}}"#, precise + 7200);
        let claims = PayloadScan::read(json.as_bytes(), &rules.grant_paths).unwrap();
        assert_eq!(rules.check_time_from(&claims, precise - 1, || unreachable!()), precise - 1);
    }

    #[test]
    fn exp_equal_to_now_is_expired() {
        let base = r#""iss":"https://issuer","aud":"api""#;
        assert_eq!(check(&format!(r#"{{"exp":100,{base}}}"#), 100), Err(ErrorKind::Expired));
        assert_eq!(check(&format!(r#"{{"exp":101,{base}}}"#), 100), Ok(()));
        assert_eq!(check(&format!(r#"{{{base}}}"#), 100), Err(ErrorKind::MissingClaim));
    }

    #[test]
    fn nbf_iat_lifetime_iss_and_aud_are_enforced() {
        assert_eq!(
            check(r#"{"exp":200,"nbf":101,"iss":"https://issuer","aud":"api"}"#, 100),
            Err(ErrorKind::NotYetValid)
        );
        assert_eq!(
            check(r#"{"exp":200,"iat":101,"iss":"https://issuer","aud":"api"}"#, 100),
            Err(ErrorKind::IssuedInFuture)
        );
        assert_eq!(
            check(r#"{"exp":5000,"iat":100,"iss":"https://issuer","aud":"api"}"#, 100),
            Err(ErrorKind::LifetimeTooLong)
        );
        assert_eq!(
            check(r#"{"exp":200,"iss":"https://other","aud":"api"}"#, 100),
            Err(ErrorKind::InvalidIssuer)
        );
        assert_eq!(check(r#"{"exp":200,"aud":"api"}"#, 100), Err(ErrorKind::MissingClaim));
        assert_eq!(
            check(r#"{"exp":200,"iss":"https://issuer","aud":["x","y"]}"#, 100),
            Err(ErrorKind::InvalidAudience)
        );
        assert_eq!(check(r#"{"exp":200,"iss":"https://issuer","aud":["x","api"]}"#, 100), Ok(()));
        assert_eq!(check(r#"{"exp":200,"iss":"https://issuer"}"#, 100), Err(ErrorKind::MissingClaim));
    }
}

//! The header rules: what a JOSE header may say, and the memo of headers that passed.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use crate::keys::Algorithm;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Rules;
use crate::codec::from_json;
use crate::error::ErrorKind;

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

/// What a header that passed the header rules says.
#[derive(Clone)]
pub(crate) struct HeaderFacts {
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<Arc<str>>,
    /// `JWT`, the usual value, is kept without an allocation.
    pub(crate) typ: Option<Cow<'static, str>>,
}

/// The most headers remembered, and the longest one (encoded): at most (4 + 64) × 512 bytes
/// plus their `kid`s.
const MEMO_SLOTS: usize = 4;
const MEMO_HEADERS: usize = 64;
const MEMO_HEADER_LENGTH: usize = 512;

/// The checked headers of tokens whose signature verified, by their encoded segment: a
/// token whose header segment is byte for byte one of these skips the header's decode and
/// parse. A pure function of the segment and the configuration (no key is involved), so
/// an entry never goes stale; only verified tokens add one, so unsigned junk cannot crowd
/// out the real headers.
///
/// An issuer signs with one header per key, so a few headers are nearly all a server sees:
/// the first [`MEMO_SLOTS`] are kept for good in slots read without a lock or a hash, the
/// others in a bounded cache that evicts like the token cache.
pub(crate) struct HeaderMemo {
    slots: [OnceLock<(Box<[u8]>, HeaderFacts)>; MEMO_SLOTS],
    more: quick_cache::sync::Cache<Box<[u8]>, HeaderFacts>,
}

impl HeaderMemo {
    pub(crate) fn new() -> Self {
        Self { slots: Default::default(), more: quick_cache::sync::Cache::new(MEMO_HEADERS) }
    }

    /// The checked header of a token that verified before, if this segment is remembered.
    pub(crate) fn get(&self, segment: &[u8]) -> Option<HeaderFacts> {
        // Slots fill in order, so the first empty one ends the search.
        for slot in &self.slots {
            match slot.get() {
                Some((kept, facts)) if **kept == *segment => return Some(facts.clone()),
                Some(_) => {}
                None => return None,
            }
        }
        self.more.get(segment)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|slot| slot.get().is_some()).count() + self.more.len()
    }

    /// Remembers the header of a token whose signature just verified.
    pub(crate) fn remember(&self, segment: &[u8], facts: HeaderFacts) {
        if segment.len() > MEMO_HEADER_LENGTH {
            return;
        }
        // The first empty slot takes it; a slot another request filled meanwhile is read as
        // it was filled, so one header never takes two slots.
        for slot in &self.slots {
            let (kept, _) = slot.get_or_init(|| (segment.into(), facts.clone()));
            if **kept == *segment {
                return;
            }
        }
        self.more.insert(segment.into(), facts);
    }
}

/// The `typ` of the refresh tokens the issuer makes.
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

impl Rules {
    /// The header rules, on the decoded header.
    pub(crate) fn check_header(&self, header_bytes: &[u8]) -> Result<HeaderFacts, ErrorKind> {
        check_header(header_bytes, self.required_type.as_deref())
    }
}

/// The header rules, with the `typ` required if any.
fn check_header(header_bytes: &[u8], required_type: Option<&str>) -> Result<HeaderFacts, ErrorKind> {
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
    let algorithm = Algorithm::from_name(&header.alg).ok_or(ErrorKind::UnsupportedAlgorithm)?;
    match (required_type, header.typ.as_deref()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memo_keeps_the_first_headers_in_slots_and_the_others_in_its_cache() {
        let memo = HeaderMemo::new();
        let facts = |kid: &str| HeaderFacts { algorithm: Algorithm::HS256, kid: Some(kid.into()), typ: None };
        let segment = |n: usize| format!("header-{n}").into_bytes();
        assert!(memo.get(&segment(0)).is_none());
        for n in 0..MEMO_SLOTS + 10 {
            memo.remember(&segment(n), facts(&n.to_string()));
            // Remembering a segment again takes no second place.
            memo.remember(&segment(n), facts(&n.to_string()));
            assert_eq!(memo.len(), n + 1);
        }
        for n in 0..MEMO_SLOTS + 10 {
            let found = memo.get(&segment(n)).expect("remembered");
            assert_eq!(found.kid.as_deref(), Some(n.to_string().as_str()), "{n}");
        }
        assert!(memo.get(b"header-99").is_none());
        assert!(memo.get(b"").is_none());
        // Requests remembering one header at once keep it once.
        let memo = HeaderMemo::new();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| memo.remember(b"one", facts("one")));
            }
        });
        assert_eq!(memo.len(), 1);
        let memo = HeaderMemo::new();
        for n in 0..MEMO_SLOTS + 10 {
            memo.remember(&segment(n), facts(&n.to_string()));
        }
        // Too long a segment is not remembered.
        memo.remember(&[b'a'; MEMO_HEADER_LENGTH + 1], facts("long"));
        assert_eq!(memo.len(), MEMO_SLOTS + 10);
    }

    #[test]
    fn typ_compares_without_case_or_application_prefix() {
        assert!(type_matches("at+jwt", "at+jwt"));
        assert!(type_matches("application/AT+JWT", "at+jwt"));
        assert!(!type_matches("JWT", "at+jwt"));
    }

    #[test]
    fn headers_are_objects_without_extensions_naming_a_known_algorithm() {
        let check =
            |json: &str, typ: Option<&str>| check_header(json.as_bytes(), typ).map(|facts| facts.algorithm);
        assert_eq!(check(r#"{"alg":"HS256"}"#, None), Ok(Algorithm::HS256));
        assert_eq!(check(r#"["HS256"]"#, None), Err(ErrorKind::Malformed));
        assert_eq!(check(r#"{"alg":"HS256","alg":"HS512"}"#, None), Err(ErrorKind::Malformed));
        assert_eq!(check(r#"{"alg":"none"}"#, None), Err(ErrorKind::UnsupportedAlgorithm));
        assert_eq!(check(r#"{"alg":"HS256","crit":null}"#, None), Err(ErrorKind::UnsupportedHeader));
        assert_eq!(check(r#"{"alg":"HS256","typ":"refresh+jwt"}"#, None), Err(ErrorKind::InvalidType));
        assert_eq!(check(r#"{"alg":"HS256","typ":"JWT"}"#, Some("at+jwt")), Err(ErrorKind::InvalidType));
        assert_eq!(check(r#"{"alg":"HS256","typ":"at+JWT"}"#, Some("at+jwt")), Ok(Algorithm::HS256));
    }
}

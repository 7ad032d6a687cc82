//! The ids a revocation list is checked against: `jti`, `sub`, `sid` (and `iat`).

use std::borrow::Cow;

use serde::Deserialize;

use super::members::{Member, MemberIndex};
use crate::codec::from_json;

/// The ids the revocation check reads from a verified token, read once at verification and
/// cached with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TokenIds {
    pub(crate) jti: Option<Box<str>>,
    pub(crate) sub: Option<Box<str>>,
    pub(crate) sid: Option<Box<str>>,
    pub(crate) iat: Option<i64>,
}

impl TokenIds {
    /// Reads `jti`, `sub` and `sid` through the member index (one small parse each), or the
    /// whole payload when the index cannot tell. `None`: one of them is not a string, or a
    /// member repeats.
    pub(crate) fn read(payload: &[u8], members: &MemberIndex, iat: Option<i64>) -> Option<Self> {
        fn member(payload: &[u8], members: &MemberIndex, name: &str) -> Result<Option<Box<str>>, bool> {
            match members.get(payload, name) {
                Member::Absent => Ok(None),
                Member::Value(bytes) => {
                    from_json::<Option<Cow<'_, str>>>(bytes).map(|s| s.map(Into::into)).map_err(|_| false)
                }
                Member::Repeated => Err(false),
                Member::Unknown => Err(true),
            }
        }
        let fields = (
            member(payload, members, "jti"),
            member(payload, members, "sub"),
            member(payload, members, "sid"),
        );
        match fields {
            (Ok(jti), Ok(sub), Ok(sid)) => Some(Self { jti, sub, sid, iat }),
            (Err(false), _, _) | (_, Err(false), _) | (_, _, Err(false)) => None,
            _ => Self::parse(payload),
        }
    }

    /// Reads the ids from the whole payload.
    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Ids<'a> {
            #[serde(borrow, default)]
            jti: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            sub: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            sid: Option<Cow<'a, str>>,
            #[serde(default)]
            iat: Option<f64>,
        }
        let ids: Ids<'_> = from_json(payload).ok()?;
        Some(Self {
            jti: ids.jti.map(Into::into),
            sub: ids.sub.map(Into::into),
            sid: ids.sid.map(Into::into),
            #[allow(clippy::cast_possible_truncation)] // saturating, as the claim checks read it
            iat: ids.iat.map(|iat| iat.floor() as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(jti: Option<&str>, sub: Option<&str>, sid: Option<&str>, iat: Option<i64>) -> TokenIds {
        TokenIds { jti: jti.map(Into::into), sub: sub.map(Into::into), sid: sid.map(Into::into), iat }
    }

    #[test]
    fn ids_are_read_through_the_index_or_the_payload() {
        let payload = br#"{"sub":"alice","jti":"j\u0031","sid":"s","iat":5,"exp":9}"#;
        let parsed = TokenIds::parse(payload).unwrap();
        assert_eq!(parsed, ids(Some("j1"), Some("alice"), Some("s"), Some(5)));
        assert_eq!(TokenIds::read(payload, &MemberIndex::of(payload), Some(5)), Some(parsed));
        assert_eq!(TokenIds::parse(br#"{"jti":7}"#), None);
        // A repeated id, or one that is not a string, cannot be matched: no ids at all.
        let repeated = br#"{"sub":"alice","sub":"bob"}"#;
        assert_eq!(TokenIds::read(repeated, &MemberIndex::of(repeated), None), None);
        let number = br#"{"sid":5}"#;
        assert_eq!(TokenIds::read(number, &MemberIndex::of(number), None), None);
        // An escaped key: the index cannot tell, and the whole payload is parsed.
        let escaped = br#"{"s\u0075b":"alice"}"#;
        assert_eq!(
            TokenIds::read(escaped, &MemberIndex::of(escaped), None),
            Some(ids(None, Some("alice"), None, None))
        );
    }
}

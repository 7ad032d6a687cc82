//! Claim values compared where they stand: `Require::claim_equals` reads one member's
//! value, scalars compared as they are read, without building a `Value`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::members::{Member, MemberIndex};
use super::wire::{CowStr, StrictValue};
use crate::grants::ClaimPath;

/// True when the claim at `path` equals `expected` (JSON equality), read through the
/// payload's member index: only the first segment's value is parsed, not the whole payload.
/// False when it differs, is absent, or when a name along the path (or inside the value)
/// repeats.
pub(crate) fn claim_equals(
    payload: &[u8],
    members: &MemberIndex,
    path: &ClaimPath,
    expected: &Value,
) -> bool {
    claim_matches(payload, members, path, Expected::Equals(expected))
}

/// True when the claim at `path` is an array holding the string `name`, or is that string,
/// read as [`claim_equals`] reads.
pub(crate) fn claim_contains(payload: &[u8], members: &MemberIndex, path: &ClaimPath, name: &str) -> bool {
    claim_matches(payload, members, path, Expected::Contains(name))
}

fn claim_matches(payload: &[u8], members: &MemberIndex, path: &ClaimPath, expected: Expected<'_>) -> bool {
    let Some((first, rest)) = path.segments().split_first() else { return false };
    match members.get(payload, first) {
        Member::Absent | Member::Repeated => false,
        Member::Unknown => seek(payload, path.segments(), expected),
        Member::Value(bytes) => match (rest, plain_string(bytes)) {
            // The usual claim guard: a top-level string, compared without a parse.
            ([], Some(text)) => match expected {
                Expected::Equals(expected) => expected.as_str().map(str::as_bytes) == Some(text),
                Expected::Contains(name) => name.as_bytes() == text,
            },
            _ => seek(bytes, rest, expected),
        },
    }
}

/// The UTF-8 bytes of a JSON string written without an escape (`"acme"`): those between
/// its quotes. `None` for any other value, which is then parsed. Relies on the payload
/// having been parsed whole when verified (a `VerifiedToken` is only made from a payload
/// `PayloadScan` read): such a string then ends at its next quote, is UTF-8 and holds no
/// control character, so its bytes equal a `&str`'s exactly when the two strings are equal.
fn plain_string(value: &[u8]) -> Option<&[u8]> {
    let text = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    // Short, as claim values are: a plain loop, not a vectorised search's set-up.
    (!text.contains(&b'\\')).then_some(text)
}

/// What the value at the end of the path must be.
#[derive(Clone, Copy)]
enum Expected<'v> {
    /// Equal to this value.
    Equals(&'v Value),
    /// This string, or an array holding it.
    Contains(&'v str),
}

/// Follows `path` into the JSON value `json` and compares what is there with `expected`.
fn seek(json: &[u8], path: &[String], expected: Expected<'_>) -> bool {
    // Checked once as a whole: serde_json then skips checking each string on its own.
    let Ok(text) = std::str::from_utf8(json) else { return false };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Seek { path, expected }.deserialize(&mut deserializer).unwrap_or(false)
}

struct Seek<'p> {
    path: &'p [String],
    expected: Expected<'p>,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match (self.path.split_first(), self.expected) {
            (None, Expected::Equals(expected @ (Value::Array(_) | Value::Object(_)))) => {
                Ok(&StrictValue::deserialize_value(deserializer)? == expected)
            }
            (None, Expected::Equals(expected)) => deserializer.deserialize_any(ScalarMatch { expected }),
            (None, Expected::Contains(name)) => deserializer.deserialize_any(Holds { name, in_array: false }),
            (Some(_), _) => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (first, rest) = self.path.split_first().ok_or_else(|| de::Error::custom("empty path"))?;
        let mut found = false;
        let mut seen = false;
        while let Some(CowStr(name)) = map.next_key()? {
            if name == first.as_str() {
                if std::mem::replace(&mut seen, true) {
                    return Err(de::Error::custom("a claim appears twice"));
                }
                found = map.next_value_seed(Seek { path: rest, expected: self.expected })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(false)
    }
}

/// True for the string `name`, or (at the top, `in_array` false) an array with `name` among
/// its elements; anything else is read through, refusing repeated names inside.
#[derive(Clone, Copy)]
struct Holds<'v> {
    name: &'v str,
    in_array: bool,
}

impl<'de> DeserializeSeed<'de> for Holds<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Holds<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array")
    }

    fn visit_str<E>(self, value: &str) -> Result<bool, E> {
        Ok(value == self.name)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        if self.in_array {
            return StrictValue::deserialize_value(de::value::SeqAccessDeserializer::new(seq)).map(|_| false);
        }
        let mut found = false;
        while let Some(matched) = seq.next_element_seed(Holds { in_array: true, ..self })? {
            found |= matched;
        }
        Ok(found)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        StrictValue::deserialize_value(de::value::MapAccessDeserializer::new(map)).map(|_| false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Compares the value being read with a scalar `expected` (string, number, bool, null).
struct ScalarMatch<'v> {
    expected: &'v Value,
}

impl<'de> Visitor<'de> for ScalarMatch<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, value: &str) -> Result<bool, E> {
        Ok(self.expected.as_str() == Some(value))
    }
    fn visit_bool<E>(self, value: bool) -> Result<bool, E> {
        Ok(self.expected.as_bool() == Some(value))
    }
    // Numbers compare as `serde_json::Value` does: integers with integers, floats with floats.
    fn visit_i64<E>(self, value: i64) -> Result<bool, E> {
        Ok(!self.expected.is_f64() && self.expected.as_i64() == Some(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<bool, E> {
        Ok(!self.expected.is_f64() && self.expected.as_u64() == Some(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<bool, E> {
        Ok(self.expected.is_f64() && self.expected.as_f64() == Some(value))
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(self.expected.is_null())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        // Read through (refusing repeated names inside) and answer no: a scalar was expected.
        StrictValue::deserialize_value(de::value::SeqAccessDeserializer::new(seq)).map(|_| false)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        StrictValue::deserialize_value(de::value::MapAccessDeserializer::new(map)).map(|_| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The whole payload parsed, no index.
    fn equals(payload: &str, path: &str, expected: Value) -> bool {
        seek(payload.as_bytes(), ClaimPath::from(path).segments(), Expected::Equals(&expected))
    }

    /// Through the member index.
    fn indexed(payload: &str, path: &ClaimPath, expected: &Value) -> bool {
        claim_equals(payload.as_bytes(), &MemberIndex::of(payload.as_bytes()), path, expected)
    }

    #[test]
    fn claim_equals_compares_scalars_arrays_and_objects_at_any_depth() {
        let payload =
            r#"{"sub":"alice","n":3,"f":1.5,"ok":true,"none":null,"org":{"tenant":"acme","ids":[1,2]}}"#;
        assert!(equals(payload, "sub", json!("alice")));
        assert!(!equals(payload, "sub", json!("bob")));
        assert!(equals(payload, "n", json!(3)));
        assert!(!equals(payload, "n", json!("3")));
        assert!(equals(payload, "f", json!(1.5)));
        assert!(!equals(payload, "n", json!(3.0)), "an integer is not a float, as in serde_json");
        assert!(equals(payload, "ok", json!(true)));
        assert!(equals(payload, "none", Value::Null));
        assert!(equals(payload, "org.tenant", json!("acme")));
        assert!(equals(payload, "org.ids", json!([1, 2])));
        assert!(equals(payload, "org", json!({"tenant": "acme", "ids": [1, 2]})));
        assert!(!equals(payload, "org", json!("acme")), "an object is not a scalar");
        assert!(!equals(payload, "missing", Value::Null), "absent is not null");
        assert!(!equals(payload, "sub.deeper", json!("alice")));
    }

    #[test]
    fn the_member_index_answers_like_a_full_parse() {
        let payloads = [
            r#"{"sub":"alice","exp":5,"org":{"tenant":"acme","ids":[1,2]},"n":3,"ok":true}"#,
            r#"{"tenant":"acme","tenant":"evil"}"#,
            r#"{"t\u0065nant":"acme","tenant":"evil"}"#,
            r#"{"tenant":"acme","x":{"a":1,"a":2}}"#,
            r#"{"iss":"https://issuer","aud":["a","b"],"tenant":null}"#,
        ];
        let checks = [
            ("sub", json!("alice")),
            ("exp", json!(5)),
            ("org.tenant", json!("acme")),
            ("org.ids", json!([1, 2])),
            ("org.missing", Value::Null),
            ("n", json!(3)),
            ("ok", json!(true)),
            ("tenant", json!("acme")),
            ("tenant", json!("evil")),
            ("tenant", Value::Null),
            ("iss", json!("https://issuer")),
            ("aud", json!(["a", "b"])),
            ("x.a", json!(1)),
            ("absent", Value::Null),
        ];
        for payload in payloads {
            for (path, expected) in &checks {
                let path = ClaimPath::from(*path);
                assert_eq!(
                    indexed(payload, &path, expected),
                    seek(payload.as_bytes(), path.segments(), Expected::Equals(expected)),
                    "{payload} {path:?} {expected}"
                );
            }
        }
        assert!(indexed(payloads[0], &ClaimPath::from("org.tenant"), &json!("acme")));
        assert!(!indexed(payloads[1], &ClaimPath::from("tenant"), &json!("acme")));
        assert!(!indexed(payloads[2], &ClaimPath::from("tenant"), &json!("evil")));
    }

    #[test]
    fn a_top_level_string_compared_without_a_parse_answers_as_the_parse() {
        // Plain strings take the fast path; escaped ones, and every other value, are parsed.
        let values = [
            r#""acme""#,
            r#""""#,
            r#""a c""#,
            r#""acm\u0065""#,
            r#""\u0061cme""#,
            r#""ac\"me""#,
            r#""ac\\me""#,
            r#""ac/me""#,
            r#""ac\/me""#,
            r#""é☃""#,
            r#""\u00e9\u2603""#,
            "3",
            "null",
            "true",
            r#"["acme"]"#,
            r#"{"acme":1}"#,
        ];
        let expected = [
            json!("acme"),
            json!(""),
            json!("a c"),
            json!("ac\"me"),
            json!("ac\\me"),
            json!("ac/me"),
            json!("é☃"),
            json!(3),
            Value::Null,
            json!(["acme"]),
        ];
        for value in values {
            for spacing in ["", " "] {
                let payload = format!(r#"{{"sub":"x","tenant":{spacing}{value}{spacing},"n":1}}"#);
                let bytes = payload.as_bytes();
                let members = MemberIndex::of(bytes);
                let path = ClaimPath::from("tenant");
                for expected in &expected {
                    assert_eq!(
                        claim_equals(bytes, &members, &path, expected),
                        seek(bytes, path.segments(), Expected::Equals(expected)),
                        "{payload} equals {expected}"
                    );
                    if let Some(name) = expected.as_str() {
                        assert_eq!(
                            claim_contains(bytes, &members, &path, name),
                            seek(bytes, path.segments(), Expected::Contains(name)),
                            "{payload} contains {name}"
                        );
                    }
                }
            }
        }
        assert_eq!(plain_string(br#""acme""#), Some(&b"acme"[..]));
        assert_eq!(plain_string(br#""\u0061cme""#), None);
        assert_eq!(plain_string(b"\""), None);
        let bytes = br#"{"tenant":"acme"}"#;
        assert!(claim_equals(bytes, &MemberIndex::of(bytes), &ClaimPath::from("tenant"), &json!("acme")));
    }

    #[test]
    fn claim_equals_is_false_when_a_name_repeats_on_the_path_or_inside_the_value() {
        assert!(!equals(r#"{"tenant":"acme","tenant":"evil"}"#, "tenant", json!("acme")));
        assert!(!equals(r#"{"tenant":"evil","tenant":"acme"}"#, "tenant", json!("acme")));
        assert!(!equals(r#"{"org":{"t":1},"org":{"t":2}}"#, "org.t", json!(2)));
        assert!(!equals(r#"{"org":{"a":1,"a":1}}"#, "org", json!({"a": 1})));
        assert!(
            equals(r#"{"x":{"a":1,"a":1},"tenant":"acme"}"#, "tenant", json!("acme")),
            "other claims may repeat inside"
        );
    }

    #[test]
    fn contains_finds_a_string_in_an_array_or_the_string_itself_and_nothing_else() {
        let contains = |payload: &str, path: &str, name: &str| {
            let bytes = payload.as_bytes();
            claim_contains(bytes, &MemberIndex::of(bytes), &ClaimPath::parse(path), name)
        };
        assert!(contains(r#"{"r":{"roles":["a","admin"]}}"#, "r.roles", "admin"));
        assert!(contains(r#"{"r":{"roles":"admin"}}"#, "r.roles", "admin"));
        assert!(!contains(r#"{"r":{"roles":"admin user"}}"#, "r.roles", "user"));
        assert!(!contains(r#"{"r":{"roles":[1,true,null,{"admin":1},["admin"]]}}"#, "r.roles", "admin"));
        assert!(!contains(r#"{"r":{"roles":{"admin":true}}}"#, "r.roles", "admin"));
        assert!(!contains(r#"{"r":{"roles":["a"]}}"#, "r.roles", "admin"));
        assert!(!contains(r#"{"x":1}"#, "r.roles", "admin"));
        // A name repeated along the path, or inside the array's objects, is never satisfied.
        assert!(!contains(r#"{"r":{"roles":["admin"],"roles":["x"]}}"#, "r.roles", "admin"));
        assert!(!contains(r#"{"r":{"roles":["admin"]},"r":{}}"#, "r.roles", "admin"));
        assert!(!contains(r#"{"r":{"roles":["admin",{"k":1,"k":2}]}}"#, "r.roles", "admin"));
    }
}

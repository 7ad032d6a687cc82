//! The one pass over a verified payload: the caller's claims type, the registered claims the
//! checks need, and the roles and scopes along the configured paths, read together.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::wire::{AudienceRef, CowStr, NumericDate};
use crate::grants::{ClaimPath, Grants, PathTree};

/// The registered claims the checks need, and the grants, from one pass over the payload.
pub(crate) struct PayloadScan<'a> {
    pub(crate) iss: Option<CowStr<'a>>,
    pub(crate) aud: Option<AudienceRef<'a>>,
    pub(crate) exp: Option<NumericDate>,
    pub(crate) nbf: Option<NumericDate>,
    pub(crate) iat: Option<NumericDate>,
    pub(crate) grants: Grants,
    /// The payload has a top-level `cnf` member (a confirmation, RFC 7800): the token may be
    /// bound to a key, which [`confirmation_key`](super::confirmation_key) then reads.
    pub(crate) cnf: bool,
}

impl<'a> PayloadScan<'a> {
    /// Reads `payload` alone (the claims type ignores it all); a repeated registered claim or
    /// a repeated name along a configured path is an error, as is a registered claim of the
    /// wrong type.
    pub(crate) fn read(payload: &'a [u8], tree: &PathTree) -> Result<Self, serde_json::Error> {
        Self::read_with::<IgnoredAny>(payload, tree).map(|(_, scan)| scan)
    }
}

const REGISTERED: [&str; 5] = ["iss", "aud", "exp", "nbf", "iat"];

/// A member name's index in [`REGISTERED`], else whether it is `cnf`. Every name looked for
/// is three bytes long: one length test and one three-byte comparison per name, where a
/// search of the list would compare each of its strings in turn.
#[inline]
fn registered(name: &[u8]) -> Result<usize, bool> {
    let &[a, b, c] = name else {
        return Err(false);
    };
    match [a, b, c] {
        [b'i', b's', b's'] => Ok(0),
        [b'a', b'u', b'd'] => Ok(1),
        [b'e', b'x', b'p'] => Ok(2),
        [b'n', b'b', b'f'] => Ok(3),
        [b'i', b'a', b't'] => Ok(4),
        _ => Err(name == b"cnf"),
    }
}

/// The first path among `paths` that starts at a registered claim the checks read
/// (`iss`, `aud`, `exp`, `nbf`, `iat`): such a member is read as that claim, never for roles.
pub(crate) fn path_at_registered_claim(paths: &[ClaimPath]) -> Option<&ClaimPath> {
    paths
        .iter()
        .find(|path| path.segments().first().is_some_and(|first| REGISTERED.contains(&first.as_str())))
}

/// Reads the value at one node of the path tree.
struct NodeSeed<'t, 'g> {
    tree: &'t PathTree,
    grants: &'g mut Grants,
}

impl NodeSeed<'_, '_> {
    /// A string at this node: a role, or space-separated scopes (see [`Grants::add_string`]).
    fn push(&mut self, value: &str) {
        self.grants.add_string(&self.tree.collect, value);
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(mut self, value: &str) -> Result<(), E> {
        if !self.tree.collect.is_empty() {
            self.push(value);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let collect = !self.tree.collect.is_empty();
        while let Some(item) = seq.next_element::<StringOrOther<'de>>()? {
            if let (true, StringOrOther::String(value)) = (collect, item) {
                // Each array element is one name, spaces and all.
                self.grants.add(&self.tree.collect, &value);
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = vec![false; self.tree.children.len()];
        while let Some(CowStr(name)) = map.next_key()? {
            match self.tree.child(&name) {
                Some((index, subtree)) => {
                    if std::mem::replace(&mut seen[index], true) {
                        return Err(de::Error::custom("a claim appears twice"));
                    }
                    map.next_value_seed(NodeSeed { tree: subtree, grants: &mut *self.grants })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An array element: a string we keep, or anything else we skip.
enum StringOrOther<'a> {
    String(Cow<'a, str>),
    Other,
}

impl<'de> de::Deserialize<'de> for StringOrOther<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;
        impl<'de> Visitor<'de> for ElementVisitor {
            type Value = StringOrOther<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StringOrOther::String(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrOther::String(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StringOrOther::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StringOrOther::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StringOrOther::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StringOrOther::Other)
            }
        }
        deserializer.deserialize_any(ElementVisitor)
    }
}

// ---------------------------------------------------------------------------------------
// One pass for both: the scan and the caller's claims type.

impl<'a> PayloadScan<'a> {
    /// Reads `payload` once into `C` and, in the same pass, the scan: every member's key is
    /// seen here first; the values the checks need (registered claims, and the values along
    /// configured paths, `realm_access.roles` included) are watched as `C` reads them (its
    /// visitor wrapped, so `C` gets what it would get without the scan); every other value
    /// goes to `C` directly. `Err` when the payload is not an object, when `C` does not read
    /// it as a map, or when `C` reads a watched value in a way the watch cannot follow (a
    /// `RawValue`, bytes, an enum): the caller then reads the two separately.
    pub(crate) fn read_with<C: de::DeserializeOwned>(
        payload: &'a [u8],
        tree: &PathTree,
    ) -> Result<(C, Self), serde_json::Error> {
        let mut state = TeeState {
            scan: PayloadScan {
                iss: None,
                aud: None,
                exp: None,
                nbf: None,
                iat: None,
                grants: Grants::default(),
                cnf: false,
            },
            seen_registered: [false; REGISTERED.len()],
            seen_paths: Seen::new(tree.children.len()),
            tree,
            read_all: false,
            watched: false,
            read_twice: false,
        };
        // Checked once as a whole: serde_json then skips checking each string on its own.
        let text = std::str::from_utf8(payload).map_err(|_| de::Error::custom("the payload is not UTF-8"))?;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let claims = C::deserialize(Tee { inner: &mut deserializer, state: &mut state })?;
        deserializer.end()?;
        if !state.read_all {
            return Err(de::Error::custom("the claims type did not read the payload as a map"));
        }
        if state.read_twice {
            return Err(de::Error::custom("a checked value must be read apart from the claims type"));
        }
        state.scan.grants.finish();
        Ok((claims, state.scan))
    }
}

/// Which configured paths were seen: a bit set, on the heap only past 64 paths.
enum Seen {
    Bits(u64),
    Many(Vec<bool>),
}

impl Seen {
    fn new(count: usize) -> Self {
        if count <= 64 { Self::Bits(0) } else { Self::Many(vec![false; count]) }
    }

    /// Marks `index` seen; true if it was seen before.
    fn insert(&mut self, index: usize) -> bool {
        match self {
            Self::Bits(bits) => {
                let bit = 1u64 << index;
                let seen = *bits & bit != 0;
                *bits |= bit;
                seen
            }
            Self::Many(seen) => std::mem::replace(&mut seen[index], true),
        }
    }
}

/// The scan under way during the one pass.
struct TeeState<'t, 'a> {
    scan: PayloadScan<'a>,
    seen_registered: [bool; REGISTERED.len()],
    seen_paths: Seen,
    tree: &'t PathTree,
    /// Set when the claims type went through the payload's map to its end.
    read_all: bool,
    /// Set when the claims type's visitor was handed the watched value itself.
    watched: bool,
    /// The payload must be read again, in two passes: a watched registered claim had the
    /// wrong type (the two passes refuse it with their error), or a watched value was read
    /// in a way the watch cannot follow (a `RawValue`, bytes, an enum...).
    read_twice: bool,
}

/// What the scan does with a member's value.
enum Capture<'t> {
    Registered(usize),
    Path(&'t PathTree),
    Pass,
}

impl<'t, 'a> TeeState<'t, 'a> {
    /// Passes `result` on; an error marks the read `read_twice`, for the claims type may
    /// catch it and go on (a lenient field), and the scan must not trust a read that failed
    /// anywhere: the two separate reads then decide.
    fn noted<T, E>(&mut self, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.read_twice = true;
        }
        result
    }

    /// Records a key; refuses a repeated registered claim or configured path.
    #[allow(clippy::ptr_arg)] // whether the name is borrowed matters: only then is it in the payload
    fn key<E: de::Error>(&mut self, name: &Cow<'a, str>) -> Result<Capture<'t>, E> {
        match registered(name.as_bytes()) {
            Ok(index) => {
                if std::mem::replace(&mut self.seen_registered[index], true) {
                    return Err(E::custom("a registered claim appears twice"));
                }
                Ok(Capture::Registered(index))
            }
            Err(cnf) => {
                self.scan.cnf |= cnf;
                Ok(path_member(self.tree, &mut self.seen_paths, name)?.map_or(Capture::Pass, Capture::Path))
            }
        }
    }
}

/// The deserializer the claims type sees: serde_json's, with the scan watching its map.
struct Tee<'i, 's, 't, 'a> {
    inner: &'i mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
    state: &'s mut TeeState<'t, 'a>,
}

impl<'de> Deserializer<'de> for Tee<'_, '_, '_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.inner.deserialize_map(TeeVisitor { visitor, state: self.state })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct TeeVisitor<'s, 't, 'a, V> {
    visitor: V,
    state: &'s mut TeeState<'t, 'a>,
}

impl<'a, V: Visitor<'a>> Visitor<'a> for TeeVisitor<'_, '_, 'a, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut tee = TeeMap { inner: map, state: self.state, capture: None, ended: false };
        let value = self.visitor.visit_map(&mut tee)?;
        tee.state.read_all = tee.ended;
        Ok(value)
    }
}

/// The payload's map as the claims type reads it.
struct TeeMap<'s, 't, 'a, A> {
    inner: A,
    state: &'s mut TeeState<'t, 'a>,
    /// What to do with the value of the key just read.
    capture: Option<Capture<'t>>,
    /// The claims type asked past the last member.
    ended: bool,
}

impl<'a, A: MapAccess<'a>> MapAccess<'a> for &mut TeeMap<'_, '_, 'a, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some(name) = next_name(&mut self.inner, self.state)? else {
            self.ended = true;
            return Ok(None);
        };
        let capture = self.state.key(&name);
        self.capture = Some(self.state.noted(capture)?);
        hand_key(seed, name, self.state).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'a>>(&mut self, seed: S) -> Result<S::Value, Self::Error> {
        match self.capture.take() {
            None | Some(Capture::Pass) => {
                let value = self.inner.next_value_seed(seed);
                self.state.noted(value)
            }
            // Registered claims and configured paths are watched as the claims type reads
            // them: one parse.
            Some(Capture::Registered(index)) => {
                watched(&mut self.inner, self.state, seed, Watch::Registered(index))
            }
            Some(Capture::Path(subtree)) => watched(&mut self.inner, self.state, seed, Watch::Path(subtree)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Hands a key, as read for the scan, to the claims type's seed (an error marks the read
/// `read_twice`).
fn hand_key<'a, K: DeserializeSeed<'a>, E: de::Error>(
    seed: K,
    name: Cow<'a, str>,
    state: &mut TeeState<'_, 'a>,
) -> Result<K::Value, E> {
    let key = match name {
        Cow::Borrowed(name) => seed.deserialize(de::value::BorrowedStrDeserializer::new(name)),
        Cow::Owned(name) => seed.deserialize(de::value::StringDeserializer::new(name)),
    };
    state.noted(key)
}

/// The map's next key, read for the scan (an error marks the read `read_twice`).
fn next_name<'a, A: MapAccess<'a>>(
    map: &mut A,
    state: &mut TeeState<'_, 'a>,
) -> Result<Option<Cow<'a, str>>, A::Error> {
    let name = map.next_key::<CowStr<'a>>().map(|name| name.map(|CowStr(name)| name));
    state.noted(name)
}

/// The node of member `name` of an object at `tree`, when the configured paths go through
/// it; `seen` refuses a member named twice.
fn path_member<'t, E: de::Error>(
    tree: &'t PathTree,
    seen: &mut Seen,
    name: &str,
) -> Result<Option<&'t PathTree>, E> {
    let Some((index, subtree)) = tree.child(name) else {
        return Ok(None);
    };
    if seen.insert(index) {
        return Err(E::custom("a claim appears twice"));
    }
    Ok(Some(subtree))
}

/// The map's next value, read by `seed` while the scan watches it; a value the claims type
/// never visited, or an error on the way (which the claims type might catch and go on),
/// marks the read `read_twice`.
fn watched<'t, 'a, A: MapAccess<'a>, S: DeserializeSeed<'a>>(
    map: &mut A,
    state: &mut TeeState<'t, 'a>,
    seed: S,
    watch: Watch<'t>,
) -> Result<S::Value, A::Error> {
    state.watched = false;
    let watcher = Watcher { state: &mut *state, watch, element: false };
    let value = map.next_value_seed(WatchSeed { seed, watcher });
    if !state.watched {
        state.read_twice = true;
    }
    state.noted(value)
}

// ---------------------------------------------------------------------------------------
// Watching a value as the claims type reads it.
//
// The claims type's deserializer calls are forwarded to serde_json unchanged; only the
// visitor is wrapped, so the scan sees each scalar as serde_json hands it over and the
// claims type gets exactly what it would get without the scan. Whatever the watch cannot
// follow marks the read `read_twice`, and the caller falls back to two passes.

/// What the scan takes from a watched value.
#[derive(Clone, Copy)]
enum Watch<'t> {
    /// `iss`, `aud`, `exp`, `nbf` or `iat` (an index into `REGISTERED`).
    Registered(usize),
    /// A node of the configured paths: its strings are roles or scopes when a path ends
    /// here, and its members on a longer path are watched in turn.
    Path(&'t PathTree),
}

/// Where a watched value's pieces go.
struct Watcher<'s, 't, 'a> {
    state: &'s mut TeeState<'t, 'a>,
    watch: Watch<'t>,
    /// An element of the watched array (`aud`'s strings, a leaf's names), not the value.
    element: bool,
}

impl<'t, 'a> Watcher<'_, 't, 'a> {
    fn seen(&mut self) {
        self.state.watched = true;
    }

    fn string(mut self, value: Cow<'a, str>) {
        self.seen();
        let scan = &mut self.state.scan;
        match (self.watch, self.element) {
            (Watch::Registered(0), false) => scan.iss = Some(CowStr(value)),
            (Watch::Registered(1), false) => scan.aud = Some(AudienceRef::One(value)),
            (Watch::Registered(1), true) => {
                if let Some(AudienceRef::Many(all)) = &mut scan.aud {
                    all.push(value);
                }
            }
            (Watch::Registered(_), _) => self.state.read_twice = true,
            (Watch::Path(tree), false) => NodeSeed { tree, grants: &mut scan.grants }.push(&value),
            (Watch::Path(tree), true) => {
                // Each array element is one name, spaces and all.
                scan.grants.add(&tree.collect, &value);
            }
        }
    }

    /// A number; `date` is its NumericDate reading (`None`: not a finite number).
    fn number(mut self, date: Option<i64>) {
        self.seen();
        match (self.watch, self.element, date) {
            (Watch::Registered(index @ 2..=4), false, Some(date)) => {
                let date = Some(NumericDate(date));
                match index {
                    2 => self.state.scan.exp = date,
                    3 => self.state.scan.nbf = date,
                    _ => self.state.scan.iat = date,
                }
            }
            (Watch::Registered(_), _, _) => self.state.read_twice = true,
            (Watch::Path(_), _, _) => {}
        }
    }

    /// An array: true when its elements are watched too.
    fn array(&mut self) -> bool {
        self.seen();
        match (self.watch, self.element) {
            (Watch::Registered(1), false) => {
                self.state.scan.aud = Some(AudienceRef::Many(Vec::new()));
                true
            }
            (Watch::Registered(_), _) => {
                self.state.read_twice = true;
                false
            }
            (Watch::Path(_), element) => !element,
        }
    }

    /// `null` or a boolean: no registered claim's type, and no name.
    fn other(mut self) {
        self.seen();
        if let Watch::Registered(_) = self.watch {
            self.state.read_twice = true;
        }
    }

    /// An object: the node whose members are watched in turn, when it is a node with
    /// longer paths (not an array element, which names nothing).
    fn object(&mut self) -> Option<&'t PathTree> {
        self.seen();
        match (self.watch, self.element) {
            (Watch::Registered(_), _) => {
                self.state.read_twice = true;
                None
            }
            (Watch::Path(tree), false) if !tree.children.is_empty() => Some(tree),
            (Watch::Path(_), _) => None,
        }
    }

    /// A visit serde_json makes only for unusual reads (bytes, enums, 128-bit numbers...).
    fn unknown(mut self) {
        self.seen();
        self.state.read_twice = true;
    }
}

/// serde_json's marker for `RawValue`, a name private to serde_json: a `RawValue` asks
/// for a newtype struct of this name, and its contents are never visited. The one place
/// that relies on it; a test below fails loudly if serde_json stops using it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// True when a claims type reads a value as serde_json's `RawValue`, which the watch cannot
/// follow (the one pass then gives up, and the payload is read twice).
fn is_raw_value(newtype_name: &str) -> bool {
    newtype_name == RAW_VALUE_TOKEN
}

struct WatchSeed<'s, 't, 'a, T> {
    seed: T,
    watcher: Watcher<'s, 't, 'a>,
}

impl<'a, T: DeserializeSeed<'a>> DeserializeSeed<'a> for WatchSeed<'_, '_, 'a, T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<T::Value, D::Error> {
        self.seed.deserialize(Watched { inner: deserializer, watcher: self.watcher })
    }
}

/// serde_json's deserializer for one value, with the visitor watched.
struct Watched<'s, 't, 'a, D> {
    inner: D,
    watcher: Watcher<'s, 't, 'a>,
}

macro_rules! forward_watched {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'a>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method($($arg,)* WatchVisitor { visitor, watcher: self.watcher })
        }
    )*};
}

impl<'a, D: Deserializer<'a>> Deserializer<'a> for Watched<'_, '_, 'a, D> {
    type Error = D::Error;

    forward_watched! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32();
        deserialize_i64(); deserialize_i128(); deserialize_u8(); deserialize_u16(); deserialize_u32();
        deserialize_u64(); deserialize_u128(); deserialize_f32(); deserialize_f64(); deserialize_char();
        deserialize_str(); deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_option(); deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_seq(); deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize); deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if is_raw_value(name) {
            self.watcher.state.read_twice = true;
            return self.inner.deserialize_newtype_struct(name, visitor);
        }
        self.inner.deserialize_newtype_struct(name, WatchVisitor { visitor, watcher: self.watcher })
    }

    /// Skipped values are watched too: read as any value, which the skipping visitor takes.
    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(WatchVisitor { visitor, watcher: self.watcher })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The claims type's visitor, with the scan looking on.
struct WatchVisitor<'s, 't, 'a, V> {
    visitor: V,
    watcher: Watcher<'s, 't, 'a>,
}

macro_rules! unwatched_visits {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.watcher.unknown();
            self.visitor.$method(value)
        }
    )*};
}

impl<'a, V: Visitor<'a>> Visitor<'a> for WatchVisitor<'_, '_, 'a, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'a str) -> Result<V::Value, E> {
        self.watcher.string(Cow::Borrowed(value));
        self.visitor.visit_borrowed_str(value)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<V::Value, E> {
        self.watcher.string(Cow::Owned(value.to_owned()));
        self.visitor.visit_str(value)
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<V::Value, E> {
        self.watcher.string(Cow::Owned(value.clone()));
        self.visitor.visit_string(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<V::Value, E> {
        self.watcher.number(Some(value));
        self.visitor.visit_i64(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<V::Value, E> {
        self.watcher.number(Some(i64::try_from(value).unwrap_or(i64::MAX)));
        self.visitor.visit_u64(value)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<V::Value, E> {
        self.watcher.number(value.is_finite().then(|| value.floor() as i64));
        self.visitor.visit_f64(value)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<V::Value, E> {
        self.watcher.other();
        self.visitor.visit_bool(value)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.watcher.other();
        self.visitor.visit_unit()
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.watcher.other();
        self.visitor.visit_none()
    }

    fn visit_some<D: Deserializer<'a>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Watched { inner: deserializer, watcher: self.watcher })
    }

    fn visit_newtype_struct<D: Deserializer<'a>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Watched { inner: deserializer, watcher: self.watcher })
    }

    fn visit_seq<A: SeqAccess<'a>>(mut self, seq: A) -> Result<V::Value, A::Error> {
        if self.watcher.array() {
            let Watcher { state, watch, .. } = self.watcher;
            self.visitor.visit_seq(WatchSeq { inner: seq, state, watch })
        } else {
            self.visitor.visit_seq(seq)
        }
    }

    fn visit_map<A: MapAccess<'a>>(mut self, map: A) -> Result<V::Value, A::Error> {
        match self.watcher.object() {
            Some(tree) => {
                let seen = Seen::new(tree.children.len());
                let map = WatchMap { inner: map, state: self.watcher.state, tree, seen, next: None };
                self.visitor.visit_map(map)
            }
            None => self.visitor.visit_map(map),
        }
    }

    fn visit_enum<A: de::EnumAccess<'a>>(self, data: A) -> Result<V::Value, A::Error> {
        self.watcher.unknown();
        self.visitor.visit_enum(data)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, value: &'a [u8]) -> Result<V::Value, E> {
        self.watcher.unknown();
        self.visitor.visit_borrowed_bytes(value)
    }

    unwatched_visits! {
        visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i128(i128);
        visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u128(u128);
        visit_f32(f32); visit_char(char); visit_bytes(&[u8]); visit_byte_buf(Vec<u8>);
    }
}

/// A watched array: each element watched as one name (or one audience).
struct WatchSeq<'s, 't, 'a, A> {
    inner: A,
    state: &'s mut TeeState<'t, 'a>,
    watch: Watch<'t>,
}

impl<'a, A: SeqAccess<'a>> SeqAccess<'a> for WatchSeq<'_, '_, 'a, A> {
    type Error = A::Error;

    /// Each element must be visited too: one the claims type never visited (a reader that
    /// fails on it, and a wrapper that swallows the failure) marks the read `read_twice`.
    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.state.watched = false;
        let watcher = Watcher { state: &mut *self.state, watch: self.watch, element: true };
        let element = self.inner.next_element_seed(WatchSeed { seed, watcher });
        if matches!(element, Ok(Some(_))) && !self.state.watched {
            self.state.read_twice = true;
        }
        // The array itself was visited.
        self.state.watched = true;
        self.state.noted(element)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A watched object on a configured path: its members on the path are watched in turn,
/// and a path member named twice refuses the payload, as [`NodeSeed`] does.
struct WatchMap<'s, 't, 'a, A> {
    inner: A,
    state: &'s mut TeeState<'t, 'a>,
    tree: &'t PathTree,
    seen: Seen,
    /// The node of the key just read, when it is on a path.
    next: Option<&'t PathTree>,
}

impl<'a, A: MapAccess<'a>> MapAccess<'a> for WatchMap<'_, '_, 'a, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        let Some(name) = next_name(&mut self.inner, self.state)? else {
            return Ok(None);
        };
        let node = path_member(self.tree, &mut self.seen, &name);
        self.next = self.state.noted(node)?;
        hand_key(seed, name, self.state).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'a>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        match self.next.take() {
            Some(subtree) => watched(&mut self.inner, self.state, seed, Watch::Path(subtree)),
            None => {
                let value = self.inner.next_value_seed(seed);
                self.state.noted(value)
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::DefaultClaims;
    use crate::grants::{default_role_paths, default_scope_paths};
    use crate::payload::members::{Member, MemberIndex};

    #[test]
    fn registered_names_are_found_by_their_bytes_as_in_the_list() {
        for (index, name) in REGISTERED.iter().enumerate() {
            assert_eq!(registered(name.as_bytes()), Ok(index), "{name}");
        }
        assert_eq!(registered(b"cnf"), Err(true));
        for name in ["", "i", "is", "issx", "ISS", "sub", "jti", "cnf ", "exp\0", "aud\u{0}"] {
            assert_eq!(registered(name.as_bytes()), Err(false), "{name:?}");
        }
    }

    /// serde_json's `RawValue` still announces itself by the private name the one pass looks
    /// for. If this fails, a new serde_json renamed it: find the new name, or read claims
    /// types that hold a `RawValue` in two passes.
    #[test]
    fn serde_json_still_marks_raw_values_with_the_private_name() {
        use std::cell::Cell;
        struct Spy(Cell<Option<&'static str>>);
        impl<'de> Deserializer<'de> for &Spy {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("not a newtype"))
            }
            fn deserialize_newtype_struct<V: Visitor<'de>>(
                self,
                name: &'static str,
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.set(Some(name));
                Err(de::Error::custom("seen"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
                option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
            }
        }
        let spy = Spy(Cell::new(None));
        let _ = <Box<serde_json::value::RawValue> as serde::Deserialize>::deserialize(&spy);
        assert!(spy.0.get().is_some_and(is_raw_value), "serde_json asked for {:?}", spy.0.get());
        assert!(!is_raw_value("Other"));
    }

    fn member_text(index: &MemberIndex, payload: &[u8], name: &str) -> String {
        match index.get(payload, name) {
            Member::Absent => "absent".into(),
            Member::Value(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            Member::Repeated => "repeated".into(),
            Member::Unknown => "unknown".into(),
        }
    }

    /// The one pass gives what the scan alone and serde_json alone give: the claims, the registered
    /// claims, the grants, and every member's bytes.
    #[test]
    fn one_pass_reads_what_two_passes_read() {
        let tree = PathTree::new(&default_role_paths(), &default_scope_paths());
        let payloads = [
            r#"{"sub":"alice","exp":20,"roles":["a","b"],"scope":"x y","n":{"k":[1,{"b":"}"}]}}"#,
            " {\n \"iss\" : \"i\" ,\t\"tenant\":\"t,\\\"}\" , \"exp\":1.5e1 , \"arr\" : [ 1 , 2 ] } \n",
            r#"{"aud":["a","b"],"jti":"j","obj":{"x":{}},"last":{"y":[]}}"#,
            r#"{"nbf":1,"iat":2,"role":"admin","num":-0.5e-3,"t":true,"z":null}"#,
            "{\"q\":\"a\\\\\",\"b\":[\"]\",{\"c\":\"\\\"}\"}],\"e\":{}}",
            " { } ",
            r#"{"a":[[],[[1]],{"x":[{}]}],"b":"\u00e9\n","c":1e5,"d":false}"#,
            r#"{}"#,
            r#"{"":"e","sid":"s","sub":"alice","su":1,"s":2,"bus":3}"#,
        ];
        for payload in payloads {
            let bytes = payload.as_bytes();
            let (value, one) = PayloadScan::read_with::<serde_json::Value>(bytes, &tree).unwrap();
            let two = PayloadScan::read(bytes, &tree).unwrap();
            assert_eq!(value, serde_json::from_str::<serde_json::Value>(payload).unwrap(), "{payload}");
            assert_eq!(one.grants, two.grants, "{payload}");
            assert_eq!(one.exp.as_ref().map(|d| d.0), two.exp.map(|d| d.0), "{payload}");
            assert_eq!(one.iss.as_deref(), two.iss.as_deref(), "{payload}");
            let index = MemberIndex::of(bytes);
            for name in value.as_object().unwrap().keys().map(String::as_str).chain(["missing", "", "sux"]) {
                let expected = match value.get(name) {
                    // Every member is in the index: compare with the value's own JSON.
                    Some(member) => member.clone(),
                    None => serde_json::Value::String("absent".into()),
                };
                let text = member_text(&index, bytes, name);
                let parsed: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text.clone()));
                assert_eq!(parsed, expected, "{payload}: {name} read as {text:?}");
            }
            let (claims, typed) = PayloadScan::read_with::<DefaultClaims>(bytes, &tree).unwrap();
            assert_eq!(claims, serde_json::from_str::<DefaultClaims>(payload).unwrap());
            assert_eq!(typed.grants, two.grants, "{payload}");
            assert_eq!(typed.exp.map(|d| d.0), one.exp.as_ref().map(|d| d.0), "{payload}");
            assert_eq!(typed.iss.as_deref(), two.iss.as_deref(), "{payload}");
        }
    }

    /// The registered claims the scan reads equal serde_json's reading, in the plain shapes
    /// and in the others.
    #[test]
    fn registered_claims_read_by_the_scan_equal_serde_jsons_reading() {
        let tree = PathTree::new(&default_role_paths(), &default_scope_paths());
        let payloads = [
            r#"{"iss":"https://a.example","aud":"api","exp":1764496400,"nbf":0,"iat":17}"#,
            r#"{"iss":"a\"b\u0041","aud":"x\/y","exp":1.5e1,"nbf":-5,"iat":12345678901234567890}"#,
            r#"{"aud":["a","b\n"],"exp":99999999999999999}"#,
        ];
        for payload in payloads {
            let value: serde_json::Value = serde_json::from_str(payload).unwrap();
            let (_, scan) = PayloadScan::read_with::<serde_json::Value>(payload.as_bytes(), &tree).unwrap();
            let date = |name: &str| {
                value.get(name).map(|v| serde_json::from_value::<NumericDate>(v.clone()).unwrap().0)
            };
            assert_eq!(scan.exp.map(|d| d.0), date("exp"), "{payload}");
            assert_eq!(scan.nbf.map(|d| d.0), date("nbf"), "{payload}");
            assert_eq!(scan.iat.map(|d| d.0), date("iat"), "{payload}");
            assert_eq!(scan.iss.as_deref(), value.get("iss").and_then(|v| v.as_str()), "{payload}");
            let audiences: Vec<&str> = scan.aud.as_ref().map(|aud| aud.iter().collect()).unwrap_or_default();
            let expected: Vec<&str> = match value.get("aud") {
                Some(serde_json::Value::String(one)) => vec![one.as_str()],
                Some(serde_json::Value::Array(many)) => many.iter().map(|v| v.as_str().unwrap()).collect(),
                _ => vec![],
            };
            assert_eq!(audiences, expected, "{payload}");
        }
    }

    /// What the scan must find, worked out apart from it: each member's text captured, the
    /// registered claims read by their own types, the paths by `NodeSeed`.
    struct Expected {
        iss: Option<String>,
        aud: Option<Vec<String>>,
        dates: [Option<i64>; 3],
        grants: Grants,
        members: Vec<(String, String)>,
    }

    fn reference(payload: &str, tree: &PathTree) -> Result<Expected, ()> {
        struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);
        impl<'de> de::Deserialize<'de> for Members {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct MembersVisitor;
                impl<'de> Visitor<'de> for MembersVisitor {
                    type Value = Members;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                        let mut all = Vec::new();
                        while let Some(entry) = map.next_entry()? {
                            all.push(entry);
                        }
                        Ok(Members(all))
                    }
                }
                deserializer.deserialize_map(MembersVisitor)
            }
        }
        let Members(members) = serde_json::from_str(payload).map_err(|_| ())?;
        let mut expected =
            Expected { iss: None, aud: None, dates: [None; 3], grants: Grants::default(), members: vec![] };
        for (index, (name, raw)) in members.iter().enumerate() {
            let checked = REGISTERED.contains(&name.as_str()) || tree.child(name).is_some();
            if checked && members[..index].iter().any(|(other, _)| other == name) {
                return Err(());
            }
            expected.members.push((name.clone(), raw.get().to_owned()));
            let text = raw.get();
            match name.as_str() {
                "iss" => {
                    expected.iss = Some(serde_json::from_str::<CowStr<'_>>(text).map_err(|_| ())?.0.into())
                }
                "aud" => {
                    let aud: AudienceRef<'_> = serde_json::from_str(text).map_err(|_| ())?;
                    expected.aud = Some(aud.iter().map(str::to_owned).collect());
                }
                "exp" | "nbf" | "iat" => {
                    let date: NumericDate = serde_json::from_str(text).map_err(|_| ())?;
                    let slot = ["exp", "nbf", "iat"].iter().position(|n| n == name).unwrap();
                    expected.dates[slot] = Some(date.0);
                }
                _ => {}
            }
            if let Some((_, subtree)) = tree.child(name) {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                NodeSeed { tree: subtree, grants: &mut expected.grants }
                    .deserialize(&mut deserializer)
                    .map_err(|_| ())?;
            }
        }
        // Repeated members the scan does not check keep no value in its index.
        expected.members.retain(|(name, _)| members.iter().filter(|(other, _)| other == name).count() == 1);
        expected.grants.finish();
        Ok(expected)
    }

    /// The scan of one pass, whose checked values are watched as the claims type reads them,
    /// equals the scan alone, for claims types that read those values in every way: as
    /// `Value`, skipped, as `Option`s, as numbers of another type, through an untagged enum.
    /// Where the watch cannot follow (a `RawValue`), the one pass gives up and the caller
    /// reads twice; it never accepts what the scan alone refuses.
    #[test]
    fn watched_values_read_what_the_scan_alone_reads() {
        use serde::Deserialize;
        use serde_json::value::RawValue;
        use std::collections::HashMap;

        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Nothing {}
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Typed {
            iss: Option<String>,
            exp: Option<f64>,
            nbf: Option<serde_json::Value>,
            roles: Option<Vec<serde_json::Value>>,
            #[serde(flatten)]
            rest: HashMap<String, serde_json::Value>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum Aud {
            One(String),
            Many(Vec<String>),
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Untagged {
            aud: Option<Aud>,
            scope: Option<String>,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Raw {
            iss: Option<Box<RawValue>>,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Roles {
            roles: Vec<String>,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Keycloak {
            realm_access: Option<Roles>,
            resource_access: Option<HashMap<String, serde_json::Value>>,
            a: Option<serde_json::Value>,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct RawRealm {
            realm_access: Option<Box<RawValue>>,
        }
        // Claims types that catch errors and go on: the one pass must then give up, never
        // keep a scan that missed a value or a check that failed.
        struct Lenient<T>(#[allow(dead_code)] Option<T>);
        impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Lenient(T::deserialize(deserializer).ok()))
            }
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct LenientElements {
            aud: Option<Vec<Lenient<String>>>,
            roles: Option<Vec<Lenient<u64>>>,
            realm_access: Option<LenientRealm>,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct LenientRealm {
            roles: Vec<Lenient<bool>>,
        }
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct LenientValues {
            aud: Option<Lenient<Vec<String>>>,
            exp: Option<Lenient<u64>>,
            roles: Option<Lenient<Vec<u64>>>,
            realm_access: Option<Lenient<Roles>>,
        }
        /// Skips a member whose key fails (a repeated claim, for the scan) and goes on.
        struct SkipBadKeys;
        impl<'de> Deserialize<'de> for SkipBadKeys {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct SkipVisitor;
                impl<'de> Visitor<'de> for SkipVisitor {
                    type Value = SkipBadKeys;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SkipBadKeys, A::Error> {
                        loop {
                            match map.next_key::<String>() {
                                Ok(Some(_)) => {
                                    map.next_value::<SkipBadKeys>().map(drop).or_else(|_| Ok(()))?
                                }
                                Ok(None) => return Ok(SkipBadKeys),
                                Err(_) => map.next_value::<IgnoredAny>().map(drop)?,
                            }
                        }
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SkipBadKeys, A::Error> {
                        while seq.next_element::<SkipBadKeys>()?.is_some() {}
                        Ok(SkipBadKeys)
                    }
                    fn visit_str<E>(self, _: &str) -> Result<SkipBadKeys, E> {
                        Ok(SkipBadKeys)
                    }
                    fn visit_i64<E>(self, _: i64) -> Result<SkipBadKeys, E> {
                        Ok(SkipBadKeys)
                    }
                    fn visit_u64<E>(self, _: u64) -> Result<SkipBadKeys, E> {
                        Ok(SkipBadKeys)
                    }
                    fn visit_f64<E>(self, _: f64) -> Result<SkipBadKeys, E> {
                        Ok(SkipBadKeys)
                    }
                    fn visit_bool<E>(self, _: bool) -> Result<SkipBadKeys, E> {
                        Ok(SkipBadKeys)
                    }
                    fn visit_unit<E>(self) -> Result<SkipBadKeys, E> {
                        Ok(SkipBadKeys)
                    }
                }
                deserializer.deserialize_any(SkipVisitor)
            }
        }

        // Paths that end at the top level, deeper ones, and a node that is both (`a`, `a.b`).
        let tree = PathTree::new(
            &[
                ClaimPath::parse("roles"),
                ClaimPath::parse("role"),
                ClaimPath::parse("realm_access.roles"),
                ClaimPath::parse("resource_access.orders-api.roles"),
            ],
            &[
                ClaimPath::parse("scope"),
                ClaimPath::parse("scp"),
                ClaimPath::parse("a"),
                ClaimPath::parse("a.b"),
            ],
        );
        let payloads = [
            r#"{"iss":"https://a.example","aud":"api","exp":1764496400,"nbf":0,"iat":17,"sub":"x"}"#,
            r#"{"iss":"a\"b\u0041","aud":["x\/y","z"],"exp":1.5e1,"nbf":-5,"iat":12345678901234567890}"#,
            r#"{"roles":["a b",1,{"c":"d"},["e"],null,"f"],"role":"g h","scope":"r w","scp":["s"]}"#,
            r#"{"realm_access":{"roles":["admin"]},"role":{"x":"y"},"scope":7,"aud":[]}"#,
            r#"{"exp":-0.5,"iat":2.9,"nbf":1e-3}"#,
            r#"{"nbf":1e400}"#,
            r#"{"exp":"soon"}"#,
            r#"{"exp":null}"#,
            r#"{"iss":42}"#,
            r#"{"iss":["a"]}"#,
            r#"{"aud":[1]}"#,
            r#"{"aud":{"a":1}}"#,
            r#"{"aud":[["a"]]}"#,
            r#"{"iat":true}"#,
            r#"{"roles":"a","roles":"b"}"#,
            r#"{"realm_access":{"roles":["a"],"roles":["b"]}}"#,
            r#"{"other":1,"other":2,"role":"x"}"#,
            r#"{"realm_access":{"roles":["admin","user"],"other":{"roles":["no"]}},"resource_access":{"orders-api":{"roles":["writer"]},"billing":{"roles":["payer"]}}}"#,
            r#"{"realm_access":{"x":1,"x":2,"roles":["a"]},"resource_access":{"orders-api":{"roles":"r s"}}}"#,
            r#"{"realm_access":{"r\u006fles":["escaped"]},"resource_access":{"orders\u002dapi":{"roles":["e"]}}}"#,
            r#"{"resource_access":{"orders-api":{"roles":["a"]},"orders-api":{}}}"#,
            r#"{"resource_access":{"orders-api":{"roles":["a"],"roles":["b"]}}}"#,
            r#"{"realm_access":{"roles":[{"roles":["no"]},"yes",["no"]]},"resource_access":{"orders-api":[]}}"#,
            r#"{"realm_access":"admin","resource_access":["orders-api"]}"#,
            r#"{"realm_access":null,"resource_access":{}}"#,
            r#"{"realm_access":{"roles":null},"resource_access":{"orders-api":{"roles":{"roles":["no"]}}}}"#,
            r#"{"a":"s1 s2"}"#,
            r#"{"a":{"b":"s3","c":"no"}}"#,
            r#"{"a":["s4",{"b":"no"}]}"#,
            r#"{"a":{"b":["s5"],"b":["s6"]}}"#,
            r#"{"aud":["api",5],"exp":1}"#,
            r#"{"aud":["api",null]}"#,
            r#"{"aud":[1]}"#,
            r#"{"roles":["admin"],"realm_access":{"roles":["admin"]}}"#,
            r#"{"roles":["\ud800"]}"#,
            r#"{"roles":[1e400]}"#,
            r#"{"exp":1,"exp":9999999999}"#,
            r#"{"exp":"soon","scope":"s"}"#,
            r#"{"roles":["user"],"roles":["admin"]}"#,
            r#"{"realm_access":{"roles":["user"],"roles":["admin"]}}"#,
            r#"{}"#,
        ];
        fn check<C: de::DeserializeOwned>(payload: &str, tree: &PathTree, must_watch: bool) {
            let bytes = payload.as_bytes();
            let expected = reference(payload, tree);
            let one = PayloadScan::read_with::<C>(bytes, tree);
            let claims_read = serde_json::from_str::<C>(payload).is_ok();
            match (one, expected) {
                (Ok((_, one)), Ok(expected)) => {
                    let audiences =
                        one.aud.as_ref().map(|aud| aud.iter().map(str::to_owned).collect::<Vec<_>>());
                    let dates = [one.exp, one.nbf, one.iat].map(|date| date.map(|d| d.0));
                    let members: Vec<(String, String)> = expected
                        .members
                        .iter()
                        .map(|(name, _)| (name.clone(), member_text(&MemberIndex::of(bytes), bytes, name)))
                        .collect();
                    assert_eq!(
                        (one.iss.as_deref(), audiences, dates, &one.grants, members),
                        (
                            expected.iss.as_deref(),
                            expected.aud,
                            expected.dates,
                            &expected.grants,
                            expected.members.clone()
                        ),
                        "{payload}"
                    );
                }
                (Ok(_), Err(())) => panic!("one pass accepted what the scan refuses: {payload}"),
                (Err(_), Ok(_)) => assert!(!(must_watch && claims_read), "one pass gave up on {payload}"),
                (Err(_), Err(())) => {}
            }
        }
        for payload in payloads {
            check::<serde_json::Value>(payload, &tree, true);
            check::<DefaultClaims>(payload, &tree, true);
            check::<Nothing>(payload, &tree, true);
            check::<Typed>(payload, &tree, true);
            check::<Untagged>(payload, &tree, true);
            check::<Raw>(payload, &tree, false);
            check::<Keycloak>(payload, &tree, true);
            check::<RawRealm>(payload, &tree, false);
            check::<LenientElements>(payload, &tree, false);
            check::<LenientValues>(payload, &tree, false);
            check::<SkipBadKeys>(payload, &tree, false);
        }
        // A `RawValue` is never visited: the one pass gives up, and the caller reads twice.
        assert!(PayloadScan::read_with::<Raw>(br#"{"iss":"a"}"#, &tree).is_err());
        assert!(PayloadScan::read_with::<Raw>(br#"{"sub":"a"}"#, &tree).is_ok());
        assert!(PayloadScan::read_with::<RawRealm>(br#"{"realm_access":{"roles":["a"]}}"#, &tree).is_err());
        // Deeper paths are watched, not read twice: the one pass reads these alone.
        for payload in [
            r#"{"realm_access":{"roles":["admin"]},"resource_access":{"orders-api":{"roles":["w"]}}}"#,
            r#"{"a":{"b":"s"}}"#,
        ] {
            let (_, scan) = PayloadScan::read_with::<Keycloak>(payload.as_bytes(), &tree).expect(payload);
            assert_eq!(scan.grants, reference(payload, &tree).expect(payload).grants, "{payload}");
            assert!(scan.grants.roles().count() + scan.grants.scopes().count() > 0, "{payload}");
        }
    }

    #[test]
    fn one_pass_refuses_what_two_passes_refuse_and_gives_up_on_non_map_types() {
        let tree = PathTree::new(&default_role_paths(), &default_scope_paths());
        for payload in
            [r#"{"exp":1,"exp":2}"#, r#"{"roles":["a"],"roles":["b"]}"#, r#"{"exp":"soon"}"#, "[1]", "3"]
        {
            assert!(
                PayloadScan::read_with::<serde_json::Value>(payload.as_bytes(), &tree).is_err(),
                "{payload}"
            );
            assert!(PayloadScan::read(payload.as_bytes(), &tree).is_err(), "{payload}");
        }
        // A claims type that does not read a map: the caller falls back to two passes.
        #[derive(serde::Deserialize)]
        enum Shape {
            #[allow(dead_code)]
            Sub(String),
        }
        assert!(PayloadScan::read_with::<Shape>(br#"{"Sub":"x"}"#, &tree).is_err());
        // An escaped key: the index says it cannot tell, and the one pass still reads.
        assert!(matches!(
            MemberIndex::of(br#"{"s\u0075b":"a","x":1}"#).get(br#"{"s\u0075b":"a","x":1}"#, "x"),
            Member::Unknown
        ));
        assert!(PayloadScan::read_with::<serde_json::Value>(br#"{"s\u0075b":"a","x":1}"#, &tree).is_ok());
    }

    fn scan(json: &str, roles: &[&str], scopes: &[&str]) -> Result<Grants, serde_json::Error> {
        let roles: Vec<ClaimPath> = roles.iter().map(|p| ClaimPath::parse(p)).collect();
        let scopes: Vec<ClaimPath> = scopes.iter().map(|p| ClaimPath::parse(p)).collect();
        PayloadScan::read(json.as_bytes(), &PathTree::new(&roles, &scopes)).map(|s| s.grants)
    }

    #[test]
    fn grants_are_sorted_without_repeats_and_roles_stay_apart_from_scopes() {
        // `both` feeds roles and scopes; names repeat across paths and within one.
        let grants = scan(
            r#"{"both":["b","a b","b"],"roles":["z","b","a"],"scope":"s a s","scp":["", "a"]}"#,
            &["both", "roles"],
            &["both", "scope", "scp"],
        )
        .unwrap();
        assert_eq!(grants.roles().collect::<Vec<_>>(), ["a", "a b", "b", "z"]);
        assert_eq!(grants.scopes().collect::<Vec<_>>(), ["a", "a b", "b", "s"]);
        for role in ["a", "a b", "b", "z"] {
            assert!(grants.has_role(role), "{role}");
        }
        assert!(!grants.has_role("s") && !grants.has_role("") && !grants.has_role("ab"));
        assert!(grants.has_scope("s") && !grants.has_scope("") && !grants.has_scope("z"));
        // Equal by content, whatever order the names came in.
        let same =
            scan(r#"{"scp":["s","b","a b","a",""],"roles":["z","b","a","a b"]}"#, &["roles"], &["scp"]);
        assert_eq!(same.unwrap(), grants);
        assert_ne!(
            scan(r#"{"roles":"a"}"#, &[], &["roles"]).unwrap(),
            scan(r#"{"roles":"a"}"#, &["roles"], &[]).unwrap()
        );
        assert_eq!(
            format!("{grants:?}"),
            r#"Grants { roles: ["a", "a b", "b", "z"], scopes: ["a", "a b", "b", "s"] }"#
        );
        let none = Grants::default();
        assert!(none.roles().next().is_none() && !none.has_role("") && !none.has_scope(""));
    }

    /// RFC 6749 section 3.3: scope-tokens are separated by spaces (U+0020) alone; a role
    /// string is one role name.
    #[test]
    fn strings_split_into_scopes_at_spaces_only_and_a_role_string_is_one_role() {
        // JSON escapes: a tab, a newline, a form feed, a carriage return, a no-break space.
        for scope in [r"read\tadmin", r"read\nadmin", r"read\u000cadmin", r"read\radmin", r"read\u00a0admin"]
        {
            let grants = scan(&format!(r#"{{"scope":"{scope}"}}"#), &[], &["scope"]).unwrap();
            assert!(!grants.has_scope("admin") && !grants.has_scope("read"), "{scope}");
            assert_eq!(grants.scopes().count(), 1, "{scope}");
        }
        let grants = scan(r#"{"scope":" read  write "}"#, &[], &["scope"]).unwrap();
        assert_eq!(grants.scopes().collect::<Vec<_>>(), ["read", "write"]);
        let grants = scan(r#"{"role":"user admin","roles":" admin"}"#, &["role", "roles"], &[]).unwrap();
        assert_eq!(grants.roles().collect::<Vec<_>>(), [" admin", "user admin"]);
        assert!(!grants.has_role("admin") && !grants.has_role("user"));
        assert_eq!(scan(r#"{"role":""}"#, &["role"], &["role"]).unwrap().roles().count(), 0);
        // An empty string in an array names nothing either (found by the structured fuzz
        // target: `"role": [null, ""]` granted a role named "").
        let grants = scan(r#"{"roles":["","a",""],"scope":["",""]}"#, &["roles"], &["scope"]).unwrap();
        assert_eq!(grants.roles().collect::<Vec<_>>(), ["a"]);
        assert_eq!(grants.scopes().count(), 0);
        // A path that feeds both: one role, the scopes it lists.
        let grants = scan(r#"{"both":"a b"}"#, &["both"], &["both"]).unwrap();
        assert_eq!(grants.roles().collect::<Vec<_>>(), ["a b"]);
        assert_eq!(grants.scopes().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn arrays_single_strings_and_space_separated_strings_all_work() {
        let grants = scan(
            r#"{"realm_access":{"roles":["admin","user"]},"role":"editor","scope":"read write","x":{"roles":["no"]}}"#,
            &["realm_access.roles", "role"],
            &["scope"],
        )
        .unwrap();
        assert_eq!(grants.roles().collect::<Vec<_>>(), ["admin", "editor", "user"]);
        assert!(grants.has_scope("write") && !grants.has_scope("no"));
    }

    #[test]
    fn a_repeated_member_along_a_path_is_an_error() {
        assert!(scan(r#"{"roles":["user"],"roles":["admin"]}"#, &["roles"], &[]).is_err());
        assert!(scan(r#"{"ra":{"roles":["a"],"roles":["admin"]}}"#, &["ra.roles"], &[]).is_err());
        assert!(scan(r#"{"exp":1,"exp":2}"#, &[], &[]).is_err());
        // Repeats elsewhere are not read, so they cannot grant anything.
        assert!(scan(r#"{"other":1,"other":2,"roles":"a"}"#, &["roles"], &[]).is_ok());
    }

    #[test]
    fn values_of_other_types_grant_nothing() {
        let grants =
            scan(r#"{"roles":[1,{"admin":true},["admin"],null,"user"],"scope":7}"#, &["roles"], &["scope"])
                .unwrap();
        assert_eq!(grants.roles().collect::<Vec<_>>(), ["user"]);
        assert_eq!(grants.scopes().count(), 0);
    }
}

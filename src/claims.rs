//! Verified claims as the layer hands them to handlers.
//!
//! [`Claims<C>`] wraps your claims type `C` (any `DeserializeOwned`) and the verified header
//! in an `Arc`, so cloning it out of the request extensions is cheap. [`DefaultClaims`]
//! covers the registered claims plus the rest of the payload, for when you need no struct.
//!
//! ```
//! use tower_jwt_auth::{Claims, DefaultClaims, JwtAuthConfig, TokenIssuer};
//!
//! let secret = b"an example secret of at least 32 bytes!".to_vec();
//! let issuer = TokenIssuer::builder().hmac_secret(secret.clone()).build().unwrap();
//! let token = issuer.issue(&serde_json::json!({"sub": "alice", "role": "admin"})).unwrap();
//!
//! let config = JwtAuthConfig::builder().hmac_secret(secret).build().unwrap();
//! let claims: Claims<DefaultClaims> = config.verify(&token).unwrap();
//! assert_eq!(claims.sub.as_deref(), Some("alice"));
//! assert_eq!(claims.extra["role"], "admin");
//! assert_eq!(claims.header().algorithm(), tower_jwt_auth::Algorithm::HS256);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use crate::keys::Algorithm;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::system_time;
use crate::grants::Grants;
#[cfg(feature = "jwks")]
use crate::jwks::RemoteJwks;
use crate::payload::{Audience, MemberIndex, NumericDate, StrictValue, TokenIds};
use crate::response::Responder;

/// Verified claims of type `C`, with what else was verified about the token, shared
/// behind an `Arc`.
///
/// Inserted into the request extensions by the layer only after every check passed.
/// Dereferences to `C`.
///
/// ```
/// use serde::Deserialize;
/// use tower_jwt_auth::{Claims, JwtAuthConfig, TokenIssuer};
///
/// #[derive(Debug, Deserialize)]
/// struct User {
///     sub: String,
///     tenant: String,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let issuer = TokenIssuer::builder().hmac_secret(secret.clone()).build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice", "tenant": "acme", "roles": ["admin"]}))?;
///
/// let config = JwtAuthConfig::builder().hmac_secret(secret).build()?;
/// let user: Claims<User> = config.verify_as(&token)?;
/// assert_eq!(user.sub, "alice"); // `Claims<User>` dereferences to `User`
/// assert_eq!(user.tenant, "acme");
/// // Whatever `C` is, the roles and scopes the token grants are read too.
/// assert!(user.grants().has_role("admin"));
/// // A clone shares the same claims: handlers and guards clone it out of the extensions.
/// let copy = user.clone();
/// assert!(std::ptr::eq(copy.claims(), user.claims()));
/// # Ok(())
/// # }
/// ```
pub struct Claims<C = DefaultClaims> {
    inner: Arc<ClaimsInner<C>>,
}

struct ClaimsInner<C> {
    claims: C,
    token: VerifiedToken,
}

impl<C> Claims<C> {
    pub(crate) fn new(claims: C, token: VerifiedToken) -> Self {
        Self { inner: Arc::new(ClaimsInner { claims, token }) }
    }

    /// The verified header: the algorithm, `kid` and `typ` of the token.
    pub fn header(&self) -> &VerifiedHeader {
        self.inner.token.header()
    }

    /// The roles and scopes the token grants.
    pub fn grants(&self) -> &Grants {
        self.inner.token.grants()
    }

    /// Everything verified about the token, whatever the claims type.
    pub fn token(&self) -> &VerifiedToken {
        &self.inner.token
    }

    /// The claims themselves.
    pub fn claims(&self) -> &C {
        &self.inner.claims
    }
}

impl<C> Clone for Claims<C> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<C> Deref for Claims<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.inner.claims
    }
}

impl<C: fmt::Debug> fmt::Debug for Claims<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("claims", &self.inner.claims)
            .field("token", &self.inner.token)
            .finish()
    }
}

/// What the layer verified about a request's token, whatever the claims type: the header,
/// the roles and scopes, and the payload. Inserted into the request extensions beside
/// [`Claims<C>`]; guards read it.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tower_jwt_auth::{JwtAuthConfig, TokenIssuer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let issuer = TokenIssuer::builder().hmac_secret(secret.clone()).build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice", "scope": "orders:read"}))?;
/// let config = JwtAuthConfig::builder().hmac_secret(secret).build()?;
///
/// let claims = config.verify(&token)?;
/// let verified = claims.token(); // in a middleware: `request.extensions().get::<VerifiedToken>()`
/// let exp = claims.exp.expect("every verified token has one");
/// assert_eq!(verified.expires_at(), UNIX_EPOCH + Duration::from_secs(exp as u64));
/// assert!(verified.grants().has_scope("orders:read"));
/// assert!(verified.claims_type().ends_with("DefaultClaims"));
/// // The payload exactly as it was signed.
/// let payload: serde_json::Value = serde_json::from_slice(verified.payload())?;
/// assert_eq!(payload["sub"], "alice");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct VerifiedToken {
    inner: Arc<TokenInner>,
}

struct TokenInner {
    header: VerifiedHeader,
    grants: Grants,
    payload: Vec<u8>,
    /// Made on first use, unless it was made while the payload was read.
    members: OnceLock<MemberIndex>,
    facts: TokenFacts,
    /// How the configuration that verified the token answers rejections: guards further in
    /// answer theirs the same way.
    responder: Arc<Responder>,
    /// The ids a revocation check reads, when the configuration has revocations.
    ids: Option<TokenIds>,
    /// The name of the claims type the payload was read into.
    claims_type: &'static str,
}

/// Which key verified a token, so that a cached verification stops once that key leaves
/// its set.
#[derive(Clone, Debug)]
pub(crate) enum KeyRef {
    /// A static key: a static set never changes.
    Static,
    /// A key of a remote set, known by its fingerprint (its kid, algorithm and material).
    #[cfg(feature = "jwks")]
    Remote { set: RemoteJwks, fingerprint: u64 },
}

/// What the claim checks read and which key verified the signature: what a cached
/// verification needs to be checked again on reuse.
#[derive(Clone, Debug)]
pub(crate) struct TokenFacts {
    /// `exp`, seconds since the epoch.
    pub(crate) exp: i64,
    /// `nbf`, seconds since the epoch, when present.
    pub(crate) nbf: Option<i64>,
    /// The leeway the checks allowed on `exp` and `nbf`, in seconds.
    pub(crate) leeway: i64,
    pub(crate) key: KeyRef,
    /// The payload has a `cnf` member: the token may be bound to a key.
    pub(crate) cnf: bool,
}

impl VerifiedToken {
    /// A verified token whose payload was read into the claims type `C`.
    pub(crate) fn new<C>(
        header: VerifiedHeader,
        grants: Grants,
        payload: Vec<u8>,
        members: Option<MemberIndex>,
        facts: TokenFacts,
        responder: Arc<Responder>,
        ids: Option<TokenIds>,
    ) -> Self {
        let claims_type = std::any::type_name::<C>();
        let members = members.map_or_else(OnceLock::new, OnceLock::from);
        let inner = TokenInner { header, grants, payload, members, facts, responder, ids, claims_type };
        Self { inner: Arc::new(inner) }
    }

    /// The name of the claims type the layer read the payload into (its
    /// `std::any::type_name`, such as `tower_jwt_auth::claims::DefaultClaims`): the `C` of
    /// the [`Claims<C>`] beside this token in the request's extensions. When a handler finds
    /// no `Claims<Mine>` but this token is there, the layer was built for this type instead
    /// (`JwtAuthLayer::with_claims::<Mine>()` fixes it).
    pub fn claims_type(&self) -> &'static str {
        self.inner.claims_type
    }

    /// The ids revocations are checked against: read at verification when the
    /// configuration has revocations, else read from the payload now. `None` when they
    /// cannot be read (a `jti`, `sub` or `sid` that is not a string, or is repeated): the
    /// caller must fail closed, as verification with revocations does.
    pub(crate) fn ids(&self) -> Option<Cow<'_, TokenIds>> {
        match &self.inner.ids {
            Some(ids) => Some(Cow::Borrowed(ids)),
            None => TokenIds::parse(&self.inner.payload).map(Cow::Owned),
        }
    }

    /// Where the payload's top-level members are.
    pub(crate) fn members(&self) -> &MemberIndex {
        self.inner.members.get_or_init(|| MemberIndex::of(&self.inner.payload))
    }

    /// The thumbprint the token is DPoP-bound to (its `cnf.jkt`), `None` when it is not
    /// bound; a `cnf` of the wrong shape makes the claims invalid.
    pub(crate) fn confirmation_key(&self) -> Result<Option<String>, crate::ErrorKind> {
        crate::payload::confirmation_key(&self.inner.payload, self.members())
            .map_err(|()| crate::ErrorKind::InvalidClaims)
    }

    pub(crate) fn facts(&self) -> &TokenFacts {
        &self.inner.facts
    }

    /// When the token expires: its `exp` claim (which every verified token has).
    pub fn expires_at(&self) -> SystemTime {
        system_time(self.inner.facts.exp)
    }

    /// The instant from which the layer rejects this token: `exp` plus the configured
    /// leeway. [`TokenExpiryLayer`](crate::expiry::TokenExpiryLayer) ends responses there.
    pub(crate) fn rejected_from(&self) -> SystemTime {
        system_time(self.inner.facts.exp.saturating_add(self.inner.facts.leeway))
    }

    /// The verified header.
    pub fn header(&self) -> &VerifiedHeader {
        &self.inner.header
    }

    /// The roles and scopes the token grants.
    pub fn grants(&self) -> &Grants {
        &self.inner.grants
    }

    /// The payload's JSON text, as signed.
    pub fn payload(&self) -> &[u8] {
        &self.inner.payload
    }

    /// How the configuration that verified the token answers rejections (its realm and
    /// responder answer guard rejections too).
    pub(crate) fn responder(&self) -> &Arc<Responder> {
        &self.inner.responder
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("header", &self.inner.header)
            .field("grants", &self.inner.grants)
            .finish_non_exhaustive()
    }
}

/// The parts of a token's header that were verified along with its signature.
///
/// ```
/// use tower_jwt_auth::{Algorithm, JwtAuthConfig, TokenIssuer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let issuer = TokenIssuer::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!".to_vec())
///     .kid("2025-01")
///     .build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice"}))?;
/// let config = JwtAuthConfig::builder().key(issuer.verifying_key()).build()?;
///
/// let claims = config.verify(&token)?;
/// let header = claims.header();
/// assert_eq!(header.algorithm(), Algorithm::HS256); // the key's own algorithm
/// assert_eq!(header.kid(), Some("2025-01"));
/// assert_eq!(header.typ(), Some("JWT"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHeader {
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<Arc<str>>,
    /// `JWT`, the usual value, is kept without an allocation.
    pub(crate) typ: Option<Cow<'static, str>>,
}

impl VerifiedHeader {
    /// The algorithm the signature was verified with (the key's own).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The `kid` the token named, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `typ` the token named, if any.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }
}

/// The registered claims (RFC 7519 section 4.1) and every other member of the payload.
///
/// Refuses a payload that repeats a member name anywhere (at any depth), where a plain map
/// would silently keep the last one and let a token carry two different `roles`.
///
/// ```
/// use tower_jwt_auth::DefaultClaims;
///
/// # fn main() -> Result<(), serde_json::Error> {
/// let claims: DefaultClaims =
///     serde_json::from_str(r#"{"sub": "alice", "aud": "orders-api", "exp": 1900000000, "role": "admin"}"#)?;
/// assert_eq!(claims.sub.as_deref(), Some("alice"));
/// assert_eq!(claims.aud, ["orders-api"]); // one audience or several, always a list
/// assert_eq!(claims.exp, Some(1_900_000_000));
/// assert_eq!(claims.get("role"), Some(&serde_json::json!("admin")));
///
/// // A repeated member is refused, at any depth.
/// assert!(serde_json::from_str::<DefaultClaims>(r#"{"roles": ["user"], "roles": ["admin"]}"#).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DefaultClaims {
    /// `iss`: who issued the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `sub`: whom the token is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `aud`: the audiences (a single string in the token becomes one element).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    /// `exp`: expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// `nbf`: not before, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// `iat`: issued at, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `jti`: the token's unique id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Every other member of the payload.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DefaultClaims {
    /// A member of the payload other than the registered claims.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.extra.get(name)
    }
}

impl<'de> Deserialize<'de> for DefaultClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClaimsVisitor;
        impl<'de> Visitor<'de> for ClaimsVisitor {
            type Value = DefaultClaims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DefaultClaims, A::Error> {
                let mut claims = DefaultClaims::default();
                let mut seen = [false; 7];
                while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                    let slot =
                        ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"].iter().position(|n| *n == name);
                    if let Some(index) = slot
                        && std::mem::replace(&mut seen[index], true)
                    {
                        return Err(de::Error::custom("a claim appears twice"));
                    }
                    match slot {
                        Some(0) => claims.iss = Some(map.next_value()?),
                        Some(1) => claims.sub = Some(map.next_value()?),
                        Some(2) => claims.aud = map.next_value::<Audience>()?.0,
                        Some(3) => claims.exp = Some(map.next_value::<NumericDate>()?.0),
                        Some(4) => claims.nbf = Some(map.next_value::<NumericDate>()?.0),
                        Some(5) => claims.iat = Some(map.next_value::<NumericDate>()?.0),
                        Some(6) => claims.jti = Some(map.next_value()?),
                        _ => {
                            let value = map.next_value::<StrictValue>()?.0;
                            if claims.extra.insert(name.into_owned(), value).is_some() {
                                return Err(de::Error::custom("a claim appears twice"));
                            }
                        }
                    }
                }
                Ok(claims)
            }
        }
        deserializer.deserialize_map(ClaimsVisitor)
    }
}

/// Whether the layer verified this request's token for a claims type other than `C`
/// (logged as an error naming both types, once per pair of types in the process: every
/// request of that route would repeat it). The axum extractors and [`Claims::from_grpc`]
/// ask this when they find no `Claims<C>`.
#[cfg(any(feature = "axum", feature = "tonic"))]
pub(crate) fn another_claims_type<C: 'static>(extensions: &http::Extensions) -> bool {
    use std::sync::{Mutex, PoisonError};

    static REPORTED: Mutex<Vec<(&str, &str)>> = Mutex::new(Vec::new());
    let Some(token) = extensions.get::<VerifiedToken>() else { return false };
    let pair = (token.claims_type(), std::any::type_name::<C>());
    let first = {
        let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
        // As many pairs as the program has claims types: a short list.
        !reported.contains(&pair) && {
            reported.push(pair);
            true
        }
    };
    if first {
        tracing::error!(
            layer_claims = pair.0,
            handler_claims = pair.1,
            "the layer verified this request's token into another claims type than the handler asks \
             for: build the layer with JwtAuthLayer::with_claims::<C>() for the handler's C"
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_claims_refuse_a_repeated_member_at_any_depth() {
        assert!(serde_json::from_str::<DefaultClaims>(r#"{"roles":["user"],"roles":["admin"]}"#).is_err());
        assert!(serde_json::from_str::<DefaultClaims>(r#"{"sub":"a","sub":"b"}"#).is_err());
        assert!(
            serde_json::from_str::<DefaultClaims>(r#"{"realm_access":{"roles":["a"],"roles":["admin"]}}"#)
                .is_err()
        );
        let claims: DefaultClaims = serde_json::from_str(
            r#"{"sub":"a","aud":"api","exp":10.9,"roles":["x"],"n":{"a":[1,{"b":null}]}}"#,
        )
        .unwrap();
        assert_eq!(claims.aud, vec!["api".to_string()]);
        assert_eq!(claims.exp, Some(10));
        assert_eq!(claims.get("roles"), Some(&serde_json::json!(["x"])));
    }

    #[test]
    fn registered_claims_must_have_their_registered_types() {
        let tree = crate::grants::PathTree::default();
        let read = |json: &str| crate::payload::PayloadScan::read(json.as_bytes(), &tree).map(|_| ());
        assert!(read(r#"{"iss":42}"#).is_err());
        assert!(read(r#"{"aud":[1]}"#).is_err());
        assert!(read(r#"{"exp":"soon"}"#).is_err());
        assert!(read(r#"{"exp":1,"exp":2}"#).is_err());
        assert!(read(r#"{"iss":"a\u0041","aud":["x"],"exp":1.5}"#).is_ok());
    }
}

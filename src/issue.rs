//! Issuing tokens for a login endpoint, and publishing the public keys as a JWK set.
//!
//! [`TokenIssuer`] signs your claims with a configured key and fills in what a good access
//! token carries: `iat`, `nbf`, `exp` (15 minutes by default), a random `jti`, and `iss` /
//! `aud` when configured, plus the `kid` in the header. Claims you set yourself win.
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::{JwtAuthConfig, TokenIssuer};
//!
//! let secret = b"an example secret of at least 32 bytes!".to_vec();
//! let issuer = TokenIssuer::builder()
//!     .hmac_secret(secret.clone())
//!     .issuer("https://auth.example.com")
//!     .audience("orders-api")
//!     .lifetime(Duration::from_secs(600))
//!     .build()
//!     .unwrap();
//! let token = issuer.issue(&serde_json::json!({"sub": "alice", "role": "admin"})).unwrap();
//!
//! // The verifying side: the same secret, issuer and audience.
//! let config = JwtAuthConfig::builder()
//!     .key(issuer.verifying_key())
//!     .issuer("https://auth.example.com")
//!     .audience("orders-api")
//!     .build()
//!     .unwrap();
//! assert_eq!(config.verify(&token).unwrap().sub.as_deref(), Some("alice"));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};

use jsonwebtoken::EncodingKey;
#[doc(no_inline)]
pub use jsonwebtoken::jwk::JwkSet;
use serde::Serialize;
use serde_json::{Map, Value};

use std::time::SystemTime;

use crate::claims::VerifiedToken;
use crate::clock::{epoch_seconds, now, system_time};
use crate::config::JwtAuthConfig;
use crate::error::ConfigError;
use crate::keys::{Algorithm, Signer, VerifyingKey, install_default_provider, vet};
use crate::revoke::{RevocationError, RevocationErrorKind, Revocations};
use crate::rules::REFRESH_TOKEN_TYPE;

/// The default access-token lifetime: short, as the tutorial recommends.
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The default refresh-token lifetime (renewed at each rotation).
pub(crate) const DEFAULT_REFRESH_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Signs access tokens (and refresh tokens that rotate) with one key; cheap to clone.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{JwtAuthConfig, TokenIssuer};
///
/// #[derive(serde::Serialize)]
/// struct Login<'a> {
///     sub: &'a str,
///     roles: Vec<&'a str>,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = TokenIssuer::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!".to_vec())
///     .kid("2024-06")
///     .issuer("https://auth.example.com")
///     .build()?;
/// let token = issuer.issue(&Login { sub: "alice", roles: vec!["admin"] })?;
///
/// let config =
///     JwtAuthConfig::builder().key(issuer.verifying_key()).issuer("https://auth.example.com").build()?;
/// let claims = config.verify(&token)?;
/// assert!(claims.grants().has_role("admin"));
/// assert_eq!(claims.header().kid(), Some("2024-06"));
/// // Filled in by the issuer: iat, nbf, exp (15 minutes by default), a random jti, iss.
/// assert_eq!(issuer.lifetime(), Duration::from_secs(15 * 60));
/// assert_eq!(claims.exp.zip(claims.iat).map(|(exp, iat)| exp - iat), Some(15 * 60));
/// assert!(claims.jti.is_some());
/// // A shared secret is never published: the JWK set of an HMAC issuer is empty.
/// assert!(issuer.jwk_set().keys.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TokenIssuer {
    inner: Arc<IssuerInner>,
}

struct IssuerInner {
    signer: Signer,
    algorithm: Algorithm,
    kid: Option<String>,
    /// The access tokens' header, encoded: `alg`, `typ: JWT` and the `kid`.
    header: String,
    issuer: Option<String>,
    audiences: Vec<String>,
    lifetime: Duration,
    public_jwk: Option<Jwk>,
    verifying_key: VerifyingKey,
    refresh_lifetime: Duration,
    /// `<audience>#refresh` for each audience; without audiences, `#refresh`.
    refresh_audiences: Vec<String>,
    /// The refresh tokens' header, encoded: `typ: refresh+jwt`.
    refresh_header: String,
    /// Verifies this issuer's refresh tokens (and nothing else: their `typ` is required).
    refresh_config: JwtAuthConfig,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("algorithm", &self.inner.algorithm)
            .field("kid", &self.inner.kid)
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("lifetime", &self.inner.lifetime)
            .finish_non_exhaustive()
    }
}

/// Why a token could not be issued: a [`kind`](Self::kind) to match on, and a fixed
/// sentence.
///
/// ```
/// use tower_jwt_auth::{TokenIssuer, issue::IssueErrorKind};
///
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!".to_vec()).build().unwrap();
/// let error = issuer.issue(&serde_json::json!({"sub": "alice", "exp": 1.5})).unwrap_err();
/// assert_eq!(error.kind(), IssueErrorKind::InvalidClaims);
/// ```
#[derive(Debug, Clone)]
pub struct IssueError {
    kind: IssueErrorKind,
    message: &'static str,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// What kept a token from being issued.
///
/// ```
/// use tower_jwt_auth::{TokenIssuer, issue::IssueErrorKind};
///
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!".to_vec()).build().unwrap();
///
/// // Claims are a JSON object; a session's claims need a string `sub`.
/// let error = issuer.issue(&"alice").unwrap_err();
/// assert_eq!(error.kind(), IssueErrorKind::InvalidClaims);
/// let error = issuer.issue_pair(&serde_json::json!({"role": "admin"})).unwrap_err();
/// assert_eq!(error.kind(), IssueErrorKind::InvalidClaims);
/// assert_eq!(error.to_string(), "a token pair needs a string sub in the claims");
///
/// // Bad claims are a bug in the caller's code; the other kinds are failures of the system.
/// let fault = match error.kind() {
///     IssueErrorKind::InvalidClaims => "our claims",
///     IssueErrorKind::Signing | IssueErrorKind::Randomness => "the system",
///     _ => "something new", // the enum is non-exhaustive
/// };
/// assert_eq!(fault, "our claims");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssueErrorKind {
    /// The claims cannot make this token: not a JSON object, a registered claim of the wrong
    /// type, or claims a session sets itself.
    InvalidClaims,
    /// Signing failed.
    Signing,
    /// The system gave no randomness for a token or session id.
    Randomness,
}

impl IssueError {
    fn new(kind: IssueErrorKind, message: &'static str) -> Self {
        Self { kind, message, source: None }
    }

    fn claims(message: &'static str) -> Self {
        Self::new(IssueErrorKind::InvalidClaims, message)
    }

    fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> IssueErrorKind {
        self.kind
    }
}

impl PartialEq for IssueError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for IssueError {}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for IssueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// The refresh tokens' audience when the issuer has none of its own.
const REFRESH_AUDIENCE: &str = "#refresh";

/// The registered claims the issuer fills in or checks.
const REGISTERED: [&str; 8] = ["iat", "nbf", "exp", "jti", "iss", "aud", "sub", "sid"];

/// Refuses registered claims of a type no verifier accepts: dates that are not whole
/// seconds, ids and issuers that are not strings, audiences that are not strings.
fn check_registered(map: &Map<String, Value>) -> Result<(), IssueError> {
    let date = |value: &Value| value.is_i64() || value.is_u64();
    let audience = |value: &Value| match value {
        Value::String(_) => true,
        Value::Array(all) => all.iter().all(Value::is_string),
        _ => false,
    };
    for (name, value) in map {
        let fits = match name.as_str() {
            "iat" | "nbf" | "exp" => date(value),
            "jti" | "iss" | "sub" | "sid" => value.is_string(),
            "aud" => audience(value),
            _ => true,
        };
        if !fits {
            return Err(IssueError::claims(
                "exp, iat and nbf must be whole seconds; jti, iss, sub and sid strings; aud a string \
                 or strings",
            ));
        }
    }
    Ok(())
}

impl TokenIssuer {
    /// A builder; a signing key is required.
    pub fn builder() -> TokenIssuerBuilder {
        TokenIssuerBuilder::default()
    }

    /// Signs `claims` (any struct or map that serializes to a JSON object), adding `iat`,
    /// `nbf`, `exp`, `jti`, `iss` and `aud` where `claims` does not set them (or sets them to
    /// `null`, as an `Option` field left `None` does). Registered claims of the wrong type
    /// (a fractional `exp`, a numeric `jti`) are refused: no verifier would accept them.
    pub fn issue<T: Serialize>(&self, claims: &T) -> Result<String, IssueError> {
        let map = self.claims(object(claims)?, now(), self.inner.lifetime)?;
        self.sign(&self.inner.header, &map)
    }

    /// Adds what `claims` does not set: `iat`, `nbf`, `exp` (now plus `lifetime`), `jti`,
    /// `iss` and `aud`.
    fn claims(
        &self,
        mut map: Map<String, Value>,
        now: i64,
        lifetime: Duration,
    ) -> Result<Map<String, Value>, IssueError> {
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        // A registered claim set to `null` is not set: it gets its default like a missing one.
        map.retain(|name, value| !(value.is_null() && REGISTERED.contains(&name.as_str())));
        map.entry("iat").or_insert_with(|| now.into());
        map.entry("nbf").or_insert_with(|| now.into());
        map.entry("exp").or_insert_with(|| now.saturating_add(lifetime).into());
        if !map.contains_key("jti") {
            map.insert("jti".into(), random_id()?.into());
        }
        if let Some(issuer) = &self.inner.issuer {
            map.entry("iss").or_insert_with(|| issuer.clone().into());
        }
        match self.inner.audiences.as_slice() {
            [] => {}
            [one] => {
                map.entry("aud").or_insert_with(|| one.clone().into());
            }
            many => {
                map.entry("aud").or_insert_with(|| many.to_vec().into());
            }
        }
        check_registered(&map)?;
        Ok(map)
    }

    fn sign(&self, header: &str, claims: &Map<String, Value>) -> Result<String, IssueError> {
        let payload = serde_json::to_vec(claims).map_err(|error| {
            IssueError::new(IssueErrorKind::Signing, "the claims could not be written as JSON")
                .caused_by(error)
        })?;
        let mut token = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = self.inner.signer.sign(token.as_bytes()).map_err(|error| {
            IssueError::new(IssueErrorKind::Signing, "the token could not be signed").caused_by(error)
        })?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }

    /// Signs an access token from `claims` as [`issue`](Self::issue) does, plus a refresh
    /// token, both carrying a new session id (`sid`): the start of a refresh-token family.
    /// `claims` must have a string `sub` and no `sid`, `exp`, `iat`, `nbf` or `jti` of its
    /// own: the session sets them, and revoking it covers exactly its lifetimes.
    ///
    /// The refresh token is a JWT with `typ: refresh+jwt`, living
    /// [`refresh_lifetime`](TokenIssuerBuilder::refresh_lifetime) (7 days by default). The
    /// layer never accepts it as an access token (only a configuration whose
    /// `required_type` is `refresh+jwt` does); [`redeem`](Self::redeem) takes it back.
    pub fn issue_pair<T: Serialize>(&self, claims: &T) -> Result<TokenPair, IssueError> {
        self.pair(object(claims)?, None, random_id()?)
    }

    /// Checks a refresh token and marks it used; continue with
    /// [`continue_session`](Self::continue_session) to hand out the next pair.
    ///
    /// Rotation with reuse detection: each refresh token can be redeemed once. Redeeming one
    /// again (a copy was stolen, or the client replayed it) revokes its whole family, the
    /// access tokens included, and fails with [`RefreshErrorKind::Reused`]; no refresh token
    /// of that family redeems again, even when the revocation list is too full to record
    /// the family (its access tokens then live to their expiry, with a warning in the
    /// log). A refresh token whose session or subject was revoked fails with
    /// [`RefreshErrorKind::Revoked`]. One living longer than `revocations` covers
    /// ([`max_token_lifetime`](crate::revoke::RevocationsBuilder::max_token_lifetime) shorter than
    /// [`refresh_lifetime`](TokenIssuerBuilder::refresh_lifetime)) is
    /// [`Invalid`](RefreshErrorKind::Invalid), with a warning in the log. With
    /// Redis the "used once" mark is atomic across instances.
    pub async fn redeem(
        &self,
        refresh_token: &str,
        revocations: &Revocations,
    ) -> Result<RefreshGrant, RefreshError> {
        let invalid = RefreshError::new(RefreshErrorKind::Invalid);
        let claims = self.inner.refresh_config.verify(refresh_token).map_err(|_| invalid.clone())?;
        let token = claims.token();
        let ids = token.ids().ok_or_else(|| invalid.clone())?;
        let generation = claims.get("gen").and_then(Value::as_u64);
        let (Some(sub), Some(sid), Some(generation)) = (ids.sub.as_deref(), ids.sid.as_deref(), generation)
        else {
            return Err(invalid);
        };
        if revocations.covers(&ids) {
            return Err(RefreshError::new(RefreshErrorKind::Revoked));
        }
        // A refresh token living longer than the list's entries last would become valid
        // again once "log out everywhere" dropped its entry.
        let issued = ids.iat.unwrap_or(i64::MIN);
        if token.facts().exp.saturating_sub(issued) > revocations.max_token_lifetime() {
            tracing::warn!(
                "a refresh token lives longer than the revocations' max_token_lifetime, which could not \
                 revoke it to its end: refused (make max_token_lifetime at least the refresh lifetime)"
            );
            return Err(invalid);
        }
        // The session's entry lasts as long as any token of it does: the next pair, made
        // from this grant, lives to `session_end`.
        let until = token.facts().exp.max(epoch_seconds(self.session_end(revocations)));
        match revocations.advance(sid, generation, until).await {
            Ok(true) => Ok(RefreshGrant { subject: sub.to_owned(), session: sid.to_owned(), generation }),
            Ok(false) => {
                tracing::warn!("a refresh token was used twice; its session is revoked");
                let until = self.session_end(revocations);
                // Even when the shared store is down, the family is revoked here and later there.
                match revocations.revoke_session(sid, until).await {
                    Ok(()) => {}
                    Err(error) if error.kind() == RevocationErrorKind::Deferred => {}
                    // The session's rotation has ended all the same (no generation of it
                    // redeems again); its access tokens live to their expiry here.
                    Err(error) => tracing::warn!(
                        error = %error,
                        "the reused session's access tokens could not be revoked on this instance; they stay \
                         valid here until they expire"
                    ),
                }
                Err(RefreshError::new(RefreshErrorKind::Reused))
            }
            Err(error) => {
                if error.kind() == RevocationErrorKind::Full {
                    tracing::warn!(
                        "the revocation list follows as many refresh sessions as it may: a refresh was refused"
                    );
                }
                Err(RefreshError { kind: RefreshErrorKind::Store(error.kind()), store: Some(error) })
            }
        }
    }

    /// The next pair of a session after [`redeem`](Self::redeem): an access token from
    /// `claims` (read the user again, so a changed role takes effect) and a new refresh
    /// token, in the same family. `claims` may leave out `sub`; if it sets one, it must be
    /// the grant's subject.
    pub fn continue_session<T: Serialize>(
        &self,
        grant: &RefreshGrant,
        claims: &T,
    ) -> Result<TokenPair, IssueError> {
        let mut map = object(claims)?;
        match map.get("sub") {
            None => {
                map.insert("sub".into(), grant.subject.clone().into());
            }
            Some(Value::String(sub)) if *sub == grant.subject => {}
            Some(_) => {
                return Err(IssueError::claims("the claims name another subject than the session's"));
            }
        }
        self.pair(map, Some((&grant.session, grant.generation.saturating_add(1))), String::new())
    }

    /// Logs a session out: revokes this access token and, when it belongs to a session made
    /// by [`issue_pair`](Self::issue_pair), the whole refresh-token family with it.
    pub async fn logout(
        &self,
        access_token: &VerifiedToken,
        revocations: &Revocations,
    ) -> Result<(), RevocationError> {
        let ids = access_token.ids().ok_or(RevocationError::new(RevocationErrorKind::MissingId))?;
        let token = match ids.jti {
            Some(_) => revocations.revoke(access_token).await,
            None => Ok(()),
        };
        let session = match ids.sid.as_deref() {
            Some(sid) => {
                let until = self.session_end(revocations);
                revocations.revoke_session(sid, until).await
            }
            None if ids.jti.is_none() => Err(RevocationError::new(RevocationErrorKind::MissingId)),
            None => Ok(()),
        };
        token.and(session)
    }

    /// The latest a token of a session can expire: what revoking or following a session
    /// must cover. That is this issuer's lifetimes from now, and at least the longest
    /// lifetime `revocations` lets through (tokens of the session may come from an issuer
    /// configured with longer lifetimes: before a deploy, or another instance).
    fn session_end(&self, revocations: &Revocations) -> SystemTime {
        let now = SystemTime::now();
        let covered = Duration::from_secs(u64::try_from(revocations.max_token_lifetime()).unwrap_or(0));
        // A lifetime past what `SystemTime` holds: the session never ends before the last
        // second the revocation list can record (it clamps there too).
        now.checked_add(self.inner.lifetime.max(self.inner.refresh_lifetime).max(covered))
            .unwrap_or_else(|| system_time(i64::MAX))
    }

    /// Signs the access and refresh tokens of a session: `session` is its `sid` and the
    /// refresh token's generation, or `None` for a new session (`new_sid`, generation 0).
    fn pair(
        &self,
        mut map: Map<String, Value>,
        session: Option<(&String, u64)>,
        new_sid: String,
    ) -> Result<TokenPair, IssueError> {
        let sid = session.map(|(sid, _)| sid);
        let generation = session.map_or(0, |(_, generation)| generation);
        if sid.is_none() && map.contains_key("sid") {
            return Err(IssueError::claims("the claims of a new session cannot set sid"));
        }
        // The session's lifetimes are what revoking it covers: a later `exp`, or an `iat` or
        // `nbf` of the caller's, could outlive or escape that revocation.
        if ["exp", "iat", "nbf", "jti"]
            .iter()
            .any(|name| map.get(*name).is_some_and(|value| !value.is_null()))
        {
            return Err(IssueError::claims("the claims of a session cannot set exp, iat, nbf or jti"));
        }
        let sub = match map.get("sub") {
            Some(Value::String(sub)) => sub.clone(),
            _ => return Err(IssueError::claims("a token pair needs a string sub in the claims")),
        };
        let sid = sid.cloned().unwrap_or(new_sid);
        map.insert("sid".into(), sid.clone().into());
        let now = now();
        let access = self.claims(map, now, self.inner.lifetime)?;
        let mut refresh = Map::new();
        refresh.insert("sub".into(), sub.into());
        refresh.insert("sid".into(), sid.into());
        refresh.insert("gen".into(), generation.into());
        // Audiences of their own, so a resource server that ignores `typ` still refuses a
        // refresh token by its audience.
        match self.inner.refresh_audiences.as_slice() {
            [] => {}
            [one] => {
                refresh.insert("aud".into(), one.clone().into());
            }
            many => {
                refresh.insert("aud".into(), many.to_vec().into());
            }
        }
        let refresh = self.claims(refresh, now, self.inner.refresh_lifetime)?;
        Ok(TokenPair {
            access_token: self.sign(&self.inner.header, &access)?,
            token_type: "bearer",
            expires_in: self.inner.lifetime.as_secs(),
            refresh_token: self.sign(&self.inner.refresh_header, &refresh)?,
            refresh_expires_in: self.inner.refresh_lifetime.as_secs(),
        })
    }

    /// The public half of the signing key as a JWK set (jsonwebtoken's [`JwkSet`], which
    /// serializes to the JSON to serve at `/.well-known/jwks.json`). Empty for HMAC issuers: a
    /// shared secret is never published. The JWK carries `use: sig`, the `kid` when set, and
    /// `alg`, except for a P-521 key (ES512), whose curve names its algorithm (jsonwebtoken's
    /// JWK type has no ES512). To verify with it in-process, pass
    /// `serde_json::to_string(&issuer.jwk_set())` to
    /// [`jwk_set`](crate::JwtAuthConfigBuilder::jwk_set), or use
    /// [`verifying_key`](Self::verifying_key).
    pub fn jwk_set(&self) -> JwkSet {
        JwkSet { keys: self.inner.public_jwk.iter().cloned().collect() }
    }

    /// The key that verifies this issuer's tokens, ready for
    /// [`JwtAuthConfigBuilder::key`](crate::JwtAuthConfigBuilder::key).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.inner.verifying_key.clone()
    }

    /// The lifetime given to tokens that do not set `exp`.
    pub fn lifetime(&self) -> Duration {
        self.inner.lifetime
    }

    /// The lifetime of refresh tokens.
    pub fn refresh_lifetime(&self) -> Duration {
        self.inner.refresh_lifetime
    }
}

/// The claims as a JSON object.
fn object<T: Serialize>(claims: &T) -> Result<Map<String, Value>, IssueError> {
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(IssueError::claims("the claims must serialize to a JSON object")),
        Err(error) => Err(IssueError::claims("the claims could not be serialized").caused_by(error)),
    }
}

/// 128 random bits, base64url: a `jti` or a session id.
fn random_id() -> Result<String, IssueError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|error| {
        IssueError::new(IssueErrorKind::Randomness, "no randomness for an id").caused_by(error)
    })?;
    Ok(URL_SAFE_NO_PAD.encode(id))
}

/// An access token and a refresh token, serializing as an OAuth 2.0 token response
/// (RFC 6749 section 5.1) plus `refresh_expires_in`.
///
/// ```
/// use tower_jwt_auth::{ErrorKind, JwtAuthConfig, TokenIssuer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!".to_vec()).build()?;
/// let pair = issuer.issue_pair(&serde_json::json!({"sub": "alice"}))?;
///
/// // The body of a `POST /token` answer, as it is.
/// let body = serde_json::to_value(&pair)?;
/// assert_eq!(body["token_type"], "bearer");
/// assert_eq!(body["expires_in"], 15 * 60);
/// assert_eq!(body["refresh_expires_in"], 7 * 24 * 3600);
/// assert!(!format!("{pair:?}").contains(&pair.access_token)); // Debug leaves the tokens out
///
/// // The access token opens the API; the refresh token does not.
/// let config = JwtAuthConfig::builder().key(issuer.verifying_key()).build()?;
/// assert!(config.verify(&pair.access_token).is_ok());
/// assert_eq!(config.verify(&pair.refresh_token).unwrap_err().kind(), ErrorKind::InvalidType);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct TokenPair {
    /// The access token.
    pub access_token: String,
    /// Always `"bearer"`.
    pub token_type: &'static str,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    /// The refresh token.
    pub refresh_token: String,
    /// The refresh token's lifetime in seconds.
    pub refresh_expires_in: u64,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The tokens are credentials: never in logs.
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

/// A redeemed refresh token: whose it was and which session it continues.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, TokenIssuer, revoke::Revocations};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!".to_vec()).build()?;
/// let config = JwtAuthConfig::builder().key(issuer.verifying_key()).build()?;
/// let revocations = Revocations::in_memory();
/// let pair = issuer.issue_pair(&serde_json::json!({"sub": "alice"}))?;
///
/// // POST /token/refresh: the grant names whose session goes on.
/// let grant = issuer.redeem(&pair.refresh_token, &revocations).await?;
/// assert_eq!(grant.subject(), "alice");
/// let first = config.verify(&pair.access_token)?;
/// assert_eq!(first.get("sid").and_then(|sid| sid.as_str()), Some(grant.session()));
///
/// // The next pair, from the user's current claims, in the same session.
/// let next = issuer.continue_session(&grant, &serde_json::json!({"role": "admin"}))?;
/// let claims = config.verify(&next.access_token)?;
/// assert_eq!(claims.sub.as_deref(), Some("alice"));
/// assert_eq!(claims.get("sid"), first.get("sid"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    subject: String,
    session: String,
    generation: u64,
}

impl RefreshGrant {
    /// The `sub` the refresh token was issued to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The session id (`sid`) of its family.
    pub fn session(&self) -> &str {
        &self.session
    }
}

/// Why a refresh token was not redeemed: a [`kind`](Self::kind) to match on, a fixed
/// sentence, and the store's [`RevocationError`] as the [`source`](std::error::Error::source)
/// when the store failed.
///
/// ```
/// use tower_jwt_auth::{TokenIssuer, issue::RefreshErrorKind, revoke::Revocations};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!".to_vec()).build()?;
/// let revocations = Revocations::in_memory();
/// let pair = issuer.issue_pair(&serde_json::json!({"sub": "alice"}))?;
///
/// // An access token is no refresh token.
/// let error = issuer.redeem(&pair.access_token, &revocations).await.unwrap_err();
/// assert_eq!(error.kind(), RefreshErrorKind::Invalid);
/// assert_eq!(error.to_string(), "the refresh token is invalid");
/// // Only a failed store gives a source (its `RevocationError`).
/// assert!(std::error::Error::source(&error).is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshError {
    kind: RefreshErrorKind,
    store: Option<RevocationError>,
}

/// What went wrong redeeming a refresh token.
///
/// ```
/// use std::time::SystemTime;
/// use tower_jwt_auth::{TokenIssuer, issue::RefreshErrorKind, revoke::Revocations};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let issuer = TokenIssuer::builder().hmac_secret(b"an example secret of at least 32 bytes!".to_vec()).build()?;
/// let revocations = Revocations::in_memory();
///
/// // The same refresh token twice: a replay, and its session is revoked.
/// let pair = issuer.issue_pair(&serde_json::json!({"sub": "alice"}))?;
/// issuer.redeem(&pair.refresh_token, &revocations).await?;
/// let reused = issuer.redeem(&pair.refresh_token, &revocations).await.unwrap_err();
/// assert_eq!(reused.kind(), RefreshErrorKind::Reused);
///
/// // After "log out everywhere", the subject's refresh tokens are revoked.
/// let pair = issuer.issue_pair(&serde_json::json!({"sub": "bob"}))?;
/// revocations.revoke_subject("bob", SystemTime::now()).await?;
/// let revoked = issuer.redeem(&pair.refresh_token, &revocations).await.unwrap_err();
/// assert_eq!(revoked.kind(), RefreshErrorKind::Revoked);
///
/// // What a token endpoint answers (RFC 6749 section 5.2).
/// let answer = |kind| match kind {
///     RefreshErrorKind::Store(_) => (503, "temporarily_unavailable"),
///     _ => (400, "invalid_grant"), // invalid, revoked or reused
/// };
/// assert_eq!(answer(reused.kind()), (400, "invalid_grant"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefreshErrorKind {
    /// Not a valid refresh token of this issuer: bad signature, expired, an access token...
    Invalid,
    /// Its session or subject was revoked (a logout).
    Revoked,
    /// It was redeemed before: its whole family is now revoked.
    Reused,
    /// The revocation store failed (full, or Redis unreachable); nothing was redeemed.
    Store(RevocationErrorKind),
}

impl RefreshError {
    fn new(kind: RefreshErrorKind) -> Self {
        Self { kind, store: None }
    }

    /// What went wrong.
    pub fn kind(&self) -> RefreshErrorKind {
        self.kind
    }
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            RefreshErrorKind::Invalid => "the refresh token is invalid",
            RefreshErrorKind::Revoked => "the refresh token was revoked",
            RefreshErrorKind::Reused => "the refresh token was already used; its session is revoked",
            RefreshErrorKind::Store(_) => "the revocation store is unavailable",
        })
    }
}

impl std::error::Error for RefreshError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.store.as_ref().map(|error| error as &(dyn std::error::Error + 'static))
    }
}

enum SigningSource {
    Hmac(Vec<u8>),
    RsaPem(Vec<u8>),
    EcPem(Vec<u8>),
    Ed25519Pem(Vec<u8>),
}

/// Builds a [`TokenIssuer`]: a signing key is required, every other setting has a default.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{Algorithm, TokenIssuer, error::ConfigErrorKind};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ec256_private.pem"))?;
/// // `pem`: a PKCS#8 P-256 private key, from your secret store.
/// let issuer = TokenIssuer::builder()
///     .ec_pem(&pem) // ES256, as the curve says
///     .kid("2024-06")
///     .issuer("https://auth.example.com")
///     .audience("orders-api")
///     .lifetime(Duration::from_secs(5 * 60))
///     .refresh_lifetime(Duration::from_secs(24 * 3600))
///     .build()?;
/// assert_eq!(issuer.refresh_lifetime(), Duration::from_secs(24 * 3600));
/// assert_eq!(issuer.jwk_set().keys[0].common.key_id.as_deref(), Some("2024-06"));
///
/// // A secret too short for its algorithm is refused at build time.
/// let error = TokenIssuer::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!".to_vec())
///     .algorithm(Algorithm::HS512)
///     .build()
///     .unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
/// assert!(error.message().contains("HS512 needs at least 64 random bytes"));
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct TokenIssuerBuilder {
    source: Option<SigningSource>,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
    issuer: Option<String>,
    audiences: Vec<String>,
    lifetime: Duration,
    refresh_lifetime: Duration,
}

impl Default for TokenIssuerBuilder {
    fn default() -> Self {
        Self {
            source: None,
            algorithm: None,
            kid: None,
            issuer: None,
            audiences: Vec::new(),
            lifetime: DEFAULT_TOKEN_LIFETIME,
            refresh_lifetime: DEFAULT_REFRESH_LIFETIME,
        }
    }
}

impl fmt::Debug for TokenIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuerBuilder")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuerBuilder {
    /// Signs with an HMAC secret (HS256 unless [`algorithm`](Self::algorithm) says otherwise).
    /// Takes what [`JwtAuthConfigBuilder::hmac_secret`](crate::JwtAuthConfigBuilder::hmac_secret)
    /// takes: `&secret`, a byte string, a `Vec<u8>` or a `String`.
    pub fn hmac_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.source = Some(SigningSource::Hmac(secret.as_ref().to_vec()));
        self
    }

    /// Signs with an RSA private key in PEM (PKCS#1 or PKCS#8); RS256 unless told otherwise.
    pub fn rsa_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.source = Some(SigningSource::RsaPem(pem.as_ref().to_vec()));
        self
    }

    /// Signs with an EC private key in PEM (PKCS#8): ES256 on P-256, ES384 on P-384, ES512 on
    /// P-521.
    pub fn ec_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.source = Some(SigningSource::EcPem(pem.as_ref().to_vec()));
        self
    }

    /// Signs with an Ed25519 private key in PEM (PKCS#8); EdDSA.
    pub fn ed25519_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.source = Some(SigningSource::Ed25519Pem(pem.as_ref().to_vec()));
        self
    }

    /// The signing algorithm; it must fit the key.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The `kid` put in every header and in the published JWK.
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The `iss` of every token.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An `aud` of every token (call again for several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// How long tokens live (default 15 minutes).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How long refresh tokens from [`TokenIssuer::issue_pair`] live (default 7 days); each
    /// rotation hands out a new one with a full lifetime. Keep
    /// [`RevocationsBuilder::max_token_lifetime`](crate::revoke::RevocationsBuilder::max_token_lifetime)
    /// at least this long, so "log out everywhere" covers refresh tokens to the end:
    /// [`TokenIssuer::redeem`] refuses refresh tokens that outlive it.
    pub fn refresh_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_lifetime = lifetime;
        self
    }

    /// Checks the key and builds the issuer.
    pub fn build(self) -> Result<TokenIssuer, ConfigError> {
        install_default_provider();
        let unreadable = |what: &str| ConfigError::key(format!("the signing key is not {what}"));
        let source = self.source.ok_or_else(|| {
            ConfigError::missing_key("no signing key is configured; use .hmac_secret(...) or a PEM key")
        })?;
        // The key, its algorithm, and (for ES512, which jsonwebtoken lacks) its public point.
        let (signer, algorithm, public_jwk) = match &source {
            SigningSource::Hmac(secret) => {
                let algorithm = self.algorithm.unwrap_or(Algorithm::HS256);
                vet::hmac(secret, algorithm).map_err(ConfigError::key)?;
                let key = EncodingKey::from_secret(secret).map_err(|_| unreadable("a non-empty secret"))?;
                (jwt_signer(key, algorithm)?, algorithm, None)
            }
            SigningSource::RsaPem(pem) => {
                let key =
                    EncodingKey::from_rsa_pem(pem).map_err(|_| unreadable("an RSA private key in PEM"))?;
                public_pair(key, self.algorithm.unwrap_or(Algorithm::RS256))?
            }
            SigningSource::EcPem(pem) => {
                let key = EncodingKey::from_ec_pem(pem).map_err(|_| {
                    unreadable(
                        "an EC private key in PKCS#8 PEM (`BEGIN PRIVATE KEY`); convert a `BEGIN EC PRIVATE \
                         KEY` file with `openssl pkcs8 -topk8 -nocrypt`",
                    )
                })?;
                match Signer::p521(key.as_bytes()) {
                    Some((signer, point)) => {
                        let algorithm = self.algorithm.unwrap_or(Algorithm::ES512);
                        if algorithm != Algorithm::ES512 {
                            return Err(ConfigError::key(format!(
                                "{algorithm} does not fit the signing key: a P-521 key signs ES512"
                            )));
                        }
                        (signer, algorithm, Some(p521_jwk(&point)?))
                    }
                    None => {
                        let algorithm = match self.algorithm {
                            Some(algorithm) => algorithm,
                            None if Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256).is_ok() => {
                                Algorithm::ES256
                            }
                            None => Algorithm::ES384,
                        };
                        public_pair(key, algorithm)?
                    }
                }
            }
            SigningSource::Ed25519Pem(pem) => {
                let key =
                    EncodingKey::from_ed_pem(pem).map_err(|_| unreadable("an Ed25519 private key in PEM"))?;
                public_pair(key, self.algorithm.unwrap_or(Algorithm::EdDSA))?
            }
        };
        let (public_jwk, verifying_key) = match (&source, public_jwk) {
            (SigningSource::Hmac(secret), _) => {
                (None, VerifyingKey::hmac(secret.clone()).with_algorithm(algorithm))
            }
            (_, jwk) => {
                let mut jwk = jwk.ok_or_else(|| ConfigError::key("the signing key has no public half"))?;
                jwk.common.key_id = self.kid.clone();
                jwk.common.public_key_use = Some(PublicKeyUse::Signature);
                let json = serde_json::to_string(&jwk)
                    .map_err(|_| ConfigError::key("the public key could not be written as a JWK"))?;
                (Some(jwk), VerifyingKey::jwk(json).with_algorithm(algorithm))
            }
        };
        let verifying_key = match &self.kid {
            Some(kid) => verifying_key.with_kid(kid.clone()),
            None => verifying_key,
        };
        // Vet the public half with the verifier's own rules (RSA size, curve, Ed25519 order).
        verifying_key.prepare("the signing key")?;
        let header = encoded_header(algorithm, "JWT", self.kid.as_deref());
        let refresh_header = encoded_header(algorithm, REFRESH_TOKEN_TYPE, self.kid.as_deref());
        let mut refresh_config = JwtAuthConfig::builder()
            .key(verifying_key.clone())
            .required_type(REFRESH_TOKEN_TYPE)
            .token_cache(false);
        if let Some(issuer) = &self.issuer {
            refresh_config = refresh_config.issuer(issuer);
        }
        // Always an audience: a resource server that ignores `typ` and checks no audience of
        // its own still refuses a token that names one (as jsonwebtoken and PyJWT do).
        let refresh_audiences: Vec<String> = match self.audiences.is_empty() {
            true => vec![REFRESH_AUDIENCE.to_owned()],
            false => self.audiences.iter().map(|audience| format!("{audience}#refresh")).collect(),
        };
        for audience in &refresh_audiences {
            refresh_config = refresh_config.audience(audience);
        }
        let refresh_config = refresh_config.build()?;
        Ok(TokenIssuer {
            inner: Arc::new(IssuerInner {
                signer,
                algorithm,
                kid: self.kid,
                header,
                issuer: self.issuer,
                audiences: self.audiences,
                lifetime: self.lifetime,
                public_jwk,
                verifying_key,
                refresh_lifetime: self.refresh_lifetime,
                refresh_audiences,
                refresh_header,
                refresh_config,
            }),
        })
    }
}

/// A header segment: `{"typ":..,"alg":..,"kid":..}` (no `kid` without one), base64url.
fn encoded_header(algorithm: Algorithm, typ: &str, kid: Option<&str>) -> String {
    let mut header = serde_json::json!({"typ": typ, "alg": algorithm.name()});
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    URL_SAFE_NO_PAD.encode(header.to_string())
}

/// jsonwebtoken's signer, for every algorithm but ES512; refuses an algorithm that does not
/// fit the key.
fn jwt_signer(key: EncodingKey, algorithm: Algorithm) -> Result<Signer, ConfigError> {
    let family = key.family();
    let algorithms = family.algorithms();
    match algorithm.to_jsonwebtoken() {
        Some(theirs) if algorithms.contains(&theirs) => Ok(Signer::Jwt { key, algorithm: theirs }),
        _ => {
            let names: Vec<String> = algorithms.iter().map(|theirs| format!("{theirs:?}")).collect();
            Err(ConfigError::key(format!(
                "{algorithm} does not fit the signing key; it signs one of {}",
                names.join(", ")
            )))
        }
    }
}

/// jsonwebtoken's signer for a private key with a public half, and that half as a JWK.
fn public_pair(
    key: EncodingKey,
    algorithm: Algorithm,
) -> Result<(Signer, Algorithm, Option<Jwk>), ConfigError> {
    let jwk = public_jwk(&key, algorithm)?;
    Ok((jwt_signer(key, algorithm)?, algorithm, Some(jwk)))
}

/// The public JWK of a jsonwebtoken key.
fn public_jwk(key: &EncodingKey, algorithm: Algorithm) -> Result<Jwk, ConfigError> {
    algorithm.to_jsonwebtoken().and_then(|theirs| Jwk::from_encoding_key(key, theirs).ok()).ok_or_else(|| {
        ConfigError::key(format!(
            "the signing key does not fit {algorithm} or is too weak (RSA keys need at least 2048 bits)"
        ))
    })
}

/// The public JWK of a P-521 key, from its uncompressed point. Without `alg`: jsonwebtoken's
/// JWK type has no ES512, and the curve names the algorithm (RFC 7518 section 3.4).
fn p521_jwk(point: &[u8]) -> Result<Jwk, ConfigError> {
    let unreadable = || ConfigError::key("the P-521 public key could not be written as a JWK");
    let coordinates = point.strip_prefix(&[0x04]).filter(|xy| xy.len() == 132).ok_or_else(unreadable)?;
    let (x, y) = coordinates.split_at(66);
    serde_json::from_value(serde_json::json!({
        "kty": "EC",
        "crv": "P-521",
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
    }))
    .map_err(|_| unreadable())
}

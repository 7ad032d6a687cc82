//! The configuration: a builder checked once by `build()`, then shared by `Arc`.
//!
//! Every setting has a documented default (see the README's configuration table); a weak
//! key, an empty key set or an impossible setting fails `build()` with a sentence that says
//! what to change, so requests never meet a bad configuration.
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::{JwtAuthConfig, TokenSource};
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .issuer("https://auth.example.com")
//!     .audience("orders-api")
//!     .leeway(Duration::from_secs(30))
//!     .max_lifetime(Duration::from_secs(3600))
//!     .token_sources([TokenSource::bearer(), TokenSource::cookie("access_token")])
//!     .build()
//!     .expect("valid configuration");
//! # let _ = config;
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;

use crate::clock::seconds;
use crate::cookie::CsrfPolicy;
use crate::cookie::csrf::OriginCheck;
use crate::dpop::{DpopPolicy, PreparedDpop};
use crate::error::{AuthError, ConfigError};
use crate::extract::PreparedSource;
pub use crate::extract::TokenSource;
use crate::grants::{ClaimPath, ClaimPreset, PathTree, default_role_paths, default_scope_paths};
#[cfg(feature = "jwks")]
use crate::jwks::RemoteJwks;
use crate::keys::{KeySet, PreparedKey, VerifyingKey, install_default_provider, parse_jwk_set};
use crate::payload::path_at_registered_claim;
use crate::resource::{DocumentInputs, ProtectedResource, ResourceMetadata};
use crate::response::{
    Challenges, CurrentNonce, CustomResponder, DEFAULT_REALM, DpopChallenge, RequestHead, Responder,
};
use crate::revoke::{REVOCATION_GRACE, Revocations};
use crate::rules::{HeaderMemo, Rules};
use crate::url::HttpUrl;

/// Default clock skew allowed on `exp`, `nbf` and `iat`.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default cap on a token's size, checked before any decoding.
pub(crate) const DEFAULT_MAX_TOKEN_SIZE: usize = 8 * 1024;
/// Default number of verified tokens a layer remembers.
pub(crate) const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 10_000;
/// Default longest time a verified token is remembered (never beyond its `exp`).
pub(crate) const DEFAULT_TOKEN_CACHE_MAX_AGE: Duration = Duration::from_secs(300);

/// The verified-token cache's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CacheSettings {
    /// 0: off.
    pub(crate) capacity: usize,
    pub(crate) max_age: Duration,
}

/// A validated configuration, cheap to clone (an `Arc` inside).
///
/// Build one with [`JwtAuthConfig::builder`], then hand it to
/// [`JwtAuthLayer::new`](crate::JwtAuthLayer::new). It can also verify tokens directly.
///
/// ```
/// use tower_jwt_auth::{ErrorKind, JwtAuthConfig, TokenIssuer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).audience("orders-api").build()?;
/// let issuer = TokenIssuer::builder().hmac_secret(secret).audience("orders-api").build()?;
///
/// let claims = config.verify(&issuer.issue(&serde_json::json!({"sub": "alice"}))?)?;
/// assert_eq!(claims.sub.as_deref(), Some("alice"));
///
/// // A token for another API is refused, with a kind to match on.
/// let elsewhere = issuer.issue(&serde_json::json!({"sub": "alice", "aud": "billing-api"}))?;
/// assert_eq!(config.verify(&elsewhere).unwrap_err().kind(), ErrorKind::InvalidAudience);
/// assert_eq!(config.realm(), "api"); // the default realm of the challenges
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwtAuthConfig {
    inner: Arc<Settings>,
}

/// The validated settings: what verification reads, built once by
/// [`JwtAuthConfigBuilder::build`].
pub(crate) struct Settings {
    /// The keys of tokens not routed to a trusted issuer.
    pub(crate) keys: KeySource,
    /// Trusted issuers with keys of their own, chosen by the token's exact `iss`.
    pub(crate) routes: Vec<IssuerRoute>,
    pub(crate) rules: Rules,
    pub(crate) sources: Vec<PreparedSource>,
    /// The cross-site request check for cookie credentials; `None`: disabled.
    pub(crate) csrf: Option<OriginCheck>,
    /// How rejections are answered; every verified token carries it for the guards.
    pub(crate) responder: Arc<Responder>,
    pub(crate) cache: CacheSettings,
    pub(crate) revocations: Option<Revocations>,
    /// DPoP, when on.
    pub(crate) dpop: Option<PreparedDpop>,
    /// With DPoP off: DPoP-bound tokens pass as bearer tokens (a gateway checked the proofs).
    pub(crate) bound_tokens_as_bearer: bool,
    /// The protected resource's metadata service, when a protected resource is configured.
    pub(crate) metadata: Option<ResourceMetadata>,
}

/// Static keys, and possibly a remote set, that verify one group of tokens.
pub(crate) struct KeySource {
    pub(crate) keys: KeySet,
    #[cfg(feature = "jwks")]
    pub(crate) remote: Option<RemoteJwks>,
}

/// A trusted issuer: tokens whose `iss` equals `issuer` are verified with its keys only.
pub(crate) struct IssuerRoute {
    /// One issuer, as the list of accepted issuers its tokens are checked against.
    pub(crate) issuer: [String; 1],
    pub(crate) source: KeySource,
    /// Audiences for this issuer's tokens; empty: the configuration's audiences.
    pub(crate) audiences: Vec<String>,
}

impl KeySource {
    /// True when no key at all verifies this group's tokens.
    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(feature = "jwks")]
        if self.remote.is_some() {
            return false;
        }
        self.keys.len() == 0
    }

    /// True when a remote key set is among the keys.
    pub(crate) fn has_remote(&self) -> bool {
        #[cfg(feature = "jwks")]
        return self.remote.is_some();
        #[cfg(not(feature = "jwks"))]
        false
    }
}

/// The keys as configured, before `build()` vets them: what [`JwtAuthConfigBuilder`] and
/// [`TrustedIssuer`] both hold, and set through the same setters ([`key_setters`]).
#[derive(Default)]
struct KeySpec {
    keys: Vec<VerifyingKey>,
    jwk_sets: Vec<String>,
    #[cfg(feature = "jwks")]
    remote: Option<Result<RemoteJwks, ConfigError>>,
}

impl KeySpec {
    /// Vets every key. `label` names where the keys come from in error messages; without a
    /// remote set, no key at all is refused unless `may_be_empty` (the default keys of a
    /// configuration whose trusted issuers have their own).
    fn build(self, label: &dyn Fn(String) -> String, may_be_empty: bool) -> Result<KeySource, ConfigError> {
        let mut prepared: Vec<PreparedKey> = Vec::new();
        for (index, key) in self.keys.iter().enumerate() {
            prepared.push(key.prepare(&label(format!("key {index}")))?);
        }
        for (index, json) in self.jwk_sets.iter().enumerate() {
            let keys = parse_jwk_set(json)
                .map_err(|why| ConfigError::key(label(format!("JWK set {index}: {why}"))))?;
            prepared.extend(keys);
        }
        #[cfg(feature = "jwks")]
        let remote = self.remote.transpose()?;
        #[cfg(feature = "jwks")]
        let may_be_empty = may_be_empty || remote.is_some();
        let keys = if prepared.is_empty() && may_be_empty { KeySet::empty() } else { KeySet::new(prepared)? };
        Ok(KeySource {
            keys,
            #[cfg(feature = "jwks")]
            remote,
        })
    }
}

/// The key setters, written once for [`JwtAuthConfigBuilder`] and [`TrustedIssuer`], which
/// both keep their keys in a `keys: KeySpec` field.
macro_rules! key_setters {
    () => {
        /// Adds a shared HMAC secret verifying HS256 (at least 32 bytes; a longer secret with
        /// [`VerifyingKey::hmac`] and [`with_algorithm`](VerifyingKey::with_algorithm) for
        /// HS384 or HS512).
        pub fn hmac_secret(self, secret: impl AsRef<[u8]>) -> Self {
            self.key(VerifyingKey::hmac(secret.as_ref().to_vec()))
        }

        /// Adds a verification key.
        pub fn key(mut self, key: VerifyingKey) -> Self {
            self.keys.keys.push(key);
            self
        }

        /// Adds a JWK set (JSON `{"keys": [...]}`). Every key in it must be fit to verify; a
        /// `kty: oct` secret is accepted only in a set of secrets.
        pub fn jwk_set(mut self, json: impl Into<String>) -> Self {
            self.keys.jwk_sets.push(json.into());
            self
        }

        /// Verifies tokens whose key is not among the static keys with a remote key set (a
        /// JWKS URL, or OIDC discovery). Static and remote keys combine, chosen in this
        /// order: a static key the token's `kid` names; for a `kid` no static key names, the
        /// remote set; a static key without a `kid` (for a token without one, or whose `kid`
        /// the set does not know either); the remote set for any other token. A static key
        /// without a `kid` never hides the set's keys, and while the set is unreachable a
        /// token it might sign answers 503, not 401. See [`RemoteJwks`] for the cache's
        /// behaviour.
        #[cfg(feature = "jwks")]
        pub fn remote_jwks(mut self, remote: RemoteJwks) -> Self {
            self.keys.remote = Some(Ok(remote));
            self
        }
    };
}

impl fmt::Debug for JwtAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthConfig")
            .field("issuers", &self.inner.rules.issuers)
            .field("audiences", &self.inner.rules.audiences)
            .field("leeway_seconds", &self.inner.rules.leeway)
            .field("realm", &self.inner.responder.realm())
            .finish_non_exhaustive()
    }
}

impl JwtAuthConfig {
    /// A builder with every default in place and no key yet.
    pub fn builder() -> JwtAuthConfigBuilder {
        JwtAuthConfigBuilder::default()
    }

    /// The validated settings, for verification.
    pub(crate) fn settings(&self) -> &Settings {
        &self.inner
    }

    /// The remote key sets this configuration uses (the default one first, then each
    /// trusted issuer's), for readiness checks and on-demand refreshes.
    #[cfg(feature = "jwks")]
    pub fn remote_key_sets(&self) -> Vec<RemoteJwks> {
        let inner = &self.inner;
        let routes = inner.routes.iter().map(|route| &route.source);
        std::iter::once(&inner.keys).chain(routes).filter_map(|source| source.remote.clone()).collect()
    }

    /// The realm named in challenges.
    pub fn realm(&self) -> &str {
        self.inner.responder.realm()
    }

    /// The service that serves this configuration's protected resource metadata (RFC
    /// 9728), or `None` when no [`protected_resource`](JwtAuthConfigBuilder::protected_resource)
    /// is configured. See [`resource`](crate::resource).
    pub fn resource_metadata(&self) -> Option<ResourceMetadata> {
        self.inner.metadata.clone()
    }
}

/// Builds a [`JwtAuthConfig`]: every setting has a default, and
/// [`build`](Self::build) checks them all at once.
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{JwtAuthConfig, TokenSource, error::ConfigErrorKind};
///
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .issuer("https://auth.example.com")
///     .audience("orders-api")
///     .leeway(Duration::from_secs(10))
///     .required_type("at+jwt")
///     .token_sources([TokenSource::bearer(), TokenSource::cookie("access_token")])
///     .token_cache_capacity(1_000)
///     .realm("orders")
///     .build()
///     .unwrap();
/// assert_eq!(config.realm(), "orders");
///
/// // A mistake fails `build()`, not a request, with a sentence that says what to change.
/// let error = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .token_sources([])
///     .build()
///     .unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::InvalidSetting);
/// assert_eq!(error.message(), "no token source is configured; add TokenSource::bearer() at least");
/// ```
#[must_use]
pub struct JwtAuthConfigBuilder {
    keys: KeySpec,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    max_lifetime: Option<Duration>,
    required_type: Option<String>,
    max_token_size: usize,
    sources: Vec<TokenSource>,
    csrf: CsrfPolicy,
    realm: String,
    responder: Option<CustomResponder>,
    role_paths: Option<Vec<ClaimPath>>,
    scope_paths: Option<Vec<ClaimPath>>,
    cache: CacheSettings,
    trusted: Vec<TrustedIssuer>,
    revocations: Option<Revocations>,
    resource: Option<ProtectedResource>,
    dpop: Option<DpopPolicy>,
    external_url: Option<String>,
    bound_tokens_as_bearer: bool,
}

impl Default for JwtAuthConfigBuilder {
    fn default() -> Self {
        Self {
            keys: KeySpec::default(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: None,
            required_type: None,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            sources: vec![TokenSource::bearer()],
            csrf: CsrfPolicy::default(),
            realm: DEFAULT_REALM.to_owned(),
            responder: None,
            role_paths: None,
            scope_paths: None,
            cache: CacheSettings {
                capacity: DEFAULT_TOKEN_CACHE_CAPACITY,
                max_age: DEFAULT_TOKEN_CACHE_MAX_AGE,
            },
            trusted: Vec::new(),
            revocations: None,
            resource: None,
            dpop: None,
            external_url: None,
            bound_tokens_as_bearer: false,
        }
    }
}

impl fmt::Debug for JwtAuthConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthConfigBuilder")
            .field("keys", &self.keys.keys)
            .field("jwk_sets", &self.keys.jwk_sets.len())
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl JwtAuthConfigBuilder {
    key_setters!();

    /// Trusts one OpenID provider: requires `iss` to equal `issuer` and verifies with the key
    /// set its discovery document names, with every default of [`RemoteJwks`]. The issuer
    /// must use https, except on a loopback host (`localhost`, 127.0.0.0/8, `::1`), where
    /// plain http is accepted for development. For a provider on plain http elsewhere use
    /// `.issuer(issuer).remote_jwks(RemoteJwks::discover(issuer).allow_http(true).build()?)`.
    #[cfg(feature = "jwks")]
    pub fn oidc_issuer(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let url = reqwest::Url::parse(&issuer).ok();
        let http = url.as_ref().is_some_and(|url| url.scheme() == "http");
        let loopback_http = http && url.as_ref().is_some_and(crate::jwks::fetch::on_loopback);
        let remote = RemoteJwks::discover(&issuer).allow_http(loopback_http).build();
        self.keys.remote = Some(remote.map_err(|error| match http && !loopback_http {
            true => ConfigError::url(
                "oidc_issuer takes https, or plain http on a loopback host (localhost, 127.0.0.0/8, ::1); \
                 for plain http on another host (development and tests only), configure \
                 .issuer(issuer).remote_jwks(RemoteJwks::discover(issuer).allow_http(true).build()?) instead",
            ),
            false => error,
        }));
        self.issuers.push(issuer);
        self
    }

    /// Adds a trusted issuer with keys (and optionally audiences) of its own. Once any is
    /// configured, each token is routed by the exact value of its (not yet verified) `iss`
    /// and verified with that issuer's keys only; a token from another issuer is refused
    /// without any network access (unless the configuration has keys of its own, which then
    /// verify it under the configuration's issuer and audience rules). Issuers are never
    /// added from token contents.
    pub fn trusted_issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.trusted.push(issuer);
        self
    }

    /// Turns the verified-token cache on (the default) or off. See
    /// [`token_cache_capacity`](Self::token_cache_capacity).
    pub fn token_cache(mut self, enabled: bool) -> Self {
        if !enabled {
            self.cache.capacity = 0;
        } else if self.cache.capacity == 0 {
            self.cache.capacity = DEFAULT_TOKEN_CACHE_CAPACITY;
        }
        self
    }

    /// How many verified tokens each layer remembers (default 10,000; 0 turns the cache
    /// off). A token that passed every check is remembered with its claims, so the next
    /// request with it skips decoding and the signature; `exp` and `nbf` are still checked
    /// on every use, and a remote key leaving its set drops what it verified. Tokens above
    /// 4 KiB are never cached. Memory: about the token's length plus its payload's, plus
    /// your claims type and some 200 bytes, per entry (about 15 MB for 10,000 typical
    /// 800-byte tokens; at most about 90 MB with 4 KiB tokens).
    pub fn token_cache_capacity(mut self, entries: usize) -> Self {
        self.cache.capacity = entries;
        self
    }

    /// The longest a verified token is remembered, whatever its `exp` (default 5 minutes).
    pub fn token_cache_max_age(mut self, max_age: Duration) -> Self {
        self.cache.max_age = max_age;
        self
    }

    /// Requires `iss` to equal this value (call again to allow several issuers).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Requires `aud` to name this audience (call again to accept any of several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuses tokens whose lifetime (`exp - iat`, or `exp - now` without `iat`) exceeds
    /// this (default: no limit, or with [`revocations`](Self::revocations) their
    /// [`max_token_lifetime`](crate::revoke::RevocationsBuilder::max_token_lifetime), which this
    /// may not exceed).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// Requires the header `typ`, such as `at+jwt` for OAuth 2.0 access tokens (RFC 9068).
    /// Compared without regard to case, with an optional `application/` prefix.
    pub fn required_type(mut self, typ: impl Into<String>) -> Self {
        self.required_type = Some(typ.into());
        self
    }

    /// The largest token accepted, in bytes, checked before any decoding (default 8 KiB).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Where to look for the token, in order (default: the `Authorization` header only).
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// How requests authenticated by a cookie are protected against cross-site request
    /// forgery (default: [`CsrfPolicy::default()`], on). The check runs only for credentials
    /// from a [`TokenSource::cookie`] and methods other than GET, HEAD, OPTIONS and TRACE;
    /// see [`CsrfPolicy`] for the rule.
    pub fn csrf(mut self, policy: CsrfPolicy) -> Self {
        self.csrf = policy;
        self
    }

    /// The realm named in `WWW-Authenticate` challenges (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Answers rejections yourself: return `Some(response)` to replace the default answer,
    /// `None` to keep it. The error's [`kind`](AuthError::kind) says what went wrong.
    pub fn responder<F>(mut self, responder: F) -> Self
    where
        F: Fn(&AuthError, &RequestHead<'_>) -> Option<Response<Bytes>> + Send + Sync + 'static,
    {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// Reads roles from this claim (call again for several places). The first call replaces
    /// the default places, `roles` and `role`. A path may not start at `iss`, `aud`, `exp`,
    /// `nbf` or `iat` ([`build`](Self::build) refuses it).
    pub fn roles_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.role_paths.get_or_insert_with(Vec::new).push(path.into());
        self
    }

    /// Reads scopes from this claim (call again for several places). The first call replaces
    /// the default places, `scope` and `scp`. The same registered claims are refused.
    pub fn scopes_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.scope_paths.get_or_insert_with(Vec::new).push(path.into());
        self
    }

    /// Reads roles and scopes where an identity provider puts them (replacing the default
    /// places; presets and explicit claims add up).
    pub fn claim_preset(mut self, preset: ClaimPreset) -> Self {
        let (roles, scopes) = preset.into_parts();
        self.role_paths.get_or_insert_with(Vec::new).extend(roles);
        self.scope_paths.get_or_insert_with(Vec::new).extend(scopes);
        self
    }

    /// Checks every verified token against a revocation list, on the token-cache hits too:
    /// a revoked token gets 401 `invalid_token` ([`ErrorKind::Revoked`](crate::ErrorKind)).
    /// See [`Revocations`]; the leeway may then be at most 10 minutes (the grace every
    /// revocation entry is kept beyond its tokens), and tokens living longer than the list's
    /// [`max_token_lifetime`](crate::revoke::RevocationsBuilder::max_token_lifetime) are
    /// refused ([`ErrorKind::LifetimeTooLong`](crate::ErrorKind)), as are tokens without
    /// `iat` ([`ErrorKind::MissingClaim`](crate::ErrorKind)), since a subject revocation
    /// would not cover them to their end. A token whose `jti`, `sub` or `sid`
    /// is not a string (RFC 7519 makes them strings) is then refused as invalid, since it
    /// could not be matched against the list.
    pub fn revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// This server as an OAuth protected resource (RFC 8707, RFC 9728): tokens whose `aud`
    /// names the resource identifier are accepted (besides the configured
    /// [`audience`](Self::audience)s, and a trusted issuer's own), every challenge links the
    /// metadata document, and [`JwtAuthConfig::resource_metadata`] serves it. Default: none.
    /// See [`resource`](crate::resource).
    pub fn protected_resource(mut self, resource: ProtectedResource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Takes DPoP-bound tokens (RFC 9449) as the policy says: allowed beside bearer tokens,
    /// or required. Default: off. See [`dpop`](crate::dpop).
    pub fn dpop(mut self, policy: DpopPolicy) -> Self {
        self.dpop = Some(policy);
        self
    }

    /// The URL clients use to reach this server, such as `https://api.example.com`, or
    /// `https://example.com/api` when a proxy in front strips `/api`: a DPoP proof's `htu`
    /// is compared with this URL followed by the request's path (as the layer sees it: a
    /// layer inside an axum `nest` sees the path without the nest's prefix). Default: the
    /// origin of the [`protected_resource`](Self::protected_resource) if there is one; else
    /// a loopback server (development) takes the request's own scheme and `Host`, and any
    /// other refuses every proof, since it cannot tell one made for it from one made for
    /// another server (a warning says so once).
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        self.external_url = Some(url.into());
        self
    }

    /// Accepts DPoP-bound tokens (those with `cnf.jkt`) in the `Authorization` header
    /// without a proof (in a cookie, a query parameter or another header they are still
    /// refused). Only for a server behind a gateway that checked each request's DPoP proof
    /// and passes the token on as `Authorization: Bearer <token>`: anywhere else, a stolen
    /// bound token would be usable here without its key. Default: false, such tokens are refused with 401
    /// ([`ErrorKind::BoundTokenWithoutProof`](crate::ErrorKind)), with DPoP on or off. Cannot be
    /// combined with [`dpop`](Self::dpop), which checks the proofs here (RFC 9449 section
    /// 7.2 then requires the refusal).
    pub fn bound_tokens_as_bearer(mut self, accept: bool) -> Self {
        self.bound_tokens_as_bearer = accept;
        self
    }

    /// Checks everything and builds the configuration.
    pub fn build(self) -> Result<JwtAuthConfig, ConfigError> {
        install_default_provider();
        #[allow(unused_mut)] // without `jwks`, nothing adds to it
        let mut issuers = self.issuers;
        // A set found by discovery belongs to one issuer: unless told otherwise, require it,
        // so foreign tokens are refused before any network access.
        #[cfg(feature = "jwks")]
        if issuers.is_empty()
            && let Some(Ok(remote)) = &self.keys.remote
            && let Some(discovered) = remote.discovered_issuer()
        {
            issuers.push(discovered.to_owned());
        }
        let keys = self.keys.build(&|what| what, !self.trusted.is_empty())?;
        let mut routes: Vec<IssuerRoute> = Vec::with_capacity(self.trusted.len());
        for trusted in self.trusted {
            let route = trusted.build()?;
            if routes.iter().any(|other| other.issuer == route.issuer) {
                return Err(ConfigError::setting(format!(
                    "the issuer {:?} is trusted twice; configure each issuer once",
                    route.issuer[0]
                )));
            }
            routes.push(route);
        }
        if self.max_token_size == 0 {
            return Err(ConfigError::setting("max_token_size must be at least 1 byte; the default is 8 KiB"));
        }
        if self.sources.is_empty() {
            return Err(ConfigError::setting(
                "no token source is configured; add TokenSource::bearer() at least",
            ));
        }
        if self.realm.bytes().any(|b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b)) {
            return Err(ConfigError::value(
                "the realm must be printable ASCII without quotes or backslashes",
            ));
        }
        if issuers.iter().any(String::is_empty) || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::value("an issuer or audience cannot be empty"));
        }
        if self.revocations.is_some() && self.leeway > REVOCATION_GRACE {
            return Err(ConfigError::setting(format!(
                "with revocations the leeway may be at most {} seconds, or revoked tokens could \
                 outlive their entries",
                REVOCATION_GRACE.as_secs()
            )));
        }
        // A subject revocation covers tokens living at most the list's longest lifetime: a
        // longer-lived token would outlive its entry, so none is accepted.
        let covered = self.revocations.as_ref().map(Revocations::max_token_lifetime);
        let max_lifetime = match (self.max_lifetime.map(seconds), covered) {
            (Some(max), Some(covered)) if max > covered => {
                return Err(ConfigError::setting(format!(
                    "max_lifetime ({max} s) is longer than the revocations' max_token_lifetime ({covered} s): tokens could outlive the entries that revoke them"
                )));
            }
            (max, covered) => max.or(covered),
        };
        let role_paths = self.role_paths.unwrap_or_else(default_role_paths);
        let scope_paths = self.scope_paths.unwrap_or_else(default_scope_paths);
        if let Some(path) = path_at_registered_claim(&role_paths).or(path_at_registered_claim(&scope_paths)) {
            return Err(ConfigError::value(format!(
                "roles and scopes cannot be read from `{path}`: `iss`, `aud`, `exp`, `nbf` and `iat` \
                 are registered claims, checked as such"
            )));
        }
        let mut sources = self.sources.iter().map(TokenSource::prepare).collect::<Result<Vec<_>, _>>()?;
        let csrf = self.csrf.prepare()?;
        let external_url = match &self.external_url {
            None => None,
            Some(url) => Some(HttpUrl::parse(url).map_err(|_| {
                ConfigError::value(format!(
                    "the external URL {url:?} is not an absolute http(s) URL without query, like \"https://api.example.com\""
                ))
            })?),
        };

        let mut audiences = self.audiences;
        let resource = self.resource.map(ProtectedResource::prepare).transpose()?;
        if let Some(resource) = &resource {
            for identifier in resource.audiences() {
                if !audiences.contains(&identifier) {
                    audiences.push(identifier.clone());
                }
                for route in &mut routes {
                    if !route.audiences.is_empty() && !route.audiences.contains(&identifier) {
                        route.audiences.push(identifier.clone());
                    }
                }
            }
        }
        // DPoP compares proofs with the URL clients use: the external URL, else the
        // protected resource's origin.
        let own_url = external_url.or_else(|| resource.as_ref().map(|resource| resource.origin()));
        let dpop = self.dpop.map(|policy| policy.prepare(own_url)).transpose()?;
        if dpop.is_some() && self.bound_tokens_as_bearer {
            return Err(ConfigError::setting(
                "bound_tokens_as_bearer is for a server whose gateway checks DPoP proofs; with dpop on, this \
                 server checks them and refuses bound tokens sent as Bearer; remove one of the two",
            ));
        }
        if let Some(dpop) = &dpop {
            if dpop.required && sources.iter().any(|source| !matches!(source, PreparedSource::Bearer)) {
                return Err(ConfigError::setting(
                    "with DPoP required, tokens come in the Authorization header only; remove the other token sources",
                ));
            }
            for source in &mut sources {
                if matches!(source, PreparedSource::Bearer) {
                    *source = PreparedSource::Dpop { bearer_too: !dpop.required };
                }
            }
        }
        let metadata = resource.as_ref().map(|resource| {
            let route_issuers = routes.iter().map(|route| route.issuer[0].as_str());
            let mut bearer_methods = Vec::new();
            for source in &sources {
                let method = match source {
                    PreparedSource::Bearer | PreparedSource::Dpop { .. } => "header",
                    PreparedSource::Query(_) => "query",
                    _ => continue,
                };
                if !bearer_methods.contains(&method) {
                    bearer_methods.push(method);
                }
            }
            resource.metadata(DocumentInputs {
                issuers: issuers.iter().map(String::as_str).chain(route_issuers).collect(),
                bearer_methods,
                dpop: dpop.as_ref().map(|dpop| (dpop.algorithm_names(), dpop.required)),
            })
        });
        let challenges = Challenges {
            realm: self.realm.into(),
            resource_metadata: resource
                .as_ref()
                .filter(|resource| resource.link_in_challenges)
                .map(|resource| resource.metadata_url.to_string().into()),
            dpop: dpop.as_ref().map(|dpop| DpopChallenge {
                algs: dpop.algorithm_names().join(" ").into(),
                bearer_too: !dpop.required,
                nonce: dpop
                    .nonces
                    .clone()
                    .map(|nonces| -> CurrentNonce { Arc::new(move || nonces.current(crate::clock::now())) }),
            }),
        };
        Ok(JwtAuthConfig {
            inner: Arc::new(Settings {
                keys,
                routes,
                rules: Rules {
                    leeway: seconds(self.leeway),
                    issuers,
                    audiences,
                    max_lifetime,
                    required_type: self.required_type,
                    max_token_size: self.max_token_size,
                    grant_paths: PathTree::new(&role_paths, &scope_paths),
                    header_memo: HeaderMemo::new(),
                },
                sources,
                csrf,
                responder: Arc::new(Responder::new(challenges, self.responder)),
                cache: self.cache,
                revocations: self.revocations,
                dpop,
                bound_tokens_as_bearer: self.bound_tokens_as_bearer,
                metadata,
            }),
        })
    }
}

/// A trusted issuer with its own keys, for configurations that accept tokens from several
/// identity providers or tenants; see [`JwtAuthConfigBuilder::trusted_issuer`]. With the
/// `jwks` feature an issuer's keys can be a remote set
/// (`.remote_jwks(RemoteJwks::discover(issuer).build()?)`), as in the README.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, VerifyingKey, config::TrustedIssuer};
///
/// # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
/// let config = JwtAuthConfig::builder()
///     .trusted_issuer(
///         TrustedIssuer::new("https://login.example.com/tenant-a")
///             .key(VerifyingKey::hmac(b"tenant A's secret, at least 32 bytes".to_vec()))
///             .audience("orders-api"),
///     )
///     .trusted_issuer(
///         TrustedIssuer::new("https://login.example.com/tenant-b")
///             .key(VerifyingKey::hmac(b"tenant B's secret, at least 32 bytes".to_vec()))
///             .audience("orders-api"),
///     )
///     .build()?;
/// // A token is verified with the keys of the issuer its `iss` names, and only those.
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct TrustedIssuer {
    issuer: String,
    keys: KeySpec,
    audiences: Vec<String>,
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl TrustedIssuer {
    /// Trusts tokens whose `iss` equals `issuer` exactly.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self { issuer: issuer.into(), keys: KeySpec::default(), audiences: Vec::new() }
    }

    key_setters!();

    /// Requires this issuer's tokens to name this audience (call again to accept any of
    /// several). Without one, the configuration's audiences apply.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    fn build(self) -> Result<IssuerRoute, ConfigError> {
        if self.issuer.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::value("a trusted issuer or its audience cannot be empty"));
        }
        let issuer = self.issuer;
        let label = |what: String| format!("trusted issuer {issuer:?}, {what}");
        let source = self.keys.build(&label, false)?;
        Ok(IssuerRoute { issuer: [issuer], source, audiences: self.audiences })
    }
}

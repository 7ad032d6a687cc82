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
use serde::de::DeserializeOwned;

use crate::claims::{Claims, DefaultClaims, VerifiedToken};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::extract::{PreparedSource, TokenSource, extract};
use crate::grants::{ClaimPath, ClaimPreset, PathTree, PayloadScan, default_role_paths, default_scope_paths};
use crate::keys::{KeySet, PreparedKey, VerifyingKey, install_default_provider, parse_jwk_set};
use crate::response::{RequestHead, Responder};
use crate::verify::{ClaimRules, now, verify_signature};

/// Default clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default cap on a token's size, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 8 * 1024;
/// Default realm in `WWW-Authenticate` challenges.
pub const DEFAULT_REALM: &str = "api";

/// A validated configuration, cheap to clone (an `Arc` inside).
///
/// Build one with [`JwtAuthConfig::builder`], then hand it to
/// [`JwtAuthLayer::new`](crate::JwtAuthLayer::new). It can also verify tokens directly.
#[derive(Clone)]
pub struct JwtAuthConfig {
    inner: Arc<ConfigInner>,
}

struct ConfigInner {
    keys: KeySet,
    rules: ClaimRules,
    sources: Vec<PreparedSource>,
    realm: String,
    responder: Option<Responder>,
}

impl fmt::Debug for JwtAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthConfig")
            .field("issuers", &self.inner.rules.issuers)
            .field("audiences", &self.inner.rules.audiences)
            .field("leeway_seconds", &self.inner.rules.leeway)
            .field("realm", &self.inner.realm)
            .finish_non_exhaustive()
    }
}

impl JwtAuthConfig {
    /// A builder with every default in place and no key yet.
    pub fn builder() -> JwtAuthConfigBuilder {
        JwtAuthConfigBuilder::default()
    }

    /// Verifies a token into [`DefaultClaims`]: signature, then every claim check.
    pub fn verify(&self, token: &str) -> Result<Claims<DefaultClaims>, AuthError> {
        self.verify_as(token)
    }

    /// Verifies a token into claims of type `C`: signature, then every claim check.
    pub fn verify_as<C: DeserializeOwned>(&self, token: &str) -> Result<Claims<C>, AuthError> {
        let rules = &self.inner.rules;
        let jws = verify_signature(token, &self.inner.keys, rules)?;
        let scan =
            PayloadScan::read(&jws.payload, &rules.grant_paths).map_err(|_| ErrorKind::InvalidClaims)?;
        rules.check(&scan, now())?;
        let PayloadScan { grants, .. } = scan;
        let claims: C = serde_json::from_slice(&jws.payload).map_err(|_| ErrorKind::InvalidClaims)?;
        Ok(Claims::new(claims, VerifiedToken::new(jws.header, grants, jws.payload, self.clone())))
    }

    /// Verifies a compact JWS whose payload is not a JWT claim set and returns the payload
    /// bytes. The precheck, header rules, key selection and signature are the same as for
    /// tokens; no claim is checked, so never use this to authenticate a request.
    pub fn verify_jws_payload(&self, jws: &str) -> Result<Vec<u8>, AuthError> {
        Ok(verify_signature(jws, &self.inner.keys, &self.inner.rules)?.payload)
    }

    /// Finds and verifies the request's credential. `Ok(None)`: no credential at all.
    pub(crate) fn authenticate<C: DeserializeOwned>(
        &self,
        request: &RequestHead<'_>,
    ) -> Result<Option<Claims<C>>, AuthError> {
        match extract(&self.inner.sources, request.headers, request.uri)? {
            None => Ok(None),
            Some(token) => self.verify_as(token).map(Some),
        }
    }

    /// The rejection for `error`, from the responder or the default.
    pub(crate) fn rejection(&self, error: &AuthError, request: &RequestHead<'_>) -> Response<Bytes> {
        crate::response::rejection(error, request, &self.inner.realm, self.inner.responder.as_ref())
    }

    /// The realm named in challenges.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }
}

/// Builds a [`JwtAuthConfig`]; see the module documentation for an example.
#[must_use]
pub struct JwtAuthConfigBuilder {
    keys: Vec<VerifyingKey>,
    jwk_sets: Vec<String>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    max_lifetime: Option<Duration>,
    required_type: Option<String>,
    max_token_size: usize,
    sources: Vec<TokenSource>,
    realm: String,
    responder: Option<Responder>,
    role_paths: Option<Vec<ClaimPath>>,
    scope_paths: Option<Vec<ClaimPath>>,
}

impl Default for JwtAuthConfigBuilder {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            jwk_sets: Vec::new(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: None,
            required_type: None,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            sources: vec![TokenSource::bearer()],
            realm: DEFAULT_REALM.to_owned(),
            responder: None,
            role_paths: None,
            scope_paths: None,
        }
    }
}

impl fmt::Debug for JwtAuthConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthConfigBuilder")
            .field("keys", &self.keys)
            .field("jwk_sets", &self.jwk_sets.len())
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl JwtAuthConfigBuilder {
    /// Adds a shared HMAC secret verifying HS256 (at least 32 bytes).
    pub fn hmac_secret(self, secret: impl AsRef<[u8]>) -> Self {
        self.key(VerifyingKey::hmac(secret.as_ref().to_vec()))
    }

    /// Adds a verification key.
    pub fn key(mut self, key: VerifyingKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds a JWK set (JSON `{"keys": [...]}`). Every key in it must be fit to verify; a
    /// `kty: oct` secret is accepted only in a set of secrets.
    pub fn jwk_set(mut self, json: impl Into<String>) -> Self {
        self.jwk_sets.push(json.into());
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
    /// this (default: no limit).
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
    /// the default places, `roles` and `role`.
    pub fn roles_claim(mut self, path: impl Into<ClaimPath>) -> Self {
        self.role_paths.get_or_insert_with(Vec::new).push(path.into());
        self
    }

    /// Reads scopes from this claim (call again for several places). The first call replaces
    /// the default places, `scope` and `scp`.
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

    /// Checks everything and builds the configuration.
    pub fn build(self) -> Result<JwtAuthConfig, ConfigError> {
        install_default_provider();
        let mut prepared: Vec<PreparedKey> = Vec::new();
        for (index, key) in self.keys.iter().enumerate() {
            prepared.push(key.prepare(&format!("key {index}"))?);
        }
        for (index, json) in self.jwk_sets.iter().enumerate() {
            let keys =
                parse_jwk_set(json).map_err(|why| ConfigError::new(format!("JWK set {index}: {why}")))?;
            prepared.extend(keys);
        }
        let keys = KeySet::new(prepared)?;
        if self.max_token_size == 0 {
            return Err(ConfigError::new("max_token_size must be at least 1 byte; the default is 8 KiB"));
        }
        if self.sources.is_empty() {
            return Err(ConfigError::new(
                "no token source is configured; add TokenSource::bearer() at least",
            ));
        }
        if self.realm.bytes().any(|b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b)) {
            return Err(ConfigError::new("the realm must be printable ASCII without quotes or backslashes"));
        }
        if self.issuers.iter().any(String::is_empty) || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new("an issuer or audience cannot be empty"));
        }
        let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let sources = self.sources.iter().map(TokenSource::prepare).collect::<Result<Vec<_>, _>>()?;
        Ok(JwtAuthConfig {
            inner: Arc::new(ConfigInner {
                keys,
                rules: ClaimRules {
                    leeway: seconds(self.leeway),
                    issuers: self.issuers,
                    audiences: self.audiences,
                    max_lifetime: self.max_lifetime.map(seconds),
                    required_type: self.required_type,
                    max_token_size: self.max_token_size,
                    grant_paths: PathTree::new(
                        &self.role_paths.unwrap_or_else(default_role_paths),
                        &self.scope_paths.unwrap_or_else(default_scope_paths),
                    ),
                },
                sources,
                realm: self.realm,
                responder: self.responder,
            }),
        })
    }
}

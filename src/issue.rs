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
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::Value;

use crate::error::ConfigError;
use crate::keys::{VerifyingKey, install_default_provider, vet};
use crate::verify::now;

/// The default access-token lifetime: short, as the tutorial recommends.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Signs access tokens; see the module documentation.
#[derive(Clone)]
pub struct TokenIssuer {
    inner: Arc<IssuerInner>,
}

struct IssuerInner {
    key: EncodingKey,
    header: Header,
    issuer: Option<String>,
    audiences: Vec<String>,
    lifetime: Duration,
    public_jwk: Option<Jwk>,
    verifying_key: VerifyingKey,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("algorithm", &self.inner.header.alg)
            .field("kid", &self.inner.header.kid)
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("lifetime", &self.inner.lifetime)
            .finish_non_exhaustive()
    }
}

/// Why a token could not be issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueError {
    message: &'static str,
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for IssueError {}

impl TokenIssuer {
    /// A builder; a signing key is required.
    pub fn builder() -> TokenIssuerBuilder {
        TokenIssuerBuilder::default()
    }

    /// Signs `claims` (any struct or map that serializes to a JSON object), adding `iat`,
    /// `nbf`, `exp`, `jti`, `iss` and `aud` where `claims` does not set them.
    pub fn issue<T: Serialize>(&self, claims: &T) -> Result<String, IssueError> {
        let Value::Object(mut map) = serde_json::to_value(claims)
            .map_err(|_| IssueError { message: "the claims could not be serialized" })?
        else {
            return Err(IssueError { message: "the claims must serialize to a JSON object" });
        };
        let now = now();
        let lifetime = i64::try_from(self.inner.lifetime.as_secs()).unwrap_or(i64::MAX);
        map.entry("iat").or_insert_with(|| now.into());
        map.entry("nbf").or_insert_with(|| now.into());
        map.entry("exp").or_insert_with(|| now.saturating_add(lifetime).into());
        if !map.contains_key("jti") {
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).map_err(|_| IssueError { message: "no randomness for the jti" })?;
            map.insert("jti".into(), URL_SAFE_NO_PAD.encode(id).into());
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
        jsonwebtoken::encode(&self.inner.header, &map, &self.inner.key)
            .map_err(|_| IssueError { message: "the token could not be signed" })
    }

    /// The public half of the signing key as a JWK set, to serve at
    /// `/.well-known/jwks.json`. Empty for HMAC issuers: a shared secret is never published.
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
}

enum SigningSource {
    Hmac(Vec<u8>),
    RsaPem(Vec<u8>),
    EcPem(Vec<u8>),
    Ed25519Pem(Vec<u8>),
}

/// Builds a [`TokenIssuer`].
#[must_use]
pub struct TokenIssuerBuilder {
    source: Option<SigningSource>,
    algorithm: Option<Algorithm>,
    kid: Option<String>,
    issuer: Option<String>,
    audiences: Vec<String>,
    lifetime: Duration,
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
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.source = Some(SigningSource::Hmac(secret.into()));
        self
    }

    /// Signs with an RSA private key in PEM (PKCS#1 or PKCS#8); RS256 unless told otherwise.
    pub fn rsa_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.source = Some(SigningSource::RsaPem(pem.as_ref().to_vec()));
        self
    }

    /// Signs with an EC private key in PEM (PKCS#8): ES256 on P-256, ES384 on P-384.
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

    /// Checks the key and builds the issuer.
    pub fn build(self) -> Result<TokenIssuer, ConfigError> {
        install_default_provider();
        let unreadable = |what: &str| ConfigError::new(format!("the signing key is not {what}"));
        let source = self.source.ok_or_else(|| {
            ConfigError::new("no signing key is configured; use .hmac_secret(...) or a PEM key")
        })?;
        let (key, algorithm) = match &source {
            SigningSource::Hmac(secret) => {
                let algorithm = self.algorithm.unwrap_or(Algorithm::HS256);
                vet::hmac(secret, algorithm).map_err(ConfigError::new)?;
                (EncodingKey::from_secret(secret).map_err(|_| unreadable("a non-empty secret"))?, algorithm)
            }
            SigningSource::RsaPem(pem) => (
                EncodingKey::from_rsa_pem(pem).map_err(|_| unreadable("an RSA private key in PEM"))?,
                self.algorithm.unwrap_or(Algorithm::RS256),
            ),
            SigningSource::EcPem(pem) => {
                let key =
                    EncodingKey::from_ec_pem(pem).map_err(|_| unreadable("an EC private key in PEM"))?;
                let algorithm = match self.algorithm {
                    Some(algorithm) => algorithm,
                    None if Jwk::from_encoding_key(&key, Algorithm::ES256).is_ok() => Algorithm::ES256,
                    None => Algorithm::ES384,
                };
                (key, algorithm)
            }
            SigningSource::Ed25519Pem(pem) => (
                EncodingKey::from_ed_pem(pem).map_err(|_| unreadable("an Ed25519 private key in PEM"))?,
                self.algorithm.unwrap_or(Algorithm::EdDSA),
            ),
        };
        if !key.family().algorithms().contains(&algorithm) {
            return Err(ConfigError::new(format!("{algorithm:?} does not fit the signing key")));
        }
        let (public_jwk, verifying_key) = match &source {
            SigningSource::Hmac(secret) => {
                (None, VerifyingKey::hmac(secret.clone()).with_algorithm(algorithm))
            }
            _ => {
                let mut jwk = Jwk::from_encoding_key(&key, algorithm)
                    .map_err(|_| ConfigError::new(format!(
                        "the signing key does not fit {algorithm:?} or is too weak (RSA keys need at least 2048 bits)"
                    )))?;
                jwk.common.key_id = self.kid.clone();
                jwk.common.public_key_use = Some(PublicKeyUse::Signature);
                let json = serde_json::to_string(&jwk)
                    .map_err(|_| ConfigError::new("the public key could not be written as a JWK"))?;
                (Some(jwk), VerifyingKey::jwk(json))
            }
        };
        let verifying_key = match &self.kid {
            Some(kid) => verifying_key.with_kid(kid.clone()),
            None => verifying_key,
        };
        // Vet the public half with the verifier's own rules (RSA size, curve, Ed25519 order).
        verifying_key.prepare("the signing key")?;
        let mut header = Header::new(algorithm);
        header.kid = self.kid;
        Ok(TokenIssuer {
            inner: Arc::new(IssuerInner {
                key,
                header,
                issuer: self.issuer,
                audiences: self.audiences,
                lifetime: self.lifetime,
                public_jwk,
                verifying_key,
            }),
        })
    }
}

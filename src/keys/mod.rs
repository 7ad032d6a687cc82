//! Verification keys: what you configure, how it is vetted, and how a token finds its key.
//!
//! A [`VerifyingKey`] names key material (an HMAC secret, a PEM or DER public key, a JWK)
//! and optionally its `kid` and algorithm. Nothing is parsed until
//! [`JwtAuthConfigBuilder::build`](crate::JwtAuthConfigBuilder::build), which vets every key
//! (strength, algorithm fit, JWK `use`/`key_ops`/`alg`/`crv`) and refuses the whole
//! configuration with a sentence naming the problem.
//!
//! ```
//! use tower_jwt_auth::{Algorithm, JwtAuthConfig, VerifyingKey, error::ConfigErrorKind};
//!
//! // A short secret is refused at build time, not at the first request.
//! let error = JwtAuthConfig::builder()
//!     .key(VerifyingKey::hmac(b"too short".to_vec()))
//!     .build()
//!     .unwrap_err();
//! assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
//! assert!(error.message().contains("at least 32"));
//!
//! let config = JwtAuthConfig::builder()
//!     .key(VerifyingKey::hmac(vec![7u8; 64]).with_algorithm(Algorithm::HS512).with_kid("k1"))
//!     .build()
//!     .unwrap();
//! # let _ = config;
//! ```

mod algorithm;
mod backend;
mod der;
mod jwk;
mod signer;
pub(crate) mod vet;

use std::fmt;

use jsonwebtoken::DecodingKey;

pub(crate) use algorithm::Family;
#[cfg(feature = "jwks")]
pub(crate) use algorithm::public_key_algorithms;
pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use backend::crypto_backend;
pub(crate) use backend::install_default_provider;
pub(crate) use backend::sha256;
#[cfg(feature = "jwks")]
pub(crate) use jwk::{RemoteKeys, RemoteSetError, parse_remote_jwk_set};
pub(crate) use jwk::{parse_jwk_set, proof_key, public_thumbprint};
pub(crate) use signer::Signer;

use crate::error::{ConfigError, ErrorKind};

/// Key material to verify tokens with, vetted when the configuration is built.
///
/// The algorithm a key verifies comes from here (or from the JWK's `alg`, or the only
/// algorithm its curve allows), never from a token: a token whose header names another
/// algorithm is rejected.
///
/// ```
/// use tower_jwt_auth::{Algorithm, JwtAuthConfig, TokenIssuer, VerifyingKey, error::ConfigErrorKind};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let fixture = |name: &str| std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR")));
/// # let (private_pem, public_pem) = (fixture("ec256_private.pem")?, fixture("ec256_public.pem")?);
/// let issuer = TokenIssuer::builder().ec_pem(&private_pem).kid("2024-06").build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice"}))?;
///
/// // The public half in PEM, for tokens naming its kid: a P-256 key verifies ES256 only.
/// let key = VerifyingKey::ec_pem(&public_pem).with_kid("2024-06");
/// let config = JwtAuthConfig::builder().key(key.clone()).build()?;
/// assert_eq!(config.verify(&token)?.header().algorithm(), Algorithm::ES256);
///
/// // An algorithm of another family is refused when the configuration is built.
/// let error = JwtAuthConfig::builder().key(key.with_algorithm(Algorithm::RS256)).build().unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct VerifyingKey {
    source: Source,
    kid: Option<String>,
    algorithm: Option<Algorithm>,
}

#[derive(Clone)]
enum Source {
    Hmac(Vec<u8>),
    RsaPem(Vec<u8>),
    RsaDer(Vec<u8>),
    EcPem(Vec<u8>),
    Ed25519Pem(Vec<u8>),
    Jwk(String),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Hmac(_) => "hmac",
            Source::RsaPem(_) => "rsa_pem",
            Source::RsaDer(_) => "rsa_der",
            Source::EcPem(_) => "ec_pem",
            Source::Ed25519Pem(_) => "ed25519_pem",
            Source::Jwk(_) => "jwk",
        };
        f.debug_struct("VerifyingKey")
            .field("kind", &kind)
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A shared HMAC secret (HS256 unless [`with_algorithm`](Self::with_algorithm) says
    /// HS384 or HS512). It must be at least as long as the hash output: 32 bytes for HS256.
    pub fn hmac(secret: impl Into<Vec<u8>>) -> Self {
        Self::from_source(Source::Hmac(secret.into()))
    }

    /// An RSA public key in PEM, PKCS#1 (`RSA PUBLIC KEY`) or SPKI (`PUBLIC KEY`). RS256
    /// unless [`with_algorithm`](Self::with_algorithm) picks another RSA algorithm.
    pub fn rsa_pem(pem: impl AsRef<[u8]>) -> Self {
        Self::from_source(Source::RsaPem(pem.as_ref().to_vec()))
    }

    /// An RSA public key in DER, PKCS#1 or SPKI. RS256 unless told otherwise.
    pub fn rsa_der(der: impl AsRef<[u8]>) -> Self {
        Self::from_source(Source::RsaDer(der.as_ref().to_vec()))
    }

    /// An EC public key in PEM (SPKI): P-256 verifies ES256, P-384 ES384, P-521 ES512.
    pub fn ec_pem(pem: impl AsRef<[u8]>) -> Self {
        Self::from_source(Source::EcPem(pem.as_ref().to_vec()))
    }

    /// An Ed25519 public key in PEM (SPKI); verifies EdDSA.
    pub fn ed25519_pem(pem: impl AsRef<[u8]>) -> Self {
        Self::from_source(Source::Ed25519Pem(pem.as_ref().to_vec()))
    }

    /// One JWK as JSON. Its `kid` and `alg` are used unless overridden here; a JWK with
    /// `use` other than `sig`, `key_ops` without `verify`, private members or an `alg`
    /// that does not fit its `kty`/`crv` is refused. A `kty: oct` JWK is an HMAC secret.
    pub fn jwk(json: impl Into<String>) -> Self {
        Self::from_source(Source::Jwk(json.into()))
    }

    fn from_source(source: Source) -> Self {
        Self { source, kid: None, algorithm: None }
    }

    /// Tokens naming this `kid` in their header are verified with this key (exact match).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The one algorithm this key verifies; it must belong to the key's family.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// Parses and vets the key. `label` names it in error messages.
    pub(crate) fn prepare(&self, label: &str) -> Result<PreparedKey, ConfigError> {
        let refuse = |why: String| ConfigError::key(format!("{label}: {why}"));
        let (material, default_algorithm, jwk_kid) = match &self.source {
            Source::Hmac(secret) => (KeyMaterial::Hmac(secret.clone()), Algorithm::HS256, None),
            Source::RsaPem(pem) => {
                let key = DecodingKey::from_rsa_pem(pem).map_err(|_| {
                    refuse(
                        "this is not an RSA public key in PEM (expected `PUBLIC KEY` or `RSA PUBLIC KEY`)"
                            .into(),
                    )
                })?;
                (rsa_material(&key).map_err(refuse)?, Algorithm::RS256, None)
            }
            Source::RsaDer(der) => {
                let (n, e) = der::rsa_public_components(der).ok_or_else(|| {
                    refuse("this is not an RSA public key in DER (expected PKCS#1 or SPKI)".into())
                })?;
                (KeyMaterial::Rsa { n, e }, Algorithm::RS256, None)
            }
            Source::EcPem(pem) => {
                let key = DecodingKey::from_ec_pem(pem).map_err(|_| {
                    refuse(
                        "this is not an EC public key in PEM (expected `PUBLIC KEY` on P-256, P-384 or P-521)"
                            .into(),
                    )
                })?;
                let point = key.try_get_as_bytes().map_err(|_| refuse("unreadable EC key".into()))?.to_vec();
                let Some((_, algorithm)) = vet::ec_curve(point.len()) else {
                    return Err(refuse("only P-256, P-384 and P-521 EC keys are supported".into()));
                };
                (KeyMaterial::Ec(point), algorithm, None)
            }
            Source::Ed25519Pem(pem) => {
                let key = DecodingKey::from_ed_pem(pem).map_err(|_| {
                    refuse("this is not an Ed25519 public key in PEM (expected `PUBLIC KEY`)".into())
                })?;
                let bytes = key.try_get_as_bytes().map_err(|_| refuse("unreadable Ed25519 key".into()))?;
                (KeyMaterial::Ed25519(vet::ed25519(bytes).map_err(refuse)?), Algorithm::EdDSA, None)
            }
            Source::Jwk(json) => {
                let parsed = jwk::parse_jwk(json, true).map_err(refuse)?;
                (parsed.material, parsed.algorithm, parsed.kid)
            }
        };
        let algorithm = self.algorithm.unwrap_or(default_algorithm);
        let kid = self.kid.clone().or(jwk_kid);
        PreparedKey::new(kid, algorithm, material).map_err(refuse)
    }
}

fn rsa_material(key: &DecodingKey) -> Result<KeyMaterial, String> {
    let der = key.try_get_as_bytes().map_err(|_| "unreadable RSA key".to_string())?;
    let (n, e) = der::rsa_public_components(der).ok_or("this PEM holds no RSA public key")?;
    Ok(KeyMaterial::Rsa { n, e })
}

/// Parsed key material, before it is bound to an algorithm.
pub(crate) enum KeyMaterial {
    Hmac(Vec<u8>),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed SEC1 point: 0x04 || x || y.
    Ec(Vec<u8>),
    Ed25519([u8; 32]),
}

impl KeyMaterial {
    fn family(&self) -> Family {
        match self {
            Self::Hmac(_) => Family::Hmac,
            Self::Rsa { .. } => Family::Rsa,
            Self::Ec(_) => Family::Ec,
            Self::Ed25519(_) => Family::Ed,
        }
    }
}

/// A vetted key bound to one algorithm, ready to verify.
pub(crate) struct PreparedKey {
    kid: Option<Box<str>>,
    algorithm: Algorithm,
    check: backend::SignatureCheck,
    /// Identifies the key by content (kid, algorithm, material): a remote set fetched again
    /// with the same key yields the same fingerprint; a replaced key, another.
    #[cfg(feature = "jwks")]
    fingerprint: u64,
}

/// A stable 64-bit fingerprint of a key's identity and material.
#[cfg(feature = "jwks")]
fn fingerprint(kid: Option<&str>, algorithm: Algorithm, material: &KeyMaterial) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same key hashes the same in every process and build.
    let mut hasher = std::hash::DefaultHasher::new();
    kid.hash(&mut hasher);
    format!("{algorithm:?}").hash(&mut hasher);
    match material {
        KeyMaterial::Hmac(secret) => (0u8, secret).hash(&mut hasher),
        KeyMaterial::Rsa { n, e } => (1u8, n, e).hash(&mut hasher),
        KeyMaterial::Ec(point) => (2u8, point).hash(&mut hasher),
        KeyMaterial::Ed25519(x) => (3u8, x).hash(&mut hasher),
    }
    hasher.finish()
}

impl PreparedKey {
    pub(crate) fn new(
        kid: Option<String>,
        algorithm: Algorithm,
        material: KeyMaterial,
    ) -> Result<Self, String> {
        if !material.family().algorithms().contains(&algorithm) {
            return Err(format!(
                "{algorithm:?} does not fit a {} key; pick one of {:?}",
                material.family().name(),
                material.family().algorithms()
            ));
        }
        match &material {
            KeyMaterial::Hmac(secret) => vet::hmac(secret, algorithm)?,
            KeyMaterial::Rsa { n, e } => vet::rsa(n, e)?,
            KeyMaterial::Ec(point) => {
                let len = vet::ec_coordinate_len(algorithm).unwrap_or(0);
                if point.len() != 1 + 2 * len || point[0] != 0x04 {
                    return Err(match vet::ec_curve(point.len()) {
                        Some((curve, fits)) => {
                            format!("{algorithm} does not fit this {curve} key, which verifies {fits}")
                        }
                        None => format!("this EC key is not a point on the curve of {algorithm}"),
                    });
                }
            }
            KeyMaterial::Ed25519(_) => {}
        }
        let check = backend::SignatureCheck::new(algorithm, &material)?;
        Ok(Self {
            #[cfg(feature = "jwks")]
            fingerprint: fingerprint(kid.as_deref(), algorithm, &material),
            kid: kid.map(String::into_boxed_str),
            algorithm,
            check,
        })
    }

    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    #[cfg(feature = "jwks")]
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// True when `signature` is valid for `message` under this key and its algorithm.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.check.verify(self.algorithm, message, signature)
    }
}

/// What a configuration without any key is told: every key source the builder has.
#[cfg(feature = "jwks")]
const NO_KEY: &str = "no verification key is configured; add one with .hmac_secret(...), .key(...), \
                      .jwk_set(...), .remote_jwks(...), .oidc_issuer(...) or .trusted_issuer(...)";
#[cfg(not(feature = "jwks"))]
const NO_KEY: &str = "no verification key is configured; add one with .hmac_secret(...), .key(...), \
                      .jwk_set(...) or .trusted_issuer(...)";

/// The configured keys, and the rule by which a token finds its one key.
pub(crate) struct KeySet {
    keys: Vec<PreparedKey>,
}

impl KeySet {
    /// Checks the set as a whole: not empty, no `kid` twice.
    pub(crate) fn new(keys: Vec<PreparedKey>) -> Result<Self, ConfigError> {
        if keys.is_empty() {
            return Err(ConfigError::missing_key(NO_KEY));
        }
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = key.kid()
                && keys[..i].iter().any(|other| other.kid() == Some(kid))
            {
                return Err(ConfigError::key(format!(
                    "two keys share the kid {kid:?}; a kid must name one key"
                )));
            }
        }
        Ok(Self { keys })
    }

    /// No static key: the keys come from a remote set, or from trusted issuers.
    pub(crate) fn empty() -> Self {
        Self { keys: Vec::new() }
    }

    /// A set fetched from a remote source: already vetted key by key (duplicate kids
    /// dropped), and possibly empty.
    #[cfg(feature = "jwks")]
    pub(crate) fn from_vetted(keys: Vec<PreparedKey>) -> Self {
        Self { keys }
    }

    /// The number of keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when a key with this kid is in the set.
    #[cfg(feature = "jwks")]
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid() == Some(kid))
    }

    /// The key for a token: an exact `kid` match, else the one key without a kid that
    /// verifies the token's algorithm. The algorithm must be the key's own.
    pub(crate) fn select(&self, kid: Option<&str>, algorithm: Algorithm) -> Result<&PreparedKey, ErrorKind> {
        if let Some(kid) = kid
            && let Some(key) = self.keys.iter().find(|key| key.kid() == Some(kid))
        {
            return if key.algorithm == algorithm { Ok(key) } else { Err(ErrorKind::UnsupportedAlgorithm) };
        }
        let mut candidates = self
            .keys
            .iter()
            .filter(|key| key.algorithm == algorithm && (kid.is_none() || key.kid().is_none()));
        match (candidates.next(), candidates.next()) {
            (Some(key), None) => Ok(key),
            (Some(_), Some(_)) => Err(ErrorKind::AmbiguousKey),
            (None, _) if self.keys.iter().any(|key| key.algorithm == algorithm) => Err(ErrorKind::UnknownKey),
            (None, _) => Err(ErrorKind::UnsupportedAlgorithm),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_key(kid: Option<&str>, algorithm: Algorithm) -> PreparedKey {
        PreparedKey::new(kid.map(str::to_owned), algorithm, KeyMaterial::Hmac(vec![9; 64])).unwrap()
    }

    #[test]
    fn kid_selects_exactly_and_the_algorithm_must_be_the_keys_own() {
        let set =
            KeySet::new(vec![hmac_key(Some("a"), Algorithm::HS256), hmac_key(Some("b"), Algorithm::HS512)])
                .unwrap();
        assert_eq!(set.select(Some("b"), Algorithm::HS512).unwrap().kid(), Some("b"));
        assert_eq!(set.select(Some("b"), Algorithm::HS256).err(), Some(ErrorKind::UnsupportedAlgorithm));
        assert_eq!(set.select(Some("B"), Algorithm::HS512).err(), Some(ErrorKind::UnknownKey));
        assert_eq!(set.select(Some("c"), Algorithm::RS256).err(), Some(ErrorKind::UnsupportedAlgorithm));
    }

    #[test]
    fn a_token_without_kid_needs_exactly_one_fitting_key() {
        let one = KeySet::new(vec![hmac_key(None, Algorithm::HS256)]).unwrap();
        assert!(one.select(None, Algorithm::HS256).is_ok());
        let two =
            KeySet::new(vec![hmac_key(Some("a"), Algorithm::HS256), hmac_key(Some("b"), Algorithm::HS256)])
                .unwrap();
        assert_eq!(two.select(None, Algorithm::HS256).err(), Some(ErrorKind::AmbiguousKey));
    }

    #[test]
    fn duplicate_kids_and_empty_sets_are_refused() {
        assert!(KeySet::new(vec![]).is_err());
        assert!(
            KeySet::new(vec![hmac_key(Some("a"), Algorithm::HS256), hmac_key(Some("a"), Algorithm::HS384)])
                .is_err()
        );
    }

    #[test]
    fn an_algorithm_outside_the_keys_family_is_refused() {
        let error = PreparedKey::new(None, Algorithm::RS256, KeyMaterial::Hmac(vec![1; 64])).err().unwrap();
        assert!(error.contains("does not fit a HMAC key"), "{error}");
    }
}

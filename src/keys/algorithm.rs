//! The JWS signature algorithms the crate verifies and signs with.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518 section 3, and EdDSA with Ed25519 from RFC 8037).
///
/// A key verifies exactly one of these, fixed when the key is configured; a token's header
/// never chooses it. `none` is not an algorithm here.
///
/// ```
/// use tower_jwt_auth::Algorithm;
///
/// assert_eq!("ES512".parse::<Algorithm>(), Ok(Algorithm::ES512));
/// assert_eq!(Algorithm::EdDSA.to_string(), "EdDSA");
/// assert!("none".parse::<Algorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// EdDSA with Ed25519.
    EdDSA,
}

/// Every algorithm, in the order of the enum.
pub(crate) const ALL: [Algorithm; 13] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::EdDSA,
];

impl Algorithm {
    /// The name a JOSE header's `alg` gives it (`"ES512"`, `"EdDSA"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm a JOSE `alg` names; `none` and unknown names give `None` (exact,
    /// case-sensitive match, as RFC 7515 section 4.1.1 asks).
    /// [`from_name`](Self::from_name), and `Ed25519`, the fully specified name of EdDSA on
    /// Ed25519, which a JWK's `alg` and a DPoP proof's may use (a token's header may not).
    pub(crate) fn from_key_name(name: &str) -> Option<Self> {
        match name {
            "Ed25519" => Some(Self::EdDSA),
            name => Self::from_name(name),
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "ES512" => Self::ES512,
            "EdDSA" => Self::EdDSA,
            _ => return None,
        })
    }

    /// The kind of key it needs.
    pub(crate) fn family(self) -> Family {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => Family::Rsa,
            Self::ES256 | Self::ES384 | Self::ES512 => Family::Ec,
            Self::EdDSA => Family::Ed,
        }
    }

    /// The same algorithm in jsonwebtoken's terms, which has no ES512.
    pub(crate) fn to_jsonwebtoken(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as Jwt;
        Some(match self {
            Self::HS256 => Jwt::HS256,
            Self::HS384 => Jwt::HS384,
            Self::HS512 => Jwt::HS512,
            Self::RS256 => Jwt::RS256,
            Self::RS384 => Jwt::RS384,
            Self::RS512 => Jwt::RS512,
            Self::PS256 => Jwt::PS256,
            Self::PS384 => Jwt::PS384,
            Self::PS512 => Jwt::PS512,
            Self::ES256 => Jwt::ES256,
            Self::ES384 => Jwt::ES384,
            Self::EdDSA => Jwt::EdDSA,
            Self::ES512 => return None,
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an [`Algorithm`]: the name given is not one of the algorithms'
/// JOSE names (which are case-sensitive: `ES512`, not `es512`).
///
/// ```
/// use tower_jwt_auth::Algorithm;
///
/// // Say, an algorithm read from the environment or a settings file.
/// let error = "es512".parse::<Algorithm>().unwrap_err();
/// assert!(error.to_string().starts_with(r#""es512" is not a supported JWS signature algorithm"#));
/// assert!("none".parse::<Algorithm>().is_err());
///
/// // A `std::error::Error`, so `?` carries it into your own error type.
/// fn configured(name: &str) -> Result<Algorithm, Box<dyn std::error::Error>> {
///     Ok(name.parse()?)
/// }
/// assert_eq!(configured("ES512").unwrap(), Algorithm::ES512);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm {
    name: String,
}

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a supported JWS signature algorithm (JOSE names, case-sensitive: HS256, RS256, PS256, \
             ES256, ES384, ES512, EdDSA and the like)",
            self.name
        )
    }
}

impl std::error::Error for UnknownAlgorithm {}

/// Parses the JOSE name, exactly as a header's `alg` gives it (case-sensitive).
impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, UnknownAlgorithm> {
        Self::from_name(name).ok_or_else(|| UnknownAlgorithm { name: name.to_owned() })
    }
}

/// Every algorithm of a public key: what a remote key set accepts unless configured
/// otherwise (never an HMAC algorithm: a published key is public).
#[cfg(feature = "jwks")]
pub(crate) fn public_key_algorithms() -> Vec<Algorithm> {
    ALL.into_iter().filter(|algorithm| algorithm.family() != Family::Hmac).collect()
}

/// The kinds of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Family {
    /// The algorithms a key of this kind may verify.
    pub(crate) fn algorithms(self) -> Vec<Algorithm> {
        ALL.into_iter().filter(|algorithm| algorithm.family() == self).collect()
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Hmac => "HMAC",
            Self::Rsa => "RSA",
            Self::Ec => "EC",
            Self::Ed => "Ed25519",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_jsonwebtoken() {
        for algorithm in ALL {
            assert_eq!(Algorithm::from_name(algorithm.name()), Some(algorithm));
            if let Some(theirs) = algorithm.to_jsonwebtoken() {
                assert_eq!(format!("{theirs:?}"), algorithm.name());
            }
        }
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(Algorithm::from_name("es256"), None);
        assert_eq!(Algorithm::ES512.to_jsonwebtoken(), None);
    }
}

//! The crypto backend: aws-lc-rs keys parsed once (default), or jsonwebtoken's RustCrypto
//! provider. Exactly one is used; with both features on, aws-lc-rs wins.

use super::algorithm::Algorithm;
use jsonwebtoken::crypto::CryptoProvider;

use super::KeyMaterial;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "tower-jwt-auth needs a crypto backend: enable the feature `aws-lc-rs` (the default) or `rust-crypto`"
);

/// The name of the crypto backend in use: `"aws-lc-rs"` or `"rust-crypto"`.
pub fn crypto_backend() -> &'static str {
    if cfg!(feature = "aws-lc-rs") { "aws-lc-rs" } else { "rust-crypto" }
}

/// The jsonwebtoken provider matching our backend (used for signing and JWK helpers).
pub(crate) fn provider() -> &'static CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }
}

/// Makes jsonwebtoken's process-wide functions usable even when both of its backends are
/// compiled in (where it would otherwise panic at first use). An application that already
/// installed a provider keeps it.
pub(crate) fn install_default_provider() {
    let _ = CryptoProvider::install_default(provider());
}

/// SHA-256 of `data`: a DPoP proof's `ath` and a key's RFC 7638 thumbprint.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    #[cfg(feature = "aws-lc-rs")]
    {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        use sha2::Digest as _;
        sha2::Sha256::digest(data).into()
    }
}

/// A key prepared for the backend once, at build time.
pub(crate) enum SignatureCheck {
    #[cfg(feature = "aws-lc-rs")]
    Hmac(Box<aws_lc_rs::hmac::Key>),
    #[cfg(feature = "aws-lc-rs")]
    Public(aws_lc_rs::signature::ParsedPublicKey),
    #[cfg(not(feature = "aws-lc-rs"))]
    Portable(jsonwebtoken::DecodingKey),
    /// ES512, which jsonwebtoken lacks: the RustCrypto `p521` crate directly.
    #[cfg(not(feature = "aws-lc-rs"))]
    P521(Box<p521::ecdsa::VerifyingKey>),
}

#[cfg(feature = "aws-lc-rs")]
impl SignatureCheck {
    pub(crate) fn new(algorithm: Algorithm, material: &KeyMaterial) -> Result<Self, String> {
        use aws_lc_rs::{hmac, signature};
        let public_algorithm: &'static dyn signature::VerificationAlgorithm = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let KeyMaterial::Hmac(secret) = material else { unreachable_family()? };
                let hmac_algorithm = match algorithm {
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                return Ok(Self::Hmac(Box::new(hmac::Key::new(hmac_algorithm, secret))));
            }
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
        };
        let bytes = match material {
            KeyMaterial::Rsa { n, e } => super::der::rsa_public_key_der(n, e),
            KeyMaterial::Ec(point) => point.clone(),
            KeyMaterial::Ed25519(key) => key.to_vec(),
            KeyMaterial::Hmac(_) => unreachable_family()?,
        };
        signature::ParsedPublicKey::new(public_algorithm, bytes)
            .map(Self::Public)
            .map_err(|_| format!("this key is not a valid {algorithm:?} public key"))
    }

    pub(crate) fn verify(&self, _algorithm: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(key) => aws_lc_rs::hmac::verify(key, message, signature).is_ok(),
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
impl SignatureCheck {
    pub(crate) fn new(algorithm: Algorithm, material: &KeyMaterial) -> Result<Self, String> {
        use jsonwebtoken::DecodingKey;
        let invalid = || format!("this key is not a valid {algorithm:?} public key");
        let Some(theirs) = algorithm.to_jsonwebtoken() else {
            // ES512: a P-521 point, checked to be on the curve here.
            let KeyMaterial::Ec(point) = material else { return Err(invalid()) };
            let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| invalid())?;
            return Ok(Self::P521(Box::new(key)));
        };
        let key = match material {
            KeyMaterial::Hmac(secret) => {
                DecodingKey::from_secret(secret).map_err(|_| "an HMAC secret cannot be empty".to_string())?
            }
            KeyMaterial::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            KeyMaterial::Ec(point) => DecodingKey::from_ec_der(point),
            KeyMaterial::Ed25519(key) => DecodingKey::from_ed_der(key),
        };
        // Building a verifier parses the key, so a bad point fails here and not per request.
        (provider().verifier_factory)(&theirs, &key).map_err(|_| invalid())?;
        Ok(Self::Portable(key))
    }

    pub(crate) fn verify(&self, algorithm: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Portable(key) => {
                let Some(theirs) = algorithm.to_jsonwebtoken() else { return false };
                match (provider().verifier_factory)(&theirs, key) {
                    Ok(verifier) => verifier.verify(message, &signature.to_vec()).is_ok(),
                    Err(_) => false,
                }
            }
            Self::P521(key) => {
                use p521::ecdsa::signature::Verifier as _;
                // The JWS form: r || s, 66 bytes each (RFC 7518 section 3.4).
                p521::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            }
        }
    }
}

#[cfg(feature = "aws-lc-rs")]
fn unreachable_family<T>() -> Result<T, String> {
    Err("the key's family does not fit its algorithm".into())
}

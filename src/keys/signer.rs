//! Signing for the token issuer: jsonwebtoken's signers, and ES512 (P-521), which
//! jsonwebtoken lacks, through the crypto backend directly.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;

/// A private key bound to its algorithm.
pub(crate) enum Signer {
    /// Every algorithm jsonwebtoken signs with.
    Jwt { key: EncodingKey, algorithm: jsonwebtoken::Algorithm },
    /// ES512 with aws-lc-rs.
    #[cfg(feature = "aws-lc-rs")]
    P521(Box<aws_lc_rs::signature::EcdsaKeyPair>),
    /// ES512 with the RustCrypto `p521` crate.
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    P521(Box<p521::ecdsa::SigningKey>),
}

impl Signer {
    /// An ES512 signer from a PKCS#8 private key in DER, with its public point (uncompressed
    /// SEC1: `0x04 || x || y`); `None` when the key is not on P-521.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn p521(pkcs8: &[u8]) -> Option<(Self, Vec<u8>)> {
        use aws_lc_rs::signature::{ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P521_SHA512_FIXED_SIGNING, pkcs8).ok()?;
        let point = pair.public_key().as_ref().to_vec();
        Some((Self::P521(Box::new(pair)), point))
    }

    /// An ES512 signer from a PKCS#8 private key in DER, with its public point (uncompressed
    /// SEC1: `0x04 || x || y`); `None` when the key is not on P-521.
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    pub(crate) fn p521(pkcs8: &[u8]) -> Option<(Self, Vec<u8>)> {
        use p521::pkcs8::DecodePrivateKey as _;
        let key = p521::ecdsa::SigningKey::from_pkcs8_der(pkcs8).ok()?;
        let point = p521::ecdsa::VerifyingKey::from(&key).to_sec1_point(false).as_bytes().to_vec();
        Some((Self::P521(Box::new(key)), point))
    }

    /// The signature of `message`, base64url without padding.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
        match self {
            Self::Jwt { key, algorithm } => jsonwebtoken::crypto::sign(message, key, *algorithm),
            #[cfg(feature = "aws-lc-rs")]
            Self::P521(pair) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let signature =
                    pair.sign(&rng, message).map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey)?;
                Ok(URL_SAFE_NO_PAD.encode(signature.as_ref()))
            }
            #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
            Self::P521(key) => {
                use p521::ecdsa::signature::Signer as _;
                let signature: p521::ecdsa::Signature =
                    key.try_sign(message).map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey)?;
                Ok(URL_SAFE_NO_PAD.encode(signature.to_bytes()))
            }
        }
    }
}

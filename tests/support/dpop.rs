//! DPoP proofs for the tests, made apart from the crate's own code: keys from
//! `tests/fixtures`, JWKs and thumbprints from jsonwebtoken, `ath` from the sha2 crate.
//!
//! Included by path from each test crate that needs it:
//!
//! ```ignore
//! #[path = "support/dpop.rs"]
//! mod dpop;
//! ```

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm as JwtAlgorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::Digest as _;
use tower_jwt_auth::{JwtAuthConfig, TokenIssuer};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A client's proof key: the signing key, its public JWK and the JWK's thumbprint (computed
/// by jsonwebtoken, apart from the crate's own code).
pub struct ClientKey {
    pub key: EncodingKey,
    pub algorithm: JwtAlgorithm,
    pub jwk: Value,
    pub jkt: String,
}

impl ClientKey {
    pub fn from_pem(file: &str, algorithm: JwtAlgorithm) -> Self {
        // Building a configuration installs the crypto provider jsonwebtoken signs with.
        JwtAuthConfig::builder().hmac_secret(SECRET).build().unwrap();
        // The repository's fixtures, from the root crate or a workspace member.
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let fixtures =
            manifest.ancestors().map(|dir| dir.join("tests/fixtures")).find(|dir| dir.is_dir()).unwrap();
        let pem = std::fs::read(fixtures.join(file)).unwrap();
        let key = EncodingKey::from_ec_pem(&pem).unwrap();
        let jwk = Jwk::from_encoding_key(&key, algorithm).unwrap();
        let jkt = jwk.thumbprint(ThumbprintHash::SHA256).unwrap();
        let mut jwk = serde_json::to_value(&jwk).unwrap();
        // Only the key's own members: no `alg`, `kid` or `use`, as clients send.
        jwk.as_object_mut().unwrap().retain(|name, _| ["kty", "crv", "x", "y"].contains(&name.as_str()));
        Self { key, algorithm, jwk, jkt }
    }

    /// The P-256 key of the tests' client.
    pub fn client() -> Self {
        Self::from_pem("ec256_private.pem", JwtAlgorithm::ES256)
    }

    /// Another client's key (P-384).
    pub fn other() -> Self {
        Self::from_pem("ec384_private.pem", JwtAlgorithm::ES384)
    }

    pub fn alg(&self) -> &'static str {
        match self.algorithm {
            JwtAlgorithm::ES384 => "ES384",
            _ => "ES256",
        }
    }

    /// A proof's header and claims, as an honest client makes them.
    pub fn parts(&self, method: &str, url: &str, token: &str) -> (Value, Value) {
        let header = json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk});
        let claims = json!({
            "jti": b64(rand_bytes()),
            "htm": method,
            "htu": url,
            "iat": now(),
            "ath": b64(sha2::Sha256::digest(token.as_bytes())),
        });
        (header, claims)
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signed = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = jsonwebtoken::crypto::sign(signed.as_bytes(), &self.key, self.algorithm).unwrap();
        format!("{signed}.{signature}")
    }

    pub fn proof(&self, method: &str, url: &str, token: &str) -> String {
        let (header, claims) = self.parts(method, url, token);
        self.sign(&header, &claims)
    }

    /// A token bound to this key, signed with the tests' HMAC secret.
    pub fn bound_token(&self, sub: &str) -> String {
        let issuer = TokenIssuer::builder().hmac_secret(SECRET).build().unwrap();
        issuer.issue(&json!({"sub": sub, "cnf": {"jkt": self.jkt}})).unwrap()
    }
}

pub fn rand_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    bytes[8..].copy_from_slice(&(now() as u64).to_le_bytes());
    bytes
}

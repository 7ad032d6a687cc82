//! Server nonces (RFC 9449 section 8 and 9): stateless, so that any instance sharing the
//! secret accepts any instance's nonce. A nonce is the number of its time slot and an HMAC
//! of it; it is accepted during its own slot and the next one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;

use crate::keys::sha256;

/// The nonce secret and the rotation period.
pub(crate) struct Nonces {
    key: [u8; 32],
    /// Seconds a nonce is current; it is accepted for twice as long.
    period: i64,
}

impl Nonces {
    pub(crate) fn new(key: [u8; 32], period: i64) -> Self {
        Self { key, period: period.max(1) }
    }

    fn slot(&self, now: i64) -> i64 {
        now.div_euclid(self.period)
    }

    /// The nonce of the slot `slot`.
    fn nonce_of(&self, slot: i64) -> String {
        let slot = slot.to_be_bytes();
        let tag = hmac_sha256(&self.key, &slot);
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&slot);
        bytes[8..].copy_from_slice(&tag[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The current nonce, for a `DPoP-Nonce` header.
    pub(crate) fn current(&self, now: i64) -> HeaderValue {
        HeaderValue::try_from(self.nonce_of(self.slot(now))).expect("base64url is a valid header value")
    }

    /// True for a nonce of the current slot or the one before.
    pub(crate) fn accepts(&self, nonce: &str, now: i64) -> bool {
        let mut bytes = [0u8; 24];
        match URL_SAFE_NO_PAD.decode_slice(nonce, &mut bytes) {
            Ok(24) => {}
            _ => return false,
        }
        let slot = i64::from_be_bytes(bytes[..8].try_into().expect("eight bytes"));
        let current = self.slot(now);
        if slot != current && slot != current - 1 {
            return false;
        }
        let tag = hmac_sha256(&self.key, &bytes[..8]);
        // Compared without an early exit.
        tag[..16].iter().zip(&bytes[8..]).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
    }
}

/// HMAC-SHA-256 (RFC 2104) with a 32-byte key.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut inner = Vec::with_capacity(64 + message.len());
    let mut outer = Vec::with_capacity(64 + 32);
    for index in 0..64 {
        let byte = key.get(index).copied().unwrap_or(0);
        inner.push(byte ^ 0x36);
        outer.push(byte ^ 0x5c);
    }
    inner.extend_from_slice(message);
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2_shape() {
        // RFC 4231 test case 1 uses a 20-byte key; padded with zeros to 32 it is the same
        // HMAC key (keys shorter than the block are zero-padded).
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let tag = hmac_sha256(&key, b"Hi There");
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    }

    #[test]
    fn a_nonce_is_accepted_in_its_slot_and_the_next_only() {
        let nonces = Nonces::new([7; 32], 60);
        let nonce = nonces.current(600).to_str().unwrap().to_owned();
        assert!(nonces.accepts(&nonce, 600));
        assert!(nonces.accepts(&nonce, 659));
        assert!(nonces.accepts(&nonce, 719));
        assert!(!nonces.accepts(&nonce, 720));
        assert!(!nonces.accepts(&nonce, 599));
        // Another secret's nonce, or a forged one, is not.
        assert!(!Nonces::new([8; 32], 60).accepts(&nonce, 600));
        let mut forged = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        forged[23] ^= 1;
        assert!(!nonces.accepts(&URL_SAFE_NO_PAD.encode(forged), 600));
        assert!(!nonces.accepts("not a nonce", 600));
    }
}

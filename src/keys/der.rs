//! The few DER shapes RSA public keys come in: PKCS#1 `RSAPublicKey` and SPKI.
//!
//! Just enough ASN.1 to read a modulus and exponent (so key strength is checked the same
//! way on every backend) and to write them back as PKCS#1 for the aws-lc-rs backend.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption), tag and length included.
const RSA_ENCRYPTION_OID: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Reads one TLV; returns (tag, contents, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        if bytes[0] == 0 {
            return None; // not minimal
        }
        let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return None; // not minimal
        }
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// A positive DER INTEGER's magnitude, without the sign byte.
fn positive_integer(contents: &[u8]) -> Option<&[u8]> {
    match contents {
        [] => None,
        [0, next, ..] if *next < 0x80 => None, // not minimal
        [0, rest @ ..] => Some(rest),
        [first, ..] if *first >= 0x80 => None, // negative
        all => Some(all),
    }
}

/// Parses a PKCS#1 `RSAPublicKey` or an SPKI holding one; returns (n, e) big-endian.
pub(crate) fn rsa_public_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (tag, body, rest) = read_tlv(der)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (first_tag, first, after_first) = read_tlv(body)?;
    match first_tag {
        INTEGER => {
            let (tag, e, rest) = read_tlv(after_first)?;
            if tag != INTEGER || !rest.is_empty() {
                return None;
            }
            Some((positive_integer(first)?.to_vec(), positive_integer(e)?.to_vec()))
        }
        SEQUENCE => {
            if !first.starts_with(RSA_ENCRYPTION_OID) {
                return None;
            }
            let (tag, bits, rest) = read_tlv(after_first)?;
            if tag != BIT_STRING || !rest.is_empty() {
                return None;
            }
            match bits.split_first()? {
                (0, inner) => rsa_public_components(inner),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Writes (n, e) as a PKCS#1 `RSAPublicKey`.
#[cfg(feature = "aws-lc-rs")]
pub(crate) fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn push_integer(out: &mut Vec<u8>, magnitude: &[u8]) {
        let trimmed = match magnitude.iter().position(|&b| b != 0) {
            Some(start) => &magnitude[start..],
            None => &[0][..],
        };
        let pad = trimmed[0] >= 0x80;
        out.push(INTEGER);
        push_len(out, trimmed.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    push_integer(&mut body, n);
    push_integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(SEQUENCE);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "aws-lc-rs")]
    fn pkcs1_round_trips() {
        let n = [0xc5u8; 256];
        let e = [0x01, 0x00, 0x01];
        let der = rsa_public_key_der(&n, &e);
        assert_eq!(rsa_public_components(&der), Some((n.to_vec(), e.to_vec())));
    }

    #[test]
    fn truncated_or_trailing_der_is_refused() {
        assert_eq!(rsa_public_components(&[]), None);
        assert_eq!(rsa_public_components(&[0x30, 0x05, 0x02, 0x01]), None);
        assert_eq!(rsa_public_components(&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03, 0x00]), None);
        assert_eq!(
            rsa_public_components(&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]),
            Some((vec![5], vec![3]))
        );
    }
}

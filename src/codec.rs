//! Decoding: canonical base64url segments and JSON text.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::error::ErrorKind;

/// Decodes one base64url segment of a compact token. The engine refuses padding and non-zero
/// trailing bits: only canonical base64url.
pub(crate) fn decode_segment(segment: &[u8]) -> Result<Vec<u8>, ErrorKind> {
    // Into a buffer allocated and then zeroed, which costs less than `decode`'s zeroed
    // allocation (`calloc`) for a token's small payload.
    let mut decoded = Vec::new();
    URL_SAFE_NO_PAD.decode_vec(segment, &mut decoded).map_err(|_| ErrorKind::Malformed)?;
    Ok(decoded)
}

/// The largest segment decoded on the stack: an RSA-4096 signature is 512 bytes, and
/// headers are far smaller. Larger segments go to the heap.
const STACK_SEGMENT: usize = 512;

/// Decodes a segment into a stack buffer when it fits, else onto the heap; `f` reads the
/// bytes.
pub(crate) fn with_decoded<T>(
    segment: &[u8],
    f: impl FnOnce(&[u8]) -> Result<T, ErrorKind>,
) -> Result<T, ErrorKind> {
    if segment.len() / 4 * 3 + 3 <= STACK_SEGMENT {
        let mut buffer = [0u8; STACK_SEGMENT];
        let length = URL_SAFE_NO_PAD.decode_slice(segment, &mut buffer).map_err(|_| ErrorKind::Malformed)?;
        f(&buffer[..length])
    } else {
        f(&decode_segment(segment)?)
    }
}

/// Parses JSON bytes after checking once that they are UTF-8: serde_json then skips checking
/// each string on its own, which `from_slice` does. The same texts are accepted.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| <serde_json::Error as serde::de::Error>::custom("the JSON text is not UTF-8"))?;
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_canonical_base64url_is_refused() {
        // "eQ" decodes to 'y'; "eR" has non-zero trailing bits.
        assert!(decode_segment(b"eQ").is_ok());
        assert_eq!(decode_segment(b"eR").err(), Some(ErrorKind::Malformed));
        assert_eq!(decode_segment(b"eQ==").err(), Some(ErrorKind::Malformed));
    }

    #[test]
    fn segments_decode_alike_on_the_stack_and_on_the_heap() {
        for length in [0, 10, 380, 384, 385, 2000] {
            let bytes: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
            let segment = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                with_decoded(segment.as_bytes(), |decoded| Ok(decoded.to_vec())),
                Ok(bytes),
                "{length}"
            );
        }
        assert_eq!(with_decoded(b"a+", |_| Ok(())), Err(ErrorKind::Malformed));
    }
}

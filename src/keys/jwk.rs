//! JWK and JWK set ingestion (RFC 7517, RFC 7518 section 6, RFC 8037), with vetting.
//!
//! The JWK is read with our own strict model rather than a permissive one: a member that
//! appears twice, private key material, or parameters that do not fit `kty`/`crv`/`alg`
//! make the key unfit, and the message says why.

use super::algorithm::Algorithm;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{KeyMaterial, PreparedKey, vet};

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
    // Private members: present means unfit for a verification key.
    d: Option<IgnoredAny>,
    p: Option<IgnoredAny>,
    q: Option<IgnoredAny>,
    dp: Option<IgnoredAny>,
    dq: Option<IgnoredAny>,
    qi: Option<IgnoredAny>,
    oth: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<RawJwk>,
}

/// A vetted JWK, not yet bound into a [`PreparedKey`].
pub(crate) struct ParsedJwk {
    pub(crate) kid: Option<String>,
    pub(crate) algorithm: Algorithm,
    /// The algorithm the JWK's own `alg` names, if it names one.
    pub(crate) named: Option<Algorithm>,
    pub(crate) material: KeyMaterial,
}

fn decode_member(value: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let value = value.as_deref().ok_or_else(|| format!("the JWK lacks its `{name}` member"))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("the JWK member `{name}` is not base64url without padding"))
}

/// Parses one JWK. `allow_secret` admits `kty: oct` (an HMAC secret).
pub(crate) fn parse_jwk(json: &str, allow_secret: bool) -> Result<ParsedJwk, String> {
    let raw: RawJwk = serde_json::from_str(json).map_err(|_| {
        "this is not a JWK: a JSON object with string members and no member twice".to_string()
    })?;
    vet_jwk(raw, allow_secret)
}

fn vet_jwk(raw: RawJwk, allow_secret: bool) -> Result<ParsedJwk, String> {
    if let Some(use_) = raw.public_key_use.as_deref()
        && use_ != "sig"
    {
        return Err(format!("the JWK's `use` is {use_:?}; a verification key needs \"sig\" or no `use`"));
    }
    if let Some(ops) = &raw.key_ops
        && !ops.iter().any(|op| op == "verify")
    {
        return Err("the JWK's `key_ops` do not include \"verify\"".into());
    }
    let has_private = raw.d.is_some()
        || raw.p.is_some()
        || raw.q.is_some()
        || raw.dp.is_some()
        || raw.dq.is_some()
        || raw.qi.is_some()
        || raw.oth.is_some();
    if has_private && raw.kty != "oct" {
        return Err("the JWK holds private key material; configure its public half only".into());
    }
    let named = match raw.alg.as_deref() {
        None => None,
        Some(name) => Some(
            Algorithm::from_key_name(name)
                .ok_or_else(|| format!("the JWK's `alg` {name:?} is not a supported signature algorithm"))?,
        ),
    };
    let (material, default_algorithm) = match raw.kty.as_str() {
        "RSA" => {
            let n = decode_member(&raw.n, "n")?;
            let e = decode_member(&raw.e, "e")?;
            vet::rsa(&n, &e)?;
            (KeyMaterial::Rsa { n, e }, Algorithm::RS256)
        }
        "EC" => {
            let Some(algorithm) = raw.crv.as_deref().and_then(vet::ec_curve_named) else {
                return Err(format!(
                    "the EC curve {:?} is not supported; use P-256, P-384 or P-521",
                    raw.crv
                ));
            };
            let len = vet::ec_coordinate_len(algorithm).unwrap_or(0);
            let x = decode_member(&raw.x, "x")?;
            let y = decode_member(&raw.y, "y")?;
            if x.len() != len || y.len() != len {
                return Err(format!("the EC coordinates must be {len} bytes each on {:?}", raw.crv));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (KeyMaterial::Ec(point), algorithm)
        }
        "OKP" => {
            if raw.crv.as_deref() != Some("Ed25519") {
                return Err(format!(
                    "the OKP curve {:?} is not a signature curve we support; use Ed25519",
                    raw.crv
                ));
            }
            let x = decode_member(&raw.x, "x")?;
            (KeyMaterial::Ed25519(vet::ed25519(&x)?), Algorithm::EdDSA)
        }
        "oct" if allow_secret => (KeyMaterial::Hmac(decode_member(&raw.k, "k")?), Algorithm::HS256),
        "oct" => {
            return Err(
                "a `kty: oct` secret sits in a set of public keys; configure HMAC secrets on their own"
                    .into(),
            );
        }
        other => return Err(format!("the key type {other:?} is not supported")),
    };
    let algorithm = named.unwrap_or(default_algorithm);
    if let (Some(named), KeyMaterial::Ec(_)) = (named, &material)
        && named != default_algorithm
    {
        let curve = raw.crv.as_deref().unwrap_or_default();
        return Err(format!(
            "the JWK's `alg` {named} does not fit its curve {curve}, which verifies {default_algorithm}"
        ));
    }
    Ok(ParsedJwk { kid: raw.kid, algorithm, named, material })
}

/// The public key a DPoP proof carries in its header, ready to check the proof's signature
/// with `algorithm` (the proof's `alg`), and its RFC 7638 SHA-256 thumbprint. Refused: a
/// private key, a secret, a key whose own `alg` names another algorithm or whose type or
/// curve does not fit `algorithm`, and a key too weak for a verification key.
pub(crate) fn proof_key(json: &str, algorithm: Algorithm) -> Result<(PreparedKey, [u8; 32]), String> {
    let parsed = parse_jwk(json, false)?;
    if parsed.named.is_some_and(|named| named != algorithm) {
        return Err(format!("the key's `alg` is not the proof's {algorithm}"));
    }
    let thumbprint = thumbprint(&parsed.material);
    let key = PreparedKey::new(None, algorithm, parsed.material)?;
    Ok((key, thumbprint))
}

/// The RFC 7638 thumbprint of a public JWK given as JSON, base64url.
pub(crate) fn public_thumbprint(json: &str) -> Result<String, String> {
    let parsed = parse_jwk(json, false)?;
    Ok(URL_SAFE_NO_PAD.encode(thumbprint(&parsed.material)))
}

/// The RFC 7638 thumbprint of a public key: SHA-256 over its required members, in
/// lexicographic order, without spaces.
pub(crate) fn thumbprint(material: &KeyMaterial) -> [u8; 32] {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let json = match material {
        KeyMaterial::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n)),
        KeyMaterial::Ec(point) => {
            let curve = vet::ec_curve(point.len()).map_or("", |(name, _)| name);
            let len = (point.len() - 1) / 2;
            let (x, y) = (&point[1..1 + len], &point[1 + len..]);
            format!(r#"{{"crv":"{curve}","kty":"EC","x":"{}","y":"{}"}}"#, b64(x), b64(y))
        }
        KeyMaterial::Ed25519(x) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x)),
        KeyMaterial::Hmac(k) => format!(r#"{{"k":"{}","kty":"oct"}}"#, b64(k)),
    };
    super::backend::sha256(json.as_bytes())
}

/// Parses and prepares a JWK set. Secrets (`kty: oct`) are admitted only in a set that
/// holds nothing else, so a public key set can never smuggle in an HMAC key.
pub(crate) fn parse_jwk_set(json: &str) -> Result<Vec<PreparedKey>, String> {
    let set: RawJwkSet = serde_json::from_str(json).map_err(|_| {
        "this is not a JWK set: a JSON object with a `keys` array of JWKs, no member twice".to_string()
    })?;
    let all_secret = set.keys.iter().all(|key| key.kty == "oct");
    set.keys
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let parsed = vet_jwk(raw, all_secret).map_err(|why| format!("key {index}: {why}"))?;
            PreparedKey::new(parsed.kid, parsed.algorithm, parsed.material)
                .map_err(|why| format!("key {index}: {why}"))
        })
        .collect()
}

/// What a remote JWK set yielded: the fit keys, and how many entries were skipped.
#[cfg(feature = "jwks")]
pub(crate) struct RemoteKeys {
    pub(crate) keys: Vec<PreparedKey>,
    pub(crate) skipped: usize,
}

/// Why a fetched document yields no key set.
#[cfg(feature = "jwks")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RemoteSetError {
    /// Not a JWK set at all.
    Malformed,
    /// More entries than the set may hold.
    TooManyKeys,
}

/// Parses a JWK set fetched from a remote source, leniently per key: a key that is unfit
/// (an encryption key, an unknown type or curve, a weak or private key, an `alg` outside
/// `allowed`) is skipped with a debug log and never spoils the rest of the set. A `kid`
/// that appears twice is ambiguous: neither copy is kept. Secrets are never admitted.
/// RSA keys without `alg` verify `rsa_default`. Fails when the document is not a JWK set
/// at all, or holds more than `max_keys` entries (counted before any key is parsed). Linear
/// in the document's size.
#[cfg(feature = "jwks")]
pub(crate) fn parse_remote_jwk_set(
    json: &[u8],
    allowed: &[Algorithm],
    rsa_default: Algorithm,
    max_keys: usize,
) -> Result<RemoteKeys, RemoteSetError> {
    use std::collections::HashMap;

    #[derive(Deserialize)]
    struct RawSet<'a> {
        #[serde(borrow)]
        keys: Vec<&'a serde_json::value::RawValue>,
    }
    let set: RawSet<'_> = serde_json::from_slice(json).map_err(|_| RemoteSetError::Malformed)?;
    if set.keys.len() > max_keys {
        return Err(RemoteSetError::TooManyKeys);
    }
    // A kid published twice is ambiguous whether or not both copies are fit: count the
    // kids of every entry first, fit or not.
    #[derive(Deserialize)]
    struct KidOnly {
        kid: Option<String>,
    }
    let kids: Vec<Option<String>> = set
        .keys
        .iter()
        .map(|raw| serde_json::from_str::<KidOnly>(raw.get()).ok().and_then(|entry| entry.kid))
        .collect();
    let mut uses: HashMap<&str, usize> = HashMap::with_capacity(kids.len());
    for kid in kids.iter().flatten() {
        *uses.entry(kid).or_default() += 1;
    }
    let mut keys: Vec<PreparedKey> = Vec::with_capacity(set.keys.len());
    let mut skipped = 0usize;
    for (index, raw) in set.keys.iter().enumerate() {
        if kids[index].as_deref().is_some_and(|kid| uses[kid] > 1) {
            skipped += 1;
            tracing::debug!(index, "JWK skipped: its kid names more than one key");
            continue;
        }
        let prepared = serde_json::from_str::<RawJwk>(raw.get())
            .map_err(|_| "not a JWK object of string members, or a member appears twice".to_string())
            .and_then(|raw| {
                let has_alg = raw.alg.is_some();
                let mut parsed = vet_jwk(raw, false)?;
                if !has_alg && matches!(parsed.material, KeyMaterial::Rsa { .. }) {
                    parsed.algorithm = rsa_default;
                }
                if !allowed.contains(&parsed.algorithm) {
                    return Err(format!("its algorithm {:?} is not in the allowlist", parsed.algorithm));
                }
                PreparedKey::new(parsed.kid, parsed.algorithm, parsed.material)
            });
        match prepared {
            Ok(key) => keys.push(key),
            Err(why) => {
                skipped += 1;
                tracing::debug!(index, reason = %why, "JWK skipped");
            }
        }
    }
    Ok(RemoteKeys { keys, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_keys_and_private_members_are_refused() {
        let enc =
            r#"{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert!(parse_jwk(enc, false).err().unwrap().contains("use"));
        let private = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert!(parse_jwk(private, false).err().unwrap().contains("private"));
        let ops = r#"{"kty":"OKP","crv":"Ed25519","key_ops":["sign"],"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert!(parse_jwk(ops, false).err().unwrap().contains("key_ops"));
    }

    #[test]
    fn a_member_twice_is_refused() {
        let twice =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","x":"AAAA"}"#;
        assert!(parse_jwk(twice, false).is_err());
    }

    #[test]
    fn rfc8037_ed25519_key_is_accepted() {
        let key = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let parsed = parse_jwk(key, false).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::EdDSA);
    }

    #[cfg(feature = "jwks")]
    #[test]
    fn a_remote_set_keeps_its_fit_keys_and_drops_the_rest() {
        let set = br#"{"keys":[
            {"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},
            {"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"},
            {"kty":"OKP","crv":"Ed25519","use":"enc","kid":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"twice","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"twice","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"good","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"half","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"RSA","use":"enc","kid":"half","n":"AQAB","e":"AQAB"},
            {"kty":"EC","crv":"secp256k1","kid":"k1","x":"AAAA","y":"AAAA"},
            "not an object", 42]}"#;
        let parsed =
            parse_remote_jwk_set(set, &[Algorithm::EdDSA, Algorithm::RS256], Algorithm::RS256, 100).unwrap();
        let kids: Vec<_> = parsed.keys.iter().map(|key| key.kid()).collect();
        assert_eq!(kids, [Some("good")]);
        assert_eq!(parsed.skipped, 10, "a kid shared with an unfit key is ambiguous too");
        let only_rsa = parse_remote_jwk_set(set, &[Algorithm::RS256], Algorithm::RS256, 100).unwrap();
        assert!(only_rsa.keys.is_empty());
        let not_a_set = parse_remote_jwk_set(b"[]", &[Algorithm::RS256], Algorithm::RS256, 100);
        assert_eq!(not_a_set.err(), Some(RemoteSetError::Malformed));
        // More entries than the cap: refused before any key is parsed.
        let capped = parse_remote_jwk_set(set, &[Algorithm::EdDSA], Algorithm::RS256, 10);
        assert_eq!(capped.err(), Some(RemoteSetError::TooManyKeys));
    }

    /// 20,000 entries sharing kids two by two: every one is ambiguous, found by one count
    /// per kid (the former pairwise check compared every kid with every other: 4 x 10^8
    /// comparisons here).
    #[cfg(feature = "jwks")]
    #[test]
    fn duplicate_kids_are_found_in_linear_time() {
        let entries: Vec<String> = (0..20_000)
            .map(|index| format!(r#"{{"kty":"RSA","kid":"k{}","n":"AQAB","e":"AQAB"}}"#, index / 2))
            .collect();
        let set = format!(r#"{{"keys":[{}]}}"#, entries.join(","));
        let parsed =
            parse_remote_jwk_set(set.as_bytes(), &[Algorithm::RS256], Algorithm::RS256, 20_000).unwrap();
        assert_eq!((parsed.keys.len(), parsed.skipped), (0, 20_000));
    }

    #[test]
    fn a_secret_inside_a_public_set_is_refused() {
        let set = r#"{"keys":[
            {"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},
            {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        assert!(parse_jwk_set(set).err().unwrap().contains("oct"));
    }
}

#[cfg(test)]
mod thumbprint_tests {
    use super::*;

    /// RFC 7638 section 3.1's example key and its thumbprint.
    #[test]
    fn the_thumbprint_of_rfc_7638s_example() {
        let jwk = r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;
        let (_, thumbprint) = proof_key(jwk, Algorithm::RS256).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(thumbprint), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn a_proof_key_must_be_public_and_fit_the_proofs_algorithm() {
        let ec = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        assert!(proof_key(ec, Algorithm::ES256).is_ok());
        assert!(proof_key(ec, Algorithm::ES384).is_err());
        let private = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
        assert!(proof_key(private, Algorithm::ES256).err().unwrap().contains("private"));
        let secret = r#"{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}"#;
        assert!(proof_key(secret, Algorithm::HS256).is_err());
        let ed25519 = r#"{"kty":"OKP","crv":"Ed25519","alg":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert!(proof_key(ed25519, Algorithm::EdDSA).is_ok(), "the fully specified name");
        let named = r#"{"kty":"EC","crv":"P-256","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        assert!(proof_key(named, Algorithm::ES256).is_ok());
    }
}

//! Key formats, key vetting and issuing: every supported key verifies tokens signed by its
//! private half, weak or unfit keys fail `build()` with a sentence, and the published JWK
//! set verifies what the issuer signs.

use tower_jwt_auth::{
    Algorithm, ErrorKind, JwtAuthConfig, TokenIssuer, VerifyingKey, error::ConfigErrorKind,
};

const RSA_PRIVATE: &str = include_str!("fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("fixtures/rsa_public.pem");
const RSA_PUBLIC_PKCS1: &str = include_str!("fixtures/rsa_public_pkcs1.pem");
const RSA_PUBLIC_DER: &[u8] = include_bytes!("fixtures/rsa_public.der");
const RSA1024_PUBLIC: &str = include_str!("fixtures/rsa1024_public.pem");
const EC256_PRIVATE: &str = include_str!("fixtures/ec256_private.pem");
const EC256_PUBLIC: &str = include_str!("fixtures/ec256_public.pem");
const EC521_PRIVATE: &str = include_str!("fixtures/ec521_private.pem");
const EC521_PUBLIC: &str = include_str!("fixtures/ec521_public.pem");
const EC384_PRIVATE: &str = include_str!("fixtures/ec384_private.pem");
const EC384_PUBLIC: &str = include_str!("fixtures/ec384_public.pem");
const ED25519_PRIVATE: &str = include_str!("fixtures/ed25519_private.pem");
const ED25519_PUBLIC: &str = include_str!("fixtures/ed25519_public.pem");

fn claims() -> serde_json::Value {
    serde_json::json!({"sub": "alice", "role": "admin"})
}

fn round_trip(issuer: TokenIssuer, key: VerifyingKey) -> Result<(), ErrorKind> {
    let token = issuer.issue(&claims()).unwrap();
    let config = JwtAuthConfig::builder().key(key).build().unwrap();
    config.verify(&token).map(|c| assert_eq!(c.sub.as_deref(), Some("alice"))).map_err(|e| e.kind())
}

#[test]
fn every_supported_key_format_verifies_its_own_tokens() {
    let rsa = || TokenIssuer::builder().rsa_pem(RSA_PRIVATE);
    round_trip(rsa().build().unwrap(), VerifyingKey::rsa_pem(RSA_PUBLIC)).unwrap();
    round_trip(rsa().build().unwrap(), VerifyingKey::rsa_pem(RSA_PUBLIC_PKCS1)).unwrap();
    round_trip(rsa().build().unwrap(), VerifyingKey::rsa_der(RSA_PUBLIC_DER)).unwrap();
    for algorithm in
        [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512]
    {
        round_trip(
            rsa().algorithm(algorithm).build().unwrap(),
            VerifyingKey::rsa_pem(RSA_PUBLIC).with_algorithm(algorithm),
        )
        .unwrap();
    }
    round_trip(
        TokenIssuer::builder().ec_pem(EC256_PRIVATE).build().unwrap(),
        VerifyingKey::ec_pem(EC256_PUBLIC),
    )
    .unwrap();
    round_trip(
        TokenIssuer::builder().ec_pem(EC384_PRIVATE).build().unwrap(),
        VerifyingKey::ec_pem(EC384_PUBLIC),
    )
    .unwrap();
    round_trip(
        TokenIssuer::builder().ec_pem(EC521_PRIVATE).build().unwrap(),
        VerifyingKey::ec_pem(EC521_PUBLIC),
    )
    .unwrap();
    round_trip(
        TokenIssuer::builder().ed25519_pem(ED25519_PRIVATE).build().unwrap(),
        VerifyingKey::ed25519_pem(ED25519_PUBLIC),
    )
    .unwrap();
    for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let secret = vec![42u8; 64];
        round_trip(
            TokenIssuer::builder().hmac_secret(secret.clone()).algorithm(algorithm).build().unwrap(),
            VerifyingKey::hmac(secret).with_algorithm(algorithm),
        )
        .unwrap();
    }
}

#[test]
fn a_token_signed_with_another_algorithm_of_the_same_family_is_rejected() {
    let issuer = TokenIssuer::builder().rsa_pem(RSA_PRIVATE).algorithm(Algorithm::RS256).build().unwrap();
    let key = VerifyingKey::rsa_pem(RSA_PUBLIC).with_algorithm(Algorithm::PS256);
    assert_eq!(round_trip(issuer, key), Err(ErrorKind::UnsupportedAlgorithm));
}

#[test]
fn published_jwk_set_verifies_the_issuers_tokens() {
    for issuer in [
        TokenIssuer::builder().rsa_pem(RSA_PRIVATE).kid("rsa-1").build().unwrap(),
        TokenIssuer::builder().ec_pem(EC256_PRIVATE).kid("ec-1").build().unwrap(),
        TokenIssuer::builder().ec_pem(EC384_PRIVATE).kid("ec-2").build().unwrap(),
        TokenIssuer::builder().ec_pem(EC521_PRIVATE).kid("ec-3").build().unwrap(),
        TokenIssuer::builder().ed25519_pem(ED25519_PRIVATE).kid("ed-1").build().unwrap(),
    ] {
        let jwks = serde_json::to_string(&issuer.jwk_set()).unwrap();
        assert!(!jwks.contains("\"d\""), "no private member is published: {jwks}");
        let config = JwtAuthConfig::builder().jwk_set(jwks).build().unwrap();
        let token = issuer.issue(&claims()).unwrap();
        let verified = config.verify(&token).unwrap();
        assert!(verified.header().kid().is_some());
    }
    let hmac = TokenIssuer::builder().hmac_secret(vec![1u8; 32]).build().unwrap();
    assert!(hmac.jwk_set().keys.is_empty(), "a shared secret is never published");
}

#[test]
fn issued_tokens_carry_the_registered_claims() {
    let issuer = TokenIssuer::builder()
        .hmac_secret(vec![3u8; 32])
        .issuer("https://auth.example.com")
        .audience("orders-api")
        .kid("k1")
        .build()
        .unwrap();
    let token = issuer.issue(&claims()).unwrap();
    let config = JwtAuthConfig::builder()
        .key(issuer.verifying_key())
        .issuer("https://auth.example.com")
        .audience("orders-api")
        .build()
        .unwrap();
    let verified = config.verify(&token).unwrap();
    let (iat, nbf, exp) = (verified.iat.unwrap(), verified.nbf.unwrap(), verified.exp.unwrap());
    assert_eq!(exp - iat, 15 * 60, "15 minutes by default");
    assert_eq!(nbf, iat);
    assert_eq!(verified.jti.as_ref().map(String::len), Some(22), "128 random bits");
    assert_eq!(verified.aud, vec!["orders-api".to_string()]);
    assert_eq!(verified.header().kid(), Some("k1"));
    let second = config.verify(&issuer.issue(&claims()).unwrap()).unwrap();
    assert_ne!(second.jti, verified.jti, "every token gets its own jti");
}

/// The message of the error `build()` gives for a configuration with this one key, which must
/// be an invalid-key error.
fn build_error(key: VerifyingKey) -> String {
    let error = JwtAuthConfig::builder().key(key).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidKey, "{error}");
    error.message().to_owned()
}

#[test]
fn weak_or_unfit_keys_fail_build_with_a_sentence() {
    assert!(build_error(VerifyingKey::hmac(vec![1u8; 31])).contains("at least 32"));
    assert!(
        build_error(VerifyingKey::hmac(vec![1u8; 32]).with_algorithm(Algorithm::HS512))
            .contains("at least 64")
    );
    assert!(build_error(VerifyingKey::rsa_pem(RSA1024_PUBLIC)).contains("at least 2048 bits"));
    assert!(
        build_error(VerifyingKey::rsa_pem(RSA_PUBLIC).with_algorithm(Algorithm::ES256))
            .contains("does not fit")
    );
    assert!(
        build_error(VerifyingKey::ec_pem(EC256_PUBLIC).with_algorithm(Algorithm::ES384)).contains("ES384")
    );
    assert!(build_error(VerifyingKey::rsa_pem("not a pem")).contains("RSA public key"));
    assert!(build_error(VerifyingKey::ec_pem(RSA_PUBLIC)).contains("EC public key"));
    let empty = JwtAuthConfig::builder().build().unwrap_err();
    assert_eq!(empty.kind(), ConfigErrorKind::MissingKey, "an empty key set is refused");
    assert!(empty.message().contains("no verification key"), "{empty}");
    let small_order = r#"{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    assert!(build_error(VerifyingKey::jwk(small_order)).contains("small order"));
    let short_ed = r#"{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    assert!(build_error(VerifyingKey::jwk(short_ed)).contains("32 bytes"));
    let x25519 = r#"{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}"#;
    assert!(build_error(VerifyingKey::jwk(x25519)).contains("Ed25519"));
    let mixed = r#"{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},
        {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let error = JwtAuthConfig::builder().jwk_set(mixed).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
    assert!(error.message().contains("oct"), "{error}");
}

#[test]
fn weak_signing_keys_fail_issuer_build() {
    let error = TokenIssuer::builder().hmac_secret(vec![1u8; 16]).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
    assert!(error.to_string().contains("at least 32"), "{error}");
    let error =
        TokenIssuer::builder().rsa_pem(include_str!("fixtures/rsa1024_private.pem")).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
    assert!(error.to_string().contains("2048"), "{error}");
    let error = TokenIssuer::builder().build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::MissingKey, "no key");
}

#[test]
fn key_texts_are_refused_as_hmac_secrets_naming_the_setter_meant() {
    // The classic root of RS256-to-HS256 confusion: the public key, used as a shared secret.
    let error = JwtAuthConfig::builder().hmac_secret(RSA_PUBLIC).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
    assert!(error.message().contains("VerifyingKey::rsa_pem"), "{error}");
    let indented = format!("\n  {RSA_PUBLIC}");
    assert_eq!(
        JwtAuthConfig::builder().hmac_secret(indented).build().unwrap_err().kind(),
        ConfigErrorKind::InvalidKey
    );
    let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","padding":"to 32 bytes"}"#;
    let error =
        JwtAuthConfig::builder().key(VerifyingKey::hmac(jwk.as_bytes().to_vec())).build().unwrap_err();
    assert!(error.message().contains("VerifyingKey::jwk"), "{error}");
    // The signing side: a private key's PEM given as a secret.
    let error = TokenIssuer::builder().hmac_secret(RSA_PRIVATE.as_bytes()).build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
    assert!(error.message().contains("rsa_pem"), "{error}");
    // A long random secret that merely starts with `{` is still a secret.
    assert!(
        JwtAuthConfig::builder()
            .hmac_secret(b"{not a jwk, just a secret of 32 bytes or more}")
            .build()
            .is_ok()
    );
}

/// ES512 on P-521, on whichever backend is compiled: a PEM key and a JWK verify ES512 alone,
/// the issuer signs it (and refuses another algorithm for the key), the published JWK names
/// the curve, and a P-521 key can never verify ES256 or ES384.
#[test]
fn es512_on_p521_works_from_pem_jwk_and_the_issuer() {
    let issuer = TokenIssuer::builder().ec_pem(EC521_PRIVATE).kid("p521").build().unwrap();
    let token = issuer.issue(&claims()).unwrap();
    let config = JwtAuthConfig::builder().key(VerifyingKey::ec_pem(EC521_PUBLIC)).build().unwrap();
    let verified = config.verify(&token).unwrap();
    assert_eq!(verified.header().algorithm(), Algorithm::ES512);
    assert_eq!(verified.header().kid(), Some("p521"));

    let jwk = serde_json::to_value(issuer.jwk_set()).unwrap()["keys"][0].clone();
    assert_eq!(jwk["crv"], "P-521");
    assert_eq!(jwk["kty"], "EC");
    assert!(jwk.get("d").is_none());
    let from_jwk = JwtAuthConfig::builder().key(VerifyingKey::jwk(jwk.to_string())).build().unwrap();
    assert_eq!(from_jwk.verify(&token).unwrap().sub.as_deref(), Some("alice"));

    // A tampered signature, and a token naming another algorithm, are refused.
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(config.verify(&tampered).unwrap_err().kind(), ErrorKind::InvalidSignature);
    // Each refusal names the curve and the algorithm that fits it.
    for algorithm in [Algorithm::ES256, Algorithm::ES384] {
        let message = build_error(VerifyingKey::ec_pem(EC521_PUBLIC).with_algorithm(algorithm));
        assert!(
            message.contains(&format!("{algorithm} does not fit this P-521 key, which verifies ES512")),
            "{message}"
        );
        let error = TokenIssuer::builder().ec_pem(EC521_PRIVATE).algorithm(algorithm).build().unwrap_err();
        assert!(error.message().contains("a P-521 key signs ES512"), "{}", error.message());
        let mut named = jwk.clone();
        named["alg"] = algorithm.name().into();
        let message = build_error(VerifyingKey::jwk(named.to_string()));
        assert!(message.contains("does not fit its curve P-521, which verifies ES512"), "{message}");
    }
    // A SEC1 private key (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey` writes) is
    // refused with the command that converts it.
    let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";
    let error = TokenIssuer::builder().ec_pem(sec1).build().unwrap_err();
    assert!(error.message().contains("openssl pkcs8 -topk8"), "{}", error.message());
    // Algorithm names are JOSE's, case-sensitive, and a wrong one is echoed.
    assert_eq!("ES512".parse::<Algorithm>(), Ok(Algorithm::ES512));
    let unknown = "es512".parse::<Algorithm>().unwrap_err().to_string();
    assert!(unknown.contains("\"es512\"") && unknown.contains("case-sensitive"), "{unknown}");
    // A P-256 key cannot be made to verify ES512 either.
    assert!(
        build_error(VerifyingKey::ec_pem(EC256_PUBLIC).with_algorithm(Algorithm::ES512)).contains("ES512")
    );
    let mut short = jwk.clone();
    short["x"] = "AQAB".into();
    assert!(build_error(VerifyingKey::jwk(short.to_string())).contains("66 bytes"));
}

/// A configuration without any key is told every key source the builder has.
#[test]
fn no_key_at_all_names_every_key_source() {
    let error = JwtAuthConfig::builder().build().unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::MissingKey);
    let mut sources = vec![".hmac_secret(", ".key(", ".jwk_set(", ".trusted_issuer("];
    if cfg!(feature = "jwks") {
        sources.extend([".remote_jwks(", ".oidc_issuer("]);
    }
    for source in sources {
        assert!(error.message().contains(source), "{source} in {error}");
    }
}

//! Interop with the Python libraries of the FastAPI JWT tutorial: PyJWT (`pyjwt[crypto]`)
//! and python-jose (`python-jose[cryptography]`).
//!
//! Tokens those libraries mint (HS256, RS256, ES256, and more where they support it) verify
//! here with the matching public key or secret, issuer and audience; tokens our
//! [`TokenIssuer`] mints verify in PyJWT's `jwt.decode` (and python-jose's), also through
//! our published JWK set; and what must fail does, with the right [`ErrorKind`]: a wrong
//! secret, an expired token, an `alg: none` token.
//!
//! The Python side lives in `tests/interop/` (`mint.py`, `verify.py`) and runs in the
//! virtualenv that `.ci/python-env.sh` sets up at `target/interop-venv` with pinned
//! versions. The first test to need it runs that script (once per test binary), so a plain
//! `cargo test` works on a machine with only `python3`. There is no skipping: without
//! python3 (with venv) and pip access, or when the install fails, every test fails and
//! says why.

#[path = "support/setup.rs"]
mod setup;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};
use setup::{repo_root, run_env_script};
use tower_jwt_auth::{Algorithm, ErrorKind, JwtAuthConfig, TokenIssuer, VerifyingKey};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "orders-api";
/// An HMAC secret longer than the 32 bytes HS256 needs.
const SECRET: &str = "interop secret, well over thirty-two bytes long";

/// The claims the FastAPI tutorial's endpoints read.
#[derive(Debug, Deserialize)]
struct User {
    sub: String,
    role: String,
}

// ---------------------------------------------------------------------------------------
// The Python environment, set up once per test binary.

/// Runs `.ci/python-env.sh` and returns the venv's python.
fn set_up_venv() -> Result<PathBuf, String> {
    let started = std::time::Instant::now();
    let python = run_env_script("python-env.sh", "python path")?;
    let elapsed = started.elapsed();
    if elapsed.as_secs() >= 2 {
        // Written past libtest's capture, so a slow first run says what it was doing.
        let _ = writeln!(std::io::stderr(), "interop: set up {} in {elapsed:.1?}", python.display());
    }
    Ok(python)
}

/// The venv's python, set up once per test binary; panics, saying why, when that failed.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(set_up_venv) {
        Ok(python) => python,
        Err(why) => panic!(
            "the Python interop tests (tests/interop.rs) need python3 with venv and pip access \
             to install PyJWT and python-jose (.ci/python-env.sh); it could not be set up:\n{why}"
        ),
    }
}

/// Runs `tests/interop/<script>` with `args`: its trimmed stdout, or why it failed.
fn run_script(python: &Path, script: &str, args: &[&str]) -> Result<String, String> {
    let path = repo_root().join("tests/interop").join(script);
    let output = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .map_err(|error| format!("could not run {}: {error}", python.display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{script} exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Keys, claims and the two directions.

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|error| panic!("fixture {name}: {error}"))
}

/// One algorithm with both halves of its key, as the scripts and as our API want them.
struct Case {
    alg: &'static str,
    /// The Python scripts' KEY argument for signing: `secret:...` or a PEM path.
    private: String,
    /// The Python scripts' KEY argument for verifying.
    public: String,
}

impl Case {
    fn hmac(alg: &'static str) -> Self {
        Self { alg, private: format!("secret:{SECRET}"), public: format!("secret:{SECRET}") }
    }

    fn pem(alg: &'static str, stem: &str) -> Self {
        let path = |half: &str| fixture(&format!("{stem}_{half}.pem")).display().to_string();
        Self { alg, private: path("private"), public: path("public") }
    }

    fn algorithm(&self) -> Algorithm {
        match self.alg {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "ES512" => Algorithm::ES512,
            "EdDSA" => Algorithm::EdDSA,
            other => panic!("no case for {other}"),
        }
    }

    /// Our verifying key for this case.
    fn verifying_key(&self) -> VerifyingKey {
        match self.alg {
            "HS256" => VerifyingKey::hmac(SECRET.as_bytes().to_vec()),
            "RS256" => VerifyingKey::rsa_pem(read_fixture("rsa_public.pem")),
            "ES256" => VerifyingKey::ec_pem(read_fixture("ec256_public.pem")),
            "ES384" => VerifyingKey::ec_pem(read_fixture("ec384_public.pem")),
            "ES512" => VerifyingKey::ec_pem(read_fixture("ec521_public.pem")),
            "EdDSA" => VerifyingKey::ed25519_pem(read_fixture("ed25519_public.pem")),
            other => panic!("no case for {other}"),
        }
    }

    /// Our issuer for this case.
    fn issuer(&self) -> TokenIssuer {
        let builder = TokenIssuer::builder();
        let builder = match self.alg {
            "HS256" => builder.hmac_secret(SECRET.as_bytes()),
            "RS256" => builder.rsa_pem(read_fixture("rsa_private.pem")),
            "ES256" => builder.ec_pem(read_fixture("ec256_private.pem")),
            "ES384" => builder.ec_pem(read_fixture("ec384_private.pem")),
            "ES512" => builder.ec_pem(read_fixture("ec521_private.pem")),
            "EdDSA" => builder.ed25519_pem(read_fixture("ed25519_private.pem")),
            other => panic!("no case for {other}"),
        };
        builder.issuer(ISSUER).audience(AUDIENCE).build().unwrap()
    }
}

fn hs256() -> Case {
    Case::hmac("HS256")
}
fn rs256() -> Case {
    Case::pem("RS256", "rsa")
}
fn es256() -> Case {
    Case::pem("ES256", "ec256")
}
fn es384() -> Case {
    Case::pem("ES384", "ec384")
}
fn es512() -> Case {
    Case::pem("ES512", "ec521")
}
fn eddsa() -> Case {
    Case::pem("EdDSA", "ed25519")
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The tutorial's claims, issued `age` seconds ago and living `lifetime` seconds.
fn claims(age: i64, lifetime: i64) -> Value {
    let iat = now() - age;
    json!({
        "sub": "alice",
        "role": "admin",
        "iat": iat,
        "exp": iat + lifetime,
        "iss": ISSUER,
        "aud": AUDIENCE,
    })
}

/// A token minted by `library` (`pyjwt` or `python-jose`).
fn mint(python: &Path, library: &str, alg: &str, key: &str, claims: &Value) -> String {
    run_script(python, "mint.py", &[library, alg, key, &claims.to_string()])
        .unwrap_or_else(|why| panic!("{library} could not mint a {alg} token: {why}"))
}

/// The claims `library` decoded from `token`, or why it refused it.
fn verify_in_python(
    python: &Path,
    library: &str,
    token: &str,
    alg: &str,
    key: &str,
    audience: &str,
) -> Result<Value, String> {
    let stdout = run_script(python, "verify.py", &[library, token, alg, key, audience, ISSUER])?;
    serde_json::from_str(&stdout).map_err(|error| format!("verify.py printed no JSON ({error}): {stdout}"))
}

/// Our configuration for one key, with the issuer and audience required.
fn config(key: VerifyingKey) -> JwtAuthConfig {
    JwtAuthConfig::builder().key(key).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

/// Mints with `library` for each case and checks that we verify it and read its claims.
fn python_tokens_verify_here(library: &str, cases: &[Case]) {
    let python = python();
    for case in cases {
        let token = mint(python, library, case.alg, &case.private, &claims(0, 600));
        let verified = config(case.verifying_key())
            .verify_as::<User>(&token)
            .unwrap_or_else(|error| panic!("a {library} {} token was rejected: {error:?}", case.alg));
        assert_eq!(verified.sub, "alice", "{library} {}", case.alg);
        assert_eq!(verified.role, "admin", "{library} {}", case.alg);
        assert_eq!(verified.header().algorithm(), case.algorithm());
        assert!(verified.grants().has_role("admin"), "the `role` claim is read as a role");
        let registered = config(case.verifying_key()).verify(&token).unwrap();
        assert_eq!(registered.iss.as_deref(), Some(ISSUER));
        assert_eq!(registered.aud, vec![AUDIENCE.to_owned()]);
    }
}

/// Issues with our `TokenIssuer` for each case and checks `library` decodes it.
fn our_tokens_verify_in(library: &str, cases: &[Case]) {
    let python = python();
    for case in cases {
        let issuer = case.issuer();
        let token = issuer.issue(&json!({"sub": "alice", "role": "admin"})).unwrap();
        let decoded = verify_in_python(python, library, &token, case.alg, &case.public, AUDIENCE)
            .unwrap_or_else(|why| panic!("{library} rejected our {} token: {why}", case.alg));
        let ours = config(case.verifying_key()).verify(&token).unwrap();
        assert_eq!(decoded["sub"], "alice", "{library} {}", case.alg);
        assert_eq!(decoded["role"], "admin", "{library} {}", case.alg);
        assert_eq!(decoded["iss"], ISSUER);
        assert_eq!(decoded["aud"], AUDIENCE, "one audience is written as a string");
        assert_eq!(decoded["exp"].as_i64(), ours.exp);
        assert_eq!(decoded["iat"].as_i64(), ours.iat);
        assert_eq!(decoded["jti"].as_str(), ours.jti.as_deref());

        // The script does fail when the library refuses: the check above is not vacuous.
        let refused = verify_in_python(python, library, &token, case.alg, &case.public, "another-api");
        assert!(refused.is_err(), "{library} must refuse a {} token for another audience", case.alg);
    }
}

// ---------------------------------------------------------------------------------------
// The rules.

#[test]
fn pyjwt_tokens_verify_here() {
    python_tokens_verify_here("pyjwt", &[hs256(), rs256(), es256(), es384(), es512(), eddsa()]);
}

#[test]
fn python_jose_tokens_verify_here() {
    python_tokens_verify_here("python-jose", &[hs256(), rs256(), es256(), es384(), es512()]);
}

#[test]
fn our_tokens_verify_in_pyjwt() {
    our_tokens_verify_in("pyjwt", &[hs256(), rs256(), es256(), es384(), es512(), eddsa()]);
}

#[test]
fn our_tokens_verify_in_python_jose() {
    our_tokens_verify_in("python-jose", &[hs256(), rs256(), es256(), es384(), es512()]);
}

#[test]
fn our_published_jwk_set_verifies_our_tokens_in_pyjwt() {
    let python = python();
    for (case, stem) in
        [(rs256(), "rsa"), (es256(), "ec256"), (es384(), "ec384"), (es512(), "ec521"), (eddsa(), "ed25519")]
    {
        let pem = read_fixture(&format!("{stem}_private.pem"));
        let builder = match case.alg {
            "RS256" => TokenIssuer::builder().rsa_pem(pem),
            "EdDSA" => TokenIssuer::builder().ed25519_pem(pem),
            _ => TokenIssuer::builder().ec_pem(pem),
        };
        let kid = format!("{stem}-1");
        let issuer = builder.kid(kid).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
        let jwks = serde_json::to_string(&issuer.jwk_set()).unwrap();
        let token = issuer.issue(&json!({"sub": "alice", "role": "admin"})).unwrap();
        let decoded = verify_in_python(python, "pyjwt", &token, case.alg, &format!("jwks:{jwks}"), AUDIENCE)
            .unwrap_or_else(|why| panic!("PyJWT refused our {} token through our JWK set: {why}", case.alg));
        assert_eq!(decoded["sub"], "alice");
    }
}

#[test]
fn a_pyjwt_token_signed_with_another_secret_is_rejected_as_invalid_signature() {
    let python = python();
    let other = "secret:another secret, also over thirty-two bytes long";
    let token = mint(python, "pyjwt", "HS256", other, &claims(0, 600));
    let error = config(hs256().verifying_key()).verify(&token).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidSignature);
}

#[test]
fn an_expired_pyjwt_token_is_rejected_as_expired() {
    let python = python();
    // Issued two hours ago, expired an hour ago: far past the default 60 s leeway.
    let token = mint(python, "pyjwt", "HS256", &hs256().private, &claims(7200, 3600));
    let error = config(hs256().verifying_key()).verify(&token).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Expired);
}

#[test]
fn a_pyjwt_alg_none_token_is_rejected_as_unsupported_algorithm() {
    let python = python();
    let token = mint(python, "pyjwt", "none", "-", &claims(0, 600));
    assert!(token.ends_with('.'), "an unsecured JWS has an empty signature: {token}");
    for case in [hs256(), rs256(), es256()] {
        let error = config(case.verifying_key()).verify(&token).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnsupportedAlgorithm, "with an {} key", case.alg);
    }
}

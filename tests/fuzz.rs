//! Every committed fuzz input, replayed through the fuzz targets' own bodies on a stable
//! toolchain: the named seeds in `fuzz/seeds/<target>/`, the minimised corpora in
//! `fuzz/corpus/<target>/`, and each input that once found a defect in
//! `fuzz/regressions/<target>/`. `.ci/run` also fuzzes
//! each target for a short while; see `fuzz/README.md`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[path = "../fuzz/src/lib.rs"]
mod targets;

/// Runs `target` over every committed input of the target `name`; fails naming the input
/// that panicked, and when a target has no input at all.
fn replay(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    for kind in ["seeds", "corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join(name)) else { continue };
        for entry in entries {
            inputs.push(entry.expect("a readable directory entry").path());
        }
    }
    assert!(!inputs.is_empty(), "no committed inputs for the fuzz target {name}");
    inputs.sort();
    for path in &inputs {
        let data = std::fs::read(path).expect("a readable input");
        if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
            panic!("the fuzz target {name} panicked on {}", path.display());
        }
    }
}

macro_rules! replay {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            replay(stringify!($name), targets::$name);
        }
    )*};
}

replay!(token_hmac, token_asymmetric, structured, jwk, pem_der, layer, claim_path, remote_document, dpop);

/// The token seeds are real tokens the targets' keys accept, so fuzzing starts past the
/// signature check.
#[test]
fn token_seeds_verify() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (target, config, seeds) in [
        ("token_hmac", targets::hmac_config(), &["hs256", "hs512-kid", "hs256-nested"][..]),
        (
            "token_asymmetric",
            targets::asymmetric_config(),
            &["rs256", "ps256", "es256", "es384", "es512", "eddsa"][..],
        ),
    ] {
        for seed in seeds {
            let token = std::fs::read_to_string(root.join(target).join(seed)).expect("the seed is committed");
            let claims =
                config.verify(&token).unwrap_or_else(|error| panic!("seed {target}/{seed}: {error}"));
            assert_eq!(claims.sub.as_deref(), Some("alice"));
        }
    }
}

/// The structured target's model is not vacuous: among pseudo-random inputs, some describe
/// tokens that the model and the crate both accept (and whose claims are then compared).
#[test]
fn structured_model_accepts_some_tokens() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let data: Vec<u8> = (0..96).map(|_| next() as u8).collect();
        targets::structured(&data);
    }
    let accepted = targets::MODEL_ACCEPTED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(accepted > 0, "no pseudo-random input described an acceptable token");
}

//! Project Wycheproof conformance: runs the JWS and JWK vectors of `testvectors_v1/`
//! (`json_web_signature_test.json`, `json_web_key_test.json`, vendored unmodified under
//! `tests/vectors/wycheproof/`, see its README) against the public API.
//!
//! The payloads are raw bytes, not claim sets, so every case runs below the claims step:
//! the group's key becomes a `JwtAuthConfig` (a configuration that `build()` refuses
//! rejects every token of its group), then `verify_jws_payload` runs the precheck, the
//! header rules, key selection and the signature. Each case must agree with its expected
//! result ("valid" verifies, "invalid" is rejected, "acceptable" may go either way);
//! every disagreement must be listed, with its reason, in the exception tables below, and
//! a listed exception that no longer disagrees fails the test too.
//!
//! The files are embedded at compile time (`include_str!`): there is no path to look up at
//! run time, and no way for the tests to run without them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tower_jwt_auth::{JwtAuthConfig, VerifyingKey};

/// Why a case is allowed to disagree with its expected result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    /// One of the upstream mislabels named in SOURCE.txt.
    UpstreamMislabel,
    /// A rule of ours stricter than the vectors; the reason names the RFC section.
    StricterRule,
}

impl Category {
    fn label(self) -> &'static str {
        match self {
            Self::UpstreamMislabel => "upstream mislabel",
            Self::StricterRule => "stricter rule",
        }
    }
}

/// What makes an upstream mislabel a mislabel, checked against the file itself.
#[derive(Debug, Clone, Copy)]
enum Evidence {
    /// The token is byte-identical to this other case's token.
    SameTokenAs(u64),
    /// The token holds this character, which is not base64url (RFC 7515 section 2).
    Contains(char),
    /// Nothing to check mechanically (categories other than upstream mislabels).
    NotApplicable,
}

struct Exception {
    tc_id: u64,
    category: Category,
    evidence: Evidence,
    reason: &'static str,
}

/// Every case of `json_web_signature_test.json` that disagrees with its expected result.
const JWS_EXCEPTIONS: &[Exception] = &[
    Exception {
        tc_id: 346,
        category: Category::StricterRule,
        evidence: Evidence::NotApplicable,
        reason: "RFC 7520 figure 20 signs with PS384, but the vector's JWK says `alg: PS256` (the \
                 RFC's key has none; upstream added it): a key's `alg` binds it to one algorithm \
                 (RFC 7517 section 4.4, RFC 8725 section 3.1), so a PS384 header is refused",
    },
    Exception {
        tc_id: 347,
        category: Category::StricterRule,
        evidence: Evidence::NotApplicable,
        reason: "RFC 7520 figure 27 signs with ES512, but the vector's JWK says `alg: ES521` (the \
                 RFC's key has none; upstream added it), which names no algorithm (RFC 7518 \
                 section 3.1 registers ES512): a key whose `alg` is unknown is refused (RFC 7517 \
                 section 4.4). The same token verifies under the key without that member: see \
                 rfc7520_es512_verifies_with_the_vectors_key",
    },
    Exception {
        tc_id: 350,
        category: Category::StricterRule,
        evidence: Evidence::NotApplicable,
        reason: "as tc346 with `key_ops: [verify]`: a PS384 token for a JWK whose `alg` is PS256 \
                 (RFC 7517 section 4.4, RFC 8725 section 3.1)",
    },
    Exception {
        tc_id: 351,
        category: Category::StricterRule,
        evidence: Evidence::NotApplicable,
        reason: "as tc347 with `key_ops: [verify]`: the JWK's `alg: ES521` names no algorithm \
                 (RFC 7518 section 3.1, RFC 7517 section 4.4)",
    },
    Exception {
        tc_id: 367,
        category: Category::UpstreamMislabel,
        evidence: Evidence::SameTokenAs(357),
        reason: "marked invalid (invalidBase64Padding) but byte-identical to the valid tc357",
    },
    Exception {
        tc_id: 370,
        category: Category::UpstreamMislabel,
        evidence: Evidence::SameTokenAs(357),
        reason: "marked invalid (invalidBase64PaddingInPayload) but byte-identical to the valid tc357",
    },
    Exception {
        tc_id: 372,
        category: Category::UpstreamMislabel,
        evidence: Evidence::Contains('?'),
        reason: "marked valid but its header segment holds '?', which is not base64url \
                 (RFC 7515 sections 2 and 7.1)",
    },
    Exception {
        tc_id: 373,
        category: Category::UpstreamMislabel,
        evidence: Evidence::Contains('?'),
        reason: "marked valid but its payload segment holds '?', which is not base64url \
                 (RFC 7515 sections 2 and 7.1)",
    },
];

/// Every case of `json_web_key_test.json` that disagrees with its expected result.
const JWK_EXCEPTIONS: &[Exception] = &[];

/// Parses one vector file, embedded by the caller with `include_str!`.
fn parse(name: &str, text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{name} is not JSON: {error}"))
}

/// One test case, flattened out of its group.
struct Case {
    tc_id: u64,
    comment: String,
    result: String,
    jws: String,
}

/// What we did with a case: the payload we returned, or why we refused.
type Outcome = Result<Vec<u8>, String>;

/// Runs every case of every group, building the group's configuration once.
fn run_groups(
    file: &Value,
    config_for: impl Fn(&Value) -> Result<JwtAuthConfig, String>,
) -> Vec<(Case, Outcome)> {
    let mut ran = Vec::new();
    for group in file["testGroups"].as_array().expect("testGroups is an array") {
        let config = config_for(group);
        for test in group["tests"].as_array().expect("tests is an array") {
            let case = Case {
                tc_id: test["tcId"].as_u64().expect("tcId is a number"),
                comment: test["comment"].as_str().unwrap_or_default().to_owned(),
                result: test["result"].as_str().expect("result is a string").to_owned(),
                jws: test["jws"].as_str().expect("jws is a compact token string").to_owned(),
            };
            let outcome = match &config {
                Err(why) => Err(format!("build() refused the group's key: {why}")),
                Ok(config) => {
                    config.verify_jws_payload(&case.jws).map_err(|error| format!("{:?}", error.kind()))
                }
            };
            ran.push((case, outcome));
        }
    }
    let declared = file["numberOfTests"].as_u64().expect("numberOfTests is a number");
    assert_eq!(ran.len() as u64, declared, "every declared case must run");
    ran
}

fn json_text(key: &Value) -> String {
    serde_json::to_string(key).expect("a JSON value serializes")
}

/// The decoded payload segment of a compact token, when it is canonical base64url.
fn payload_of(jws: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(jws.split('.').nth(1)?).ok()
}

/// Compares every outcome with its expected result and the exception table; panics with
/// the full list of problems, else prints the summary line.
fn check(file_name: &str, ran: &[(Case, Outcome)], exceptions: &[Exception]) {
    let by_id: BTreeMap<u64, &Case> = ran.iter().map(|(case, _)| (case.tc_id, case)).collect();
    assert_eq!(by_id.len(), ran.len(), "{file_name}: tcIds must be unique");
    let listed: BTreeMap<u64, &Exception> = exceptions.iter().map(|e| (e.tc_id, e)).collect();
    assert_eq!(listed.len(), exceptions.len(), "{file_name}: an exception is listed twice");

    let mut problems = Vec::new();
    let mut agreed = 0usize;
    let mut acceptable = Vec::new();
    let mut taken: BTreeMap<Category, Vec<u64>> = BTreeMap::new();
    let mut seen = BTreeSet::new();

    for (case, outcome) in ran {
        let accepted = outcome.is_ok();
        if let Ok(payload) = outcome
            && payload_of(&case.jws).as_deref() != Some(payload.as_slice())
        {
            problems.push(format!("tc{}: the returned payload is not the token's payload", case.tc_id));
        }
        let agrees = match case.result.as_str() {
            "valid" => accepted,
            "invalid" => !accepted,
            "acceptable" => {
                acceptable.push(format!(
                    "tc{} {}",
                    case.tc_id,
                    if accepted { "accepted" } else { "rejected" }
                ));
                true
            }
            other => {
                problems.push(format!("tc{}: unknown expected result {other:?}", case.tc_id));
                continue;
            }
        };
        let what = match outcome {
            Ok(_) => "accepted".to_owned(),
            Err(why) => format!("rejected ({why})"),
        };
        match (agrees, listed.get(&case.tc_id)) {
            (true, None) => agreed += 1,
            (false, Some(exception)) => {
                seen.insert(case.tc_id);
                taken.entry(exception.category).or_default().push(case.tc_id);
            }
            (true, Some(exception)) => problems.push(format!(
                "tc{} is listed as an exception ({}: {}) but now agrees with its expected result \
                 {:?}: {what}; remove it from the table",
                case.tc_id,
                exception.category.label(),
                exception.reason,
                case.result
            )),
            (false, None) => problems.push(format!(
                "tc{} ({}) expected {:?} but was {what}",
                case.tc_id, case.comment, case.result
            )),
        }
    }

    for exception in exceptions {
        let Some(case) = by_id.get(&exception.tc_id) else {
            problems.push(format!("the exception tc{} names no case of {file_name}", exception.tc_id));
            continue;
        };
        problems.extend(evidence_problem(exception, case, &by_id));
    }

    if !problems.is_empty() {
        panic!(
            "{file_name} ({}): {} problem(s):\n  {}",
            tower_jwt_auth::keys::crypto_backend(),
            problems.len(),
            problems.join("\n  ")
        );
    }

    let mut summary = format!(
        "wycheproof {file_name} [{}]: {} cases, {agreed} agreed, {} exceptions",
        tower_jwt_auth::keys::crypto_backend(),
        ran.len(),
        seen.len()
    );
    for (category, ids) in &taken {
        let ids: Vec<String> = ids.iter().map(|id| format!("tc{id}")).collect();
        let _ = write!(summary, "; {}: {} [{}]", category.label(), ids.len(), ids.join(", "));
    }
    let _ = write!(summary, "; acceptable: {}", acceptable.len());
    if !acceptable.is_empty() {
        let _ = write!(summary, " [{}]", acceptable.join(", "));
    }
    println!("{summary}");
}

/// Checks that an exception is of the kind its category allows, against the file itself.
fn evidence_problem(exception: &Exception, case: &Case, by_id: &BTreeMap<u64, &Case>) -> Option<String> {
    let id = exception.tc_id;
    match (exception.category, exception.evidence) {
        (Category::UpstreamMislabel, Evidence::SameTokenAs(other)) => {
            let Some(twin) = by_id.get(&other) else {
                return Some(format!("tc{id}: its twin tc{other} is not in the file"));
            };
            (twin.jws != case.jws || twin.result == case.result)
                .then(|| format!("tc{id}: not a byte-identical copy of tc{other} with another label"))
        }
        (Category::UpstreamMislabel, Evidence::Contains(c)) => {
            let holds = case.result == "valid" && case.jws.contains(c);
            (!holds).then(|| format!("tc{id}: not a \"valid\" token holding {c:?}"))
        }
        (Category::UpstreamMislabel, Evidence::NotApplicable) => {
            Some(format!("tc{id}: an upstream mislabel needs evidence checked against the file"))
        }
        (Category::StricterRule, _) => {
            let holds = exception.reason.contains("RFC ");
            (!holds).then(|| format!("tc{id}: a stricter rule must name the RFC section that justifies it"))
        }
    }
}

/// The `alg` of a token's header, when the header decodes.
fn header_alg(jws: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(jws.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header["alg"].as_str().map(str::to_owned)
}

/// The key a JWS group verifies with: its public JWK, or its secret (`kty: oct`) JWK.
fn jws_group_key(group: &Value) -> String {
    match group.get("public") {
        Some(public) => json_text(public),
        None => {
            let private = &group["private"];
            assert_eq!(private["kty"], "oct", "a group without a public key must be an HMAC group: {group}");
            json_text(private)
        }
    }
}

/// The JWK set a JWK group ingests: its public set when present, else its (secret) set.
fn jwk_group_set(group: &Value) -> String {
    json_text(group.get("public").unwrap_or(&group["private"]))
}

#[test]
fn json_web_signature_vectors_agree_with_expected_results() {
    let name = "json_web_signature_test.json";
    let file = parse(name, include_str!("vectors/wycheproof/json_web_signature_test.json"));
    let ran = run_groups(&file, |group| {
        JwtAuthConfig::builder()
            .key(VerifyingKey::jwk(jws_group_key(group)))
            .build()
            .map_err(|error| error.message().to_owned())
    });
    check(name, &ran, JWS_EXCEPTIONS);
}

#[test]
fn json_web_key_vectors_agree_with_expected_results() {
    let name = "json_web_key_test.json";
    let file = parse(name, include_str!("vectors/wycheproof/json_web_key_test.json"));
    let ran = run_groups(&file, |group| {
        JwtAuthConfig::builder()
            .jwk_set(jwk_group_set(group))
            .build()
            .map_err(|error| error.message().to_owned())
    });
    check(name, &ran, JWK_EXCEPTIONS);
}

/// ES512 on P-521: RFC 7520 figure 27's token (tc347 and tc351) verifies under the vectors'
/// key once its unregistered `alg: ES521` is taken out, and under the same key with
/// `alg: ES512`; the token's payload comes back, and one changed signature byte fails.
#[test]
fn rfc7520_es512_verifies_with_the_vectors_key() {
    let file = parse(
        "json_web_signature_test.json",
        include_str!("vectors/wycheproof/json_web_signature_test.json"),
    );
    let mut checked = 0;
    for group in file["testGroups"].as_array().expect("testGroups is an array") {
        for test in group["tests"].as_array().expect("tests is an array") {
            let id = test["tcId"].as_u64().expect("tcId is a number");
            if id != 347 && id != 351 {
                continue;
            }
            let jws = test["jws"].as_str().expect("a token");
            assert_eq!(header_alg(jws).as_deref(), Some("ES512"));
            for alg in [None, Some("ES512")] {
                let mut key = group["public"].clone();
                assert_eq!(key["alg"], "ES521");
                match alg {
                    None => key.as_object_mut().expect("a JWK object").remove("alg"),
                    Some(alg) => key.as_object_mut().expect("a JWK object").insert("alg".into(), alg.into()),
                };
                let config = JwtAuthConfig::builder()
                    .key(VerifyingKey::jwk(json_text(&key)))
                    .build()
                    .unwrap_or_else(|error| panic!("tc{id}: the P-521 key builds: {error}"));
                let payload =
                    config.verify_jws_payload(jws).unwrap_or_else(|error| panic!("tc{id}: {error}"));
                assert_eq!(Some(payload), payload_of(jws));
                let mut tampered = jws.to_owned();
                let last = tampered.pop().expect("a signature");
                tampered.push(if last == 'A' { 'B' } else { 'A' });
                assert!(config.verify_jws_payload(&tampered).is_err(), "tc{id}: a changed signature");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2);
}

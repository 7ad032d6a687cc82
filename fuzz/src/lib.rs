//! The fuzz targets' bodies, one function per target, through the crate's public API.
//!
//! `fuzz_targets/*.rs` hand libFuzzer's input to these functions; `tests/fuzz.rs` at the
//! repository root includes this file and replays every committed input through the same
//! functions on a stable toolchain. A target fails by panicking: the crate must never
//! panic, and where a target has an oracle (a reference model, a round trip) a
//! disagreement panics with the input's reading.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::{Arbitrary, Unstructured};
use jsonwebtoken::EncodingKey;
use serde_json::{Map, Value};
use tower_jwt_auth::grants::ClaimPath;
use tower_jwt_auth::{Algorithm, ErrorKind, JwtAuthConfig, TokenSource, VerifyingKey};

/// The HMAC secret every HMAC target signs and verifies with.
pub const SECRET: &[u8] = b"the fuzz targets' secret, 32 bytes or more";
/// The issuer and audience the structured target's configuration requires.
pub const ISSUER: &str = "https://issuer.example";
pub const AUDIENCE: &str = "api";
/// The structured target's leeway and maximum lifetime, in seconds.
const LEEWAY: i64 = 30;
const MAX_LIFETIME: i64 = 3600;

const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/rsa_public.pem");
const EC256_PUBLIC: &str = include_str!("../../tests/fixtures/ec256_public.pem");
const EC384_PUBLIC: &str = include_str!("../../tests/fixtures/ec384_public.pem");
const EC521_PUBLIC: &str = include_str!("../../tests/fixtures/ec521_public.pem");
const ED25519_PUBLIC: &str = include_str!("../../tests/fixtures/ed25519_public.pem");

/// Builds a configuration once per process.
fn once(cell: &'static OnceLock<JwtAuthConfig>, build: fn() -> JwtAuthConfig) -> &'static JwtAuthConfig {
    cell.get_or_init(build)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs() as i64)
}

/// Every rejection kind is one of the fixed answers: 400, 401, 403 or 503.
fn check_rejection(kind: ErrorKind) {
    let status = kind.class().status().as_u16();
    assert!(matches!(status, 400 | 401 | 403 | 503), "{kind:?} answers {status}");
}

// ---------------------------------------------------------------------------------------
// token_hmac, token_asymmetric: a token as text against static keys.

pub fn hmac_config() -> JwtAuthConfig {
    JwtAuthConfig::builder()
        .key(VerifyingKey::hmac(SECRET))
        .key(VerifyingKey::hmac(SECRET.repeat(2)).with_algorithm(Algorithm::HS512).with_kid("hs512"))
        .build()
        .expect("the HMAC configuration builds")
}

pub fn asymmetric_config() -> JwtAuthConfig {
    JwtAuthConfig::builder()
        .key(VerifyingKey::rsa_pem(RSA_PUBLIC).with_kid("rsa"))
        .key(VerifyingKey::rsa_pem(RSA_PUBLIC).with_algorithm(Algorithm::PS256).with_kid("pss"))
        .key(VerifyingKey::ec_pem(EC256_PUBLIC).with_kid("ec"))
        .key(VerifyingKey::ec_pem(EC384_PUBLIC))
        .key(VerifyingKey::ec_pem(EC521_PUBLIC).with_kid("p521"))
        .key(VerifyingKey::ed25519_pem(ED25519_PUBLIC).with_kid("ed"))
        .build()
        .expect("the asymmetric configuration builds")
}

fn verify_text(config: &JwtAuthConfig, data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    match config.verify(token) {
        Ok(claims) => assert!(claims.exp.is_some(), "a token without exp was accepted: {token:?}"),
        Err(error) => check_rejection(error.kind()),
    }
    if let Err(error) = config.verify_as::<Value>(token) {
        check_rejection(error.kind());
    }
}

/// A token against static HS256 and HS512 keys.
pub fn token_hmac(data: &[u8]) {
    static CONFIG: OnceLock<JwtAuthConfig> = OnceLock::new();
    verify_text(once(&CONFIG, hmac_config), data);
}

/// A token against static RS256, PS256, ES256, ES384, ES512 and EdDSA keys.
pub fn token_asymmetric(data: &[u8]) {
    static CONFIG: OnceLock<JwtAuthConfig> = OnceLock::new();
    verify_text(once(&CONFIG, asymmetric_config), data);
}

// ---------------------------------------------------------------------------------------
// structured: a header and payload built from the input, signed with the real key, and
// the verdict checked against a reference model.

/// A JSON value from the input.
#[derive(Arbitrary, Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// The value; members named twice in an object keep the first (so that nested objects
    /// never hold a duplicate, which the model leaves to the top level), non-finite floats
    /// become null.
    fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(n) => Value::from(*n),
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Str(s) => Value::String(s.clone()),
            Json::Arr(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Obj(members) => {
                let mut map = Map::new();
                for (name, value) in members {
                    map.entry(name.clone()).or_insert_with(|| value.to_value());
                }
                Value::Object(map)
            }
        }
    }

    fn depth(&self) -> usize {
        match self {
            Json::Arr(items) => 1 + items.iter().map(Json::depth).max().unwrap_or(0),
            Json::Obj(members) => 1 + members.iter().map(|(_, value)| value.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// A time claim: absent, seconds from now, or a value of another type.
#[derive(Arbitrary, Debug, Clone)]
pub enum Time {
    Absent,
    FromNow(i16),
    Other(Json),
}

/// A string claim: absent, the expected value, another string, or another type.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Absent,
    Expected,
    Other(String),
    OtherType(Json),
}

/// `aud`: absent, a string, or an array of strings, each the expected audience or not.
#[derive(Arbitrary, Debug, Clone)]
pub enum Aud {
    Absent,
    One(Text),
    Many(Vec<Text>),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Alg {
    Hs256,
    Hs384,
    None,
    Rs256,
    Other(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Typ {
    Jwt,
    AtJwt,
    Refresh,
    RefreshApplication,
    Other(String),
}

/// A token described member by member.
#[derive(Arbitrary, Debug, Clone)]
pub struct Described {
    alg: Alg,
    typ: Option<Typ>,
    kid: Option<String>,
    crit: bool,
    exp: Time,
    nbf: Time,
    iat: Time,
    iss: Text,
    aud: Aud,
    sub: Text,
    extra: Vec<(String, Json)>,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Structured {
    /// Members from a description, with a reference model's verdict.
    Described(Box<Described>),
    /// A header and payload as raw bytes, signed: accepted only when well formed.
    Raw { header: Vec<u8>, payload: Vec<u8> },
}

/// What the model expects.
#[derive(Debug, PartialEq)]
enum Expect {
    Accept,
    Reject,
    /// Near a bound the clock may tick between the model and the check, or the description
    /// says something the model does not decide.
    Either,
}

fn structured_config() -> JwtAuthConfig {
    JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .leeway(Duration::from_secs(LEEWAY as u64))
        .max_lifetime(Duration::from_secs(MAX_LIFETIME as u64))
        .build()
        .expect("the structured target's configuration builds")
}

fn sign(header: &[u8], payload: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let message = format!("{}.{}", b64.encode(header), b64.encode(payload));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET).expect("an HMAC key"),
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("HMAC signing never fails");
    format!("{message}.{signature}")
}

const REGISTERED: [&str; 7] = ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"];

impl Described {
    /// The header, the payload, and what the model expects of them at `now`.
    fn build(&self, now: i64) -> Built {
        let mut reject = false;
        let mut either = false;

        let mut header = Map::new();
        let alg = match &self.alg {
            Alg::Hs256 => "HS256".to_string(),
            Alg::Hs384 => "HS384".to_string(),
            Alg::None => "none".to_string(),
            Alg::Rs256 => "RS256".to_string(),
            Alg::Other(other) => other.clone(),
        };
        reject |= alg != "HS256";
        header.insert("alg".into(), alg.into());
        if let Some(typ) = &self.typ {
            let typ = match typ {
                Typ::Jwt => "JWT".to_string(),
                Typ::AtJwt => "at+jwt".to_string(),
                Typ::Refresh => "refresh+jwt".to_string(),
                Typ::RefreshApplication => "application/Refresh+JWT".to_string(),
                Typ::Other(other) => other.clone(),
            };
            let bare = typ.to_ascii_lowercase();
            reject |= bare.strip_prefix("application/").unwrap_or(&bare) == "refresh+jwt";
            header.insert("typ".into(), typ.into());
        }
        if let Some(kid) = &self.kid {
            header.insert("kid".into(), kid.clone().into());
        }
        if self.crit {
            header.insert("crit".into(), Value::Array(vec!["exp".into()]));
            reject = true;
        }

        let mut payload = Map::new();
        let mut times = [None; 3];
        for (index, (name, time)) in
            [("exp", &self.exp), ("nbf", &self.nbf), ("iat", &self.iat)].into_iter().enumerate()
        {
            match time {
                Time::Absent => {}
                Time::FromNow(offset) => {
                    let at = now + i64::from(*offset);
                    times[index] = Some(at);
                    payload.insert(name.into(), at.into());
                }
                Time::Other(json) => {
                    // A number is a date (the model leaves its bounds to the crate); `null` for
                    // an optional claim is not decided by the model; other types never pass.
                    let number = matches!(json, Json::Int(_) | Json::Float(_));
                    either |= number || (matches!(json, Json::Null) && name != "exp");
                    reject = true;
                    payload.insert(name.into(), json.to_value());
                }
            }
        }
        let [exp, nbf, iat] = times;
        // Each bound the clock is compared with: within two seconds of it, either verdict.
        let mut near = |bound: i64| either |= (bound - now).abs() <= 2;
        match exp {
            None => reject |= !matches!(self.exp, Time::Other(_)),
            Some(exp) => {
                near(exp + LEEWAY);
                reject |= now >= exp + LEEWAY;
            }
        }
        if let Some(nbf) = nbf {
            near(nbf - LEEWAY);
            reject |= now + LEEWAY < nbf;
        }
        if let Some(iat) = iat {
            near(iat - LEEWAY);
            reject |= iat > now + LEEWAY;
        }
        if let Some(exp) = exp {
            match iat {
                Some(iat) => reject |= exp - iat > MAX_LIFETIME,
                None => {
                    near(exp - MAX_LIFETIME);
                    reject |= exp - now > MAX_LIFETIME;
                }
            }
        }

        let text = |text: &Text, expected: &str, either: &mut bool| -> Option<(Value, bool)> {
            match text {
                Text::Absent => None,
                Text::Expected => Some((expected.into(), true)),
                Text::Other(other) => Some((other.clone().into(), other == expected)),
                Text::OtherType(json) => {
                    *either = true;
                    Some((json.to_value(), false))
                }
            }
        };
        match text(&self.iss, ISSUER, &mut either) {
            None => reject = true,
            Some((value, matches)) => {
                reject |= !matches;
                payload.insert("iss".into(), value);
            }
        }
        match &self.aud {
            Aud::Absent => reject = true,
            Aud::One(one) => match text(one, AUDIENCE, &mut either) {
                None => reject = true,
                Some((value, matches)) => {
                    reject |= !matches;
                    payload.insert("aud".into(), value);
                }
            },
            Aud::Many(many) => {
                let mut any = false;
                let mut items = Vec::new();
                for item in many {
                    if let Some((value, matches)) = text(item, AUDIENCE, &mut either) {
                        any |= matches;
                        items.push(value);
                    }
                }
                reject |= !any;
                payload.insert("aud".into(), Value::Array(items));
            }
        }
        if let Some((value, _)) = text(&self.sub, "alice", &mut either) {
            payload.insert("sub".into(), value);
        }

        let mut names: BTreeSet<&str> = payload.keys().map(String::as_str).collect();
        for (name, value) in &self.extra {
            // A member named twice makes the token invalid.
            reject |= !names.insert(name);
            // A registered name, of another type than the model writes (`jti` as a number).
            either |= REGISTERED.contains(&name.as_str());
            // Nested past serde_json's depth limit.
            either |= value.depth() > 100;
        }
        // The extras go in after the model's members, written by hand so that a duplicate
        // really is written twice.
        let mut written = serde_json::to_string(&Value::Object(payload.clone())).unwrap();
        for (name, value) in &self.extra {
            written.pop();
            if written.len() > 1 {
                written.push(',');
            }
            written.push_str(&serde_json::to_string(name).unwrap());
            written.push(':');
            written.push_str(&serde_json::to_string(&value.to_value()).unwrap());
            written.push('}');
            payload.entry(name.clone()).or_insert_with(|| value.to_value());
        }
        let expect = if either {
            Expect::Either
        } else if reject {
            Expect::Reject
        } else {
            Expect::Accept
        };
        Built { header: Value::Object(header), payload, written, expect }
    }
}

/// A described token, written out.
struct Built {
    header: Value,
    /// The payload's members (the first of a duplicate).
    payload: Map<String, Value>,
    /// The payload as signed.
    written: String,
    expect: Expect,
}

/// How many described tokens the model and the crate both accepted (in this process): a
/// test checks that the model's accepting branch is reached at all.
pub static MODEL_ACCEPTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A header and payload signed with the real key, so the input reaches the claims.
pub fn structured(data: &[u8]) {
    static CONFIG: OnceLock<JwtAuthConfig> = OnceLock::new();
    let config = once(&CONFIG, structured_config);
    let Ok(input) = Structured::arbitrary_take_rest(Unstructured::new(data)) else { return };
    match input {
        Structured::Raw { header, payload } => {
            let token = sign(&header, &payload);
            match config.verify(&token) {
                Ok(claims) => {
                    // Accepted: both parts are JSON objects and the claims hold.
                    let header: Map<String, Value> =
                        serde_json::from_slice(&header).expect("an accepted header is a JSON object");
                    assert_eq!(header.get("alg"), Some(&Value::from("HS256")));
                    let payload: Map<String, Value> =
                        serde_json::from_slice(&payload).expect("an accepted payload is a JSON object");
                    assert_eq!(payload.get("iss"), Some(&Value::from(ISSUER)));
                    assert!(payload.get("exp").is_some_and(Value::is_number));
                    assert_eq!(claims.iss.as_deref(), Some(ISSUER));
                    assert!(claims.aud.iter().any(|aud| aud == AUDIENCE));
                }
                Err(error) => check_rejection(error.kind()),
            }
        }
        Structured::Described(described) => {
            let now = now();
            let Built { header, payload, written, mut expect } = described.build(now);
            let token = sign(header.to_string().as_bytes(), written.as_bytes());
            if token.len() > 8 * 1024 && expect == Expect::Accept {
                expect = Expect::Reject;
            }
            let verdict = config.verify(&token);
            match (&verdict, &expect) {
                (Ok(_), Expect::Reject) | (Err(_), Expect::Accept) => panic!(
                    "the model expects {expect:?}, the crate answers {:?}\nheader {header}\npayload {written}",
                    verdict.as_ref().map(|_| ()).map_err(|error| error.kind())
                ),
                _ => {}
            }
            match verdict {
                Ok(claims) if expect == Expect::Accept => {
                    check_accepted(&claims, &payload, &written);
                    MODEL_ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(error) => check_rejection(error.kind()),
            }
        }
    }
}

/// Equal JSON values, floats within a rounding error (a float's text may read back a unit
/// in the last place off).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(name, value)| y.get(name).is_some_and(|other| same(value, other)))
        }
        _ => a == b,
    }
}

/// An accepted token's claims say what its payload says.
fn check_accepted(claims: &tower_jwt_auth::Claims, payload: &Map<String, Value>, written: &str) {
    assert_eq!(claims.sub.as_deref(), payload.get("sub").and_then(Value::as_str), "{written}");
    assert_eq!(claims.exp, payload.get("exp").and_then(Value::as_i64), "{written}");
    for (name, value) in payload {
        if !REGISTERED.contains(&name.as_str()) {
            let read =
                claims.extra.get(name).unwrap_or_else(|| panic!("member {name:?} of {written} is missing"));
            assert!(same(read, value), "member {name:?} of {written} reads {read}");
        }
    }
    // Roles: each string of an array, or a string as one role; scopes split on spaces.
    let grants = claims.grants();
    for name in ["roles", "role"] {
        match payload.get(name) {
            Some(Value::String(role)) if !role.is_empty() => assert!(grants.has_role(role), "{written}"),
            Some(Value::Array(items)) => {
                // The strings of an array grant, whatever else it holds.
                for role in items.iter().filter_map(Value::as_str).filter(|role| !role.is_empty()) {
                    assert!(grants.has_role(role), "{written}");
                }
            }
            _ => {}
        }
    }
    if let Some(Value::String(scope)) = payload.get("scope") {
        for part in scope.split(' ').filter(|part| !part.is_empty()) {
            assert!(grants.has_scope(part), "{written}");
        }
    }
    // Every role granted is a string of `roles` or `role`, alone or in an array.
    for role in grants.roles() {
        let named = ["roles", "role"].into_iter().any(|name| match payload.get(name) {
            Some(Value::String(text)) => text == role,
            Some(Value::Array(items)) => items.iter().any(|item| item == role),
            _ => false,
        });
        assert!(named, "role {role:?} granted by nothing in {written}");
    }
}

// ---------------------------------------------------------------------------------------
// jwk, pem_der: key parsing.

/// A token no key verifies, to run a built key once.
const PROBE: &str = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJl";

fn probe(config: Result<JwtAuthConfig, tower_jwt_auth::ConfigError>) {
    if let Ok(config) = config {
        for alg in ["HS256", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"] {
            use base64::Engine as _;
            let header =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let token = format!("{header}.eyJleHAiOjF9.c2lnbmF0dXJl");
            if let Err(error) = config.verify(&token) {
                check_rejection(error.kind());
            }
        }
        assert!(config.verify(PROBE).is_err());
    }
}

/// One JWK, and a JWK set, as text.
pub fn jwk(data: &[u8]) {
    let Ok(json) = std::str::from_utf8(data) else { return };
    probe(JwtAuthConfig::builder().key(VerifyingKey::jwk(json)).build());
    probe(JwtAuthConfig::builder().jwk_set(json).build());
}

/// A PEM or DER key; the first byte picks the parser.
pub fn pem_der(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let key = match which % 5 {
        0 => VerifyingKey::rsa_pem(rest),
        1 => VerifyingKey::rsa_der(rest),
        2 => VerifyingKey::ec_pem(rest),
        3 => VerifyingKey::ed25519_pem(rest),
        _ => VerifyingKey::hmac(rest),
    };
    probe(JwtAuthConfig::builder().key(key).build());
}

// ---------------------------------------------------------------------------------------
// claim_path: parse and print round trip.

/// `ClaimPath::parse` of a text, and of what it prints.
pub fn claim_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = ClaimPath::parse(text);
    assert!(!path.segments().is_empty());
    let printed = path.to_string();
    assert_eq!(ClaimPath::parse(&printed), path, "{text:?} printed as {printed:?}");
    assert_eq!(ClaimPath::from_segments(path.segments().iter().cloned()), path);
}

// ---------------------------------------------------------------------------------------
// remote_document: what a remote set makes of a fetched document.

/// A fetched JWK set or discovery document; the first byte picks which.
pub fn remote_document(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let _ = tower_jwt_auth::jwks::__fuzz_document(rest, which % 2 == 1);
}

// ---------------------------------------------------------------------------------------
// layer: requests whose method, URI and headers come from the input.

#[derive(Arbitrary, Debug)]
pub struct LayerRequest {
    method: String,
    uri: String,
    headers: Vec<(String, Vec<u8>)>,
    /// A valid token, put in the header or cookie this picks.
    token: Option<u8>,
    optional: bool,
}

fn layer_config() -> JwtAuthConfig {
    JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .token_sources([
            TokenSource::bearer(),
            TokenSource::header("x-token"),
            TokenSource::cookie("access_token"),
        ])
        .build()
        .expect("the layer target's configuration builds")
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fn valid_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let payload = format!(r#"{{"sub":"alice","exp":{}}}"#, now() + 86_400 * 365);
        sign(br#"{"alg":"HS256","typ":"JWT"}"#, payload.as_bytes())
    })
}

/// The layer in front of a service that answers 200, and what it answers a request.
pub fn layer(data: &[u8]) {
    use tower::{Layer as _, ServiceExt as _};
    use tower_jwt_auth::{Claims, JwtAuthLayer};

    static CONFIG: OnceLock<JwtAuthConfig> = OnceLock::new();
    let config = once(&CONFIG, layer_config);
    let Ok(input) = LayerRequest::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let mut builder = http::Request::builder().method(input.method.as_bytes()).uri(input.uri.as_str());
    for (name, value) in &input.headers {
        // Only what an HTTP server could hand over: valid names and values.
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(value))
        {
            builder = builder.header(name, value);
        }
    }
    match input.token.map(|slot| slot % 3) {
        Some(0) => builder = builder.header("authorization", format!("Bearer {}", valid_token())),
        Some(1) => builder = builder.header("x-token", valid_token()),
        Some(_) => builder = builder.header("cookie", format!("access_token={}", valid_token())),
        None => {}
    }
    let Ok(request) = builder.body(String::new()) else { return };
    let mut layer = JwtAuthLayer::new(config.clone());
    if input.optional {
        layer = layer.optional();
    }
    let service = layer.layer(tower::service_fn(|request: http::Request<String>| async move {
        let authenticated = request.extensions().get::<Claims>().is_some();
        Ok::<_, std::convert::Infallible>(http::Response::new(
            if authenticated { "claims" } else { "none" }.to_string(),
        ))
    }));
    let response = runtime().block_on(service.oneshot(request)).expect("infallible");
    let status = response.status().as_u16();
    match status {
        200 => {
            let authenticated = response.body() == "claims";
            assert!(authenticated || input.optional, "200 without claims from a required layer");
        }
        400 | 401 | 403 => {
            let cache = response.headers().get("cache-control").and_then(|value| value.to_str().ok());
            assert_eq!(cache, Some("no-store"), "a {status} rejection without no-store");
            if status == 401 {
                assert!(response.headers().contains_key("www-authenticate"), "a 401 without a challenge");
            }
        }
        other => panic!("the layer answered {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// dpop: DPoP requests through the layer, against a reference model of RFC 9449's checks.

const EC256_PRIVATE: &str = include_str!("../../tests/fixtures/ec256_private.pem");
/// The proof window of the dpop target's configuration (the default), in seconds.
const DPOP_WINDOW: i64 = 300;

#[derive(Arbitrary, Debug)]
pub struct DpopRequest {
    /// POST, else GET.
    post: bool,
    /// `htm`; `None`: the request's method.
    htm: Option<String>,
    /// `htu`'s path after `http://127.0.0.1`; `None`: the request's own, `/me`.
    htu_path: Option<String>,
    /// `iat`, in seconds from now.
    iat_offset: i16,
    /// `ath` over another token.
    ath_of_another_token: bool,
    /// Members left out: bit 0 `jti`, 1 `htm`, 2 `htu`, 3 `iat`, 4 `ath`, 5 `typ`, 6 `jwk`.
    dropped: u8,
    /// `typ`; `None`: `dpop+jwt`.
    typ: Option<String>,
    /// The scheme: 0 `DPoP`, 1 `dpop`, 2 `Bearer`.
    scheme: u8,
    /// The same proof sent again after the first request.
    replay: bool,
    /// A second `DPoP` header beside the proof.
    second_header: bool,
    /// Replaces the proof altogether.
    raw: Option<Vec<u8>>,
}

struct DpopFixture {
    config: JwtAuthConfig,
    key: EncodingKey,
    jwk: Value,
    token: String,
}

fn dpop_fixture() -> &'static DpopFixture {
    static FIXTURE: OnceLock<DpopFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
        let config = JwtAuthConfig::builder()
            .hmac_secret(SECRET)
            .dpop(tower_jwt_auth::dpop::DpopPolicy::allowed())
            .build()
            .expect("the dpop target's configuration builds");
        let key = EncodingKey::from_ec_pem(EC256_PRIVATE.as_bytes()).expect("the EC key");
        let jwk = Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256).expect("a JWK");
        let jkt = jwk.thumbprint(ThumbprintHash::SHA256).expect("a thumbprint");
        let mut jwk = serde_json::to_value(&jwk).expect("JSON");
        jwk.as_object_mut()
            .expect("an object")
            .retain(|name, _| ["kty", "crv", "x", "y"].contains(&name.as_str()));
        let payload = serde_json::json!({"sub": "alice", "exp": now() + 86_400 * 365, "cnf": {"jkt": jkt}});
        let token = sign(br#"{"alg":"HS256","typ":"JWT"}"#, payload.to_string().as_bytes());
        DpopFixture { config, key, jwk, token }
    })
}

/// The base64url SHA-256 of `text` (an `ath`), from the sha2 crate: apart from the crate's
/// own hashing.
fn ath_of(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The layer with DPoP allowed in front of a service that answers 200; one request (two
/// with `replay`), and the model's verdict on each answer.
pub fn dpop(data: &[u8]) {
    use base64::Engine as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tower::{Layer as _, ServiceExt as _};
    use tower_jwt_auth::JwtAuthLayer;

    static JTI: AtomicU64 = AtomicU64::new(0);
    let Ok(input) = DpopRequest::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let fixture = dpop_fixture();
    let method = if input.post { "POST" } else { "GET" };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let mut header = serde_json::json!({"alg": "ES256", "typ": input.typ.clone().unwrap_or("dpop+jwt".into()), "jwk": fixture.jwk});
    let htm = input.htm.clone().unwrap_or_else(|| method.to_owned());
    let htu = format!("http://127.0.0.1{}", input.htu_path.as_deref().unwrap_or("/me"));
    let iat = now() + i64::from(input.iat_offset);
    let ath = if input.ath_of_another_token { ath_of("another token") } else { ath_of(&fixture.token) };
    // A fresh jti every time: the replay cache outlives each input.
    let jti = format!("{}", JTI.fetch_add(1, Ordering::Relaxed));
    let mut claims = serde_json::json!({"jti": jti, "htm": htm, "htu": htu, "iat": iat, "ath": ath});
    for (bit, member) in ["jti", "htm", "htu", "iat", "ath"].iter().enumerate() {
        if input.dropped & (1 << bit) != 0 {
            claims.as_object_mut().expect("an object").remove(*member);
        }
    }
    for (bit, member) in [(5, "typ"), (6, "jwk")] {
        if input.dropped & (1 << bit) != 0 {
            header.as_object_mut().expect("an object").remove(member);
        }
    }
    let signed = format!("{}.{}", b64.encode(header.to_string()), b64.encode(claims.to_string()));
    let signature =
        jsonwebtoken::crypto::sign(signed.as_bytes(), &fixture.key, jsonwebtoken::Algorithm::ES256)
            .expect("ES256 signing");
    let proof = match &input.raw {
        Some(raw) => match http::HeaderValue::from_bytes(raw) {
            Ok(value) => value,
            Err(_) => return,
        },
        None => {
            http::HeaderValue::from_str(&format!("{signed}.{signature}")).expect("a JWS is a header value")
        }
    };
    let scheme = ["DPoP", "dpop", "Bearer"][usize::from(input.scheme % 3)];

    // The model: only an untouched, honest proof under the DPoP scheme passes.
    let typ_ok = input.typ.as_deref().is_none_or(|typ| {
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        typ.eq_ignore_ascii_case("dpop+jwt")
    });
    let htu_ok = input.htu_path.as_deref().is_none_or(|path| path == "/me");
    let near_edge = (i64::from(input.iat_offset).abs() - DPOP_WINDOW).abs() <= 1;
    let expected = input.raw.is_none()
        && scheme != "Bearer"
        && !input.second_header
        && input.dropped & 0x7f == 0
        && typ_ok
        && htm == method
        && htu_ok
        && i64::from(input.iat_offset).abs() <= DPOP_WINDOW
        && !input.ath_of_another_token;

    let service = JwtAuthLayer::new(fixture.config.clone()).layer(tower::service_fn(
        |_: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        },
    ));
    let send = || {
        let mut request = http::Request::builder()
            .method(method)
            .uri("/me")
            .header("host", "127.0.0.1")
            .header("authorization", format!("{scheme} {}", fixture.token))
            .header("dpop", proof.clone());
        if input.second_header {
            request = request.header("dpop", proof.clone());
        }
        let request = request.body(String::new()).expect("a request");
        runtime().block_on(service.clone().oneshot(request)).expect("infallible")
    };
    let first = send();
    let status = first.status().as_u16();
    assert!(matches!(status, 200 | 400 | 401 | 403 | 503), "the layer answered {status}");
    if status == 401 {
        assert!(first.headers().contains_key("www-authenticate"), "a 401 without a challenge");
    }
    if !near_edge {
        assert_eq!(
            status == 200,
            expected,
            "the model says {expected} for {input:?}: {status} {:?}",
            first.headers()
        );
    }
    if input.replay && status == 200 {
        assert_eq!(send().status().as_u16(), 401, "a replayed proof passed: {input:?}");
    }
}

//! A real OpenID provider for the integration tests: `tests/idp/provider.mjs` (the npm
//! package `oidc-provider` 9.x) on 127.0.0.1, run with node.
//!
//! Use it from a test file with
//!
//! ```ignore
//! #[path = "support/idp.rs"]
//! mod idp;
//! ```
//!
//! The first [`Idp::start`] in a test binary runs `.ci/idp-env.sh`, which installs the
//! provider's node modules with `npm ci` from `tests/idp/package-lock.json` into
//! `target/idp-node` (quick when already installed). There is no skipping: without node and
//! npm, or when the install fails, every test that starts a provider panics and says why.
//!
//! The provider has one client (`test-client` / `test-secret`, client_credentials) and four
//! resources whose access tokens are JWTs (`typ: at+jwt`, `aud` = the resource) signed with
//! one algorithm each: [`RS256`], [`PS256`], [`ES256`] and [`EDDSA`], scopes `read write`.
//! Its keys come from a private JWKS file: `tests/idp/keys-a.json` (kids `rs-a`, `ps-a`,
//! `es-a`, `ed-a`), `keys-b.json` (`rs-b`, ...), and `keys-ab.json` (the b keys, which sign,
//! and `rs-a`, still published). Key rotation is a restart on the same port with another
//! file: [`Idp::restart`].

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::setup::{repo_root, run_env_script};

/// The resource whose tokens are signed with RS256.
pub const RS256: &str = "urn:test:rs256";
/// The resource whose tokens are signed with PS256.
pub const PS256: &str = "urn:test:ps256";
/// The resource whose tokens are signed with ES256.
pub const ES256: &str = "urn:test:es256";
/// The resource whose tokens are signed with EdDSA (Ed25519).
pub const EDDSA: &str = "urn:test:eddsa";
/// Every resource with its signing algorithm.
pub const RESOURCES: [(&str, &str); 4] =
    [(RS256, "RS256"), (PS256, "PS256"), (ES256, "ES256"), (EDDSA, "EdDSA")];

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret";

/// How long a provider may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A key file in `tests/idp/`, e.g. `keys_file("keys-a.json")`.
pub fn keys_file(name: &str) -> PathBuf {
    repo_root().join("tests/idp").join(name)
}

fn set_up() -> Result<PathBuf, String> {
    run_env_script("idp-env.sh", "provider script")
}

/// The installed `provider.mjs`, set up once per test binary; panics when that failed.
pub fn provider_script() -> &'static Path {
    static PROVIDER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PROVIDER.get_or_init(set_up) {
        Ok(path) => path,
        Err(why) => {
            panic!("the test OpenID provider could not be set up (it needs node 20+ and npm).\n{why}")
        }
    }
}

/// A running provider; killed on [`Idp::stop`] or drop.
pub struct Idp {
    child: Child,
    issuer: String,
    port: u16,
    keys: PathBuf,
    stderr: Arc<Mutex<String>>,
    http: reqwest::Client,
}

impl Idp {
    /// Starts a provider signing with the keys in `keys_file`, on `port` (`None` or `Some(0)`
    /// for a free one). Blocks until it listens (well under a second; 30 s at most).
    pub fn start(keys_file: &Path, port: Option<u16>) -> Idp {
        Self::start_with(keys_file, port, &[])
    }

    /// [`start`](Self::start) with access tokens living `ttl` (whole seconds, at least one),
    /// for tests of renewal.
    pub fn start_with_token_ttl(keys_file: &Path, ttl: Duration) -> Idp {
        Self::start_with(keys_file, None, &["--token-ttl", &ttl.as_secs().max(1).to_string()])
    }

    fn start_with(keys_file: &Path, port: Option<u16>, extra: &[&str]) -> Idp {
        let script = provider_script();
        let mut child = Command::new("node")
            .arg(script)
            .arg("--keys")
            .arg(keys_file)
            .arg("--port")
            .arg(port.unwrap_or(0).to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("could not run node {}: {error}", script.display()));

        // Its stderr is kept for the panic messages below.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining, so the provider never blocks on a full pipe.
            for _ in lines {}
        });

        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            outcome => {
                let _ = child.kill();
                let status = child.wait();
                // Let the stderr thread catch up with what the process wrote before it ended.
                std::thread::sleep(Duration::from_millis(100));
                let why = match outcome {
                    Err(_) => format!("printed nothing within {START_TIMEOUT:?}"),
                    _ => format!("ended without printing its address ({status:?})"),
                };
                panic!(
                    "the test OpenID provider ({} --keys {}) {why}; its stderr:\n{}",
                    script.display(),
                    keys_file.display(),
                    stderr.lock().unwrap()
                );
            }
        };
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("the provider printed {line:?}, not JSON: {error}"));
        let issuer = ready["issuer"].as_str().expect("issuer in the ready line").to_owned();
        let port = ready["port"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("port");

        let http = reqwest::Client::builder()
            // No pooled connection outlives a restart of the provider.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a reqwest client");

        Idp { child, issuer, port, keys: keys_file.to_owned(), stderr, http }
    }

    /// `http://127.0.0.1:<port>`, exactly as in the provider's discovery document and tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The key file it was started with.
    pub fn keys(&self) -> &Path {
        &self.keys
    }

    /// What the provider wrote on stderr so far (errors only).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Kills the provider and starts it again on the same port (so with the same issuer)
    /// with the keys in `keys_file`: key rotation.
    pub fn restart(&mut self, keys_file: &Path) {
        self.kill();
        *self = Idp::start(keys_file, Some(self.port));
    }

    /// The discovery document, `/.well-known/openid-configuration`.
    pub async fn discovery(&self) -> Value {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        self.get_json(&url).await
    }

    /// The published key set, from the discovery document's `jwks_uri`.
    pub async fn jwks(&self) -> Value {
        let discovery = self.discovery().await;
        let uri = discovery["jwks_uri"].as_str().expect("jwks_uri in discovery").to_owned();
        self.get_json(&uri).await
    }

    /// A client_credentials access token (a JWT) for `resource` (one of [`RESOURCES`]) with
    /// `scope` (space-separated, from `read write`), from the discovery's token endpoint.
    pub async fn token(&self, resource: &str, scope: &str) -> String {
        let discovery = self.discovery().await;
        let endpoint = discovery["token_endpoint"].as_str().expect("token_endpoint").to_owned();
        let response = self
            .http
            .post(&endpoint)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("resource", resource),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {endpoint}: {error}"));
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|error| panic!("POST {endpoint}: {status}, not JSON: {error}"));
        assert!(status.is_success(), "POST {endpoint} for {resource}: {status} {body}");
        body["access_token"].as_str().unwrap_or_else(|| panic!("no access_token in {body}")).to_owned()
    }

    /// Runs the DPoP client (`tests/idp/dpop-client.mjs`, built on the npm package
    /// `oauth4webapi`) against this provider with `args` (`--resource`, `--url`, ...; see the
    /// script's header) and returns the JSON it prints. Panics, with its stderr, when it
    /// fails.
    pub async fn dpop_client(&self, args: &[&str]) -> Value {
        let script = provider_script().with_file_name("dpop-client.mjs");
        let output = tokio::process::Command::new("node")
            .arg(&script)
            .arg("--issuer")
            .arg(&self.issuer)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|error| panic!("node {}: {error}", script.display()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "dpop-client.mjs {args:?} failed: {}\n{stderr}", output.status);
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("dpop-client.mjs printed no JSON ({error}): {stderr}"))
    }

    /// How many token requests (`POST /token`) the provider has served.
    pub async fn token_requests(&self) -> u64 {
        let count = self.get_json(&format!("{}/test/token-requests", self.issuer)).await;
        count["count"].as_u64().expect("a count")
    }

    /// Kills the provider and waits for it to end (the port is free afterwards).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn get_json(&self, url: &str) -> Value {
        let response = self.http.get(url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
        let status = response.status();
        assert!(status.is_success(), "GET {url}: {status}");
        response.json().await.unwrap_or_else(|error| panic!("GET {url}: not JSON: {error}"))
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.kill();
    }
}

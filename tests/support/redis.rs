//! A real `redis-server` for the integration tests, on a free 127.0.0.1 port, without
//! persistence: a restart brings it back empty, as a cache-only deployment would.
//!
//! Use it from a test file with
//!
//! ```ignore
//! #[path = "support/redis.rs"]
//! mod redis_server;
//! ```
//!
//! The first [`RedisServer::start`] in a test binary runs `.ci/redis-env.sh`, which finds
//! `redis-server` or installs Debian's package (quick when already installed). There is no
//! skipping: when that fails, every test that starts a server panics and says why.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::setup::run_env_script;

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `.ci/redis-env.sh` and returns the `redis-server` path it prints.
fn set_up() -> Result<PathBuf, String> {
    run_env_script("redis-env.sh", "redis-server path")
}

/// The `redis-server` binary, set up once per test binary; panics, saying why, when that
/// failed.
fn server_binary() -> &'static Path {
    static SERVER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match SERVER.get_or_init(set_up) {
        Ok(path) => path,
        Err(why) => panic!(
            "the Redis tests need redis-server 6.2 or newer (.ci/redis-env.sh finds it or \
             installs Debian's package); it could not be set up:\n{why}"
        ),
    }
}

/// A free loopback port (free when this returns; the server binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// A running `redis-server`; killed on [`RedisServer::stop`] and on drop.
pub struct RedisServer {
    binary: &'static Path,
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts a server on a free port; panics when there is no `redis-server` or it does
    /// not start.
    pub fn start() -> RedisServer {
        let binary = server_binary();
        let mut server = RedisServer { binary, child: None, port: free_port() };
        server.spawn();
        server
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A client for this server.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a redis client")
    }

    /// Kills the server and waits for it to end; its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new(self.binary)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &std::env::temp_dir().display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("could not run {}: {error}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers_ping() {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                panic!("redis-server on port {} ended at start ({status})", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

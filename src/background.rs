//! The crate's background runtime: a current-thread Tokio runtime on one thread of its own,
//! started on first use and kept for the life of the process. Remote key set fetches and the
//! Redis revocation link run there.
//!
//! Work spawned on the runtime of whoever started it would stall while that runtime stalls
//! (a current-thread runtime that is busy, or idle outside `block_on`) and stop when it
//! shuts down (a warm-up or setup runtime, a test's), silently: a key fetch every request
//! waits for, the subscription that keeps a revocation list current. Connections made there
//! (pooled HTTP connections, the Redis connection's driver) would share that fate. On a
//! thread of its own, such work runs whatever the application's runtimes do.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

/// The background runtime; should its thread fail to start, the caller's runtime, if any.
pub(crate) fn runtime() -> Option<Handle> {
    static RUNTIME: OnceLock<Option<Handle>> = OnceLock::new();
    let own = RUNTIME.get_or_init(|| {
        let runtime = Builder::new_current_thread().enable_all().build().ok()?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("tower-jwt-auth".to_owned())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .ok()?;
        Some(handle)
    });
    own.clone().or_else(|| Handle::try_current().ok())
}

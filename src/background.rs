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

use std::sync::{Mutex, OnceLock, PoisonError};

use tokio::runtime::{Builder, Handle};

/// The name of the background thread (and of the threads its runtime starts for blocking
/// work, such as DNS lookups).
const THREAD_NAME: &str = "tower-jwt-auth";

/// The background runtime; while its thread cannot be started (tried again on each call),
/// the caller's runtime, if any.
///
/// A process that forks must do so before the first use: the child has no copy of the
/// thread (nor of anything a Tokio runtime runs), so fork first, or exec.
pub(crate) fn runtime() -> Option<Handle> {
    static RUNTIME: OnceLock<Handle> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(handle) = RUNTIME.get() {
        return Some(handle.clone());
    }
    let _starting = STARTING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = RUNTIME.get() {
        return Some(handle.clone());
    }
    match start() {
        Some(handle) => Some(RUNTIME.get_or_init(|| handle).clone()),
        None => Handle::try_current().ok(),
    }
}

/// Runs `work` as a task on the background runtime and waits for it, from any runtime (or
/// none); `None` when the task ended without an output (it panicked). Without any runtime,
/// runs it here.
#[cfg(feature = "redis")]
pub(crate) async fn run<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> Option<T> {
    match runtime() {
        Some(runtime) => runtime.spawn(work).await.ok(),
        None => Some(work.await),
    }
}

/// Starts the thread, which builds the runtime and hands back its handle: nothing that owns
/// a runtime is ever dropped on the caller's thread (inside an async context that panics),
/// whether the thread or the runtime fails to start.
fn start() -> Option<Handle> {
    start_with(|body| std::thread::Builder::new().name(THREAD_NAME.to_owned()).spawn(body).map(drop))
}

/// [`start`] with the thread started by `spawn`.
fn start_with(spawn: impl FnOnce(Box<dyn FnOnce() + Send>) -> std::io::Result<()>) -> Option<Handle> {
    let (handle_sender, handle) = std::sync::mpsc::sync_channel(1);
    spawn(Box::new(move || {
        let Ok(runtime) = Builder::new_current_thread().enable_all().thread_name(THREAD_NAME).build() else {
            return;
        };
        if handle_sender.send(runtime.handle().clone()).is_ok() {
            runtime.block_on(std::future::pending::<()>());
        }
    }))
    .ok()?;
    handle.recv().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_thread_that_cannot_start_leaves_nothing_to_drop_in_an_async_context() {
        // Before, the closure handed to the failed spawn owned a runtime built beforehand,
        // and dropping it here, inside a runtime, panicked ("Cannot drop a runtime in a
        // context where blocking is not allowed").
        let refused = start_with(|body| {
            drop(body);
            Err(std::io::Error::other("no more threads"))
        });
        assert!(refused.is_none());
        assert!(start().is_some(), "and a thread that starts hands back its runtime");
    }
}

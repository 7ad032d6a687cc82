//! What verification stops at when it has no claims to give: a final rejection, or a key
//! fetch to wait for before asking again. One type for every step of the pipeline, from the
//! remote key set up to the layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::ErrorKind;

/// Why a step gave no result.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A final answer: the request is rejected with this kind.
    Reject(ErrorKind),
    /// A fetch of a remote key set that may bring the key: wait for it, then verify again
    /// without waiting. Never made without the `jwks` feature.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    Wait(KeyWait),
}

impl From<ErrorKind> for Stop {
    fn from(kind: ErrorKind) -> Self {
        Self::Reject(kind)
    }
}

/// A remote key set's fetch in flight, shared by every request that waits for it. It ends,
/// by the fetch's own timeout at the latest, whatever the outcome.
pub(crate) struct KeyWait(Pin<Box<dyn Future<Output = ()> + Send + Sync>>);

impl KeyWait {
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn new(fetch: impl Future<Output = ()> + Send + Sync + 'static) -> Self {
        Self(Box::pin(fetch))
    }
}

impl Future for KeyWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for KeyWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyWait")
    }
}

//! The fetch a request may wait for before its key is known. Without the `jwks` feature no
//! request ever waits, and the type has no values.

#[cfg(feature = "jwks")]
pub(crate) use crate::jwks::KeyWait;

/// No value exists: without remote key sets there is never anything to wait for.
#[cfg(not(feature = "jwks"))]
#[derive(Debug)]
pub(crate) enum KeyWait {}

#[cfg(not(feature = "jwks"))]
impl std::future::Future for KeyWait {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match *self {}
    }
}

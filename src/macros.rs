//! Macros shared by the middleware services.

/// `get_ref`, `get_mut` and `into_inner` for a service that wraps another in a field named
/// `inner`, as tower-http's services have.
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

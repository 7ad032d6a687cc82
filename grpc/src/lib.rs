//! The canonical `helloworld.Greeter` gRPC service, reading the caller from the claims that
//! [`JwtAuthLayer`](tower_jwt_auth::JwtAuthLayer) put into the request's extensions.
//!
//! The `tonic_server` example serves it (`cargo run -p tower-jwt-auth-grpc --example
//! tonic_server`) and `tests/grpc.rs` calls it with a real tonic client. The proto is
//! compiled by `build.rs` with protox, without `protoc`.

#![deny(missing_docs, unreachable_pub, unsafe_code)]

use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;
use tokio_stream::wrappers::IntervalStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use tower_jwt_auth::guard::MethodPolicy;
use tower_jwt_auth::{Claims, Require};

/// The code generated from `proto/helloworld.proto`: messages, server and client.
#[allow(missing_docs, unreachable_pub)]
pub mod proto {
    tonic::include_proto!("helloworld");
}

use proto::{HelloReply, HelloRequest, HelloStreamRequest};

/// The role that `SayHelloAdmin` requires.
pub const ADMIN_ROLE: &str = "admin";

/// Who may call what on the server: the health service is public, `SayHello` and
/// `SayHelloStream` need a valid token, `SayHelloAdmin` role `admin`, and anything else
/// (a method added later, a path no router would read the same way) is refused. It sits
/// inside an optional `JwtAuthLayer`, so that health checks need no token.
pub fn method_policy() -> MethodPolicy {
    MethodPolicy::deny_unlisted()
        .public("/grpc.health.v1.Health/*")
        .authenticated("/helloworld.Greeter/SayHello")
        .authenticated("/helloworld.Greeter/SayHelloStream")
        .require("/helloworld.Greeter/SayHelloAdmin", Require::role(ADMIN_ROLE))
        .build()
        .expect("the method paths above are well-formed")
}

/// The claims the greeter reads from a verified token.
#[derive(Debug, Deserialize)]
pub struct User {
    /// Who is calling.
    pub sub: String,
    /// The caller's role, such as `admin` or `user`.
    pub role: String,
}

/// The `helloworld.Greeter` implementation.
#[derive(Debug, Clone)]
pub struct Greeter {
    interval: Duration,
}

impl Greeter {
    /// A greeter whose stream sends one greeting a second.
    pub fn new() -> Self {
        Self { interval: Duration::from_secs(1) }
    }

    /// A greeter whose stream sends one greeting per `interval` (tests use a short one).
    pub fn with_interval(interval: Duration) -> Self {
        Self { interval }
    }
}

impl Default for Greeter {
    fn default() -> Self {
        Self::new()
    }
}

/// The verified caller. The auth layer rejects every call without one before it gets here,
/// so a missing value means the server was wired without the layer: `from_grpc` refuses
/// (UNAUTHENTICATED), and a layer built for another claims type is INTERNAL, logged.
fn caller<T>(request: &Request<T>) -> Result<Claims<User>, Status> {
    Claims::<User>::from_grpc(request)
}

type GreetingStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

#[tonic::async_trait]
impl proto::greeter_server::Greeter for Greeter {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let user = caller(&request)?;
        let message = format!("Hello {}, from {}", request.get_ref().name, user.sub);
        Ok(Response::new(HelloReply { message }))
    }

    type SayHelloStreamStream = GreetingStream;

    async fn say_hello_stream(
        &self,
        request: Request<HelloStreamRequest>,
    ) -> Result<Response<GreetingStream>, Status> {
        let user = caller(&request)?.sub.clone();
        let HelloStreamRequest { name, count } = request.into_inner();
        let ticks = IntervalStream::new(tokio::time::interval(self.interval));
        let mut sent = 0;
        let greetings = ticks.take(count as usize).map(move |_| {
            sent += 1;
            Ok(HelloReply { message: format!("Hello {name} #{sent}, from {user}") })
        });
        Ok(Response::new(Box::pin(greetings)))
    }

    /// Role `admin` only: the [`method_policy`] decides, before the call gets here.
    async fn say_hello_admin(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let user = caller(&request)?;
        let message = format!("Hello {}, from {} (admin)", request.get_ref().name, user.sub);
        Ok(Response::new(HelloReply { message }))
    }
}

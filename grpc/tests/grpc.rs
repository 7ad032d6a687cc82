//! The layer on a real tonic server on 127.0.0.1, called by a real tonic client: every
//! rejection arrives as the `tonic::Code` and fixed message a gRPC client understands.
//! One test calls the same server with Python's grpcio (`tests/grpcio_client.py`, in the
//! venv `.ci/python-env.sh` sets up), a standard gRPC client that is not tonic.

#[path = "../../tests/support/dpop.rs"]
mod dpop;
#[path = "../../tests/support/logs.rs"]
mod logs;
#[path = "../../tests/support/setup.rs"]
mod setup;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::Layer;
use tower_jwt_auth::{
    ErrorKind, JwtAuthConfig, JwtAuthLayer, Require, TokenIssuer, expiry::TokenExpiryLayer,
    revoke::Revocations,
};
use tower_jwt_auth_grpc::proto::greeter_client::GreeterClient;
use tower_jwt_auth_grpc::proto::greeter_server::GreeterServer;
use tower_jwt_auth_grpc::proto::{HelloRequest, HelloStreamRequest};
use tower_jwt_auth_grpc::{Greeter, User, method_policy};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "greeter.test";
/// The stream interval in tests: a stream of 20 greetings lasts 3 seconds.
const INTERVAL: Duration = Duration::from_millis(150);
const STREAM_LENGTH: u32 = 20;

fn config() -> JwtAuthConfig {
    // No leeway, so that a token ends exactly at its `exp`.
    JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .leeway(Duration::ZERO)
        .build()
        .unwrap()
}

fn auth() -> JwtAuthLayer<User> {
    JwtAuthLayer::new(config()).with_claims::<User>()
}

fn issuer_with_lifetime(lifetime: Duration) -> TokenIssuer {
    let builder = TokenIssuer::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE);
    builder.lifetime(lifetime).build().unwrap()
}

fn issuer() -> TokenIssuer {
    issuer_with_lifetime(Duration::from_secs(600))
}

fn token_for(sub: &str, role: &str, lifetime: Duration) -> String {
    issuer_with_lifetime(lifetime).issue(&serde_json::json!({"sub": sub, "role": role})).unwrap()
}

fn alice() -> String {
    token_for("alice", "admin", Duration::from_secs(600))
}

fn bob() -> String {
    token_for("bob", "user", Duration::from_secs(600))
}

/// Serves on a fresh port of 127.0.0.1 and returns its address.
async fn serve_on_a_fresh_port<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(TcpIncoming) -> Fut,
    Fut: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(TcpIncoming::from(listener)));
    address
}

/// Serves on a fresh port of 127.0.0.1 and returns a channel to it.
async fn start<F, Fut>(serve: F) -> Channel
where
    F: FnOnce(TcpIncoming) -> Fut,
    Fut: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    let address = serve_on_a_fresh_port(serve).await;
    Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap()
}

/// The server as the `tonic_server` example wires it: an optional auth layer and the method
/// policy around every service (the greeter, and the public health service).
async fn serve_behind_the_policy(incoming: TcpIncoming) -> Result<(), tonic::transport::Error> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<GreeterServer<Greeter>>().await;
    Server::builder()
        .layer(auth().optional())
        .layer(method_policy())
        .add_service(health)
        .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
        .serve_with_incoming(incoming)
        .await
}

/// A client of [`serve_behind_the_policy`].
async fn greeter_behind_a_global_layer() -> GreeterClient<Channel> {
    GreeterClient::new(start(serve_behind_the_policy).await)
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

fn hello(token: Option<&str>) -> Request<HelloRequest> {
    with_token(HelloRequest { name: "world".into() }, token)
}

fn stream_of(count: u32, token: Option<&str>) -> Request<HelloStreamRequest> {
    with_token(HelloStreamRequest { name: "world".into(), count }, token)
}

fn assert_status(status: &Status, code: Code, kind: ErrorKind) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), kind.description());
}

/// The challenge a rejection carries as metadata.
fn challenge(status: &Status) -> &str {
    status.metadata().get("www-authenticate").unwrap().to_str().unwrap()
}

/// Reads a stream to its end: the greetings received, then how it ended.
async fn drain(
    client: &mut GreeterClient<Channel>,
    request: Request<HelloStreamRequest>,
) -> Result<(u32, Result<(), Status>), Status> {
    let mut stream = client.say_hello_stream(request).await?.into_inner();
    let mut received = 0;
    loop {
        match stream.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => return Ok((received, Ok(()))),
            Err(status) => return Ok((received, Err(status))),
        }
    }
}

// ---- the layer around every service ----

#[tokio::test]
async fn valid_token_reaches_the_handler_which_reads_the_claims() {
    let mut client = greeter_behind_a_global_layer().await;
    let reply = client.say_hello(hello(Some(&alice()))).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello world, from alice");
}

#[tokio::test]
async fn missing_token_is_unauthenticated_with_a_bare_challenge() {
    let mut client = greeter_behind_a_global_layer().await;
    let status = client.say_hello(hello(None)).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);
    assert_eq!(challenge(&status), r#"Bearer realm="api""#);
}

#[tokio::test]
async fn bad_or_expired_token_is_unauthenticated_with_its_fixed_message() {
    let mut client = greeter_behind_a_global_layer().await;
    let mut forged = alice();
    forged.push('A'); // no longer the signature that was made
    let status = client.say_hello(hello(Some(&forged))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(challenge(&status).contains(r#"error="invalid_token""#), "{}", challenge(&status));

    let status = client.say_hello(hello(Some("not-a-jwt"))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Malformed);

    let other_secret = TokenIssuer::builder()
        .hmac_secret(b"another secret that is long enough for HS256")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
        .issue(&serde_json::json!({"sub": "mallory", "role": "admin"}))
        .unwrap();
    let status = client.say_hello(hello(Some(&other_secret))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::InvalidSignature);

    let an_hour_ago =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600;
    let expired =
        issuer().issue(&serde_json::json!({"sub": "alice", "role": "admin", "exp": an_hour_ago})).unwrap();
    let status = client.say_hello(hello(Some(&expired))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Expired);
}

#[tokio::test]
async fn a_revoked_token_is_unauthenticated_even_after_it_was_accepted() {
    let revocations = Revocations::in_memory();
    let config = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let layer = JwtAuthLayer::new(config.clone()).with_claims::<User>();
    let channel = start(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
            .serve_with_incoming(incoming)
    })
    .await;
    let mut client = GreeterClient::new(channel);
    let (token, other) = (alice(), alice());
    // Accepted twice (the second time from the token cache), then revoked.
    client.say_hello(hello(Some(&token))).await.unwrap();
    client.say_hello(hello(Some(&token))).await.unwrap();
    revocations.revoke(config.verify(&token).unwrap().token()).await.unwrap();
    let status = client.say_hello(hello(Some(&token))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Revoked);
    assert!(challenge(&status).contains(r#"error="invalid_token""#), "{}", challenge(&status));
    client.say_hello(hello(Some(&other))).await.unwrap();
}

#[tokio::test]
async fn server_streaming_calls_are_authenticated_like_unary_ones() {
    let mut client = greeter_behind_a_global_layer().await;
    let (received, end) = drain(&mut client, stream_of(3, Some(&bob()))).await.unwrap();
    assert_eq!(received, 3);
    end.unwrap();

    let status = drain(&mut client, stream_of(3, None)).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);
    let status = drain(&mut client, stream_of(3, Some("not-a-jwt"))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Malformed);
}

#[tokio::test]
async fn admin_method_is_permission_denied_for_other_roles() {
    let mut client = greeter_behind_a_global_layer().await;
    let reply = client.say_hello_admin(hello(Some(&alice()))).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello world, from alice (admin)");
    let status = client.say_hello_admin(hello(Some(&bob()))).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, ErrorKind::InsufficientScope);
}

#[tokio::test]
async fn require_guard_answers_permission_denied_naming_the_role() {
    let channel = start(|incoming| {
        Server::builder()
            .layer(auth())
            .layer(Require::role("admin"))
            .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
            .serve_with_incoming(incoming)
    })
    .await;
    let mut client = GreeterClient::new(channel);
    assert!(client.say_hello(hello(Some(&alice()))).await.is_ok());
    let status = client.say_hello(hello(Some(&bob()))).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, ErrorKind::InsufficientScope);
    assert_eq!(
        challenge(&status),
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required permission", scope="admin""#
    );
    let status = drain(&mut client, stream_of(3, Some(&bob()))).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, ErrorKind::InsufficientScope);
}

// ---- the method policy against the paths a client can send ----

/// A unary call to an exact method path, as a tonic client sends it (no normalising).
async fn call_path(channel: Channel, path: &'static str, token: Option<&str>) -> Result<String, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|error| Status::unknown(error.to_string()))?;
    let codec = tonic_prost::ProstCodec::<HelloRequest, tower_jwt_auth_grpc::proto::HelloReply>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    Ok(grpc.unary(hello(token), path, codec).await?.into_inner().message)
}

/// What happened to one call: the reply's text, or the status code.
fn outcome(result: &Result<String, Status>) -> String {
    match result {
        Ok(message) => format!("OK {message:?}"),
        Err(status) => format!("{:?}", status.code()),
    }
}

/// Method paths a client can send for `SayHelloAdmin` (and a public service's path with dot
/// segments leading there). The policy must refuse every one that is not the canonical
/// path, and what the server routes must never be the admin method for a caller the policy
/// let through.
const PATH_VARIANTS: [&str; 14] = [
    "/helloworld.Greeter/SayHelloAdmin",
    "//helloworld.Greeter/SayHelloAdmin",
    "/helloworld.Greeter//SayHelloAdmin",
    "/helloworld.Greeter/SayHelloAdmin/",
    "/helloworld.Greeter/SayHello%41dmin",
    "/helloworld%2EGreeter/SayHelloAdmin",
    "/helloworld.Greeter%2FSayHelloAdmin",
    "/helloworld.greeter/sayhelloadmin",
    "/helloworld.Greeter/./SayHelloAdmin",
    "/helloworld.Greeter/../helloworld.Greeter/SayHelloAdmin",
    "/grpc.health.v1.Health/../helloworld.Greeter/SayHelloAdmin",
    "/grpc.health.v1.Health/Check/../../helloworld.Greeter/SayHelloAdmin",
    "/helloworld.Greeter/SayHelloAdmin?admin=no",
    "/helloworld.Greeter\\SayHelloAdmin",
];

#[tokio::test]
async fn the_method_policy_refuses_every_path_variant_and_nothing_it_lets_through_reaches_the_admin_method() {
    let policy = start(serve_behind_the_policy).await;
    // What tonic itself routes each path to: the auth layer alone, alice (an admin) calling.
    let routing = start(|incoming| {
        Server::builder()
            .layer(auth())
            .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
            .serve_with_incoming(incoming)
    })
    .await;
    let (alice, bob) = (alice(), bob());
    let admin_reply = "OK \"Hello world, from alice (admin)\"";
    let mut table = vec![
        "| path | policy, bob (user) | policy, alice (admin) | routed without the policy (alice) |"
            .to_owned(),
    ];
    for path in PATH_VARIANTS {
        let as_bob = call_path(policy.clone(), path, Some(&bob)).await;
        let as_alice = call_path(policy.clone(), path, Some(&alice)).await;
        let routed = call_path(routing.clone(), path, Some(&alice)).await;
        table.push(format!(
            "| `{path}` | {} | {} | {} |",
            outcome(&as_bob),
            outcome(&as_alice),
            outcome(&routed)
        ));
        // Nothing that reaches a handler as bob is the admin method.
        assert!(!outcome(&as_bob).contains("(admin)"), "{path}: bob reached the admin method");
        let canonical = path.starts_with("/helloworld.Greeter/SayHelloAdmin") && !path.ends_with('/');
        if canonical {
            // The admin method, with or without a query: bob is refused, alice served.
            assert_eq!(as_bob.as_ref().unwrap_err().code(), Code::PermissionDenied, "{path}");
            assert_eq!(outcome(&as_alice), admin_reply, "{path}");
        } else {
            // Every other form: refused whoever calls, before any handler.
            for result in [&as_bob, &as_alice] {
                let status = result.as_ref().expect_err(path);
                assert_status(status, Code::PermissionDenied, ErrorKind::InsufficientScope);
            }
        }
    }
    // The table goes into the test's output (`cargo test -- --nocapture` shows it).
    println!("{}", table.join("\n"));
}

#[tokio::test]
async fn the_method_policy_serves_public_methods_without_a_token_and_refuses_unlisted_ones() {
    let channel = start(serve_behind_the_policy).await;
    // Public: no token needed (a load balancer's probe).
    let check = HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: "helloworld.Greeter".into() })
        .await
        .unwrap();
    assert_eq!(check.into_inner().status(), ServingStatus::Serving);
    // A token sent to a public method must still be valid: the auth layer checks it.
    let mut probe = Request::new(HealthCheckRequest { service: String::new() });
    probe.metadata_mut().insert("authorization", "Bearer not-a-jwt".parse().unwrap());
    let status = HealthClient::new(channel.clone()).check(probe).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Malformed);

    // Authenticated: any valid token; none is UNAUTHENTICATED with the bare challenge.
    let mut greeter = GreeterClient::new(channel.clone());
    let status = greeter.say_hello(hello(None)).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);
    assert_eq!(challenge(&status), r#"Bearer realm="api""#);
    assert!(greeter.say_hello(hello(Some(&bob()))).await.is_ok());

    // Role admin: PERMISSION_DENIED with the guard's challenge naming the role.
    let status = greeter.say_hello_admin(hello(Some(&bob()))).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, ErrorKind::InsufficientScope);
    assert!(challenge(&status).contains(r#"scope="admin""#), "{}", challenge(&status));
    let status = greeter.say_hello_admin(hello(None)).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);

    // A method no rule lists (here, one of a service the server does not even have):
    // refused before routing, with or without a token, and the challenge names no scope.
    for token in [Some(alice()), None] {
        let status =
            call_path(channel.clone(), "/helloworld.Greeter/SayGoodbye", token.as_deref()).await.unwrap_err();
        assert_status(&status, Code::PermissionDenied, ErrorKind::InsufficientScope);
        assert!(!challenge(&status).contains("scope="), "{}", challenge(&status));
    }
}

// ---- the interceptor ----

/// The greeter behind the interceptor alone: `GreeterServer::with_interceptor`.
async fn greeter_behind_the_interceptor(config: JwtAuthConfig) -> Channel {
    let interceptor = JwtAuthLayer::new(config).with_claims::<User>().interceptor();
    start(|incoming| {
        Server::builder()
            .add_service(GreeterServer::with_interceptor(Greeter::with_interval(INTERVAL), interceptor))
            .serve_with_incoming(incoming)
    })
    .await
}

#[tokio::test]
async fn the_interceptor_answers_every_call_as_the_layer_does() {
    let mut client = GreeterClient::new(greeter_behind_the_interceptor(config()).await);
    let reply = client.say_hello(hello(Some(&bob()))).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello world, from bob");

    let status = client.say_hello(hello(None)).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);
    assert_eq!(challenge(&status), r#"Bearer realm="api""#);
    let status = client.say_hello(hello(Some("not-a-jwt"))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Malformed);
    assert!(challenge(&status).contains(r#"error="invalid_token""#), "{}", challenge(&status));
    let an_hour_ago =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600;
    let expired =
        issuer().issue(&serde_json::json!({"sub": "bob", "role": "user", "exp": an_hour_ago})).unwrap();
    let status = client.say_hello(hello(Some(&expired))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Expired);

    // Streams are authenticated when they start.
    let (received, end) = drain(&mut client, stream_of(3, Some(&bob()))).await.unwrap();
    assert_eq!(received, 3);
    end.unwrap();
    let status = drain(&mut client, stream_of(3, None)).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);

    // The handler reads the claims the interceptor inserted: the admin method is served for
    // alice. (A rule per method needs the policy layer: an interceptor sees no method.)
    let reply = client.say_hello_admin(hello(Some(&alice()))).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello world, from alice (admin)");
}

/// Behind the interceptor, a rule for one method is checked in its handler with
/// `Require::check_grpc`, which answers as the guard layer does (the same status, sentence
/// and challenge metadata).
#[test]
fn require_check_grpc_answers_in_a_handler_as_the_guard_layer_does() {
    use tonic::service::Interceptor;
    let mut interceptor = auth().interceptor();
    let admin = Require::role("admin");
    let mut verified = |token: &str| interceptor.call(with_token((), Some(token))).unwrap();
    assert!(admin.check_grpc(&verified(&alice())).is_ok());
    let status = admin.check_grpc(&verified(&bob())).unwrap_err();
    assert_status(&status, Code::PermissionDenied, ErrorKind::InsufficientScope);
    assert_eq!(
        challenge(&status),
        r#"Bearer realm="api", error="insufficient_scope", error_description="The access token lacks the required permission", scope="admin""#
    );
    let status = admin.check_grpc(&Request::new(())).unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);
}

/// A JWKS server for the interceptor: it counts requests and holds each answer until the
/// test opens the gate, so a test can show that a call never waits for a fetch.
#[cfg(feature = "jwks")]
struct HeldJwks {
    url: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    gate: tokio::sync::watch::Sender<bool>,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[cfg(feature = "jwks")]
impl HeldJwks {
    async fn start(body: String) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body = std::sync::Arc::new(std::sync::Mutex::new(body));
        let (gate, opened) = tokio::sync::watch::channel(false);
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (served, counter) = (body.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (served, counter, mut opened) = (served.clone(), counter.clone(), opened.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0; 1024];
                    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => request.extend_from_slice(&buffer[..read]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let _ = opened.wait_for(|open| *open).await;
                    let body = served.lock().unwrap().clone();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self { url, body, gate, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An RSA issuer with this kid, and its public key set as JSON.
#[cfg(feature = "jwks")]
fn rsa_issuer(pem: &str, kid: &str) -> (TokenIssuer, serde_json::Value) {
    let issuer =
        TokenIssuer::builder().rsa_pem(pem).kid(kid).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let jwks = serde_json::to_value(issuer.jwk_set()).unwrap();
    (issuer, jwks)
}

/// Calls SayHello until it is served, at most `tries` times, 50 ms apart; the last status
/// when it never is.
#[cfg(feature = "jwks")]
async fn until_served(
    client: &mut GreeterClient<Channel>,
    token: &str,
    tries: usize,
) -> Result<String, Status> {
    let mut last = Err(Status::unknown("never called"));
    for _ in 0..tries {
        last = client.say_hello(hello(Some(token))).await.map(|reply| reply.into_inner().message);
        if last.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

/// An interceptor cannot wait: with a remote key set, a call whose key is not fetched yet
/// (the first one, and a new kid after a rotation) starts the fetch and gets UNAVAILABLE at
/// once, even while the JWKS server holds its answer; once the fetch is done, calls pass.
#[cfg(feature = "jwks")]
#[tokio::test]
async fn the_interceptor_never_waits_for_a_remote_key_set_and_picks_up_a_rotation() {
    use tower_jwt_auth::RemoteJwks;
    let (first, first_jwks) = rsa_issuer(include_str!("../../tests/fixtures/rsa_private.pem"), "rsa-1");
    let (second, second_jwks) = rsa_issuer(include_str!("../../tests/fixtures/rsa2_private.pem"), "rsa-2");
    let server = HeldJwks::start(first_jwks.to_string()).await;
    let keys =
        RemoteJwks::from_url(&server.url).allow_http(true).timeout(Duration::from_secs(5)).build().unwrap();
    let config =
        JwtAuthConfig::builder().remote_jwks(keys).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let mut client = GreeterClient::new(greeter_behind_the_interceptor(config).await);
    let token = first.issue(&serde_json::json!({"sub": "alice", "role": "admin"})).unwrap();

    // Cold: the fetch starts, the JWKS server holds it, the call does not wait for it.
    let call = tokio::time::timeout(Duration::from_secs(4), client.say_hello(hello(Some(&token))));
    let status = call.await.expect("the call waited for the key set's fetch").unwrap_err();
    assert_status(&status, Code::Unavailable, ErrorKind::KeysUnavailable);
    for _ in 0..100 {
        if server.requests() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.requests(), 1, "the refused call started the fetch");
    server.gate.send(true).unwrap();
    assert_eq!(until_served(&mut client, &token, 100).await.unwrap(), "Hello world, from alice");

    // Rotation: the provider publishes a second key; the first call with its kid starts a
    // refetch and gets UNAVAILABLE at once, the next ones are served.
    let mut both = first_jwks.clone();
    both["keys"].as_array_mut().unwrap().extend(second_jwks["keys"].as_array().unwrap().iter().cloned());
    *server.body.lock().unwrap() = both.to_string();
    server.gate.send(false).unwrap();
    let rotated = second.issue(&serde_json::json!({"sub": "bob", "role": "user"})).unwrap();
    let call = tokio::time::timeout(Duration::from_secs(4), client.say_hello(hello(Some(&rotated))));
    let status = call.await.expect("the call waited for the refetch").unwrap_err();
    assert_status(&status, Code::Unavailable, ErrorKind::KeysUnavailable);
    // The old key still serves while the refetch is held.
    assert_eq!(
        client.say_hello(hello(Some(&token))).await.unwrap().into_inner().message,
        "Hello world, from alice"
    );
    server.gate.send(true).unwrap();
    assert_eq!(until_served(&mut client, &rotated, 100).await.unwrap(), "Hello world, from bob");
    assert_eq!(server.requests(), 2, "one fetch at start, one refetch for the new kid");
}

// ---- a tonic client sending its own token ----

/// A service calling another with tokens it signs for itself (`AccessToken::issued`), sent
/// by `BearerLayer` on the channel or by the client interceptor; tokens living 3 s are
/// renewed before they expire, so calls over 4 s are all served.
#[tokio::test]
async fn a_tonic_client_sends_its_own_renewed_token_through_the_bearer_layer_or_its_interceptor() {
    use tower::ServiceBuilder;
    use tower_jwt_auth::client::{AccessToken, BearerLayer};
    let channel = start(serve_behind_the_policy).await;
    let token = AccessToken::issued(
        issuer_with_lifetime(Duration::from_secs(3)),
        &serde_json::json!({"sub": "billing", "role": "admin"}),
    )
    .unwrap();
    let mut layered = GreeterClient::new(
        ServiceBuilder::new().layer(BearerLayer::new(token.clone())).service(channel.clone()),
    );
    let mut intercepted = GreeterClient::with_interceptor(channel, token.interceptor());
    for _ in 0..10 {
        let reply = layered.say_hello_admin(hello(None)).await.unwrap();
        assert_eq!(reply.into_inner().message, "Hello world, from billing (admin)");
        let reply = intercepted.say_hello(hello(None)).await.unwrap();
        assert_eq!(reply.into_inner().message, "Hello world, from billing");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

// ---- a handler asking for another claims type ----

/// The layer built without `with_claims` (so for `DefaultClaims`), the greeter asking for
/// `Claims<User>`: a server misconfiguration. The call gets INTERNAL with a fixed message
/// (never UNAUTHENTICATED: the caller's token is fine), and the server logs both types once.
#[tokio::test]
async fn a_handler_asking_for_another_claims_type_gets_internal_and_the_log_names_both_types() {
    let logs = logs::Logs::default();
    tracing::subscriber::set_global_default(logs.clone()).expect("the only global subscriber of this binary");
    let channel = start(|incoming| {
        Server::builder()
            .layer(JwtAuthLayer::new(config()))
            .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
            .serve_with_incoming(incoming)
    })
    .await;
    let mut greeter = GreeterClient::new(channel);
    for _ in 0..2 {
        let status = greeter.say_hello(hello(Some(&bob()))).await.unwrap_err();
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert_eq!(status.message(), "The server could not read the caller's claims");
    }
    let reported: Vec<_> =
        logs.events().into_iter().filter(|event| event.field("handler_claims").is_some()).collect();
    assert_eq!(reported.len(), 1, "logged once for the pair of types: {reported:?}");
    assert_eq!(reported[0].level, tracing::Level::ERROR);
    assert_eq!(reported[0].field("layer_claims"), Some("tower_jwt_auth::claims::DefaultClaims"));
    assert_eq!(reported[0].field("handler_claims"), Some("tower_jwt_auth_grpc::User"));
    assert!(reported[0].text().contains("JwtAuthLayer::with_claims"), "{}", reported[0].text());
}

// ---- the layer around one service ----

/// Health checks public; the greeter authenticated, with streams ending at token expiry
/// when `expiry` is on (the `tonic_server` example's wiring).
async fn greeter_behind_its_own_layer(expiry: bool) -> Channel {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<GreeterServer<Greeter>>().await;
    let greeter = GreeterServer::new(Greeter::with_interval(INTERVAL));
    let mut server = Server::builder();
    let routes = if expiry {
        server.add_service(health).add_service(auth().layer(TokenExpiryLayer::new().layer(greeter)))
    } else {
        server.add_service(health).add_service(auth().layer(greeter))
    };
    start(|incoming| routes.serve_with_incoming(incoming)).await
}

#[tokio::test]
async fn a_layer_around_one_service_leaves_the_others_public() {
    let channel = greeter_behind_its_own_layer(true).await;
    let check = HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: "helloworld.Greeter".into() })
        .await
        .unwrap();
    assert_eq!(check.into_inner().status(), ServingStatus::Serving);

    let mut greeter = GreeterClient::new(channel);
    let status = greeter.say_hello(hello(None)).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::MissingCredential);
    let reply = greeter.say_hello(hello(Some(&bob()))).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello world, from bob");
}

// ---- streams outliving their token ----

#[tokio::test]
async fn stream_ends_with_unauthenticated_when_its_token_expires_and_the_expiry_layer_is_on() {
    let mut client = GreeterClient::new(greeter_behind_its_own_layer(true).await);
    let short_lived = token_for("alice", "admin", Duration::from_secs(2));
    let (received, end) = drain(&mut client, stream_of(STREAM_LENGTH, Some(&short_lived))).await.unwrap();
    // The token lives one to two more seconds (`exp` counts whole seconds); the stream three.
    assert!((1..STREAM_LENGTH).contains(&received), "received {received}");
    let status = end.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::Expired);
    assert!(challenge(&status).contains(r#"error="invalid_token""#));
}

#[tokio::test]
async fn stream_runs_on_past_its_token_expiry_when_the_expiry_layer_is_off() {
    let mut client = GreeterClient::new(greeter_behind_its_own_layer(false).await);
    let short_lived = token_for("alice", "admin", Duration::from_secs(2));
    let (received, end) = drain(&mut client, stream_of(STREAM_LENGTH, Some(&short_lived))).await.unwrap();
    assert_eq!(received, STREAM_LENGTH);
    end.unwrap();
}

// ---- a standard gRPC client that is not tonic ----

/// The venv's python from `.ci/python-env.sh`, set up once per test binary. There is no
/// skipping: without python3 (with venv) and pip access the test fails, saying why, on a
/// developer's machine as under `CI=true`.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let python = PYTHON.get_or_init(|| setup::run_env_script("python-env.sh", "python path"));
    match python {
        Ok(python) => python,
        Err(why) => panic!(
            "the grpcio test needs python3 with venv and pip access to install grpcio \
             (.ci/python-env.sh); it could not be set up:\n{why}"
        ),
    }
}

/// What `tests/grpcio_client.py` printed about one call.
#[derive(Debug, serde::Deserialize)]
struct GrpcioOutcome {
    /// The `grpc.StatusCode` name, such as `UNAUTHENTICATED`.
    code: String,
    details: String,
    messages: Vec<String>,
    /// From the trailing metadata.
    www_authenticate: Option<String>,
}

/// Calls `method` on the server at `address` with grpcio, blocking until it ends.
fn grpcio_call(address: SocketAddr, method: &str, token: Option<&str>, extra: &[&str]) -> GrpcioOutcome {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grpcio_client.py");
    let mut command = Command::new(python());
    command.arg(&script).arg(address.to_string()).arg(method).args(extra);
    if let Some(token) = token {
        command.arg("--token").arg(token);
    }
    let output =
        command.output().unwrap_or_else(|error| panic!("could not run {}: {error}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "grpcio_client.py {method} exited with {}:\n{}{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|error| panic!("{error} in {stdout:?}"))
}

#[tokio::test]
async fn a_python_grpcio_client_gets_the_same_status_codes() {
    let address = serve_on_a_fresh_port(serve_behind_the_policy).await;
    let interceptor = auth().interceptor();
    let intercepted = serve_on_a_fresh_port(|incoming| {
        Server::builder()
            .add_service(GreeterServer::with_interceptor(Greeter::with_interval(INTERVAL), interceptor))
            .serve_with_incoming(incoming)
    })
    .await;
    // The layer's own PERMISSION_DENIED (a trailers-only response, with a challenge), not
    // the handler's.
    let guarded = serve_on_a_fresh_port(|incoming| {
        Server::builder()
            .layer(auth())
            .layer(Require::role("admin"))
            .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
            .serve_with_incoming(incoming)
    })
    .await;
    let (alice, bob) = (alice(), bob());
    // The client blocks, on its own thread, while this runtime keeps serving.
    let calls = tokio::task::spawn_blocking(move || {
        let missing = grpcio_call(address, "SayHello", None, &[]);
        assert_eq!(missing.code, "UNAUTHENTICATED", "{missing:?}");
        assert_eq!(missing.details, ErrorKind::MissingCredential.description());
        assert_eq!(missing.details, "Authentication is required");
        assert_eq!(missing.www_authenticate.as_deref(), Some(r#"Bearer realm="api""#), "{missing:?}");
        assert!(missing.messages.is_empty());

        let bad = grpcio_call(address, "SayHello", Some("not-a-jwt"), &[]);
        assert_eq!(bad.code, "UNAUTHENTICATED", "{bad:?}");
        assert_eq!(bad.details, ErrorKind::Malformed.description());
        let challenge = bad.www_authenticate.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
            "{bad:?}"
        );

        let valid = grpcio_call(address, "SayHello", Some(&bob), &[]);
        assert_eq!(valid.code, "OK", "{valid:?}");
        assert_eq!(valid.details, "");
        assert_eq!(valid.messages, ["Hello world, from bob"]);
        assert_eq!(valid.www_authenticate, None);

        let admin = grpcio_call(address, "SayHelloAdmin", Some(&alice), &[]);
        assert_eq!(admin.code, "OK", "{admin:?}");
        assert_eq!(admin.messages, ["Hello world, from alice (admin)"]);
        let denied = grpcio_call(address, "SayHelloAdmin", Some(&bob), &[]);
        assert_eq!(denied.code, "PERMISSION_DENIED", "{denied:?}");
        assert_eq!(denied.details, ErrorKind::InsufficientScope.description());
        assert!(denied.messages.is_empty());
        let guard = grpcio_call(guarded, "SayHello", Some(&bob), &[]);
        assert_eq!(guard.code, "PERMISSION_DENIED", "{guard:?}");
        assert_eq!(guard.details, ErrorKind::InsufficientScope.description());
        let challenge = guard.www_authenticate.as_deref().unwrap_or_default();
        assert!(challenge.contains(r#"error="insufficient_scope""#), "{guard:?}");

        // The interceptor's answers, to a client that is not tonic.
        let missing = grpcio_call(intercepted, "SayHello", None, &[]);
        assert_eq!(missing.code, "UNAUTHENTICATED", "{missing:?}");
        assert_eq!(missing.details, ErrorKind::MissingCredential.description());
        assert_eq!(missing.www_authenticate.as_deref(), Some(r#"Bearer realm="api""#), "{missing:?}");
        let bad = grpcio_call(intercepted, "SayHello", Some("not-a-jwt"), &[]);
        assert_eq!(bad.code, "UNAUTHENTICATED", "{bad:?}");
        assert_eq!(bad.details, ErrorKind::Malformed.description());
        let valid = grpcio_call(intercepted, "SayHello", Some(&bob), &[]);
        assert_eq!(valid.messages, ["Hello world, from bob"], "{valid:?}");
        let stream = grpcio_call(intercepted, "SayHelloStream", Some(&bob), &["--count", "2"]);
        assert_eq!((stream.code.as_str(), stream.messages.len()), ("OK", 2), "{stream:?}");

        // The path tricks, from a client that is not tonic: refused even for an admin.
        for path in [
            "//helloworld.Greeter/SayHelloAdmin",
            "/helloworld.Greeter/SayHello%41dmin",
            "/helloworld.greeter/sayhelloadmin",
        ] {
            let tricked = grpcio_call(address, "SayHelloAdmin", Some(&alice), &["--path", path]);
            assert_eq!(tricked.code, "PERMISSION_DENIED", "{path}: {tricked:?}");
            assert!(tricked.messages.is_empty(), "{path}: {tricked:?}");
        }

        let stream = grpcio_call(address, "SayHelloStream", Some(&bob), &["--count", "3"]);
        assert_eq!(stream.code, "OK", "{stream:?}");
        assert_eq!(
            stream.messages,
            ["Hello world #1, from bob", "Hello world #2, from bob", "Hello world #3, from bob"]
        );
        let unauthenticated_stream = grpcio_call(address, "SayHelloStream", None, &["--count", "3"]);
        assert_eq!(unauthenticated_stream.code, "UNAUTHENTICATED", "{unauthenticated_stream:?}");
        assert_eq!(unauthenticated_stream.details, ErrorKind::MissingCredential.description());
        assert!(unauthenticated_stream.messages.is_empty());
    });
    if let Err(error) = calls.await {
        std::panic::resume_unwind(error.into_panic());
    }
}

// ---- keys unavailable ----

/// A remote key set whose provider is down: before any key was fetched, unary and streaming
/// calls end with UNAVAILABLE (the token may be fine), not UNAUTHENTICATED.
#[cfg(feature = "jwks")]
#[tokio::test]
async fn calls_get_unavailable_while_the_key_set_cannot_be_fetched() {
    use tower_jwt_auth::RemoteJwks;
    // A port with nothing listening on it.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let keys = RemoteJwks::from_url(&format!("http://{address}/jwks.json"))
        .allow_http(true)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let config =
        JwtAuthConfig::builder().remote_jwks(keys).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let channel = start(|incoming| {
        Server::builder()
            .layer(JwtAuthLayer::new(config).with_claims::<User>())
            .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
            .serve_with_incoming(incoming)
    })
    .await;
    let mut client = GreeterClient::new(channel);
    let token = TokenIssuer::builder()
        .rsa_pem(include_str!("../../tests/fixtures/rsa_private.pem"))
        .kid("rsa-1")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
        .issue(&serde_json::json!({"sub": "alice", "role": "admin"}))
        .unwrap();
    let status = client.say_hello(hello(Some(&token))).await.unwrap_err();
    assert_status(&status, Code::Unavailable, ErrorKind::KeysUnavailable);
    assert!(status.metadata().get("www-authenticate").is_none(), "no challenge: the token may be fine");
    let status = drain(&mut client, stream_of(3, Some(&token))).await.unwrap_err();
    assert_status(&status, Code::Unavailable, ErrorKind::KeysUnavailable);
}

// ---- DPoP over gRPC ----

/// The tests' configuration with DPoP allowed.
fn dpop_config() -> JwtAuthConfig {
    JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .dpop(tower_jwt_auth::dpop::DpopPolicy::allowed())
        .build()
        .unwrap()
}

/// The greeter behind the layer with DPoP allowed; its address.
async fn greeter_taking_dpop() -> SocketAddr {
    let layer = JwtAuthLayer::new(dpop_config()).with_claims::<User>();
    serve_on_a_fresh_port(|incoming| {
        Server::builder()
            .layer(layer)
            .add_service(GreeterServer::new(Greeter::with_interval(INTERVAL)))
            .serve_with_incoming(incoming)
    })
    .await
}

/// A `SayHello` request with `Authorization: DPoP <token>` and the proofs given.
fn dpop_hello(token: &str, proofs: &[&str]) -> Request<HelloRequest> {
    let mut request = Request::new(HelloRequest { name: "world".into() });
    request.metadata_mut().insert("authorization", format!("DPoP {token}").parse().unwrap());
    for proof in proofs {
        request.metadata_mut().append("dpop", proof.parse().unwrap());
    }
    request
}

/// Over gRPC a proof names the method's URL (`htu`) and `POST` (`htm`); every refusal is
/// UNAUTHENTICATED with the fixed sentence and the DPoP challenge as metadata.
#[tokio::test]
async fn a_tonic_client_sending_dpop_proofs_is_served_and_every_bad_proof_is_unauthenticated() {
    let address = greeter_taking_dpop().await;
    let mut client = GreeterClient::new(
        Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap(),
    );
    let key = dpop::ClientKey::client();
    let token = issuer()
        .issue(&serde_json::json!({"sub": "alice", "role": "admin", "cnf": {"jkt": key.jkt}}))
        .unwrap();
    let url = format!("http://{address}/helloworld.Greeter/SayHello");

    let proof = key.proof("POST", &url, &token);
    let reply = client.say_hello(dpop_hello(&token, &[&proof])).await.unwrap();
    assert_eq!(reply.into_inner().message, "Hello world, from alice");

    let status = client.say_hello(dpop_hello(&token, &[&proof])).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::ReplayedProof);
    assert!(challenge(&status).starts_with(r#"Bearer realm="api""#), "{}", challenge(&status));
    let dpop_challenge = status.metadata().get_all("www-authenticate").iter().nth(1).unwrap();
    assert!(dpop_challenge.to_str().unwrap().contains(r#"error="invalid_dpop_proof""#), "{dpop_challenge:?}");

    // A proof for another method, or for GET.
    let other_method = format!("http://{address}/helloworld.Greeter/SayHelloAdmin");
    for proof in [key.proof("POST", &other_method, &token), key.proof("GET", &url, &token)] {
        let status = client.say_hello(dpop_hello(&token, &[&proof])).await.unwrap_err();
        assert_status(&status, Code::Unauthenticated, ErrorKind::InvalidProof);
    }
    // The bound token as Bearer.
    let status = client.say_hello(hello(Some(&token))).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::BoundTokenWithoutProof);

    // The interceptor sees no method URL: it refuses DPoP calls, valid proof or not.
    let mut intercepted = GreeterClient::new(greeter_behind_the_interceptor(dpop_config()).await);
    let proof = key.proof("POST", &url, &token);
    let status = intercepted.say_hello(dpop_hello(&token, &[&proof])).await.unwrap_err();
    assert_status(&status, Code::Unauthenticated, ErrorKind::InvalidProof);
}

//! Revocations shared between instances through a real `redis-server` (feature `redis`).
//!
//! Each instance is what a deployment runs behind its load balancer: its own
//! [`Revocations`] started against the shared Redis, and a real axum server with the layer
//! on 127.0.0.1, driven by reqwest. The rules: a revocation through one instance is
//! honoured by every other within one second; an instance started later learns every
//! earlier revocation before it serves; with Redis down every instance keeps serving from
//! its local copy, and catches up when Redis is back (even empty) without a restart.
//!
//! DPoP proofs spent on one instance are refused on every other (the replay check shared
//! through the same Redis), and a Redis outage refuses DPoP requests unless the policy says
//! to fall back on each instance's own check.
//!
//! The servers come from `support/redis.rs` (which runs `.ci/redis-env.sh` once to find or
//! install `redis-server`); without one the tests fail and say why, they never skip.

#[path = "support/dpop.rs"]
mod dpop;
#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/setup.rs"]
mod setup;

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde_json::json;
use tower_jwt_auth::{
    ErrorKind, JwtAuthConfig, JwtAuthLayer, TokenIssuer,
    issue::RefreshErrorKind,
    revoke::{RevocationErrorKind, Revocations},
};

use redis_server::RedisServer;
use serve::{me_and_logout, serve};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";
/// What the issue asks of every revocation: honoured by every instance within a second.
const PROPAGATION: Duration = Duration::from_secs(1);
/// How long an instance may take to catch up after Redis is back (its reconnection
/// backoff is at most 5 s).
const RECOVERY: Duration = Duration::from_secs(10);

fn issuer() -> TokenIssuer {
    TokenIssuer::builder().hmac_secret(SECRET).build().unwrap()
}

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// The issuer, with these access and refresh lifetimes.
fn issuer_living(lifetime: Duration, refresh_lifetime: Duration) -> TokenIssuer {
    TokenIssuer::builder()
        .hmac_secret(SECRET)
        .lifetime(lifetime)
        .refresh_lifetime(refresh_lifetime)
        .build()
        .unwrap()
}

/// A list shared through `redis` under `prefix`, covering tokens that live `lifetime`.
async fn shared_list(redis: &RedisServer, prefix: &str, lifetime: Duration) -> Revocations {
    Revocations::builder()
        .max_token_lifetime(lifetime)
        .redis(redis.client())
        .prefix(prefix)
        .start()
        .await
        .unwrap()
}

/// One instance of the service: its revocation list (a local copy kept current from
/// Redis) and an axum server with `/me` and `/logout` behind the layer.
struct Instance {
    revocations: Revocations,
    config: JwtAuthConfig,
    base: String,
    http: reqwest::Client,
}

impl Instance {
    async fn start(redis: &RedisServer) -> Instance {
        let revocations = Revocations::builder().redis(redis.client()).start().await.expect("Redis is up");
        let config =
            JwtAuthConfig::builder().hmac_secret(SECRET).revocations(revocations.clone()).build().unwrap();
        let layer = JwtAuthLayer::new(config.clone());
        let base = serve(me_and_logout(layer, issuer(), revocations.clone())).await;
        Instance { revocations, config, base, http: reqwest::Client::new() }
    }

    async fn status(&self, token: &str) -> StatusCode {
        self.http.get(format!("{}/me", self.base)).bearer_auth(token).send().await.unwrap().status()
    }

    async fn logout(&self, token: &str) -> StatusCode {
        self.http.post(format!("{}/logout", self.base)).bearer_auth(token).send().await.unwrap().status()
    }

    /// Revokes `token` (by its `jti`) through this instance.
    async fn revoke(&self, token: &str) -> Result<(), RevocationErrorKind> {
        let claims = self.config.verify(token).expect("a valid token");
        self.revocations.revoke(claims.token()).await.map_err(|error| error.kind())
    }

    async fn assert_accepts(&self, token: &str) {
        assert_eq!(self.status(token).await, StatusCode::OK, "{} must accept the token", self.base);
    }

    async fn assert_rejects(&self, token: &str) {
        assert_eq!(self.status(token).await, StatusCode::UNAUTHORIZED, "{} must reject the token", self.base);
    }

    /// Polls until `token` is rejected; fails unless that happens within `limit` of now.
    async fn rejects_within(&self, token: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.status(token).await == StatusCode::UNAUTHORIZED {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "{} still accepts the token after {limit:?}", self.base);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn token(sub: &str) -> String {
    issuer().issue(&json!({"sub": sub})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_through_one_instance_is_honoured_by_the_other_within_one_second() {
    let redis = RedisServer::start();
    let (a, b) = (Instance::start(&redis).await, Instance::start(&redis).await);
    let issuer = issuer();
    let first = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    // The session goes on: its next access token has another jti, the same sid.
    let grant = issuer.redeem(&first.refresh_token, &a.revocations).await.unwrap();
    let next = issuer.continue_session(&grant, &json!({})).unwrap();
    let elsewhere = token("alice"); // alice's token outside that session
    for token in [&first.access_token, &next.access_token, &elsewhere] {
        a.assert_accepts(token).await;
        b.assert_accepts(token).await;
    }

    assert_eq!(a.logout(&first.access_token).await, StatusCode::NO_CONTENT);
    a.assert_rejects(&first.access_token).await;
    a.assert_rejects(&next.access_token).await;
    let by_jti = b.rejects_within(&first.access_token, PROPAGATION).await;
    let by_session = b.rejects_within(&next.access_token, PROPAGATION).await;
    eprintln!("the other instance honoured the logout after {by_jti:?} (token) and {by_session:?} (session)");
    a.assert_accepts(&elsewhere).await;
    b.assert_accepts(&elsewhere).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_and_session_revocations_reach_every_instance_within_one_second() {
    let redis = RedisServer::start();
    let (a, b) = (Instance::start(&redis).await, Instance::start(&redis).await);
    let (bob, carol) = (token("bob"), token("carol"));
    let session = issuer().issue_pair(&json!({"sub": "dora"})).unwrap();
    a.assert_accepts(&bob).await;
    a.assert_accepts(&session.access_token).await;

    b.revocations.revoke_subject("bob", SystemTime::now()).await.unwrap();
    let sid = b.config.verify(&session.access_token).unwrap().extra["sid"].as_str().unwrap().to_owned();
    b.revocations.revoke_session(&sid, SystemTime::now() + Duration::from_secs(3600)).await.unwrap();

    let by_subject = a.rejects_within(&bob, PROPAGATION).await;
    let by_session = a.rejects_within(&session.access_token, PROPAGATION).await;
    eprintln!("honoured after {by_subject:?} (subject) and {by_session:?} (session)");
    a.assert_accepts(&carol).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_keep_serving_while_redis_is_down_and_catch_up_when_it_is_back() {
    let mut redis = RedisServer::start();
    let (a, b) = (Instance::start(&redis).await, Instance::start(&redis).await);
    let (valid, revoked, during, after) = (token("erin"), token("erin"), token("erin"), token("erin"));
    a.revoke(&revoked).await.unwrap();
    b.rejects_within(&revoked, PROPAGATION).await;

    redis.stop();
    let outage = Instant::now();
    for instance in [&a, &b] {
        instance.assert_accepts(&valid).await;
        instance.assert_rejects(&revoked).await;
    }
    // A revocation during the outage holds where it was made, at once, and is deferred.
    assert_eq!(a.revoke(&during).await, Err(RevocationErrorKind::Deferred));
    a.assert_rejects(&during).await;
    b.assert_accepts(&during).await;
    // Down for a second: long enough for several failed reconnection attempts.
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(outage.elapsed())).await;
    a.assert_rejects(&during).await;

    // Back, empty: the instance that made it writes it again, and the other learns it.
    let restarted = Instant::now();
    redis.restart();
    b.rejects_within(&during, RECOVERY).await;
    eprintln!(
        "after Redis came back (empty), the other instance honoured the deferred revocation in {:?}",
        restarted.elapsed()
    );
    for instance in [&a, &b] {
        instance.assert_accepts(&valid).await;
        instance.assert_rejects(&revoked).await;
    }
    // Both listen again: a revocation now still reaches the other within a second.
    let _ = b.revoke(&after).await; // `Deferred` if b has not finished catching up: it still arrives
    a.rejects_within(&after, PROPAGATION).await;

    // An instance started after the outage learns what was revoked before and during it.
    let c = Instance::start(&redis).await;
    for token in [&revoked, &during, &after] {
        c.rejects_within(token, PROPAGATION).await;
    }
    c.assert_accepts(&valid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_reused_on_another_instance_revokes_its_family_everywhere() {
    let mut redis = RedisServer::start();
    let (a, b) = (Instance::start(&redis).await, Instance::start(&redis).await);
    let issuer = issuer();
    let first = issuer.issue_pair(&json!({"sub": "frank"})).unwrap();
    let grant = issuer.redeem(&first.refresh_token, &a.revocations).await.unwrap();
    let next = issuer.continue_session(&grant, &json!({})).unwrap();
    a.assert_accepts(&next.access_token).await;
    b.assert_accepts(&next.access_token).await;

    // The same refresh token again, at the other instance: used once is used everywhere.
    let reused = issuer.redeem(&first.refresh_token, &b.revocations).await.unwrap_err();
    assert_eq!(reused.kind(), RefreshErrorKind::Reused);
    for instance in [&a, &b] {
        instance.rejects_within(&first.access_token, PROPAGATION).await;
        instance.rejects_within(&next.access_token, PROPAGATION).await;
    }
    let revoked = issuer.redeem(&next.refresh_token, &a.revocations).await.unwrap_err();
    assert_eq!(revoked.kind(), RefreshErrorKind::Revoked);

    // Rotation must know every instance's view: without Redis nothing is redeemed...
    let other = issuer.issue_pair(&json!({"sub": "gina"})).unwrap();
    redis.stop();
    let unavailable = issuer.redeem(&other.refresh_token, &a.revocations).await.unwrap_err();
    assert_eq!(unavailable.kind(), RefreshErrorKind::Store(RevocationErrorKind::Unavailable));
    // ...until it is back, with no restart of the instance.
    redis.restart();
    let started = Instant::now();
    loop {
        match issuer.redeem(&other.refresh_token, &a.revocations).await {
            Ok(grant) => break assert_eq!(grant.subject(), "gina"),
            Err(error) => {
                assert_eq!(error.kind(), RefreshErrorKind::Store(RevocationErrorKind::Unavailable));
                assert!(started.elapsed() < RECOVERY, "still unavailable {RECOVERY:?} after Redis came back");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_learns_earlier_revocations_from_its_first_sync() {
    let redis = RedisServer::start();
    let a = Instance::start(&redis).await;
    let issuer = issuer();
    let (by_jti, by_subject, untouched) = (token("hana"), token("ivan"), token("hana"));
    let session = issuer.issue_pair(&json!({"sub": "judy"})).unwrap();
    let grant = issuer.redeem(&session.refresh_token, &a.revocations).await.unwrap();
    let next = issuer.continue_session(&grant, &json!({})).unwrap();
    a.revoke(&by_jti).await.unwrap();
    a.revocations.revoke_subject("ivan", SystemTime::now()).await.unwrap();
    assert_eq!(a.logout(&session.access_token).await, StatusCode::NO_CONTENT);

    // No waiting: `start` returns once the new copy holds everything Redis holds.
    let c = Instance::start(&redis).await;
    for token in [&by_jti, &by_subject, &next.access_token] {
        c.assert_rejects(token).await;
    }
    c.assert_accepts(&untouched).await;
}

/// A list under the prefix `custom`, and a plain connection to look into Redis.
async fn custom_list(redis: &RedisServer) -> (Revocations, redis::aio::MultiplexedConnection) {
    let builder = Revocations::builder().redis(redis.client()).prefix("custom");
    let revocations = builder.resync_interval(Duration::from_millis(200)).start().await.expect("Redis is up");
    (revocations, redis.client().get_multiplexed_async_connection().await.unwrap())
}

async fn value_of(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(connection).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_with_their_tokens_and_a_subject_keeps_its_latest_instant() {
    let redis = RedisServer::start();
    let (revocations, mut connection) = custom_list(&redis).await;
    // Every entry outlives its tokens by the documented grace of 10 minutes.
    let grace = 600;

    let expires_at = SystemTime::now() + Duration::from_secs(60);
    revocations.revoke_token("t1", expires_at).await.unwrap();
    let ttl: u64 = redis::cmd("TTL").arg("custom:revoked:jti:t1").query_async(&mut connection).await.unwrap();
    assert!((grace..=grace + 61).contains(&ttl), "the key lives as long as the token plus the grace: {ttl}");

    let later = SystemTime::now();
    let earlier = later - Duration::from_secs(100);
    revocations.revoke_subject("kim", later).await.unwrap();
    revocations.revoke_subject("kim", earlier).await.unwrap();
    let value = value_of(&mut connection, "custom:revoked:sub:kim").await.unwrap();
    let before: u64 = value.split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(before, later.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_redis_loses_are_written_back_at_the_next_resync() {
    let redis = RedisServer::start();
    let (revocations, mut connection) = custom_list(&redis).await;
    revocations.revoke_session("s1", SystemTime::now() + Duration::from_secs(60)).await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut connection).await.unwrap();
    let started = Instant::now();
    while value_of(&mut connection, "custom:revoked:sid:s1").await.is_none() {
        assert!(started.elapsed() < Duration::from_secs(2), "not written back by a resync every 200 ms");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_ends_with_the_last_clone() {
    let redis = RedisServer::start();
    let (revocations, mut connection) = custom_list(&redis).await;
    let listeners = async |connection: &mut redis::aio::MultiplexedConnection| {
        let (_, count): (String, i64) =
            redis::cmd("PUBSUB").arg("NUMSUB").arg("custom:revoked").query_async(connection).await.unwrap();
        count
    };
    assert_eq!(listeners(&mut connection).await, 1);
    let clone = revocations.clone();
    drop(revocations);
    assert_eq!(listeners(&mut connection).await, 1, "a clone still holds the list");
    drop(clone);
    let started = Instant::now();
    while listeners(&mut connection).await != 0 {
        assert!(started.elapsed() < PROPAGATION, "the background task still listens after the last clone");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_without_redis_fails_with_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let started = Instant::now();
    let error = Revocations::builder().redis(client).start().await.unwrap_err();
    assert_eq!(error.kind(), RevocationErrorKind::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// How many times Redis ran `command` (from `INFO commandstats`).
async fn command_calls(redis: &RedisServer, command: &str) -> u64 {
    let mut connection = redis.client().get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut connection).await.unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_are_merged_without_reading_the_whole_list_again() {
    let redis = RedisServer::start();
    let (a, b) = (Instance::start(&redis).await, Instance::start(&redis).await);
    let scans = command_calls(&redis, "scan").await;
    let tokens: Vec<String> = (0..20).map(|index| token(&format!("user-{index}"))).collect();
    for token in &tokens {
        a.revoke(token).await.unwrap();
    }
    for token in &tokens {
        b.rejects_within(token, PROPAGATION).await;
    }
    // Twenty revocations reached the other instance by announcement alone: no instance read
    // the whole shared list again (the periodic resync is 30 s away).
    assert_eq!(command_calls(&redis, "scan").await, scans);
}

#[tokio::test]
async fn a_shorter_lived_generation_never_shortens_how_long_a_reuse_is_detected() {
    let redis = RedisServer::start();
    let revocations =
        Revocations::builder().redis(redis.client()).prefix("generations").start().await.unwrap();
    // The first generation lives 7 days; the next is issued (say, after a deploy) with 60 s.
    let long = issuer();
    let short = issuer_living(Duration::from_secs(900), Duration::from_secs(60));
    let first = long.issue_pair(&json!({"sub": "alice"})).unwrap();
    let grant = long.redeem(&first.refresh_token, &revocations).await.unwrap();
    let key = format!("generations:rotation:{}", grant.session());
    let mut connection = redis.client().get_multiplexed_async_connection().await.unwrap();
    let before: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
    assert!(before > 6 * 24 * 3600, "the first generation's lifetime: {before} s");
    let next = short.continue_session(&grant, &json!({})).unwrap();
    let mut current = short.redeem(&next.refresh_token, &revocations).await.unwrap();
    let after: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
    assert!(after >= before - 60, "the key must outlive the first generation: {before} s, then {after} s");
    // To the millisecond: never shortened, not even by the rounding of a TTL in seconds.
    let expiry = |connection: &mut redis::aio::MultiplexedConnection| {
        let mut connection = connection.clone();
        let key = key.clone();
        async move { redis::cmd("PEXPIRETIME").arg(&key).query_async::<i64>(&mut connection).await.unwrap() }
    };
    for _ in 0..8 {
        let at = expiry(&mut connection).await;
        let pair = short.continue_session(&current, &json!({})).unwrap();
        current = short.redeem(&pair.refresh_token, &revocations).await.unwrap();
        assert!(expiry(&mut connection).await >= at, "the expiry went back");
        tokio::time::sleep(Duration::from_millis(130)).await;
    }
    let reused = long.redeem(&first.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(reused.kind(), RefreshErrorKind::Reused);
}

#[tokio::test]
async fn a_reused_refresh_token_ends_its_family_everywhere_even_when_a_list_is_full() {
    let redis = RedisServer::start();
    let start = || Revocations::builder().capacity(1).redis(redis.client()).prefix("full").start();
    let (a, b) = (start().await.unwrap(), start().await.unwrap());
    let issuer = issuer();
    let first = issuer.issue_pair(&json!({"sub": "hana"})).unwrap();
    let grant = issuer.redeem(&first.refresh_token, &a).await.unwrap();
    let next = issuer.continue_session(&grant, &json!({})).unwrap();
    a.revoke_token("filler", SystemTime::now() + Duration::from_secs(3600)).await.unwrap();
    let reused = issuer.redeem(&first.refresh_token, &a).await.unwrap_err();
    assert_eq!(reused.kind(), RefreshErrorKind::Reused);
    // The session's rotation ended in Redis: the newer token fails at the other instance too.
    let error = issuer.redeem(&next.refresh_token, &b).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Reused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_does_not_fit_here_still_reaches_the_other_instances() {
    let redis = RedisServer::start();
    let other = Instance::start(&redis).await;
    let small = Revocations::builder().capacity(1).redis(redis.client()).start().await.unwrap();
    small.revoke_token("filler", SystemTime::now() + Duration::from_secs(3600)).await.unwrap();
    let token = token("ines");
    other.assert_accepts(&token).await;
    let claims = other.config.verify(&token).unwrap();
    let error = small.revoke(claims.token()).await.unwrap_err();
    assert_eq!(error.kind(), RevocationErrorKind::Full, "it does not fit here");
    other.rejects_within(&token, PROPAGATION).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_started_on_a_runtime_that_shut_down_stays_current() {
    // A setup runtime starts the list, then goes; before the link ran on its own thread,
    // its connection and subscription went with it, silently.
    let redis = RedisServer::start();
    let client = redis.client();
    let revocations = std::thread::spawn(move || {
        let setup = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        setup.block_on(Revocations::builder().redis(client).start()).unwrap()
    })
    .join()
    .unwrap();
    let config =
        JwtAuthConfig::builder().hmac_secret(SECRET).revocations(revocations.clone()).build().unwrap();
    let other = Instance::start(&redis).await;
    let (theirs, ours) = (token("lena"), token("milo"));
    // A revocation made elsewhere reaches this list...
    other.revoke(&theirs).await.unwrap();
    let started = Instant::now();
    while config.verify(&theirs).is_ok() {
        assert!(started.elapsed() < PROPAGATION, "the revocation never reached this list");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(config.verify(&theirs).unwrap_err().kind(), ErrorKind::Revoked);
    // ...and one made here reaches the others.
    revocations.revoke(config.verify(&ours).unwrap().token()).await.unwrap();
    other.rejects_within(&ours, PROPAGATION).await;
}

#[tokio::test]
async fn a_session_is_followed_as_long_as_its_newest_tokens_live() {
    // A refresh token that expires within a minute is redeemed; the next pair, made by an
    // issuer whose refresh tokens live 7 days, continues the session. The session's entry
    // must last as long as those: before, it lasted as long as the redeemed token (plus the
    // grace), and once it went a reuse of the family was no longer detected.
    let redis = RedisServer::start();
    let revocations = Revocations::builder().redis(redis.client()).prefix("kept").start().await.unwrap();
    let expiring = issuer_living(Duration::from_secs(900), Duration::from_secs(60));
    let first = expiring.issue_pair(&json!({"sub": "nina"})).unwrap();
    let grant = issuer().redeem(&first.refresh_token, &revocations).await.unwrap();
    let key = format!("kept:rotation:{}", grant.session());
    let mut connection = redis.client().get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
    assert!(ttl > WEEK.as_secs() as i64, "kept {ttl} s");
}

#[tokio::test]
async fn a_subject_revocation_lasts_as_long_as_each_instance_needs() {
    // An instance whose tokens live 10 s revokes alice's tokens issued before 605 s ago: its
    // own entry ends in 5 s. Another, whose tokens live 7 days, keeps the entry as long as
    // its own revocation would last: before, it dropped it with the first.
    let redis = RedisServer::start();
    let brief = shared_list(&redis, "lifetimes", Duration::from_secs(10)).await;
    let other =
        Revocations::builder().capacity(2).redis(redis.client()).prefix("lifetimes").start().await.unwrap();
    let config = JwtAuthConfig::builder().hmac_secret(SECRET).revocations(other.clone()).build().unwrap();
    let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let old =
        issuer().issue(&json!({"sub": "alice", "iat": t - 700, "nbf": t - 700, "exp": t + 3600})).unwrap();
    brief.revoke_subject("alice", SystemTime::now() - Duration::from_secs(605)).await.unwrap();
    let started = Instant::now();
    while config.verify(&old).is_ok() {
        assert!(started.elapsed() < PROPAGATION, "the revocation never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Fill the other list, which sweeps what has expired.
    let _ = other.revoke_token("one", SystemTime::now() + Duration::from_secs(60)).await;
    let _ = other.revoke_token("two", SystemTime::now() + Duration::from_secs(60)).await;
    assert_eq!(config.verify(&old).unwrap_err().kind(), ErrorKind::Revoked);
}

#[tokio::test]
async fn a_logout_covers_the_sessions_tokens_whatever_issuer_logs_it_out() {
    // A session begun by an issuer whose refresh tokens live 7 days is logged out through
    // one whose tokens live an hour (after a deploy, or on another instance). The session's
    // entry must last as long as the longest token the list lets through, not the hour.
    let redis = RedisServer::start();
    let revocations = Revocations::builder().redis(redis.client()).prefix("logout").start().await.unwrap();
    let config =
        JwtAuthConfig::builder().hmac_secret(SECRET).revocations(revocations.clone()).build().unwrap();
    let pair = issuer().issue_pair(&json!({"sub": "olga"})).unwrap();
    let hourly = issuer_living(Duration::from_secs(600), Duration::from_secs(3600));
    let claims = config.verify(&pair.access_token).unwrap();
    let sid = claims.extra["sid"].as_str().unwrap().to_owned();
    hourly.logout(claims.token(), &revocations).await.unwrap();
    let mut connection = redis.client().get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("logout:revoked:sid:{sid}"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > WEEK.as_secs() as i64, "the session's entry is kept {ttl} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_later_learns_a_subject_revocation_a_shorter_lived_one_made() {
    // The writer's own entry (its tokens live 10 s) ends in 5 s. A running instance whose
    // tokens live 7 days keeps it longer, and writes that back to Redis, so an instance
    // started after the writer's entry ended still refuses the token.
    let redis = RedisServer::start();
    let brief = shared_list(&redis, "later", Duration::from_secs(10)).await;
    let running = shared_list(&redis, "later", WEEK).await;
    let verifier = |revocations: &Revocations| {
        JwtAuthConfig::builder().hmac_secret(SECRET).revocations(revocations.clone()).build().unwrap()
    };
    let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let old =
        issuer().issue(&json!({"sub": "alice", "iat": t - 700, "nbf": t - 700, "exp": t + 3600})).unwrap();
    brief.revoke_subject("alice", SystemTime::now() - Duration::from_secs(605)).await.unwrap();
    let started = Instant::now();
    while verifier(&running).verify(&old).is_ok() {
        assert!(started.elapsed() < PROPAGATION, "the revocation never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let later = shared_list(&redis, "later", WEEK).await;
    assert_eq!(verifier(&later).verify(&old).unwrap_err().kind(), ErrorKind::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnection_started_from_an_idle_runtime_holds_nothing_hostage() {
    // The list's command connection breaks; the next command, a revocation made on a side
    // runtime that then idles, finds it broken, and the connection manager connects again
    // on the runtime of that command. Before commands ran on the background runtime, the
    // new connection belonged to the idle side runtime: every later revocation here was
    // `Deferred`, and this list stopped following the others, with Redis up all along.
    let redis = RedisServer::start();
    let revocations = Revocations::builder().redis(redis.client()).start().await.unwrap();
    let config =
        JwtAuthConfig::builder().hmac_secret(SECRET).revocations(revocations.clone()).build().unwrap();
    let mut admin = redis.client().get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (done, finished) = std::sync::mpsc::channel();
    let side = {
        let revocations = revocations.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let _ = revocations.revoke_subject("side", SystemTime::now()).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            });
            done.send(()).unwrap();
            let _ = released.recv_timeout(Duration::from_secs(30)); // idle, not shut down
        })
    };
    finished.recv().unwrap();
    let other = Instance::start(&redis).await;
    // Once the health checks have settled, both directions work again within seconds.
    let started = Instant::now();
    loop {
        let (theirs, ours) = (token("pia"), token("quinn"));
        let _ = other.revoke(&theirs).await;
        let here = revocations.revoke(config.verify(&ours).unwrap().token()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if here.is_ok() && config.verify(&theirs).is_err() && other.config.verify(&ours).is_err() {
            break;
        }
        assert!(started.elapsed() < RECOVERY, "still cut off from the shared list after {RECOVERY:?}");
    }
    release.send(()).unwrap();
    side.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_a_shorter_lived_instance_is_kept_as_long_as_the_others_need() {
    // An instance whose tokens live an hour logs out a session that instances whose tokens
    // live 7 days accept tokens of: they keep the session's entry for their lifetime, and
    // write it back so that Redis (and instances started later) keeps it that long too.
    // Two such instances widen it once, not back and forth.
    let redis = RedisServer::start();
    let hourly = shared_list(&redis, "mixed", Duration::from_secs(3600)).await;
    let weekly = [shared_list(&redis, "mixed", WEEK).await, shared_list(&redis, "mixed", WEEK).await];
    let mut announcements = redis.client().get_async_pubsub().await.unwrap();
    announcements.subscribe("mixed:revoked").await.unwrap();
    let mut announcements = announcements.into_on_message();
    let pair = issuer().issue_pair(&json!({"sub": "rhea"})).unwrap();
    let short = issuer_living(Duration::from_secs(600), Duration::from_secs(3600));
    let config = JwtAuthConfig::builder().hmac_secret(SECRET).build().unwrap();
    let claims = config.verify(&pair.access_token).unwrap();
    let key = format!("mixed:revoked:sid:{}", claims.extra["sid"].as_str().unwrap());
    short.logout(claims.token(), &hourly).await.unwrap();
    let mut connection = redis.client().get_multiplexed_async_connection().await.unwrap();
    let started = Instant::now();
    loop {
        let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
        if ttl > WEEK.as_secs() as i64 {
            break;
        }
        assert!(started.elapsed() < PROPAGATION, "the session's entry is kept {ttl} s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut count = 0;
    while tokio::time::timeout(Duration::from_secs(2), announcements.next()).await.is_ok() {
        count += 1;
    }
    assert!((2..=3).contains(&count), "{count} announcements");
    // A refresh token of the session, still valid for a week, is refused by both.
    for list in &weekly {
        let error = issuer().redeem(&pair.refresh_token, list).await.unwrap_err();
        assert_eq!(error.kind(), RefreshErrorKind::Revoked);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_redeemed_at_once_on_two_instances_is_redeemed_exactly_once() {
    let redis = RedisServer::start();
    let (a, b) = (Instance::start(&redis).await, Instance::start(&redis).await);
    let issuer = issuer();
    for round in 0..20 {
        let pair = issuer.issue_pair(&json!({"sub": format!("racer-{round}")})).unwrap();
        let (here, there) = tokio::join!(
            issuer.redeem(&pair.refresh_token, &a.revocations),
            issuer.redeem(&pair.refresh_token, &b.revocations),
        );
        let kinds = [&here, &there].map(|outcome| outcome.as_ref().map(drop).map_err(|error| error.kind()));
        let redeemed = kinds.iter().filter(|kind| kind.is_ok()).count();
        let reused = kinds.iter().filter(|kind| **kind == Err(RefreshErrorKind::Reused)).count();
        assert_eq!((redeemed, reused), (1, 1), "round {round}: {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_by_an_earlier_version_stays_ended() {
    // Earlier versions marked a reused session with 2^53 as its next generation.
    let redis = RedisServer::start();
    let a = Instance::start(&redis).await;
    let issuer = issuer();
    let pair = issuer.issue_pair(&json!({"sub": "hank"})).unwrap();
    let claims = a.config.verify(&pair.access_token).unwrap();
    let sid = claims.get("sid").and_then(|sid| sid.as_str()).unwrap().to_owned();
    let mut connection = redis.client().get_multiplexed_async_connection().await.unwrap();
    let key = format!("tower-jwt-auth:rotation:{sid}");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("9007199254740992")
        .arg("EX")
        .arg(600)
        .query_async(&mut connection)
        .await
        .unwrap();
    let refused = issuer.redeem(&pair.refresh_token, &a.revocations).await.unwrap_err();
    assert_eq!(refused.kind(), RefreshErrorKind::Reused);
    // The entry keeps its marks of an ended session, and never expires earlier than before.
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.unwrap();
    assert!(ttl >= 590, "{ttl}");
}

// ---- DPoP proofs spent once across instances ----------------------------------------------

/// The URL every instance is reached at, behind the load balancer the tests stand in for.
const PUBLIC: &str = "https://api.example.com";

/// An instance taking DPoP-bound tokens, its proofs spent in `redis` too; its base URL.
async fn dpop_instance(redis: &RedisServer, local_during_outage: bool) -> String {
    use axum::{Extension, Router, routing::get};
    use tower_jwt_auth::{Claims, dpop::DpopPolicy};
    let revocations = Revocations::builder()
        .redis(redis.client())
        .timeout(Duration::from_millis(300))
        .start()
        .await
        .expect("Redis is up");
    let policy =
        DpopPolicy::allowed().shared_replays(revocations).local_replays_during_outage(local_during_outage);
    let config =
        JwtAuthConfig::builder().hmac_secret(SECRET).dpop(policy).external_url(PUBLIC).build().unwrap();
    let me =
        get(|Extension(claims): Extension<Claims>| async move { claims.sub.clone().unwrap_or_default() });
    serve(Router::new().route("/me", me).layer(JwtAuthLayer::new(config))).await
}

/// Sends `proof` with the bound `token` to `base`'s `/me`: the status and the challenge.
async fn dpop_call(base: &str, token: &str, proof: &str) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .get(format!("{base}/me"))
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    let challenge =
        response.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    (response.status(), challenge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_spent_on_one_instance_is_refused_by_another() {
    let redis = RedisServer::start();
    let (a, b) = (dpop_instance(&redis, false).await, dpop_instance(&redis, false).await);
    let client = dpop::ClientKey::client();
    let token = client.bound_token("alice");
    let url = format!("{PUBLIC}/me");
    let proof = client.proof("GET", &url, &token);
    assert_eq!(dpop_call(&a, &token, &proof).await.0, StatusCode::OK);
    // The same proof through the other instance: spent already, in Redis.
    let (status, challenge) = dpop_call(&b, &token, &proof).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains(ErrorKind::ReplayedProof.description()), "{challenge}");
    // Fresh proofs pass on both.
    for base in [&a, &b] {
        assert_eq!(dpop_call(base, &token, &client.proof("GET", &url, &token)).await.0, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_dpop_requests_are_refused_unless_told_to_check_locally() {
    let mut redis = RedisServer::start();
    let (closed, local) = (dpop_instance(&redis, false).await, dpop_instance(&redis, true).await);
    let client = dpop::ClientKey::client();
    let token = client.bound_token("alice");
    let url = format!("{PUBLIC}/me");
    redis.stop();
    // Fail closed by default: 503, the replay check being unavailable.
    let (status, _) = dpop_call(&closed, &token, &client.proof("GET", &url, &token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Told to fall back: admitted on the instance's own check, which still refuses a replay.
    let proof = client.proof("GET", &url, &token);
    assert_eq!(dpop_call(&local, &token, &proof).await.0, StatusCode::OK);
    assert_eq!(dpop_call(&local, &token, &proof).await.0, StatusCode::UNAUTHORIZED);
    // Redis back: the fail-closed instance serves again once it has reconnected.
    redis.restart();
    let started = Instant::now();
    loop {
        let (status, _) = dpop_call(&closed, &token, &client.proof("GET", &url, &token)).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(started.elapsed() < RECOVERY, "still {status} {:?} after Redis came back", started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

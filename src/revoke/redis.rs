//! Revocations shared between instances through Redis (feature `redis`): see
//! [`RedisRevocations`], whose documentation opens with an example.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{Client, RedisError, RedisResult, Script};
use tokio::sync::mpsc;

use super::rotation::{Rotation, RotationStore};
use super::{Inner, Record, RevocationError, RevocationErrorKind, Revocations, RevocationsBuilder};
use crate::clock::now;

/// The default prefix of every key and of the channel.
const DEFAULT_PREFIX: &str = "tower-jwt-auth";
/// The default interval between two full reads of the shared list.
const DEFAULT_RESYNC_INTERVAL: Duration = Duration::from_secs(30);
/// The default bound on a connection attempt or a command.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The first and the longest wait between two reconnection attempts.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest id shared: as long as the longest token the layer accepts by default (8 KiB).
/// Keys and messages carrying a longer one are ignored, so a stray large value costs nothing.
const MAX_ID: usize = 8 * 1024;
/// The longest value read: two numbers.
const MAX_VALUE: usize = 32;
/// Keys per `SCAN` step (and so per `MGET`), and writes per pipeline.
const BATCH: usize = 1000;
/// The latest instant written to Redis (the last second of the year 9999): `EXPIREAT`
/// refuses instants whose milliseconds overflow, and the script's numbers are doubles.
const MAX_INSTANT: i64 = 253_402_300_799;

/// Keeps the later of each instant of an entry, sets it to expire with the tokens it
/// covers, and announces it on the channel when it is new or grew.
///
/// `KEYS[1]`: the entry. `ARGV[1]`: until; `ARGV[2]`: before (subjects) or `""`;
/// `ARGV[3]`: the channel; `ARGV[4]`: the message.
const WRITE_SCRIPT: &str = r"
local expiry = tonumber(ARGV[1])
local before = tonumber(ARGV[2])
local old = redis.call('GET', KEYS[1])
if old then
  local old_expiry, old_before = string.match(old, '^(%d+) ?(%d*)$')
  old_expiry = tonumber(old_expiry)
  old_before = tonumber(old_before)
  if old_expiry then
    local grows = expiry > old_expiry or (before ~= nil and (old_before == nil or before > old_before))
    if not grows then return 0 end
    if old_expiry > expiry then expiry = old_expiry end
    if before ~= nil and old_before ~= nil and old_before > before then before = old_before end
  end
end
local value = string.format('%d', expiry)
if before ~= nil then value = value .. ' ' .. string.format('%d', before) end
redis.call('SET', KEYS[1], value, 'EXAT', string.format('%d', expiry))
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

/// Reads a refresh-token session's rotation: `KEYS[1]` holds its next generation. Returns
/// nothing when there is none, else the value and when the key expires (milliseconds since
/// the epoch, by Redis' own clock).
const READ_ROTATION_SCRIPT: &str = r"
local value = redis.call('GET', KEYS[1])
if not value then return false end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return {value, now + math.max(redis.call('PTTL', KEYS[1]), 0)}
";

/// Compare-and-set of a refresh-token session's rotation (the rule itself runs in Rust,
/// the same as for the local list): `KEYS[1]` is set to `ARGV[2]` only if it still holds
/// `ARGV[1]` (`""`: no value), to expire at `ARGV[3]` (milliseconds since the epoch) or
/// later if it expired later already: the entry never shortens. 1 when set, 0 when another
/// writer changed it first.
const SWAP_ROTATION_SCRIPT: &str = r"
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
local expiry = tonumber(ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  local time = redis.call('TIME')
  local kept = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + ttl
  if kept > expiry then expiry = kept end
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', string.format('%d', expiry))
return 1
";

/// How often a rotation update is tried again after another writer changed the session
/// first, before it counts as unavailable (each retry means another update succeeded).
const ROTATION_ATTEMPTS: usize = 16;

/// Shares a [`Revocations`] list between instances through Redis; made by
/// [`RevocationsBuilder::redis`], started by [`start`](Self::start).
///
/// ```no_run
/// use tower_jwt_auth::{JwtAuthConfig, revoke::Revocations};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
/// let revocations = Revocations::builder().redis(client).start().await?;
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .revocations(revocations.clone())
///     .build()?;
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
///
/// Every instance keeps its own local copy of the list, and the request path reads only
/// that copy: a verified request never waits on Redis. Redis holds the shared list and
/// keeps every copy current:
///
/// - A revocation is recorded locally first, then written to Redis and announced on a
///   pub/sub channel, which every instance listens to: the others honour it within
///   milliseconds, well inside a second.
/// - Every [`resync_interval`](Self::resync_interval) (30 s by default) each instance reads
///   the whole shared list again, for anything a message could have missed, and writes
///   back what Redis lost meanwhile (an eviction, a flush).
/// - Entries only ever grow: a copy adds what it learns, keeps the later instants, and
///   drops an entry when the tokens it covers have expired. In Redis each key expires at
///   the same instant (`EXPIREAT`), so the shared list cleans itself; a subject's entry
///   keeps the latest "issued before" instant there too (a small Lua script makes the
///   compare-and-write atomic).
///
/// **At start**, [`start`](Self::start) connects, subscribes and reads the whole shared
/// list before it returns, so a new instance honours every earlier revocation from its
/// first request. It fails with [`RevocationErrorKind::Unavailable`] when Redis cannot be
/// reached: start later, or run without sharing ([`RevocationsBuilder::build`]).
///
/// **While Redis is unreachable**, the local copy keeps serving: every revocation known
/// so far still holds, on every instance. The outage is logged once (a `tracing`
/// warning) and the recovery once (info). A new revocation holds on the instance that
/// made it at once, and the call returns [`RevocationErrorKind::Deferred`]; it is written
/// to Redis, and so reaches the other instances, when Redis is back. The local list is
/// itself the queue of what Redis lacks, so nothing is dropped: the bound is the list's
/// [`capacity`](RevocationsBuilder::capacity). Redeeming a refresh token
/// ([`TokenIssuer::redeem`](crate::TokenIssuer::redeem)) needs every instance's view and
/// fails with [`RevocationErrorKind::Unavailable`] until Redis is back.
///
/// **On recovery**, a background task reconnects (waiting 100 ms, doubling up to 5 s
/// between attempts), subscribes again, reads the whole shared list, and writes every
/// live local entry that Redis lacks or holds with earlier instants: the deferred
/// revocations, and all of them when Redis came back empty (restarted without
/// persistence), so an instance started afterwards still learns them. No restart is
/// needed. Which refresh-token generation each session is at is not kept locally: after
/// Redis lost its data, a refresh token used before could be redeemed once more.
///
/// The background task ends when the last clone of the [`Revocations`] is dropped. Use a
/// single Redis server (or a primary with replicas), version 6.2 or newer, not Redis
/// Cluster. Several deployments can share one server with different
/// [`prefix`](Self::prefix)es.
#[must_use]
pub struct RedisRevocations {
    builder: RevocationsBuilder,
    client: Client,
    prefix: String,
    resync_interval: Duration,
    timeout: Duration,
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("builder", &self.builder)
            .field("prefix", &self.prefix)
            .field("resync_interval", &self.resync_interval)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisRevocations {
    pub(super) fn new(builder: RevocationsBuilder, client: Client) -> Self {
        Self {
            builder,
            client,
            prefix: DEFAULT_PREFIX.to_owned(),
            resync_interval: DEFAULT_RESYNC_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The prefix of every key and of the channel (default `tower-jwt-auth`). Entries live
    /// at `<prefix>:revoked:jti:<jti>`, `<prefix>:revoked:sub:<sub>` and
    /// `<prefix>:revoked:sid:<sid>`, each refresh-token session's next generation at
    /// `<prefix>:rotation:<sid>`, and
    /// announcements go to the channel `<prefix>:revoked`. Every instance that shares a
    /// list must use the same prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often each instance reads the whole shared list again (default 30 s, at least
    /// 100 ms), for anything a pub/sub message could have missed, and writes back the
    /// entries Redis lost. Messages carry every revocation at once; this only bounds how
    /// long a lost one can take.
    pub fn resync_interval(mut self, interval: Duration) -> Self {
        self.resync_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// How long a connection attempt or a command may take before Redis counts as
    /// unreachable (default 2 s, at least 1 ms). A revocation made at the moment Redis
    /// stops answering waits this long once before it returns
    /// [`RevocationErrorKind::Deferred`]; later ones return at once until Redis is back.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Connects, reads the whole shared list, and starts the background task that keeps
    /// the local copy current. Fails with [`RevocationErrorKind::Unavailable`] when Redis
    /// cannot be reached (the reason is logged at warn).
    ///
    /// The connection and that task live on the crate's background thread (a small Tokio
    /// runtime of its own, shared with remote key set fetches), not on the runtime that
    /// awaits this: the list stays current even when that runtime is a setup runtime that
    /// shuts down afterwards, or a busy one.
    pub async fn start(self) -> Result<Revocations, RevocationError> {
        crate::background::run(self.start_here())
            .await
            .unwrap_or(Err(RevocationError::new(RevocationErrorKind::Unavailable)))
    }

    /// [`start`](Self::start), on the runtime that runs this.
    async fn start_here(self) -> Result<Revocations, RevocationError> {
        let unavailable = |error: RedisError| {
            tracing::warn!(%error, "the revocation store (Redis) could not be reached at start");
            RevocationError::new(RevocationErrorKind::Unavailable)
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_min_delay(MIN_BACKOFF)
            .set_max_delay(MAX_BACKOFF);
        let connect = self.client.get_connection_manager_with_config(config);
        let connection = within(self.timeout.saturating_mul(3), connect).await.map_err(unavailable)?;
        let link = Arc::new(Link {
            names: Names::new(&self.prefix),
            client: self.client,
            connection,
            script: Script::new(WRITE_SCRIPT),
            read_rotation: Script::new(READ_ROTATION_SCRIPT),
            swap_rotation: Script::new(SWAP_ROTATION_SCRIPT),
            timeout: self.timeout,
            resync_interval: self.resync_interval,
            health: Health::default(),
        });
        let subscription = link.subscribe().await.map_err(unavailable)?;
        let (wake, woken) = mpsc::channel(1);
        let revocations = self.builder.finish(Some(Shared { link: Arc::clone(&link), wake }));
        let weak = Arc::downgrade(&revocations.inner);
        link.sync(&weak).await.map_err(unavailable)?;
        tokio::spawn(run(link, weak, woken, subscription));
        Ok(revocations)
    }
}

/// The Redis side of a [`Revocations`], held by its shared state.
pub(crate) struct Shared {
    link: Arc<Link>,
    /// Wakes the background task to write what Redis lacks. Dropped with the last
    /// `Revocations`, which ends the task.
    wake: mpsc::Sender<()>,
}

impl Shared {
    /// Writes and announces a record already inserted locally; `Deferred` when Redis is
    /// unreachable (the background task writes it when Redis is back).
    pub(crate) async fn publish(&self, record: Record) -> Result<(), RevocationError> {
        let deferred = RevocationError::new(RevocationErrorKind::Deferred);
        if record.until() <= now() {
            return Ok(()); // covers only expired tokens: nothing to share
        }
        if !self.link.health.is_online() {
            return Err(deferred);
        }
        let link = Arc::clone(&self.link);
        match on_background(async move { link.write(std::slice::from_ref(&record)).await }).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.link.health.lost(&error);
                let _ = self.wake.try_send(());
                Err(deferred)
            }
        }
    }
}

impl Shared {
    /// Spends a DPoP proof in Redis (`SET NX`, kept until `until`, seconds since the epoch):
    /// `Ok(true)` when no instance spent it before, `Ok(false)` when one did, `Unavailable`
    /// when Redis is unreachable.
    pub(crate) fn spend_proof(
        &self,
        key: [u8; 16],
        until: i64,
    ) -> impl Future<Output = Result<bool, RevocationError>> + Send + 'static {
        let link = Arc::clone(&self.link);
        let wake = self.wake.clone();
        let name = self.link.names.proof(&key);
        async move {
            let unavailable = RevocationError::new(RevocationErrorKind::Unavailable);
            if !link.health.is_online() {
                return Err(unavailable);
            }
            let set = on_background({
                let link = Arc::clone(&link);
                async move {
                    let mut connection = link.connection.clone();
                    let mut command = redis::cmd("SET");
                    command
                        .arg(&name)
                        .arg(1)
                        .arg("NX")
                        .arg("PXAT")
                        .arg(until.saturating_add(1).saturating_mul(1000));
                    within(link.timeout, command.query_async::<Option<String>>(&mut connection)).await
                }
            });
            match set.await {
                Ok(set) => Ok(set.is_some()),
                // Unreachable: an outage, as for the revocations.
                Err(error)
                    if error.is_io_error()
                        || error.is_timeout()
                        || error.is_connection_dropped()
                        || error.is_connection_refusal() =>
                {
                    link.health.lost(&error);
                    let _ = wake.try_send(());
                    Err(unavailable)
                }
                // Reachable but refusing the command (memory, permissions): no outage of the
                // revocations, but this proof cannot be recorded.
                Err(error) => {
                    tracing::error!(%error, "Redis refused to record a spent DPoP proof");
                    Err(unavailable)
                }
            }
        }
    }
}

impl RotationStore for Shared {
    /// An optimistic compare-and-set: read the session's rotation, apply `step`, and write
    /// the result only if no other instance changed it meanwhile (else read again). Every
    /// instance's redemptions of one session are so ordered, one key per session.
    /// `Unavailable` when Redis is unreachable.
    fn update_rotation<T, F>(
        &self,
        sid: &str,
        step: F,
    ) -> impl Future<Output = Result<T, RevocationError>> + Send
    where
        T: Send + 'static,
        F: Fn(Option<Rotation>) -> (Rotation, T) + Send + Sync + 'static,
    {
        let link = Arc::clone(&self.link);
        let wake = self.wake.clone();
        let key = self.link.names.rotation(sid);
        async move {
            let unavailable = RevocationError::new(RevocationErrorKind::Unavailable);
            if !link.health.is_online() {
                return Err(unavailable);
            }
            let updated = on_background({
                let link = Arc::clone(&link);
                async move { link.update_rotation(&key, step).await }
            });
            match updated.await {
                Ok(Some(answer)) => Ok(answer),
                Ok(None) => {
                    tracing::warn!("a refresh-token session changed under every attempt to redeem it");
                    Err(unavailable)
                }
                Err(error) => {
                    link.health.lost(&error);
                    let _ = wake.try_send(());
                    Err(unavailable)
                }
            }
        }
    }
}

/// What the background task and the revoking calls share.
struct Link {
    names: Names,
    client: Client,
    connection: ConnectionManager,
    script: Script,
    read_rotation: Script,
    swap_rotation: Script,
    timeout: Duration,
    resync_interval: Duration,
    health: Health,
}

/// Whether Redis is reachable, and whether the current outage was reported.
#[derive(Default)]
struct Health {
    /// Revocations are written to Redis at once (else deferred to the background task).
    online: AtomicBool,
    /// The outage was logged; the recovery is logged when this is cleared.
    reported: AtomicBool,
}

impl Health {
    fn is_online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }

    /// Redis failed: later revocations are deferred. Logs the first failure of an outage
    /// only; true when it did.
    fn lost(&self, why: &dyn fmt::Display) -> bool {
        self.online.store(false, Ordering::SeqCst);
        let first = !self.reported.swap(true, Ordering::SeqCst);
        if first {
            tracing::warn!(
                error = %why,
                "the revocation store (Redis) is unreachable: revocations hold on this instance \
                 and are shared when it is back"
            );
        } else {
            tracing::debug!(error = %why, "the revocation store (Redis) is still unreachable");
        }
        first
    }

    /// Redis answers again and holds everything this instance knows: logs the recovery once
    /// per outage; true when it did.
    fn recovered(&self) -> bool {
        self.online.store(true, Ordering::SeqCst);
        let reported = self.reported.swap(false, Ordering::SeqCst);
        if reported {
            tracing::info!("the revocation store (Redis) is reachable again; this instance has resynced");
        }
        reported
    }
}

/// Runs a command on the background runtime, as the link's own task does, and waits for
/// it. The connection manager replaces a broken connection on the runtime of the command
/// that found it broken: on the caller's runtime, an idle one would hold the new
/// connection (and every later command) hostage, and a caller's paused clock or disabled
/// timer would stall or break the timeout.
async fn on_background<T: Send + 'static>(
    command: impl Future<Output = RedisResult<T>> + Send + 'static,
) -> RedisResult<T> {
    crate::background::run(command)
        .await
        .unwrap_or_else(|| Err(RedisError::from(std::io::Error::other("the background task ended"))))
}

/// Runs `future` for at most `limit`.
async fn within<T>(limit: Duration, future: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    match tokio::time::timeout(limit, future).await {
        Ok(outcome) => outcome,
        Err(_) => {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "Redis did not answer in time").into())
        }
    }
}

/// The background task: listens to the channel and resyncs while connected, reconnects
/// with backoff otherwise, and ends when the revocations are gone.
async fn run(link: Arc<Link>, revocations: Weak<Inner>, mut wake: mpsc::Receiver<()>, subscription: PubSub) {
    let mut subscription = Some(subscription);
    let mut backoff = MIN_BACKOFF;
    while revocations.strong_count() > 0 {
        let pubsub = match subscription.take() {
            Some(pubsub) => pubsub,
            None => match link.reconnect(&revocations).await {
                Ok(pubsub) => {
                    backoff = MIN_BACKOFF;
                    pubsub
                }
                Err(error) => {
                    link.health.lost(&error);
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        woken = wake.recv() => if woken.is_none() { return },
                    }
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        if !link.listen(pubsub, &revocations, &mut wake).await {
            return;
        }
    }
}

impl Link {
    /// Applies `step` to the rotation at `key` by compare-and-set, at most
    /// [`ROTATION_ATTEMPTS`] times; `None` when another writer won every race.
    async fn update_rotation<T>(
        &self,
        key: &str,
        step: impl Fn(Option<Rotation>) -> (Rotation, T),
    ) -> RedisResult<Option<T>> {
        let mut connection = self.connection.clone();
        for _ in 0..ROTATION_ATTEMPTS {
            let read = self.read_rotation.key(key);
            let held =
                within(self.timeout, read.invoke_async::<Option<(String, i64)>>(&mut connection)).await?;
            // A value this module did not write counts as an ended session: never a new start.
            let current = held.as_ref().map(|(value, expiry)| Rotation {
                next: value.parse().unwrap_or(u64::MAX),
                kept: expiry.div_euclid(1000) + i64::from(expiry.rem_euclid(1000) > 0),
            });
            let (rotation, answer) = step(current);
            let mut swap = self.swap_rotation.key(key);
            swap.arg(held.as_ref().map_or("", |(value, _)| value.as_str()));
            swap.arg(rotation.next.to_string()).arg(instant(rotation.kept).max(1).saturating_mul(1000));
            if within(self.timeout, swap.invoke_async::<i64>(&mut connection)).await? == 1 {
                return Ok(Some(answer));
            }
        }
        Ok(None)
    }

    /// Applies announcements, and resyncs on schedule or when woken, until Redis fails (true: reconnect) or the revocations are gone (false).
    async fn listen(&self, pubsub: PubSub, revocations: &Weak<Inner>, wake: &mut mpsc::Receiver<()>) -> bool {
        let mut messages = pubsub.into_on_message();
        let start = tokio::time::Instant::now() + self.resync_interval;
        let mut resync = tokio::time::interval_at(start, self.resync_interval);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        self.health.lost(&"the subscription ended");
                        return true;
                    };
                    let Some(revocations) = upgrade(revocations) else { return false };
                    let widened = match self.names.parse_message(message.get_payload_bytes()) {
                        Some(record) => merge(&revocations, [record], true),
                        None => Vec::new(),
                    };
                    // This instance keeps an entry longer than its writer did: Redis must
                    // keep it that long too, for instances started later. The write
                    // announces it; every instance already keeps it at least that long.
                    if widened.is_empty() {
                        continue;
                    }
                    match self.write(&widened).await {
                        Ok(()) => continue,
                        Err(error) => {
                            // Reconnect; the resync then writes the local entry back.
                            self.health.lost(&error);
                            return true;
                        }
                    }
                }
                _ = resync.tick() => {}
                woken = wake.recv() => {
                    if woken.is_none() {
                        return false;
                    }
                }
            }
            // A scheduled resync, or a revocation could not be written.
            match self.sync(revocations).await {
                Ok(()) => {
                    self.health.recovered();
                }
                Err(error) => {
                    self.health.lost(&error);
                    return true;
                }
            }
        }
    }

    /// Subscribes again, then reads the shared list and writes what it lacks.
    async fn reconnect(&self, revocations: &Weak<Inner>) -> RedisResult<PubSub> {
        let pubsub = self.subscribe().await?;
        // The connection manager replaces a broken connection after the command that found
        // it broken has failed: the second try gets the new one.
        let mut connection = self.connection.clone();
        if within(self.timeout, redis::cmd("PING").exec_async(&mut connection)).await.is_err() {
            within(self.timeout, redis::cmd("PING").exec_async(&mut connection)).await?;
        }
        self.sync(revocations).await?;
        self.health.recovered();
        Ok(pubsub)
    }

    /// A new pub/sub connection, subscribed to the channel.
    async fn subscribe(&self) -> RedisResult<PubSub> {
        within(self.timeout, async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.names.channel).await?;
            Ok(pubsub)
        })
        .await
    }

    /// Reads the whole shared list into the local copy, then marks Redis reachable and
    /// writes every live local entry it lacks or holds with earlier instants: revocations
    /// deferred during an outage, and whatever Redis lost (a restart without persistence,
    /// an eviction, a flush).
    async fn sync(&self, revocations: &Weak<Inner>) -> RedisResult<()> {
        let shared = self.scan().await?;
        let Some(revocations) = upgrade(revocations) else { return Ok(()) };
        merge(&revocations, shared.iter().cloned(), false);
        // Online before the snapshot: a revocation deferred before this point is in the
        // snapshot, and one made after it is written by its own call.
        self.health.online.store(true, Ordering::SeqCst);
        let held: HashMap<(&str, &str), (i64, Option<i64>)> =
            shared.iter().map(|record| (identity(record), instants(record))).collect();
        let now = now();
        let missing: Vec<Record> = revocations
            .list()
            .records(now.saturating_add(1))
            .into_iter()
            .filter(|record| id_of(record).len() <= MAX_ID)
            .filter(|record| held.get(&identity(record)).is_none_or(|&held| grows(instants(record), held)))
            .collect();
        drop(revocations);
        if !missing.is_empty() {
            tracing::debug!(entries = missing.len(), "writing the revocations Redis lacks");
            self.write(&missing).await?;
        }
        Ok(())
    }

    /// Every entry of the shared list (malformed ones left out).
    async fn scan(&self) -> RedisResult<Vec<Record>> {
        let mut connection = self.connection.clone();
        let mut records = Vec::new();
        let mut cursor = 0u64;
        loop {
            let mut command = redis::cmd("SCAN");
            command.arg(cursor).arg("MATCH").arg(&self.names.pattern).arg("COUNT").arg(BATCH);
            let (next, keys): (u64, Vec<Vec<u8>>) =
                within(self.timeout, command.query_async(&mut connection)).await?;
            let keys: Vec<Vec<u8>> = keys.into_iter().filter(|key| self.names.fits(key)).collect();
            if !keys.is_empty() {
                let mut command = redis::cmd("MGET");
                command.arg(&keys);
                let values: Vec<Option<Vec<u8>>> =
                    within(self.timeout, command.query_async(&mut connection)).await?;
                let entries = keys.iter().zip(values);
                records.extend(entries.filter_map(|(key, value)| self.names.parse_entry(key, &value?)));
            }
            if next == 0 {
                return Ok(records);
            }
            cursor = next;
        }
    }

    /// Writes and announces records (each one only if it adds to what Redis holds).
    async fn write(&self, records: &[Record]) -> RedisResult<()> {
        let mut connection = self.connection.clone();
        if let [record] = records {
            let (key, until, before, message) = self.names.arguments(record);
            let mut invocation = self.script.key(key);
            invocation.arg(until).arg(before).arg(&self.names.channel).arg(message);
            return within(self.timeout, invocation.invoke_async::<i64>(&mut connection)).await.map(drop);
        }
        within(self.timeout, self.script.load_async(&mut connection)).await?;
        for batch in records.chunks(BATCH) {
            let mut pipeline = redis::pipe();
            for record in batch {
                let (key, until, before, message) = self.names.arguments(record);
                pipeline.cmd("EVALSHA").arg(self.script.get_hash()).arg(1).arg(key);
                pipeline.arg(until).arg(before).arg(&self.names.channel).arg(message).ignore();
            }
            within(self.timeout, pipeline.exec_async(&mut connection)).await?;
        }
        Ok(())
    }
}

fn upgrade(revocations: &Weak<Inner>) -> Option<Revocations> {
    revocations.upgrade().map(|inner| Revocations { inner })
}

/// Adds records shared by the instances to the local copy, each kept at least as long as
/// this instance's own would be ([`Revocations::widen`]; `announced`: they come from an
/// announcement); counts those that do not fit. Returns the records kept longer than they
/// came.
fn merge(
    revocations: &Revocations,
    records: impl IntoIterator<Item = Record>,
    announced: bool,
) -> Vec<Record> {
    let now = now();
    let list = revocations.list();
    let mut widened = Vec::new();
    let mut refused = 0;
    for record in records {
        let kept = revocations.widen(record.clone(), announced);
        refused += usize::from(list.insert(&kept, now).is_err());
        if kept.until() > record.until() {
            widened.push(kept);
        }
    }
    if refused > 0 {
        // Not silent: this instance now accepts tokens the others refuse.
        tracing::error!(
            refused,
            "the local revocation list is full: shared revocations are not honoured on this \
             instance; raise its capacity"
        );
    }
    widened
}

/// The kind's name in keys and messages, and the id.
fn identity(record: &Record) -> (&'static str, &str) {
    match record {
        Record::Token { jti, .. } => ("jti", jti),
        Record::Subject { sub, .. } => ("sub", sub),
        Record::Session { sid, .. } => ("sid", sid),
    }
}

fn id_of(record: &Record) -> &str {
    identity(record).1
}

/// Until and (subjects) before, as written to Redis.
fn instants(record: &Record) -> (i64, Option<i64>) {
    match record {
        Record::Subject { before, until, .. } => (instant(*until), Some(instant(*before))),
        _ => (instant(record.until()), None),
    }
}

/// True when `local` has a later instant than `held`.
fn grows(local: (i64, Option<i64>), held: (i64, Option<i64>)) -> bool {
    local.0 > held.0 || local.1 > held.1
}

fn instant(seconds: i64) -> i64 {
    seconds.clamp(0, MAX_INSTANT)
}

/// A record from a kind's name, an id and its instants; `None` when they do not fit.
fn record(kind: &str, id: &str, until: i64, before: Option<i64>) -> Option<Record> {
    if id.len() > MAX_ID {
        return None;
    }
    Some(match (kind, before) {
        ("jti", None) => Record::Token { jti: id.into(), until },
        ("sid", None) => Record::Session { sid: id.into(), until },
        ("sub", Some(before)) => Record::Subject { sub: id.into(), before, until },
        _ => return None,
    })
}

/// A decimal instant as written by this module: digits only, at most [`MAX_INSTANT`].
fn parse_instant(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&value| value <= MAX_INSTANT)
}

/// The names of the keys and the channel under one prefix.
struct Names {
    /// `<prefix>:revoked:`, before `<kind>:<id>`.
    entry: String,
    /// `SCAN`'s pattern for every entry (the prefix's glob characters escaped).
    pattern: String,
    /// `<prefix>:rotation:`, before a refresh-token session's `sid`.
    rotation: String,
    /// `<prefix>:revoked`.
    channel: String,
    /// `<prefix>:dpop:`, before a spent DPoP proof's key (hex).
    proof: String,
}

impl Names {
    fn new(prefix: &str) -> Self {
        let entry = format!("{prefix}:revoked:");
        let mut pattern = String::with_capacity(entry.len() + 2);
        for character in entry.chars() {
            if matches!(character, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(character);
        }
        pattern.push('*');
        Self {
            pattern,
            rotation: format!("{prefix}:rotation:"),
            channel: format!("{prefix}:revoked"),
            proof: format!("{prefix}:dpop:"),
            entry,
        }
    }

    fn proof(&self, key: &[u8; 16]) -> String {
        let mut name = String::with_capacity(self.proof.len() + 32);
        name.push_str(&self.proof);
        for byte in key {
            for digit in [byte >> 4, byte & 0xf] {
                name.push(char::from_digit(u32::from(digit), 16).unwrap_or('0'));
            }
        }
        name
    }

    fn rotation(&self, sid: &str) -> String {
        format!("{}{sid}", self.rotation)
    }

    /// The key, until, before (or `""`) and the message: the script's arguments.
    fn arguments(&self, record: &Record) -> (String, i64, String, String) {
        let (kind, id) = identity(record);
        let (until, before) = instants(record);
        let key = format!("{}{kind}:{id}", self.entry);
        match before {
            Some(before) => (key, until, before.to_string(), format!("{kind} {until} {before} {id}")),
            None => (key, until, String::new(), format!("{kind} {until} {id}")),
        }
    }

    /// True when a key is short enough to be read.
    fn fits(&self, key: &[u8]) -> bool {
        key.len() <= self.entry.len() + 4 + MAX_ID
    }

    /// An entry from its key and value: `<entry><kind>:<id>` and `<until>` or
    /// `<until> <before>`.
    fn parse_entry(&self, key: &[u8], value: &[u8]) -> Option<Record> {
        if !self.fits(key) || value.len() > MAX_VALUE {
            return None;
        }
        let rest = std::str::from_utf8(key.strip_prefix(self.entry.as_bytes())?).ok()?;
        let (kind, id) = rest.split_once(':')?;
        let value = std::str::from_utf8(value).ok()?;
        let (until, before) = match value.split_once(' ') {
            Some((until, before)) => (until, Some(parse_instant(before)?)),
            None => (value, None),
        };
        record(kind, id, parse_instant(until)?, before)
    }

    /// An announcement: `<kind> <until> <id>`, or `sub <until> <before> <id>`.
    fn parse_message(&self, message: &[u8]) -> Option<Record> {
        if message.len() > 2 * MAX_VALUE + MAX_ID {
            return None;
        }
        let text = std::str::from_utf8(message).ok()?;
        let (kind, rest) = text.split_once(' ')?;
        let (until, rest) = rest.split_once(' ')?;
        let until = parse_instant(until)?;
        match kind {
            "sub" => {
                let (before, id) = rest.split_once(' ')?;
                record(kind, id, until, Some(parse_instant(before)?))
            }
            _ => record(kind, rest, until, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names::new("app")
    }

    #[test]
    fn a_spent_proof_is_named_by_its_key_in_lower_case_hex() {
        let key = [0x00, 0x01, 0x0a, 0x10, 0x7f, 0x80, 0xab, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x42];
        assert_eq!(names().proof(&key), "app:dpop:00010a107f80abff0000000000000042");
    }

    fn token(jti: &str, until: i64) -> Record {
        Record::Token { jti: jti.into(), until }
    }

    fn subject(sub: &str, before: i64, until: i64) -> Record {
        Record::Subject { sub: sub.into(), before, until }
    }

    #[test]
    fn every_record_survives_its_message_and_its_key_and_value() {
        let names = names();
        let records = [
            token("a", 2_000_000_000),
            subject("alice", 1_700_000_000, 1_800_000_000),
            Record::Session { sid: "s 1:x".into(), until: 5 },
            token("with spaces: and colons \u{e9}", 7),
            token("", 9),
        ];
        for record in records {
            let (key, until, before, message) = names.arguments(&record);
            assert_eq!(names.parse_message(message.as_bytes()), Some(record.clone()), "{message}");
            let value = if before.is_empty() { until.to_string() } else { format!("{until} {before}") };
            assert_eq!(names.parse_entry(key.as_bytes(), value.as_bytes()), Some(record.clone()), "{key}");
        }
    }

    #[test]
    fn keys_channel_and_pattern_live_under_the_prefix() {
        let names = Names::new("my*app");
        let (key, until, before, message) = names.arguments(&subject("bob", 10, 20));
        assert_eq!(
            (key.as_str(), until, before.as_str(), message.as_str()),
            ("my*app:revoked:sub:bob", 20, "10", "sub 20 10 bob")
        );
        assert_eq!(names.pattern, r"my\*app:revoked:*");
        assert_eq!(names.channel, "my*app:revoked");
        assert_eq!(names.rotation("r1"), "my*app:rotation:r1");
    }

    #[test]
    fn instants_beyond_what_redis_takes_are_clamped() {
        let names = names();
        let (_, until, _, message) = names.arguments(&token("a", i64::MAX));
        assert_eq!(until, MAX_INSTANT);
        assert_eq!(names.parse_message(message.as_bytes()), Some(token("a", MAX_INSTANT)));
    }

    #[test]
    fn malformed_messages_and_values_are_ignored() {
        let names = names();
        let long_id = "x".repeat(MAX_ID + 1);
        for message in [
            "",
            "jti",
            "jti 12",
            "jti -5 a",
            "jti +5 a",
            "jti 1e9 a",
            "jti 99999999999999 a",
            "sub 12 a",
            "sub 12 x a",
            "xyz 12 a",
            "JTI 12 a",
            &format!("jti 12 {long_id}"),
        ] {
            assert_eq!(names.parse_message(message.as_bytes()), None, "{message:?}");
        }
        assert_eq!(names.parse_message(b"jti 12 \xff"), None);
        assert_eq!(names.parse_message(&vec![b'1'; 64 * 1024]), None);

        for (key, value) in [
            ("app:revoked:jti:a", "12 5"),
            ("app:revoked:sub:a", "12"),
            ("app:revoked:sub:a", "12 5 7"),
            ("app:revoked:jti:a", ""),
            ("app:revoked:jti:a", " 12"),
            ("app:revoked:xyz:a", "12"),
            ("app:revoked:jti", "12"),
            ("app:rotation:a", "1"),
            ("other:revoked:jti:a", "12"),
        ] {
            assert_eq!(names.parse_entry(key.as_bytes(), value.as_bytes()), None, "{key} = {value:?}");
        }
        assert_eq!(names.parse_entry(b"app:revoked:jti:a", &[b'1'; 100]), None);
        assert_eq!(names.parse_entry(b"app:revoked:jti:\xff", b"12"), None);
    }

    #[test]
    fn only_later_instants_are_written_again() {
        assert!(grows((20, None), (10, None)));
        assert!(!grows((10, None), (10, None)));
        assert!(!grows((5, None), (10, None)));
        assert!(grows((10, Some(6)), (10, Some(5))));
        assert!(!grows((10, Some(5)), (20, Some(5))));
    }

    #[test]
    fn an_outage_and_its_recovery_are_reported_once_each() {
        let health = Health::default();
        health.online.store(true, Ordering::SeqCst);
        assert!(health.lost(&"refused"));
        assert!(!health.is_online());
        assert!(!health.lost(&"refused again"));
        assert!(health.recovered());
        assert!(health.is_online());
        assert!(!health.recovered());
        assert!(health.lost(&"refused"), "a new outage is reported again");
    }
}

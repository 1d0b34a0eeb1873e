//! [`EventPublisher`]: the one publishing engine of FESS, used by `fesskafkasink` and by programs
//! outside GStreamer alike.
//!
//! Publishing never waits on the network: with a spool folder, every event is first appended to
//! the on-disk [`Spool`] (a write-ahead log: one `write`, fsynced every `spool_sync`), then handed
//! to librdkafka's in-memory queue and delivered by its thread; a delivery report marks it done
//! in the log and is counted per topic. What is not delivered in time (the broker down longer
//! than `message.timeout.ms`, the queue full, the publisher closing with events still queued)
//! waits in the log and is sent again in order when the broker is back; what a killed process
//! left undone is sent again by the next publisher opened on the same folder (at least once: an
//! event delivered just before the kill may arrive twice, with the same `event_id`). While the
//! log holds waiting events, new ones wait behind them so order is kept. Only a full spool drops
//! events: the oldest, counted and warned about.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};

use crate::delivery::client_errors::SecurityFailures;
use crate::delivery::kafka_config::{
    client_error, parse_extra, ConfigError, KafkaSettings, Topics,
};
use crate::delivery::spool::{self, Append, Dropped, Record, RecordId, Spool};
use crate::events::{
    AlertEvent, AlertLevel, BBox, DetectedObject, Event, EventError, EventKind, FaceEvent,
    MotionEvent,
};
use crate::observability::stats::Histogram;
use crate::sync::{CondvarExt, MutexExt};

/// Default bound of the on-disk spool.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 << 20;
/// Default time `close()` and EOS wait for queued events before spooling them.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest time between fsyncs of the spool.
pub const DEFAULT_SPOOL_SYNC: Duration = Duration::from_secs(1);
/// Records read from the spool at a time when sending them again.
const REPLAY_BATCH: usize = 256;
/// Longest wait for the reports of purged events (they come back at once on a normal machine).
const PURGED_REPORTS_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("Kafka client: {0}")]
    Kafka(String),
    #[error("spool: {0}")]
    Spool(String),
    #[error("event refused by the Kafka client: {0}")]
    Rejected(String),
}

/// How bad a message from the publisher is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Debug,
    Info,
    Warning,
    Error,
}

/// Receives the publisher's log lines (the element turns them into GStreamer debug output and
/// warnings); secrets never appear in them.
pub type LogFn = Arc<dyn Fn(Severity, &str) + Send + Sync>;

/// Delivery counters of one topic, cumulative.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TopicCounts {
    /// Acknowledged by the broker.
    pub success: u64,
    /// Refused for good (e.g. a message too large): logged and counted, not retried.
    pub error: u64,
    /// Lost: deleted from a full spool, or undeliverable with no spool configured.
    pub dropped: u64,
    /// Not delivered at once: waited in the spool for the broker (each time: an event that
    /// waited twice counts twice).
    pub spooled: u64,
}

impl TopicCounts {
    /// Each counter with its name, as the `status` label of `fess_kafka_events_sent_total` and
    /// the sink's `stats` name them.
    pub fn by_status(&self) -> [(&'static str, u64); 4] {
        [
            ("success", self.success),
            ("error", self.error),
            ("dropped", self.dropped),
            ("spooled", self.spooled),
        ]
    }
}

/// A snapshot of the publisher's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublisherStats {
    /// Per topic, in the order motion, faces, alerts.
    pub topics: Vec<(String, TopicCounts)>,
    /// Events in librdkafka's queue or in flight.
    pub queued: u64,
    /// Events waiting in the spool to be sent (again), and their bytes.
    pub spool_records: u64,
    pub spool_bytes: u64,
    /// Events an earlier run left unacknowledged in the spool, sent again by this one (some may
    /// have reached the broker before: consumers drop duplicates by `event_id`).
    pub recovered: u64,
    /// Spool records found damaged (torn or failing their checksum): skipped, never sent.
    pub damaged: u64,
    /// Events that waited in a spool folder deleted under the running publisher: gone.
    pub lost: u64,
    /// From a frame's capture to Kafka's acknowledgement of an event built on it, for events
    /// published with [`EventPublisher::publish_captured`] and delivered on their first try
    /// (one that waited in the spool counts as `spooled` instead).
    pub latency: Histogram,
    /// Whether the last check reached the cluster.
    pub broker_up: bool,
    /// Why the client cannot get in (a refused password, a certificate that does not verify),
    /// until it does.
    pub security_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    success: AtomicU64,
    error: AtomicU64,
    dropped: AtomicU64,
    spooled: AtomicU64,
}

/// Wakes whoever waits on the publisher's progress: a delivery report, the end of a replay, a
/// stop or an interruption.
#[derive(Default)]
struct Signal {
    /// How many times it was raised, so a waiter can tell that something happened.
    raised: Mutex<u64>,
    cv: Condvar,
}

impl Signal {
    /// Raise it after changing what the waiters look at.
    fn raise(&self) {
        *self.raised.locked() += 1;
        self.cv.notify_all();
    }

    /// Waits until `done(times raised)` holds (true) or `deadline` passes (false).
    fn wait_until(&self, deadline: Instant, mut done: impl FnMut(u64) -> bool) -> bool {
        let mut raised = self.raised.locked();
        loop {
            if done(*raised) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            raised = self.cv.wait_timeout_locked(raised, deadline - now).0;
        }
    }

    /// Waits until it is raised again, or `deadline`.
    fn wait_raised(&self, deadline: Instant) {
        let seen = *self.raised.locked();
        self.wait_until(deadline, |raised| raised != seen);
    }
}

struct Shared {
    topics: [String; 3],
    counts: [Counters; 3],
    spool: Option<Mutex<Spool>>,
    /// True while the spool may hold waiting events: new ones then wait behind them.
    spooling: AtomicBool,
    recovered: AtomicU64,
    damaged: AtomicU64,
    lost: AtomicU64,
    latency: Mutex<Histogram>,
    /// A lost event was warned about: the next ones are only counted, until the spool drops
    /// again (one warning per episode, not one per event).
    loss_warned: AtomicBool,
    /// The last append to the spool failed (warned once, until one succeeds again).
    spool_failing: AtomicBool,
    /// Messages handed to librdkafka whose delivery report has not come. (librdkafka's own
    /// count still includes a report while its callback runs, too late to wake a waiter.)
    unreported: AtomicI64,
    broker_up: AtomicBool,
    /// The publisher is closing: its thread ends.
    stopping: AtomicBool,
    /// Waits in `flush` return at once (the owner is being unlocked).
    interrupted: AtomicBool,
    progress: Signal,
    /// Warnings and log lines pass through it, so none shows a secret.
    log: LogFn,
    security: SecurityFailures,
}

impl Shared {
    /// The kind of the events on `topic` (a spooled record knows only its topic).
    fn kind_of(&self, topic: &str) -> EventKind {
        self.topics
            .iter()
            .position(|t| t == topic)
            .map_or(EventKind::Motion, |i| EventKind::ALL[i])
    }

    fn counts(&self, kind: EventKind) -> &Counters {
        &self.counts[kind.index()]
    }

    fn spool_lock(&self) -> Option<std::sync::MutexGuard<'_, Spool>> {
        self.spool.as_ref().map(|s| s.locked())
    }

    /// Counts the waiting events a full spool deleted to make room.
    fn count_dropped(&self, spool: &Spool, kind: EventKind, dropped: Dropped) {
        if dropped == Dropped::default() {
            return;
        }
        // Whole segments go; their topics are unknown without reading them: count them on the
        // new record's topic.
        self.counts(kind)
            .dropped
            .fetch_add(dropped.waiting, Ordering::Relaxed);
        self.loss_warned.store(false, Ordering::Relaxed);
        (self.log)(
            Severity::Warning,
            &format!(
                "spool {} is full (its bound, or the disk): dropped the {} oldest waiting events; \
                 {} being sent have no copy on disk any more",
                spool.dir().display(),
                dropped.waiting,
                dropped.in_flight
            ),
        );
    }

    /// The broker took `id` (or refused it for good): it is never sent again.
    fn mark_done(&self, id: Option<RecordId>) {
        if let (Some(mut spool), Some(id)) = (self.spool_lock(), id) {
            spool.done(id);
        }
    }

    /// Sending `id` failed for now: it waits in the spool to be sent again (or is lost when it
    /// has no place there).
    fn retry_later(&self, id: Option<RecordId>, kind: EventKind, topic: &str) {
        let counts = self.counts(kind);
        let kept = match (self.spool_lock(), id) {
            (Some(mut spool), Some(id)) => {
                let kept = spool.retry(id);
                // Under the lock: the replay cannot miss it (see `send`).
                self.spooling.fetch_or(kept, Ordering::SeqCst);
                kept
            }
            _ => false,
        };
        if kept {
            counts.spooled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        counts.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.loss_warned.swap(true, Ordering::Relaxed) {
            let why = if self.spool.is_some() {
                "its place in the full spool was dropped"
            } else {
                "no spool-dir to keep it"
            };
            (self.log)(
                Severity::Warning,
                &format!(
                    "event for {topic} not delivered and dropped: {why} (more such are counted \
                     as dropped, not warned about)"
                ),
            );
        }
    }

    /// fsyncs what the spool wrote, outside its lock (publishing goes on meanwhile).
    fn sync_spool(&self) {
        let Some(unsynced) = self.spool_lock().map(|mut s| s.unsynced()) else {
            return;
        };
        if let Err(e) = unsynced.and_then(|u| u.sync()) {
            (self.log)(Severity::Warning, &format!("spool: cannot fsync: {e}"));
        }
    }

    /// Notices a spool folder deleted (or replaced) under the running publisher: it is made
    /// again, and the events that waited in it are counted as lost and warned about. Returns
    /// whether the folder is usable, so a failure to remake it is warned once, not every check.
    fn check_spool_folder(&self, was_usable: bool) -> bool {
        let Some(mut spool) = self.spool_lock() else {
            return true;
        };
        match spool.check_folder() {
            Ok(None) => true,
            Ok(Some(lost)) => {
                self.lost.fetch_add(lost.waiting, Ordering::Relaxed);
                (self.log)(
                    Severity::Warning,
                    &format!(
                        "spool folder {} was deleted while in use: made it again; {} waiting \
                         events were lost with it, {} being sent have no copy on disk any more",
                        spool.dir().display(),
                        lost.waiting,
                        lost.in_flight
                    ),
                );
                true
            }
            Err(e) => {
                if was_usable {
                    (self.log)(
                        Severity::Warning,
                        &format!("spool folder deleted and cannot be made again: {e}"),
                    );
                }
                false
            }
        }
    }

    /// Reports the spool's damaged records, if it found new ones.
    fn note_damaged(&self, spool: &mut Spool) {
        let n = spool.take_damaged();
        if n > 0 {
            self.damaged.fetch_add(n, Ordering::Relaxed);
            (self.log)(
                Severity::Warning,
                &format!(
                    "spool {}: skipped {n} torn or corrupt records",
                    spool.dir().display()
                ),
            );
        }
    }
}

/// Errors that retrying cannot fix.
fn permanent(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidTopic
        )
    )
}

/// librdkafka's context: routes its logs and delivery reports to us.
struct Context(Arc<Shared>);

/// What a delivery report needs to know about its message.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    kind: EventKind,
    /// Its record in the spool, if it has one.
    id: Option<RecordId>,
    /// When the frame it was built on was captured, if known.
    captured: Option<Instant>,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        let sev = match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => Severity::Warning,
            RDKafkaLogLevel::Warning | RDKafkaLogLevel::Notice => Severity::Info,
            _ => Severity::Debug,
        };
        (self.0.log)(sev, &format!("librdkafka {fac}: {msg}"));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match self.0.security.record(&error, reason) {
            Some(line) => (self.0.log)(
                Severity::Warning,
                &format!("{line}; events are queued and spooled until it is fixed"),
            ),
            None => (self.0.log)(Severity::Debug, &format!("librdkafka: {error}: {reason}")),
        }
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        let s = &self.0;
        let counts = s.counts(delivery.kind);
        match result {
            Ok(_) => {
                s.mark_done(delivery.id);
                counts.success.fetch_add(1, Ordering::Relaxed);
                if let Some(t) = delivery.captured {
                    let mut latency = s.latency.locked();
                    latency.observe(t.elapsed());
                }
            }
            Err((e, msg)) if permanent(e) => {
                s.mark_done(delivery.id);
                counts.error.fetch_add(1, Ordering::Relaxed);
                (s.log)(
                    Severity::Warning,
                    &format!("event for {} refused by Kafka: {e}", msg.topic()),
                );
            }
            Err((_, msg)) => s.retry_later(delivery.id, delivery.kind, msg.topic()),
        }
        // Only now: a waiter woken by the count must find the spool already updated.
        s.unreported.fetch_sub(1, Ordering::SeqCst);
        s.progress.raise();
    }
}

/// Options for [`EventPublisher`]; start from [`EventPublisher::builder`].
#[derive(Clone)]
pub struct PublisherBuilder {
    kafka: Result<KafkaSettings, ConfigError>,
    spool_dir: Option<PathBuf>,
    /// A former default folder of the spool whose events the spool takes over once.
    adopt_from: Option<PathBuf>,
    spool_max_bytes: u64,
    spool_sync: Duration,
    flush_timeout: Duration,
    create_topics: bool,
    partitions: i32,
    replication: i32,
    log: Option<LogFn>,
}

impl PublisherBuilder {
    fn settings(&mut self) -> Option<&mut KafkaSettings> {
        self.kafka.as_mut().ok()
    }

    /// `host:port[,host:port…]` (default `KAFKA_BOOTSTRAP_SERVERS`, else `localhost:9092`).
    pub fn bootstrap_servers(mut self, v: &str) -> Self {
        if let Some(s) = self.settings() {
            s.bootstrap_servers = v.into();
        }
        self
    }

    /// The motion, faces and alerts topics (defaults from `KAFKA_TOPIC_*`, else README, "Configuration from `.env`").
    pub fn topics(mut self, motion: &str, faces: &str, alerts: &str) -> Self {
        if let Some(s) = self.settings() {
            s.topics = Topics {
                motion: motion.into(),
                faces: faces.into(),
                alerts: alerts.into(),
            };
        }
        self
    }

    /// `0`, `1` or `all` (default `KAFKA_ACKS`, else `1`).
    pub fn acks(mut self, v: &str) -> Self {
        if let Some(s) = self.settings() {
            s.acks = v.into();
        }
        self
    }

    /// `none`, `gzip`, `snappy`, `lz4` or `zstd` (default `KAFKA_COMPRESSION`, else `snappy`).
    pub fn compression(mut self, v: &str) -> Self {
        if let Some(s) = self.settings() {
            s.compression = v.into();
        }
        self
    }

    pub fn linger_ms(mut self, v: u32) -> Self {
        if let Some(s) = self.settings() {
            s.linger_ms = v;
        }
        self
    }

    pub fn batch_size(mut self, v: u32) -> Self {
        if let Some(s) = self.settings() {
            s.batch_size = v;
        }
        self
    }

    pub fn client_id(mut self, v: &str) -> Self {
        if let Some(s) = self.settings() {
            s.client_id = v.into();
        }
        self
    }

    /// librdkafka properties as `key=value;key=value` (TLS, SASL, timeouts…).
    pub fn kafka_config(mut self, text: &str) -> Self {
        match parse_extra(text) {
            Ok(extra) => {
                if let Some(s) = self.settings() {
                    s.extra.extend(extra);
                }
            }
            Err(e) => self.kafka = Err(e),
        }
        self
    }

    /// Where undeliverable events wait (none: they are dropped and counted).
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self.adopt_from = None;
        self
    }

    /// The spool named `name` (a camera id, a program's name) in the state folder
    /// ([`spool::default_dir`]), taking over once the events an older version left in its
    /// former place under the cache ([`spool::former_default_dir`]).
    pub fn default_spool(mut self, name: &str) -> Self {
        self.spool_dir = Some(spool::default_dir(name));
        self.adopt_from = Some(spool::former_default_dir(name));
        self
    }

    pub fn spool_max_bytes(mut self, v: u64) -> Self {
        self.spool_max_bytes = v;
        self
    }

    /// Longest time between fsyncs of the spool (default 1 s): what a power cut can lose.
    /// Zero fsyncs every event before `publish` returns.
    pub fn spool_sync(mut self, v: Duration) -> Self {
        self.spool_sync = v;
        self
    }

    /// How long `close()` waits for queued events before leaving them in the spool.
    pub fn flush_timeout(mut self, v: Duration) -> Self {
        self.flush_timeout = v;
        self
    }

    /// Create missing topics with this many partitions and replicas (default: yes, 3, 1).
    pub fn create_topics(mut self, create: bool, partitions: i32, replication: i32) -> Self {
        self.create_topics = create;
        self.partitions = partitions.max(1);
        self.replication = replication.max(1);
        self
    }

    /// Receives log lines (default: warnings and errors to stderr).
    pub fn on_log(mut self, f: impl Fn(Severity, &str) + Send + Sync + 'static) -> Self {
        self.log = Some(Arc::new(f));
        self
    }

    /// Checks the settings as [`build`](Self::build) will (values, and every property as
    /// librdkafka takes it) without opening the spool or creating the producer.
    pub fn check(&self) -> Result<(), PublishError> {
        let kafka = self
            .kafka
            .as_ref()
            .map_err(|e| PublishError::from(e.clone()))?;
        kafka.validate()?;
        kafka
            .client_config()?
            .create_native_config()
            .map_err(|e| PublishError::Kafka(client_error(&e)))?;
        Ok(())
    }

    /// Checks the settings, opens the spool and creates the producer. Connects nothing: a
    /// broker that is down now is fine.
    pub fn build(self) -> Result<EventPublisher, PublishError> {
        let kafka = self.kafka?;
        kafka.validate()?;
        let cfg = kafka.client_config()?;
        let secrets = kafka.secret_values();
        let security = SecurityFailures::new(secrets.clone());
        let log = self.log.unwrap_or_else(|| {
            Arc::new(|sev, msg: &str| {
                if matches!(sev, Severity::Warning | Severity::Error) {
                    eprintln!("fess: {msg}");
                }
            })
        });
        // librdkafka's and the broker's words pass through here: blot out any secret they
        // might repeat.
        let log: LogFn = {
            Arc::new(move |sev, msg: &str| {
                log(sev, &crate::delivery::kafka_config::redact(msg, &secrets))
            })
        };
        let spool = match &self.spool_dir {
            Some(dir) => {
                if let Some(old) = &self.adopt_from {
                    adopt_former_spool(old, dir, &log);
                }
                let mut spool = Spool::open(dir, self.spool_max_bytes)
                    .map_err(|e| PublishError::Spool(e.to_string()))?;
                spool.sync_every_append(self.spool_sync.is_zero());
                Some(spool)
            }
            None => None,
        };
        let waiting = spool.as_ref().map_or(0, |s| s.waiting());
        let shared = Arc::new(Shared {
            topics: [
                kafka.topics.motion.clone(),
                kafka.topics.faces.clone(),
                kafka.topics.alerts.clone(),
            ],
            counts: Default::default(),
            spooling: AtomicBool::new(waiting > 0),
            spool: spool.map(Mutex::new),
            recovered: AtomicU64::new(waiting),
            damaged: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            latency: Mutex::default(),
            loss_warned: AtomicBool::new(false),
            spool_failing: AtomicBool::new(false),
            unreported: AtomicI64::new(0),
            broker_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            progress: Signal::default(),
            log: log.clone(),
            security,
        });
        let producer: ThreadedProducer<Context> = cfg
            .create_with_context(Context(shared.clone()))
            .map_err(|e| PublishError::Kafka(client_error(&e)))?;
        let admin = if self.create_topics {
            Some(
                cfg.create::<AdminClient<DefaultClientContext>>()
                    .map_err(|e| PublishError::Kafka(client_error(&e)))?,
            )
        } else {
            None
        };
        log(Severity::Info, &format!("Kafka producer: {kafka}"));
        if !kafka.idempotent() {
            log(
                Severity::Info,
                "idempotent producer off (it needs acks=all): a retried send may store an event \
                 twice; consumers drop duplicates by event_id",
            );
        }
        if let Some(mut spool) = shared.spool_lock() {
            shared.note_damaged(&mut spool);
        }
        if waiting > 0 {
            log(
                Severity::Info,
                &format!("{waiting} events an earlier run left unacknowledged will be sent again"),
            );
        }
        let producer = Arc::new(producer);
        let worker = Maintenance {
            shared: shared.clone(),
            producer: producer.clone(),
            admin,
            topics: kafka.topics.all().map(str::to_string),
            partitions: self.partitions,
            replication: self.replication,
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| PublishError::Kafka(format!("cannot start the {name} thread: {e}")))
        };
        let mut threads = vec![spawn("fess-publisher", Box::new(move || worker.run()))?];
        if shared.spool.is_some() && !self.spool_sync.is_zero() {
            let (shared, every) = (shared.clone(), self.spool_sync);
            threads.push(spawn(
                "fess-spool-sync",
                Box::new(move || sync_spool_every(&shared, every)),
            )?);
        }
        Ok(EventPublisher {
            shared,
            producer,
            flush_timeout: self.flush_timeout,
            threads: Mutex::new(threads),
        })
    }
}

/// Publishes the three kinds of event to Kafka, never blocking, losing nothing it can keep.
///
/// ```no_run
/// use fess::delivery::publisher::EventPublisher;
/// use fess::events::AlertLevel;
/// let publisher = EventPublisher::builder()
///     .bootstrap_servers("localhost:9092")
///     .spool_dir("/var/lib/fess/spool")
///     .build()?;
/// let id = publisher.publish_alert("cam_01", AlertLevel::Critical, "Unauthorized access detected")?;
/// println!("published {id}");
/// publisher.close();
/// # Ok::<(), fess::delivery::publisher::PublishError>(())
/// ```
pub struct EventPublisher {
    shared: Arc<Shared>,
    producer: Arc<ThreadedProducer<Context>>,
    flush_timeout: Duration,
    /// The maintenance thread (replays, watches the broker) and the spool's fsync thread;
    /// empty once closed.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// fsyncs the spool every `every` until the publisher stops.
fn sync_spool_every(shared: &Shared, every: Duration) {
    let stopping = || shared.stopping.load(Ordering::SeqCst);
    while !shared
        .progress
        .wait_until(Instant::now() + every, |_| stopping())
    {
        shared.sync_spool();
    }
}

/// Moves a former default spool's events into `dir` (see [`spool::adopt`]), saying so; when it
/// cannot, the events stay where they are, and a warning says where.
fn adopt_former_spool(old: &Path, dir: &Path, log: &LogFn) {
    match spool::adopt(old, dir) {
        Ok(0) => {}
        Ok(n) => log(
            Severity::Warning,
            &format!(
                "picked up {n} spool segment(s) of undelivered events from the former default \
                 spool {} into {}",
                old.display(),
                dir.display()
            ),
        ),
        Err(e) => log(
            Severity::Warning,
            &format!(
                "undelivered events stay in the former default spool {} (not moved to {}: {e}); \
                 they are picked up by a later start",
                old.display(),
                dir.display()
            ),
        ),
    }
}

impl EventPublisher {
    /// Defaults from the `.env` variables (`KAFKA_*`, README "Configuration from `.env`"), no
    /// spool, topics created.
    pub fn builder() -> PublisherBuilder {
        PublisherBuilder {
            kafka: KafkaSettings::from_env(),
            spool_dir: None,
            adopt_from: None,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            spool_sync: DEFAULT_SPOOL_SYNC,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            create_topics: true,
            partitions: 3,
            replication: 1,
            log: None,
        }
    }

    /// Settings from the environment and `./.env`, like the Python `EventPublisher()`.
    pub fn new() -> Result<Self, PublishError> {
        Self::builder().build()
    }

    /// Writes `event` to the spool (with a spool folder) and hands it to the producer, or leaves
    /// it waiting in the spool behind earlier ones; returns at once.
    pub fn publish(&self, event: &Event) -> Result<(), PublishError> {
        self.publish_at(event, None)
    }

    /// [`publish`](Self::publish) for an event built on a frame captured at `captured`: its
    /// delivery is timed into [`PublisherStats::latency`].
    pub fn publish_captured(&self, event: &Event, captured: Instant) -> Result<(), PublishError> {
        self.publish_at(event, Some(captured))
    }

    fn publish_at(&self, event: &Event, captured: Option<Instant>) -> Result<(), PublishError> {
        let kind = event.kind();
        let rec = Record {
            topic: self.shared.topics[kind.index()].clone(),
            key: event.camera_id().as_bytes().to_vec(),
            headers: vec![
                ("event_type".into(), kind.event_type().as_bytes().to_vec()),
                ("event_id".into(), event.event_id().as_bytes().to_vec()),
                ("content-type".into(), b"application/json".to_vec()),
                // CloudEvents' Kafka protocol binding, binary mode: the body stays the event.
                ("ce_specversion".into(), b"1.0".to_vec()),
                ("ce_id".into(), event.event_id().as_bytes().to_vec()),
                ("ce_type".into(), kind.event_type().as_bytes().to_vec()),
                (
                    "ce_source".into(),
                    format!("fess/{}", event.camera_id()).into_bytes(),
                ),
                ("ce_time".into(), event.timestamp().as_bytes().to_vec()),
            ],
            payload: event.to_json(),
        };
        self.send(&rec, kind, captured)
    }

    fn send(
        &self,
        rec: &Record,
        kind: EventKind,
        captured: Option<Instant>,
    ) -> Result<(), PublishError> {
        let s = &self.shared;
        let mut id = None;
        if let Some(mut spool) = s.spool_lock() {
            // Checked under the spool's lock, which the replay holds when it finds the spool
            // caught up: an event never slips ahead of waiting ones.
            let behind = s.spooling.load(Ordering::SeqCst);
            let how = if behind {
                Append::Waiting
            } else {
                Append::Sending
            };
            match spool.append(rec, how) {
                Ok((at, dropped)) => {
                    if s.spool_failing.swap(false, Ordering::Relaxed) {
                        (s.log)(Severity::Info, "spool: writing again");
                    }
                    s.count_dropped(&spool, kind, dropped);
                    if behind {
                        s.counts(kind).spooled.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    id = Some(at);
                }
                // Sent all the same, only not crash-safe.
                Err(e) if !s.spool_failing.swap(true, Ordering::Relaxed) => (s.log)(
                    Severity::Error,
                    &format!(
                        "spool {}: cannot write: {e}; events are sent without a copy on disk \
                         until it can",
                        spool.dir().display()
                    ),
                ),
                Err(_) => {}
            }
        }
        match produce(&self.producer, rec, Delivery { kind, id, captured }) {
            Ok(()) => Ok(()),
            Err(e) if permanent(&e) => {
                s.mark_done(id);
                s.counts(kind).error.fetch_add(1, Ordering::Relaxed);
                Err(PublishError::Rejected(e.to_string()))
            }
            // Queue full and the like: it waits on disk instead.
            Err(_) => {
                s.retry_later(id, kind, &rec.topic);
                Ok(())
            }
        }
    }

    /// Publishes `motion.detected`; returns its `event_id`.
    pub fn publish_motion_event(
        &self,
        camera_id: &str,
        frame_number: u64,
        detected_objects: Vec<DetectedObject>,
        confidence_scores: Vec<f64>,
    ) -> Result<String, PublishError> {
        let e = MotionEvent::new(
            camera_id,
            frame_number,
            detected_objects,
            Some(confidence_scores),
        )?;
        let id = e.event_id.clone();
        self.publish(&Event::Motion(e))?;
        Ok(id)
    }

    /// Publishes `face.recognized`; returns its `event_id`.
    // Positional, in the Python publisher's order, for programs ported from it (README, "The
    // `fess` library"; its example, the crate's doctests and `examples/publish_events.rs` call
    // it so); `publish` takes a built `FaceEvent` instead.
    #[allow(clippy::too_many_arguments)]
    pub fn publish_face_event(
        &self,
        camera_id: &str,
        frame_number: u64,
        face_id: &str,
        bbox: impl Into<BBox>,
        confidence: f64,
        person_name: Option<&str>,
        is_authorized: bool,
    ) -> Result<String, PublishError> {
        let e = FaceEvent::new(
            camera_id,
            frame_number,
            face_id,
            bbox.into(),
            confidence,
            person_name,
            is_authorized,
        )?;
        let id = e.event_id.clone();
        self.publish(&Event::Face(e))?;
        Ok(id)
    }

    /// Publishes `alert.triggered`; returns its `event_id`.
    pub fn publish_alert(
        &self,
        camera_id: &str,
        alert_level: AlertLevel,
        message: &str,
    ) -> Result<String, PublishError> {
        self.publish_alert_for(camera_id, alert_level, message, Vec::new())
    }

    /// Publishes `alert.triggered` naming the events that caused it.
    pub fn publish_alert_for(
        &self,
        camera_id: &str,
        alert_level: AlertLevel,
        message: &str,
        associated_events: Vec<String>,
    ) -> Result<String, PublishError> {
        let e = AlertEvent::new(camera_id, alert_level, message, associated_events)?;
        let id = e.event_id.clone();
        self.publish(&Event::Alert(e))?;
        Ok(id)
    }

    pub fn stats(&self) -> PublisherStats {
        let s = &self.shared;
        let (spool_records, spool_bytes) = s
            .spool_lock()
            .map_or((0, 0), |sp| (sp.waiting(), sp.waiting_bytes()));
        PublisherStats {
            topics: s
                .topics
                .iter()
                .zip(&s.counts)
                .map(|(t, c)| {
                    (
                        t.clone(),
                        TopicCounts {
                            success: c.success.load(Ordering::Relaxed),
                            error: c.error.load(Ordering::Relaxed),
                            dropped: c.dropped.load(Ordering::Relaxed),
                            spooled: c.spooled.load(Ordering::Relaxed),
                        },
                    )
                })
                .collect(),
            // Our own count: librdkafka's queue length also counts pending error and log
            // callbacks (a broker down inflates it).
            queued: s.unreported.load(Ordering::SeqCst).max(0) as u64,
            spool_records,
            spool_bytes,
            recovered: s.recovered.load(Ordering::Relaxed),
            damaged: s.damaged.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
            latency: s.latency.locked().clone(),
            broker_up: s.broker_up.load(Ordering::Relaxed),
            security_error: s.security.last(),
        }
    }

    /// Waits up to `timeout` for queued (and, while the broker answers, spooled) events to be
    /// delivered, woken by their delivery reports; what is still queued then goes to the spool.
    /// Returns true when everything was delivered; false at once while
    /// [interrupted](EventPublisher::interrupt), with the queue left as it is.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let s = &self.shared;
        let interrupted = || s.interrupted.load(Ordering::SeqCst);
        let replaying = !self.threads.locked().is_empty();
        // Spooled events first: the publisher thread replays them while the broker answers.
        if replaying {
            s.progress.wait_until(deadline, |_| {
                interrupted()
                    || !s.spooling.load(Ordering::SeqCst)
                    || !s.broker_up.load(Ordering::Relaxed)
            });
        }
        // Sends what lingers at once; the reports then wake the wait.
        let _ = self.producer.flush(Duration::ZERO);
        let delivered = s.progress.wait_until(deadline, |_| {
            interrupted() || s.unreported.load(Ordering::SeqCst) <= 0
        });
        if interrupted() {
            return false;
        }
        if delivered {
            return !s.spooling.load(Ordering::SeqCst);
        }
        self.purge_to_spool();
        false
    }

    /// While `on`, [`flush`](EventPublisher::flush) (and so `close`) returns at once instead of
    /// waiting for deliveries: for an owner that must not block, such as a sink being unlocked.
    pub fn interrupt(&self, on: bool) {
        self.shared.interrupted.store(on, Ordering::SeqCst);
        self.shared.progress.raise();
    }

    /// Takes every queued and in-flight event back from librdkafka into the spool.
    fn purge_to_spool(&self) {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        // Purged messages come back at once as failed deliveries, which leave them waiting in
        // the spool; the bound only matters on a machine too loaded to run the callbacks.
        let _ = self.producer.flush(PURGED_REPORTS_WAIT);
        self.shared.sync_spool();
    }

    /// Flushes (within the flush timeout), leaves what is left in the spool and stops the
    /// publisher's threads.
    /// Also done on drop.
    pub fn close(&self) {
        if self.threads.locked().is_empty() {
            return;
        }
        self.flush(self.flush_timeout);
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.progress.raise();
        for thread in std::mem::take(&mut *self.threads.locked()) {
            let _ = thread.join();
        }
        // A replay cut short by the stop leaves events in flight: they wait in the spool too.
        if self.producer.in_flight_count() > 0 {
            self.purge_to_spool();
        } else {
            self.shared.sync_spool();
        }
    }
}

impl Drop for EventPublisher {
    fn drop(&mut self) {
        self.close();
    }
}

/// The publisher's own thread: creates topics, watches the broker, syncs and replays the spool.
struct Maintenance {
    shared: Arc<Shared>,
    producer: Arc<ThreadedProducer<Context>>,
    admin: Option<AdminClient<DefaultClientContext>>,
    topics: [String; 3],
    partitions: i32,
    replication: i32,
}

const CHECK_EVERY: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

impl Maintenance {
    /// Waits up to `wait` for the publisher to close; true when it is closing.
    fn stopped(&self, wait: Duration) -> bool {
        let s = &self.shared;
        s.progress
            .wait_until(Instant::now() + wait, |_| s.stopping.load(Ordering::SeqCst))
    }

    fn log(&self, sev: Severity, msg: &str) {
        (self.shared.log)(sev, msg)
    }

    /// " (<why>)" when a security failure explains why the broker is out of reach.
    fn cause(&self) -> String {
        self.shared
            .security
            .last()
            .map_or_else(String::new, |why| format!(" ({why})"))
    }

    fn run(self) {
        let mut topics_ready = self.admin.is_none();
        let mut was_up: Option<bool> = None;
        let mut spool_usable = true;
        loop {
            spool_usable = self.shared.check_spool_folder(spool_usable);
            let metadata = self.producer.client().fetch_metadata(None, REQUEST_TIMEOUT);
            let up = metadata.is_ok();
            // A broker restarted between two checks (or a new one behind the same address) may
            // have lost the topics without ever looking down: check they are there.
            if let (Ok(md), true) = (&metadata, topics_ready && self.admin.is_some()) {
                let present = |t: &String| md.topics().iter().any(|m| m.name() == t);
                if !self.topics.iter().all(present) {
                    self.log(Severity::Info, "Kafka topics missing: creating them again");
                    topics_ready = false;
                }
            }
            self.shared.broker_up.store(up, Ordering::Relaxed);
            if up {
                self.shared.security.clear();
            }
            if was_up != Some(up) {
                match (was_up, up) {
                    (_, true) => {
                        self.log(Severity::Info, "Kafka broker reachable");
                        // A broker that came back may have lost its topics (or be a new one).
                        topics_ready = self.admin.is_none();
                    }
                    (Some(true), false) => self.log(
                        Severity::Warning,
                        &format!(
                            "Kafka broker unreachable{}: events are queued and spooled until it \
                             is back",
                            self.cause()
                        ),
                    ),
                    (_, false) => self.log(
                        Severity::Warning,
                        &format!(
                            "Kafka broker not reachable yet{}: events are queued and spooled \
                             until it is",
                            self.cause()
                        ),
                    ),
                }
                was_up = Some(up);
            }
            if up && !topics_ready {
                topics_ready = self.create_topics();
            }
            if up && topics_ready && self.shared.spooling.load(Ordering::SeqCst) {
                self.replay();
            }
            if self.stopped(CHECK_EVERY) {
                return;
            }
        }
    }

    /// Creates the topics that do not exist; true when all exist.
    fn create_topics(&self) -> bool {
        let Some(admin) = &self.admin else {
            return true;
        };
        let new: Vec<NewTopic> = self
            .topics
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.partitions,
                    TopicReplication::Fixed(self.replication),
                )
            })
            .collect();
        let opts = AdminOptions::new()
            .operation_timeout(Some(REQUEST_TIMEOUT))
            .request_timeout(Some(REQUEST_TIMEOUT));
        match futures_executor::block_on(admin.create_topics(&new, &opts)) {
            Ok(results) => {
                let mut all = true;
                for r in results {
                    match r {
                        Ok(t) => self.log(Severity::Info, &format!("created topic {t}")),
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((t, e)) => {
                            all = false;
                            self.log(Severity::Warning, &format!("cannot create topic {t}: {e}"));
                        }
                    }
                }
                all
            }
            Err(e) => {
                self.log(Severity::Debug, &format!("creating topics: {e}"));
                false
            }
        }
    }

    /// Sends the spool's waiting events, oldest first, until it has caught up (new events are
    /// then sent at once again) or the broker stops taking them.
    fn replay(&self) {
        let s = &self.shared;
        let stopping = || s.stopping.load(Ordering::SeqCst);
        let mut sent = 0u64;
        loop {
            let batch = {
                let Some(mut spool) = s.spool_lock() else {
                    return;
                };
                let batch = spool.take_waiting(REPLAY_BATCH);
                s.note_damaged(&mut spool);
                match batch {
                    Ok(b) if b.is_empty() => {
                        s.spooling.store(false, Ordering::SeqCst);
                        drop(spool);
                        s.progress.raise();
                        if sent > 0 {
                            self.log(Severity::Info, &format!("sent {sent} spooled events"));
                        }
                        return;
                    }
                    Ok(b) => b,
                    Err(e) => {
                        self.log(Severity::Error, &format!("spool: cannot read: {e}"));
                        return;
                    }
                }
            };
            for (i, (id, rec)) in batch.iter().enumerate() {
                let kind = s.kind_of(&rec.topic);
                // A full queue clears as librdkafka delivers: wait for room (a delivery report)
                // instead of dropping.
                let give_up = Instant::now() + REQUEST_TIMEOUT * 10;
                while !self.try_replay(rec, kind, *id) {
                    s.progress.wait_raised(give_up);
                    if stopping() || Instant::now() >= give_up {
                        // The rest waits for the next round.
                        if let Some(mut spool) = s.spool_lock() {
                            for (id, _) in &batch[i..] {
                                spool.retry(*id);
                            }
                        }
                        return;
                    }
                }
                sent += 1;
            }
            if stopping() || !s.broker_up.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    /// Sends one waiting record; false when the queue is full (try again later).
    fn try_replay(&self, rec: &Record, kind: EventKind, id: RecordId) -> bool {
        let delivery = Delivery {
            kind,
            id: Some(id),
            captured: None,
        };
        match produce(&self.producer, rec, delivery) {
            Ok(()) => true,
            Err(e) if permanent(&e) => {
                self.shared.mark_done(Some(id));
                self.shared
                    .counts(kind)
                    .error
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }
}

/// Hands one record to librdkafka.
fn produce(
    producer: &ThreadedProducer<Context>,
    rec: &Record,
    delivery: Delivery,
) -> Result<(), KafkaError> {
    let mut headers = OwnedHeaders::new_with_capacity(rec.headers.len());
    for (k, v) in &rec.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    let record = BaseRecord::with_opaque_to(&rec.topic, Box::new(delivery))
        .key(&rec.key)
        .payload(&rec.payload)
        .headers(headers);
    // Counted before the report can come, so the count never misses one.
    let unreported = &producer.context().0.unreported;
    unreported.fetch_add(1, Ordering::SeqCst);
    producer.send(record).map_err(|(e, _)| {
        unreported.fetch_sub(1, Ordering::SeqCst);
        e
    })
}

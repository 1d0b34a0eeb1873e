//! A face stage's one link to Redis, on its own thread: the gallery snapshot it keeps fresh
//! (version polling) and the recognition cache it reads and writes.
//!
//! The caller's thread (a GStreamer streaming thread) never touches the network: it reads the
//! snapshot from memory, hands cache writes over without waiting, and waits for a cache read at
//! most the time it asks for — not at all while Redis is known to be down.
//!
//! Whether the gallery could be read at the last attempt (connect and version poll, and the
//! reload when the version moved) is kept with the reason ([`RedisLink::unreadable`]): a face
//! recognised against an empty or stale gallery must not pass silently.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::gallery::redis_settings::RedisSettings;
use crate::gallery::{CachedRecognition, Gallery, GalleryError, GalleryStore};
use crate::sync::MutexExt;

/// What the link reports to its owner (from the link's thread, or the caller's in `start`).
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// The gallery cannot be read, and why (Redis unreachable, refusing, or the gallery not
    /// readable); recognition goes on with the last snapshot. Said once per kind of failure,
    /// not at every retry.
    Unreadable(String),
    /// The gallery is read again.
    Readable,
    /// A gallery snapshot was loaded.
    GalleryLoaded { version: u64, persons: usize },
    /// Something in the gallery was skipped.
    Warning(String),
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// Where Redis is, and the TLS files and password file to reach it with.
    pub redis: RedisSettings,
    pub gallery_key: String,
    pub cache_key: String,
    /// Bound on connecting and on every Redis reply, on the link's thread.
    pub timeout: Duration,
    /// How often the gallery version is checked.
    pub poll: Duration,
    /// Embedding length gallery entries must have (others are skipped with a warning).
    pub dim: Option<usize>,
}

enum Request {
    Get {
        keys: Vec<String>,
        reply: SyncSender<Vec<Option<CachedRecognition>>>,
    },
    Set {
        key: String,
        value: String,
        ttl_s: u64,
    },
}

/// Why the gallery cannot be read, since when.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    pub reason: String,
    /// The first failed attempt of this run of failures.
    pub since: Instant,
}

struct Shared {
    up: AtomicBool,
    stop: AtomicBool,
    gallery: Mutex<Arc<Gallery>>,
    unreadable: Mutex<Option<Unreadable>>,
}

pub struct RedisLink {
    shared: Arc<Shared>,
    tx: Option<SyncSender<Request>>,
    thread: Option<JoinHandle<()>>,
    cache_key: String,
    /// Cache writes dropped because the link was busy or down.
    pub writes_dropped: u64,
}

type Notify = Box<dyn Fn(LinkEvent) + Send>;

impl RedisLink {
    /// Connects and loads the gallery on the caller's thread (bounded by `cfg.timeout`), then
    /// keeps both going on a thread of its own. Redis being down is not an error: the link
    /// starts down, with an empty gallery, and keeps retrying.
    pub fn start(cfg: LinkConfig, notify: Notify) -> RedisLink {
        let shared = Arc::new(Shared {
            up: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            gallery: Mutex::new(Arc::new(Gallery::default())),
            unreadable: Mutex::new(None),
        });
        let (tx, rx) = mpsc::sync_channel(64);
        let mut worker = Worker {
            shown_url: cfg.redis.shown_url(),
            cfg: cfg.clone(),
            shared: shared.clone(),
            notify,
            store: None,
            version: None,
            next_poll: Instant::now(),
            fault: None,
        };
        worker.reconnect();
        let thread = std::thread::Builder::new()
            .name("fess-redis".into())
            .spawn(move || worker.run(rx))
            .expect("spawning the Redis thread");
        RedisLink {
            shared,
            tx: Some(tx),
            thread: Some(thread),
            cache_key: cfg.cache_key,
            writes_dropped: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// Why the gallery could not be read at the last attempt; `None` when it could.
    pub fn unreadable(&self) -> Option<Unreadable> {
        self.shared.unreadable.locked().clone()
    }

    /// The latest gallery snapshot (empty until one was loaded).
    pub fn gallery(&self) -> Arc<Gallery> {
        self.shared.gallery.locked().clone()
    }

    pub fn cache_key(&self, camera_id: &str, track_id: u64) -> String {
        crate::gallery::cache_key(&self.cache_key, camera_id, track_id)
    }

    /// Reads cache entries, waiting at most `wait`. `None` when Redis is down or did not
    /// answer in time (every key then counts as a miss).
    pub fn lookup(
        &self,
        keys: Vec<String>,
        wait: Duration,
    ) -> Option<Vec<Option<CachedRecognition>>> {
        if !self.is_up() || keys.is_empty() {
            return None;
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx
            .as_ref()?
            .try_send(Request::Get { keys, reply })
            .ok()?;
        answer.recv_timeout(wait).ok()
    }

    /// Writes a cache entry with a time to live, without waiting.
    pub fn store(&mut self, key: String, value: &CachedRecognition, ttl: Duration) {
        let value = serde_json::to_string(value).expect("cache entries serialise");
        let req = Request::Set {
            key,
            value,
            ttl_s: ttl.as_secs().max(1),
        };
        let sent = self.is_up()
            && self.tx.as_ref().is_some_and(|tx| {
                !matches!(
                    tx.try_send(req),
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
                )
            });
        if !sent {
            self.writes_dropped += 1;
        }
    }
}

impl Drop for RedisLink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Closing the channel wakes the thread at once.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    cfg: LinkConfig,
    /// The URL as messages show it.
    shown_url: String,
    shared: Arc<Shared>,
    notify: Notify,
    store: Option<GalleryStore>,
    version: Option<u64>,
    next_poll: Instant,
    /// The kind of the current failure to read the gallery (told once, not at every retry).
    fault: Option<String>,
}

/// How long a down link waits between connection attempts.
const RETRY: Duration = Duration::from_secs(1);

impl Worker {
    fn run(mut self, rx: Receiver<Request>) {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let wait = self.next_poll.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(req) => self.handle(req),
                Err(RecvTimeoutError::Timeout) => {
                    if self.store.is_none() {
                        self.reconnect();
                    } else {
                        self.poll_gallery();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    fn handle(&mut self, req: Request) {
        let Some(store) = self.store.as_mut() else {
            return; // down: reads get no answer (a miss), writes are lost
        };
        let (command, result) = match req {
            Request::Get { keys, reply } => {
                let r: Result<Vec<Option<String>>, _> =
                    redis::cmd("MGET").arg(&keys).query(store.connection());
                let r = r.map(|values| {
                    let entries = values
                        .into_iter()
                        .map(|v| v.and_then(|s| serde_json::from_str(&s).ok()))
                        .collect();
                    let _ = reply.try_send(entries);
                });
                ("MGET", r)
            }
            Request::Set { key, value, ttl_s } => {
                let r = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("EX")
                    .arg(ttl_s)
                    .query::<()>(store.connection());
                ("SET", r)
            }
        };
        if let Err(e) = result {
            let command = format!("{command} {}:*", self.cfg.cache_key);
            self.lost(GalleryError::redis(&self.shown_url, &command, &e));
        }
    }

    /// The connection is gone (or refused): the gallery cannot be read until a reconnection.
    fn lost(&mut self, e: GalleryError) {
        self.store = None;
        self.shared.up.store(false, Ordering::Relaxed);
        self.next_poll = Instant::now() + RETRY;
        let kind = match &e {
            GalleryError::Redis { fault, .. } => fault.as_str(),
            _ => "invalid",
        };
        self.unreadable(kind, e.to_string());
    }

    /// Records (and tells, once per kind of failure) that the gallery cannot be read.
    fn unreadable(&mut self, kind: &str, reason: String) {
        {
            let mut u = self.shared.unreadable.locked();
            let since = u.as_ref().map_or_else(Instant::now, |u| u.since);
            *u = Some(Unreadable {
                reason: reason.clone(),
                since,
            });
        }
        if self.fault.as_deref() != Some(kind) {
            self.fault = Some(kind.to_string());
            (self.notify)(LinkEvent::Unreadable(reason));
        }
    }

    fn readable(&mut self) {
        *self.shared.unreadable.locked() = None;
        if self.fault.take().is_some() {
            (self.notify)(LinkEvent::Readable);
        }
    }

    fn reconnect(&mut self) {
        match GalleryStore::connect(&self.cfg.redis, &self.cfg.gallery_key, self.cfg.timeout) {
            Ok(store) => {
                self.store = Some(store);
                self.version = None;
                self.poll_gallery();
                if self.store.is_some() {
                    self.shared.up.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => self.lost(e),
        }
    }

    /// Reloads the gallery when its version moved.
    fn poll_gallery(&mut self) {
        self.next_poll = Instant::now() + self.cfg.poll;
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let loaded = store.version().and_then(|v| {
            if Some(v) == self.version {
                return Ok(None);
            }
            store.load(self.cfg.dim).map(Some)
        });
        match loaded {
            Ok(None) => {}
            Ok(Some((gallery, warnings))) => {
                for w in warnings {
                    (self.notify)(LinkEvent::Warning(w));
                }
                self.version = Some(gallery.version);
                let loaded = LinkEvent::GalleryLoaded {
                    version: gallery.version,
                    persons: gallery.persons.len(),
                };
                *self.shared.gallery.locked() = Arc::new(gallery);
                (self.notify)(loaded);
            }
            Err(e @ GalleryError::Redis { .. }) => return self.lost(e),
            // Redis answers, the gallery does not read: keep the persons already loaded.
            Err(e) => return self.unreadable("invalid", format!("gallery not reloaded: {e}")),
        }
        self.readable();
    }
}

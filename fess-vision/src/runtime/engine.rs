//! One inference engine per model in a process, shared by every stream that uses it.
//!
//! Elements that name the same model file with the same [`Parallelism`] get the same
//! [`Engine`], however many cameras run. `model-instance-id` names an engine explicitly (DL
//! Streamer's idea): equal ids share, different ids keep separate engines even for the same file.
//!
//! An engine runs up to `requests` inferences at once (DL Streamer's `nireq`), each on its own
//! ONNX Runtime session (a *lane*) with `threads` intra-op threads; the lanes share their
//! prepacked weights. On a small CPU, one single-threaded inference per core gets more frames
//! through than one inference spread over all cores (whose threads wait for each other at every
//! layer): measured 1.5× for YOLOX-Nano and 1.25× for CenterNet on 2 cores.
//!
//! Turns are the engine's, not the streaming threads' (see [`Turns`]): a stream asks for a turn
//! with its newest frame and gets a lane at once when one is free. When all are busy it waits
//! for a running inference to end; then the waiting stream served longest ago runs.
//! A live stream that was not chosen gives up its frame (which passes with the tracked boxes
//! carried) and asks again with its next one: no live stream waits for more than one other
//! inference and no queue of old frames builds up. A stream that is not live (a file) has no
//! deadline and keeps waiting for its turn, so every one of its frames is inferred.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::Instant;

use fess::sync::{CondvarExt, MutexExt};

use crate::runtime::inference::{InferenceError, Model};
use crate::runtime::signature::ModelSignature;

/// How an engine runs its model: `requests` inferences at once, each on `threads` threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    pub requests: usize,
    pub threads: usize,
}

impl Parallelism {
    /// From the elements' properties, where 0 means automatic: one request per core, and the
    /// cores shared out among the requests.
    pub fn resolve(requests: usize, threads: usize) -> Parallelism {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let requests = if requests == 0 { cores } else { requests };
        let threads = if threads == 0 {
            (cores / requests).max(1)
        } else {
            threads
        };
        Parallelism { requests, threads }
    }
}

impl std::fmt::Display for Parallelism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} requests × {} threads", self.requests, self.threads)
    }
}

/// What makes two requests for a model the same engine.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionKey {
    path: PathBuf,
    parallelism: Parallelism,
}

/// Engines alive in this process, by instance id (explicit, or derived from the session key).
static ENGINES: LazyLock<Registry<Engine>> = LazyLock::new(Registry::default);

/// Shared values by id, each loaded once while anyone holds it. The registry's lock is held
/// only to find an id's slot; the slot's own lock is held while its value loads, so users of
/// one id wait for that one load, and users of other ids load theirs at the same time.
struct Registry<T> {
    slots: Mutex<HashMap<String, Slot<T>>>,
}

type Slot<T> = Arc<Mutex<Weak<T>>>;

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Registry<T> {
    /// The live value of `id`, or the one `load` makes now; and whether this call loaded it.
    fn get_or_load<E>(
        &self,
        id: &str,
        load: impl FnOnce() -> Result<Arc<T>, E>,
    ) -> Result<(Arc<T>, bool), E> {
        let slot = {
            let mut slots = self.slots.locked();
            // Forget dead values; a slot someone is loading or waiting on stays.
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot
                        .try_lock()
                        .map_or(true, |value| value.strong_count() > 0)
            });
            slots.entry(id.to_string()).or_default().clone()
        };
        let mut value = slot.locked();
        if let Some(live) = value.upgrade() {
            return Ok((live, false));
        }
        let loaded = load()?;
        *value = Arc::downgrade(&loaded);
        Ok((loaded, true))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] InferenceError),
    #[error(
        "model-instance-id '{id}' is already used with model {existing} ({existing_parallelism}); \
         this element asks for {requested} ({requested_parallelism}): give it another id"
    )]
    InstanceMismatch {
        id: String,
        existing: String,
        existing_parallelism: Parallelism,
        requested: String,
        requested_parallelism: Parallelism,
    },
}

/// A shared model, its lanes and the turns of the streams using it.
pub struct Engine {
    instance_id: String,
    key: SessionKey,
    signature: ModelSignature,
    /// One session per request that may run at once; a turn holds one.
    lanes: Vec<Mutex<Model>>,
    turns: Turns,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("instance_id", &self.instance_id)
            .field("path", &self.key.path)
            .field("parallelism", &self.key.parallelism)
            .finish()
    }
}

impl Engine {
    /// The engine for `path` run with `parallelism`, shared with every other user in the
    /// process asking for the same (or for the same `instance_id`), and whether this call
    /// loaded it.
    pub fn get(
        path: &Path,
        parallelism: Parallelism,
        instance_id: Option<&str>,
    ) -> Result<(Arc<Engine>, bool), EngineError> {
        // Two spellings of one file are one model.
        let key = SessionKey {
            path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            parallelism,
        };
        let id = match instance_id.filter(|i| !i.is_empty()) {
            Some(id) => id.to_string(),
            None => format!(
                "{}#{}x{}",
                key.path.display(),
                parallelism.requests,
                parallelism.threads
            ),
        };
        let (engine, loaded) = ENGINES.get_or_load(&id, || -> Result<_, EngineError> {
            // The runtime first: the prepacked-weights container is already a call into it.
            crate::runtime::inference::environment()?;
            let prepacked = ort::session::builder::PrepackedWeights::new();
            let lanes = (0..parallelism.requests.max(1))
                .map(|_| Model::load(path, parallelism.threads, Some(&prepacked)).map(Mutex::new))
                .collect::<Result<Vec<_>, _>>()?;
            let signature = lanes[0].locked().signature().clone();
            Ok(Arc::new(Engine {
                instance_id: id.clone(),
                key: key.clone(),
                signature,
                turns: Turns::new(lanes.len()),
                lanes,
            }))
        })?;
        if engine.key != key {
            return Err(EngineError::InstanceMismatch {
                id,
                existing: engine.key.path.display().to_string(),
                existing_parallelism: engine.key.parallelism,
                requested: key.path.display().to_string(),
                requested_parallelism: parallelism,
            });
        }
        Ok((engine, loaded))
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    pub fn parallelism(&self) -> Parallelism {
        self.key.parallelism
    }

    fn lane(&self, turn: &Turn) -> std::sync::MutexGuard<'_, Model> {
        // A lane is held by one turn at a time: the lock is never contended.
        self.lanes[turn.lane].locked()
    }

    /// A new stream of this engine, with turns of its own.
    pub fn stream(self: &Arc<Self>) -> Stream {
        Stream {
            id: self.turns.join(),
            engine: self.clone(),
        }
    }
}

/// One stream's handle on an engine.
#[derive(Debug)]
pub struct Stream {
    engine: Arc<Engine>,
    id: u64,
}

impl Stream {
    /// Runs `f` on the model in this stream's turn. A `live` stream gets `None` when another
    /// stream's frame was chosen while it waited; any other stream waits for its turn.
    pub fn run<R>(&self, live: bool, f: impl FnOnce(&mut Model) -> R) -> Option<R> {
        let turn = self.engine.turns.acquire(self.id, live)?;
        Some(f(&mut self.engine.lane(&turn)))
    }
}

impl Stream {
    /// Runs `f` on the model in this stream's turn, however long the other streams' turns
    /// take: for work that has no deadline (a face search, enrolment).
    pub fn run_waiting<R>(&self, f: impl FnOnce(&mut Model) -> R) -> R {
        // A waiter that is not live is always served: `acquire` gives up only on live ones.
        let turn = self
            .engine
            .turns
            .acquire(self.id, false)
            .expect("a patient waiter is always served");
        f(&mut self.engine.lane(&turn))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.engine.turns.leave(self.id);
    }
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    ticket: u64,
    stream: u64,
    arrived: u64,
    impatient: bool,
}

#[derive(Debug, Default)]
struct TurnState {
    /// Lanes no turn holds or was granted.
    free: Vec<usize>,
    /// Waiters granted a lane, until they take it: ticket, lane.
    granted: Vec<(u64, usize)>,
    /// Requests waiting for a turn (a stream may have several: a file keeps one per lane busy).
    waiting: Vec<Waiter>,
    tickets: u64,
    /// Turns ended so far.
    ended: u64,
    /// When each stream's last turn ended (absent: never served).
    served: HashMap<u64, Instant>,
    streams: u64,
}

/// Who runs next on a shared engine: a free lane at once; else, when a running turn ends, the
/// waiter served longest ago, while the impatient waiters that were passed over give up.
#[derive(Debug)]
pub struct Turns {
    state: Mutex<TurnState>,
    changed: Condvar,
}

/// A granted turn; dropping it (also by a panic) ends it.
#[derive(Debug)]
pub struct Turn<'a> {
    turns: &'a Turns,
    stream: u64,
    lane: usize,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.turns.release(self.stream, self.lane);
    }
}

impl Turns {
    /// Turns on `lanes` lanes.
    pub fn new(lanes: usize) -> Turns {
        Turns {
            state: Mutex::new(TurnState {
                // Popped from the end: lane 0 first.
                free: (0..lanes.max(1)).rev().collect(),
                ..TurnState::default()
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TurnState> {
        self.state.locked()
    }

    /// A new stream id.
    pub fn join(&self) -> u64 {
        let mut t = self.lock();
        t.streams += 1;
        t.streams
    }

    /// Forgets a stream that ended.
    pub fn leave(&self, stream: u64) {
        self.lock().served.remove(&stream);
    }

    /// A turn for `stream`: at once when a lane is free; else after a running turn ends, if
    /// this request is chosen then. When another was chosen, an `impatient` request gets `None`,
    /// any other waits on (the longest unserved waiter is chosen at every turn, so its turn
    /// comes).
    pub fn acquire(&self, stream: u64, impatient: bool) -> Option<Turn<'_>> {
        let mut t = self.lock();
        if let Some(lane) = t.free.pop() {
            return Some(Turn {
                turns: self,
                stream,
                lane,
            });
        }
        t.tickets += 1;
        let ticket = t.tickets;
        let arrived = t.ended;
        t.waiting.push(Waiter {
            ticket,
            stream,
            arrived,
            impatient,
        });
        loop {
            t = self.changed.wait_locked(t);
            if let Some(i) = t.granted.iter().position(|&(g, _)| g == ticket) {
                let (_, lane) = t.granted.swap_remove(i);
                return Some(Turn {
                    turns: self,
                    stream,
                    lane,
                });
            }
            if impatient && t.ended > arrived {
                t.waiting.retain(|w| w.ticket != ticket);
                return None;
            }
        }
    }

    fn release(&self, stream: u64, lane: usize) {
        let mut t = self.lock();
        t.ended += 1;
        t.served.insert(stream, Instant::now());
        // An impatient waiter that already saw a turn end gives up, even if it has not woken
        // yet to say so: it never waits for a second one.
        let ended = t.ended;
        t.waiting.retain(|w| !w.impatient || w.arrived + 1 == ended);
        // Never served first (None sorts first), then the oldest service, then the oldest
        // request.
        let next = t
            .waiting
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| (t.served.get(&w.stream).copied(), w.ticket))
            .map(|(i, _)| i);
        match next {
            Some(i) => {
                let w = t.waiting.remove(i);
                t.granted.push((w.ticket, lane));
            }
            None => t.free.push(lane),
        }
        drop(t);
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Waits until `n` streams wait on `turns`.
    fn until_waiting(turns: &Turns, n: usize) {
        while turns.lock().waiting.len() < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn ids_load_side_by_side_and_each_id_loads_once() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let registry = Arc::new(Registry::<u32>::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let slow = {
            let (registry, loads) = (registry.clone(), loads.clone());
            std::thread::spawn(move || {
                registry.get_or_load("a", || -> Result<_, ()> {
                    loads.fetch_add(1, SeqCst);
                    started_tx.send(()).unwrap();
                    released.recv().unwrap();
                    Ok(Arc::new(1))
                })
            })
        };
        started.recv().unwrap();
        // While "a" is loading, "b" loads (a thread, so a registry that serialised loads would
        // fail the receive below instead of hanging the test).
        let (b_tx, b_rx) = mpsc::channel();
        {
            let registry = registry.clone();
            std::thread::spawn(move || {
                b_tx.send(registry.get_or_load("b", || -> Result<_, ()> { Ok(Arc::new(2)) }))
            });
        }
        let (b, loaded) = b_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("b waited for a's load")
            .unwrap();
        assert!(loaded && *b == 2);
        // A second user of "a" waits for that load instead of loading again.
        let waiter = {
            let (registry, loads) = (registry.clone(), loads.clone());
            std::thread::spawn(move || {
                registry.get_or_load("a", || -> Result<_, ()> {
                    loads.fetch_add(1, SeqCst);
                    Ok(Arc::new(9))
                })
            })
        };
        release.send(()).unwrap();
        let (a, first) = slow.join().unwrap().unwrap();
        let (again, second) = waiter.join().unwrap().unwrap();
        assert!(first && !second);
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(loads.load(SeqCst), 1);
        // Once nobody holds it, the next user loads it anew.
        drop((a, again));
        let (_, reloaded) = registry
            .get_or_load("a", || -> Result<_, ()> { Ok(Arc::new(3)) })
            .unwrap();
        assert!(reloaded);
    }

    #[test]
    fn a_free_engine_runs_at_once_and_a_single_waiter_runs_next() {
        let turns = Arc::new(Turns::new(1));
        let (a, b) = (turns.join(), turns.join());
        let first = turns.acquire(a, true).expect("free");
        let t = turns.clone();
        let waiter = std::thread::spawn(move || t.acquire(b, true).is_some());
        until_waiting(&turns, 1);
        drop(first);
        assert!(waiter.join().unwrap(), "the only waiter gets the next turn");
        assert_eq!(turns.lock().free, vec![0]);
    }

    #[test]
    fn the_waiter_served_longest_ago_runs_and_the_others_give_up() {
        let turns = Arc::new(Turns::new(1));
        let ids: Vec<u64> = (0..3).map(|_| turns.join()).collect();
        // Stream 1 was served recently, stream 2 never: 2 must win over 1.
        drop(turns.acquire(ids[1], true).unwrap());
        let running = turns.acquire(ids[0], true).unwrap();
        let (tx, rx) = mpsc::channel();
        for &s in &ids[1..] {
            let (t, tx) = (turns.clone(), tx.clone());
            std::thread::spawn(move || {
                let got = t.acquire(s, true).is_some();
                tx.send((s, got)).unwrap();
            });
        }
        until_waiting(&turns, 2);
        drop(running);
        let mut results: Vec<(u64, bool)> = (0..2).map(|_| rx.recv().unwrap()).collect();
        results.sort();
        assert_eq!(results, vec![(ids[1], false), (ids[2], true)]);
        assert_eq!(turns.lock().free, vec![0]);
    }

    #[test]
    fn each_lane_runs_a_turn_at_once_and_a_waiter_gets_the_lane_that_ends() {
        let turns = Arc::new(Turns::new(2));
        let (a, b, c) = (turns.join(), turns.join(), turns.join());
        let first = turns.acquire(a, true).expect("lane free");
        let second = turns.acquire(b, true).expect("the other lane free");
        assert_ne!(first.lane, second.lane);
        let t = turns.clone();
        let waiter = std::thread::spawn(move || t.acquire(c, true).map(|turn| turn.lane));
        until_waiting(&turns, 1);
        let lane = second.lane;
        drop(second);
        assert_eq!(waiter.join().unwrap(), Some(lane));
        drop(first);
        let mut free = turns.lock().free.clone();
        free.sort();
        assert_eq!(free, vec![0, 1]);
    }

    #[test]
    fn one_stream_may_hold_every_lane() {
        let turns = Turns::new(2);
        let a = turns.join();
        let (x, y) = (turns.acquire(a, false), turns.acquire(a, false));
        assert!(x.is_some() && y.is_some());
    }

    #[test]
    fn parallelism_fills_in_automatic_values() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            Parallelism::resolve(0, 0),
            Parallelism {
                requests: cores,
                threads: 1
            }
        );
        assert_eq!(
            Parallelism::resolve(1, 0),
            Parallelism {
                requests: 1,
                threads: cores
            }
        );
        assert_eq!(
            Parallelism::resolve(3, 2),
            Parallelism {
                requests: 3,
                threads: 2
            }
        );
    }

    #[test]
    fn a_panicking_turn_still_ends() {
        let turns = Arc::new(Turns::new(1));
        let a = turns.join();
        let t = turns.clone();
        let _ = std::thread::spawn(move || {
            let _turn = t.acquire(a, true).unwrap();
            panic!("inference failed");
        })
        .join();
        assert!(turns.acquire(a, true).is_some());
    }

    #[test]
    fn a_patient_stream_waits_until_its_turn_comes() {
        let turns = Arc::new(Turns::new(1));
        let ids: Vec<u64> = (0..3).map(|_| turns.join()).collect();
        drop(turns.acquire(ids[1], false).unwrap());
        let running = turns.acquire(ids[0], false).unwrap();
        let (tx, rx) = mpsc::channel();
        for &s in &ids[1..] {
            let (t, tx) = (turns.clone(), tx.clone());
            std::thread::spawn(move || {
                let turn = t.acquire(s, false);
                tx.send((s, turn.is_some())).unwrap();
            });
        }
        until_waiting(&turns, 2);
        drop(running);
        // Stream 2 (never served) first, then stream 1, which waited on instead of giving up.
        assert_eq!(rx.recv().unwrap(), (ids[2], true));
        assert_eq!(rx.recv().unwrap(), (ids[1], true));
    }
}

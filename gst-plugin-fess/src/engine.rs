//! One inference engine per model in a process, shared by every stream that uses it.
//!
//! Elements that name the same model file with the same session options get the same
//! [`Engine`]: one ONNX Runtime session, so one copy of the weights and one thread pool however
//! many cameras run. `model-instance-id` names an engine explicitly (DL Streamer's idea): equal
//! ids share, different ids keep separate sessions even for the same file.
//!
//! Turns are the engine's, not the streaming threads' (see [`Turns`]): a stream asks for a turn
//! with its newest frame and gets it at once when the engine is free. While another stream's
//! inference runs it waits for that one to end; then the waiting stream served longest ago runs.
//! A live stream that was not chosen gives up its frame (which passes with the tracked boxes
//! carried) and asks again with its next one: no live stream waits for more than one other
//! inference and no queue of old frames builds up. A stream that is not live (a file) has no
//! deadline and keeps waiting for its turn, so every one of its frames is inferred.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, Weak};
use std::time::Instant;

use crate::inference::{InferenceError, Model};
use crate::signature::ModelSignature;

/// What makes two requests for a model the same session.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionKey {
    path: PathBuf,
    threads: usize,
}

/// Engines alive in this process, by instance id (explicit, or derived from the session key).
static ENGINES: LazyLock<Mutex<HashMap<String, Weak<Engine>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] InferenceError),
    #[error(
        "model-instance-id '{id}' is already used with model {existing} ({existing_threads} threads); \
         this element asks for {requested} ({requested_threads} threads): give it another id"
    )]
    InstanceMismatch {
        id: String,
        existing: String,
        existing_threads: usize,
        requested: String,
        requested_threads: usize,
    },
}

/// A shared model and the turns of the streams using it.
pub struct Engine {
    instance_id: String,
    key: SessionKey,
    signature: ModelSignature,
    model: Mutex<Model>,
    turns: Turns,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("instance_id", &self.instance_id)
            .field("path", &self.key.path)
            .field("threads", &self.key.threads)
            .finish()
    }
}

impl Engine {
    /// The engine for `path` with `threads` intra-op threads, shared with every other user in
    /// the process asking for the same (or for the same `instance_id`), and whether this call
    /// loaded it.
    pub fn get(
        path: &Path,
        threads: usize,
        instance_id: Option<&str>,
    ) -> Result<(Arc<Engine>, bool), EngineError> {
        // Two spellings of one file are one model.
        let key = SessionKey {
            path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            threads,
        };
        let id = match instance_id.filter(|i| !i.is_empty()) {
            Some(id) => id.to_string(),
            None => format!("{}#{threads}", key.path.display()),
        };
        // Held while loading, so elements starting together load a model once.
        let mut engines = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
        engines.retain(|_, e| e.strong_count() > 0);
        if let Some(engine) = engines.get(&id).and_then(Weak::upgrade) {
            if engine.key != key {
                return Err(EngineError::InstanceMismatch {
                    id,
                    existing: engine.key.path.display().to_string(),
                    existing_threads: engine.key.threads,
                    requested: key.path.display().to_string(),
                    requested_threads: threads,
                });
            }
            return Ok((engine, false));
        }
        let model = Model::load(path, threads)?;
        let engine = Arc::new(Engine {
            instance_id: id.clone(),
            key,
            signature: model.signature().clone(),
            model: Mutex::new(model),
            turns: Turns::default(),
        });
        engines.insert(id, Arc::downgrade(&engine));
        Ok((engine, true))
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub fn signature(&self) -> &ModelSignature {
        &self.signature
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
        let _turn = self.engine.turns.acquire(self.id, live)?;
        let mut model = self.engine.model.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut model))
    }
}

impl Stream {
    /// Runs `f` on the model in this stream's turn, however long the other streams' turns
    /// take: for work that has no deadline (a face search, enrolment).
    pub fn run_waiting<R>(&self, f: impl FnOnce(&mut Model) -> R) -> R {
        // A waiter that is not live is always served: `acquire` gives up only on live ones.
        let _turn = self.engine.turns.acquire(self.id, false);
        let mut model = self.engine.model.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut model)
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
    stream: u64,
    arrived: u64,
    impatient: bool,
}

#[derive(Debug, Default)]
struct TurnState {
    /// A stream runs, or was granted the next turn.
    busy: bool,
    /// The stream granted the next turn, until it takes it.
    granted: Option<u64>,
    /// Streams waiting for a turn: id, turns ended when it came, whether it gives up.
    waiting: Vec<Waiter>,
    /// Turns ended so far.
    ended: u64,
    /// When each stream's last turn ended (absent: never served).
    served: HashMap<u64, Instant>,
    streams: u64,
}

/// Who runs next on a shared engine: the free engine at once; else, when the running turn
/// ends, the waiter served longest ago, while the other waiters give up.
#[derive(Debug, Default)]
pub struct Turns {
    state: Mutex<TurnState>,
    changed: Condvar,
}

/// A granted turn; dropping it (also by a panic) ends it.
#[derive(Debug)]
pub struct Turn<'a> {
    turns: &'a Turns,
    stream: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.turns.release(self.stream);
    }
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, TurnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// A turn for `stream`: at once when free; else after the running turn ends, if this stream
    /// is chosen then. When another was chosen, an `impatient` stream gets `None`, any other
    /// waits on (the longest unserved waiter is chosen at every turn, so its turn comes).
    pub fn acquire(&self, stream: u64, impatient: bool) -> Option<Turn<'_>> {
        let mut t = self.lock();
        if !t.busy {
            t.busy = true;
            return Some(Turn {
                turns: self,
                stream,
            });
        }
        let arrived = t.ended;
        t.waiting.push(Waiter {
            stream,
            arrived,
            impatient,
        });
        loop {
            t = self.changed.wait(t).unwrap_or_else(|p| p.into_inner());
            if t.granted == Some(stream) {
                t.granted = None;
                return Some(Turn {
                    turns: self,
                    stream,
                });
            }
            if impatient && t.ended > arrived {
                t.waiting.retain(|w| w.stream != stream);
                return None;
            }
        }
    }

    fn release(&self, stream: u64) {
        let mut t = self.lock();
        t.ended += 1;
        t.served.insert(stream, Instant::now());
        // An impatient waiter that already saw a turn end gives up, even if it has not woken
        // yet to say so: it never waits for a second one.
        let ended = t.ended;
        t.waiting.retain(|w| !w.impatient || w.arrived + 1 == ended);
        // Never served first (None sorts first), then the oldest service.
        let next = t
            .waiting
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| t.served.get(&w.stream).copied())
            .map(|(i, _)| i);
        match next {
            Some(i) => {
                let w = t.waiting.remove(i);
                t.granted = Some(w.stream);
            }
            None => t.busy = false,
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
    fn a_free_engine_runs_at_once_and_a_single_waiter_runs_next() {
        let turns = Arc::new(Turns::default());
        let (a, b) = (turns.join(), turns.join());
        let first = turns.acquire(a, true).expect("free");
        let t = turns.clone();
        let waiter = std::thread::spawn(move || t.acquire(b, true).is_some());
        until_waiting(&turns, 1);
        drop(first);
        assert!(waiter.join().unwrap(), "the only waiter gets the next turn");
        assert!(!turns.lock().busy);
    }

    #[test]
    fn the_waiter_served_longest_ago_runs_and_the_others_give_up() {
        let turns = Arc::new(Turns::default());
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
        assert!(!turns.lock().busy);
    }

    #[test]
    fn a_panicking_turn_still_ends() {
        let turns = Arc::new(Turns::default());
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
        let turns = Arc::new(Turns::default());
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

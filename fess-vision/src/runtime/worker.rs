//! Threads beside an element's streaming thread that run its jobs, results taken in order.
//!
//! An analysis element hands a frame's inference to its workers and returns, so the streaming
//! thread decodes the next frame (upstream, in the same thread) while the model runs: decoding
//! and inference overlap instead of taking turns, as they would with a `queue` in front of the
//! element — without asking the user to add one. With several threads, several frames are
//! inferred at once (one per lane of the shared engine); their results are taken oldest first,
//! so frames leave in the order they came.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use fess::sync::MutexExt;

pub struct Worker<J, R> {
    jobs: Option<SyncSender<(u64, J)>>,
    /// A result per job; `None` when the job panicked (its thread is gone then).
    results: Receiver<(u64, Option<R>)>,
    /// Results that came before an older one.
    early: BTreeMap<u64, Option<R>>,
    threads: Vec<JoinHandle<()>>,
    /// Sequence numbers of the next job and of the oldest job whose result is not taken.
    next: u64,
    oldest: u64,
}

impl<J, R> std::fmt::Debug for Worker<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("threads", &self.threads.len())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl<J: Send + 'static, R: Send + 'static> Worker<J, R> {
    /// Starts `threads` threads called `name` that run `run` on the submitted jobs.
    pub fn spawn(
        name: &str,
        threads: usize,
        run: impl Fn(J) -> R + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, job_rx) = mpsc::sync_channel::<(u64, J)>(threads);
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let run = Arc::new(run);
        let handles = (0..threads)
            .map(|_| {
                let (job_rx, result_tx, run) = (job_rx.clone(), result_tx.clone(), run.clone());
                std::thread::Builder::new()
                    .name(name.to_string())
                    .spawn(move || loop {
                        let next = job_rx.locked().recv();
                        let Ok((seq, job)) = next else { break };
                        let result = std::panic::catch_unwind(AssertUnwindSafe(|| run(job))).ok();
                        let panicked = result.is_none();
                        if result_tx.send((seq, result)).is_err() || panicked {
                            break;
                        }
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Worker {
            jobs: Some(jobs),
            results,
            early: BTreeMap::new(),
            threads: handles,
            next: 0,
            oldest: 0,
        })
    }
}

impl<J, R> Worker<J, R> {
    /// Jobs submitted whose results are not yet taken.
    pub fn in_flight(&self) -> usize {
        (self.next - self.oldest) as usize
    }

    /// Hands `job` to a free thread (waiting for one when all are busy). Gives the job back
    /// when the threads are gone (they panicked).
    pub fn submit(&mut self, job: J) -> Result<(), J> {
        let jobs = self.jobs.as_ref().expect("present until drop");
        jobs.send((self.next, job)).map_err(|e| e.0 .1)?;
        self.next += 1;
        Ok(())
    }

    /// The result of the oldest job in flight, waiting for it; `None` when no job is in flight
    /// or that job's thread panicked.
    pub fn wait(&mut self) -> Option<R> {
        if self.in_flight() == 0 {
            return None;
        }
        let seq = self.oldest;
        self.oldest += 1;
        loop {
            if let Some(result) = self.early.remove(&seq) {
                return result;
            }
            match self.results.recv() {
                Ok((s, result)) if s == seq => return result,
                Ok((s, result)) => {
                    self.early.insert(s, result);
                }
                Err(_) => return None,
            }
        }
    }
}

impl<J, R> Drop for Worker<J, R> {
    fn drop(&mut self) {
        // Closing the job channel ends the threads' loops once their jobs in flight are done.
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_jobs_in_order_one_at_a_time() {
        let mut w = Worker::spawn("test-worker", 1, |x: u32| x * 2).unwrap();
        assert_eq!(w.wait(), None);
        for i in 0..100 {
            w.submit(i).unwrap();
            assert_eq!(w.in_flight(), 1);
            assert_eq!(w.wait(), Some(i * 2));
            assert_eq!(w.in_flight(), 0);
        }
    }

    #[test]
    fn several_threads_run_at_once_and_results_come_oldest_first() {
        // The first job is the slowest: the later ones finish first, yet come out after it.
        let mut w = Worker::spawn("test-worker", 3, |x: u64| {
            std::thread::sleep(Duration::from_millis(60 - 20 * x));
            (x, std::thread::current().id())
        })
        .unwrap();
        for i in 0..3 {
            w.submit(i).unwrap();
        }
        assert_eq!(w.in_flight(), 3);
        let results: Vec<_> = (0..3).map(|_| w.wait().unwrap()).collect();
        assert_eq!(
            results.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let mut threads: Vec<_> = results.iter().map(|r| r.1).collect();
        threads.dedup();
        assert_eq!(threads.len(), 3, "each job on its own thread");
    }

    #[test]
    fn drop_waits_for_the_job_in_flight() {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let mut w = Worker::spawn("test-worker", 1, move |()| {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
        w.submit(()).unwrap();
        drop(w);
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_panicked_thread_gives_the_job_back() {
        let mut w = Worker::spawn("test-worker", 1, |x: u32| -> u32 { panic!("job {x}") }).unwrap();
        w.submit(1).unwrap();
        assert_eq!(w.wait(), None);
        // The thread is gone now: the next job comes back.
        let mut back = None;
        for _ in 0..100 {
            match w.submit(2) {
                Err(j) => {
                    back = Some(j);
                    break;
                }
                Ok(()) => assert_eq!(w.wait(), None),
            }
        }
        assert_eq!(back, Some(2));
    }
}

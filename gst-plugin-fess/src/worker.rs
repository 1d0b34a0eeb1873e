//! A thread beside an element's streaming thread that runs one job at a time.
//!
//! An analysis element hands a frame's inference to its worker and returns, so the streaming
//! thread decodes the next frame (upstream, in the same thread) while the model runs: decoding
//! and inference overlap instead of taking turns, as they would with a `queue` in front of the
//! element — without asking the user to add one.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

pub struct Worker<J, R> {
    jobs: Option<SyncSender<J>>,
    results: Receiver<R>,
    thread: Option<JoinHandle<()>>,
    in_flight: bool,
}

impl<J, R> std::fmt::Debug for Worker<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<J: Send + 'static, R: Send + 'static> Worker<J, R> {
    /// Starts a thread called `name` that runs `run` on each submitted job.
    pub fn spawn(
        name: &str,
        mut run: impl FnMut(J) -> R + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, job_rx) = mpsc::sync_channel::<J>(1);
        let (result_tx, results) = mpsc::sync_channel::<R>(1);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                for job in job_rx {
                    if result_tx.send(run(job)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            results,
            thread: Some(thread),
            in_flight: false,
        })
    }
}

impl<J, R> Worker<J, R> {
    /// Whether a job was submitted and its result not yet taken.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Hands `job` to the thread. Only one job is in flight: take the last one's result with
    /// [`Worker::wait`] first. Gives the job back when the thread is gone (it panicked).
    pub fn submit(&mut self, job: J) -> Result<(), J> {
        assert!(
            !self.in_flight,
            "one job at a time: wait() for the last one first"
        );
        let jobs = self.jobs.as_ref().expect("present until drop");
        jobs.send(job).map_err(|e| e.0)?;
        self.in_flight = true;
        Ok(())
    }

    /// The result of the job in flight, waiting for it; `None` when no job is in flight or the
    /// thread is gone.
    pub fn wait(&mut self) -> Option<R> {
        if !std::mem::take(&mut self.in_flight) {
            return None;
        }
        self.results.recv().ok()
    }
}

impl<J, R> Drop for Worker<J, R> {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop once the job in flight is done.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_in_order_one_at_a_time() {
        let mut w = Worker::spawn("test-worker", |x: u32| x * 2).unwrap();
        assert_eq!(w.wait(), None);
        for i in 0..100 {
            w.submit(i).unwrap();
            assert!(w.in_flight());
            assert_eq!(w.wait(), Some(i * 2));
            assert!(!w.in_flight());
        }
    }

    #[test]
    fn drop_waits_for_the_job_in_flight() {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let mut w = Worker::spawn("test-worker", move |()| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
        w.submit(()).unwrap();
        drop(w);
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_panicked_thread_gives_the_job_back() {
        let mut w = Worker::spawn("test-worker", |x: u32| -> u32 { panic!("job {x}") }).unwrap();
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

//! `scripts/soak.sh` (or `cargo bench -p gst-plugin-fess --bench soak`): the full pipeline
//! (`fessdetect ! fessface ! fesskafkasink`) on vtest.avi looped in real time, with a real
//! broker (killed and restarted every `FESS_SOAK_RESTART_MIN` minutes, default 5), Redis and
//! fess-exporter beside it, for `FESS_SOAK_MIN` minutes (default 30). Every 10 s it records the
//! RSS, open file descriptors and threads of the pipeline (this process) and of the exporter; at
//! the end it prints first (after a minute of warm-up), last and max of each with last/first,
//! and checks that every event the sink built reached Kafka.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fess_testkit::{media, tmp_dir, Broker, Reader, RedisServer};
use gst::prelude::*;

const TOPICS: [&str; 3] = [
    "motion.detection.events",
    "face.recognition.events",
    "alert.events",
];
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(60);

fn env_minutes(k: &str, d: f64) -> Duration {
    let m = std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d);
    Duration::from_secs_f64(m * 60.0)
}

/// RSS (MB), open descriptors and threads of a process.
fn sample(pid: u32) -> [f64; 3] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    [field("VmRSS:") / 1024.0, fds as f64, field("Threads:")]
}

/// The exporter process, killed when dropped (also when the soak panics).
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_exporter(socket: &Path, redis: &str, kafka: &str) -> Exporter {
    let exe = std::env::current_exe().unwrap();
    // target/release/deps/soak-… → target/release/fess-exporter
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("fess-exporter");
    Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--stats-socket"])
        .arg(socket)
        .args(["--redis-url", redis, "--kafka-bootstrap-servers", kafka])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Exporter)
        .unwrap_or_else(|e| panic!("starting {} (cargo build first): {e}", bin.display()))
}

/// A delivery counter of the sink's `stats`, summed over the topics.
fn topic_sum(stats: &gst::Structure, key: &str) -> u64 {
    let topics = stats.get::<gst::Structure>("topics").unwrap();
    TOPICS
        .iter()
        .filter_map(|t| topics.get::<gst::Structure>(*t).ok())
        .map(|c| c.get::<u64>(key).unwrap_or(0))
        .sum()
}

/// What was read from Kafka: from the brokers before the last restart, and from this one.
struct Consumed {
    earlier: usize,
    ids: BTreeSet<String>,
    reader: Reader,
}

impl Consumed {
    /// Reads the events the sink saw acknowledged (its `stats`), before the in-memory broker is
    /// restarted and forgets them.
    fn catch_up(&mut self, stats: &gst::Structure) {
        let want = topic_sum(stats, "success") as usize - self.earlier;
        if !self
            .reader
            .read_until(Duration::from_secs(120), |seen| seen.len() >= want)
        {
            println!(
                "  (the reader has {} of {want} acknowledged events)",
                self.reader.seen.len()
            );
        }
    }

    /// A new reader for the restarted broker (a consumer of the old one keeps stale state).
    fn restarted(&mut self, bootstrap: &str) {
        self.earlier += self.reader.seen.len();
        self.ids.extend(self.reader.ids());
        self.reader = Reader::new(bootstrap, &TOPICS);
    }
}

fn main() {
    gst::init().unwrap();
    gstfess::plugin_register_static().unwrap();
    let total = env_minutes("FESS_SOAK_MIN", 30.0);
    let restart_every = env_minutes("FESS_SOAK_RESTART_MIN", 5.0);
    let work = tmp_dir("soak");
    std::fs::create_dir_all(&work).unwrap();
    let socket = work.join("stats.sock");
    // The elements report to this exporter.
    std::env::set_var("FESS_STATS_SOCKET", &socket);
    let mut broker = Broker::start();
    let redis = RedisServer::start();
    let exporter = start_exporter(&socket, &redis.url(), &broker.bootstrap());
    let video = media("vtest.avi");
    let launch = format!(
        "filesrc location=\"{}\" ! decodebin ! identity name=pace sync=true ! \
         fessdetect camera-id=soak ! fessface redis-url={} ! \
         fesskafkasink name=events bootstrap-servers={} spool-dir=\"{}\"",
        video.display(),
        redis.url(),
        broker.bootstrap(),
        work.join("spool").display()
    );
    println!(
        "FESS soak: {:.0} min, broker restarted every {:.0} min; {launch}",
        total.as_secs_f64() / 60.0,
        restart_every.as_secs_f64() / 60.0
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline.by_name("events").unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let (prerolled, state, _) = pipeline.state(gst::ClockTime::from_seconds(60));
    assert!(
        prerolled.is_ok() && state == gst::State::Playing,
        "pipeline did not start: {prerolled:?} {state:?}"
    );
    // A segment seek: the clip loops without a flush, the running time goes on.
    let seek = |flags: gst::SeekFlags| {
        pipeline
            .seek(
                1.0,
                flags | gst::SeekFlags::SEGMENT,
                gst::SeekType::Set,
                gst::ClockTime::ZERO,
                gst::SeekType::None,
                gst::ClockTime::NONE,
            )
            .expect("the clip seeks");
    };
    seek(gst::SeekFlags::FLUSH);

    let mut consumed = Consumed {
        earlier: 0,
        ids: BTreeSet::new(),
        reader: Reader::new(&broker.bootstrap(), &TOPICS),
    };
    let start = Instant::now();
    let (mut next_sample, mut next_restart) = (start, start + restart_every);
    let mut samples: Vec<(Duration, [f64; 3], [f64; 3])> = Vec::new();
    let (mut loops, mut restarts) = (0, 0);
    println!("time s | pipeline RSS MB, fds, threads | exporter RSS MB, fds, threads");
    while start.elapsed() < total {
        while let Some(msg) = bus.pop() {
            match msg.view() {
                gst::MessageView::SegmentDone(_) => {
                    loops += 1;
                    seek(gst::SeekFlags::empty());
                }
                gst::MessageView::Error(e) => panic!("pipeline error: {}", e.error()),
                _ => {}
            }
        }
        // Reading Kafka paces the loop (it waits up to 200 ms for a message).
        consumed
            .reader
            .read_until(Duration::from_millis(200), |_| false);
        let now = Instant::now();
        if now >= next_sample {
            next_sample += SAMPLE_EVERY;
            let (p, e) = (sample(std::process::id()), sample(exporter.0.id()));
            println!(
                "{:6.0} | {:7.1} {:4.0} {:4.0} | {:7.1} {:4.0} {:4.0}",
                (now - start).as_secs_f64(),
                p[0],
                p[1],
                p[2],
                e[0],
                e[1],
                e[2]
            );
            samples.push((now - start, p, e));
        }
        if now >= next_restart {
            next_restart += restart_every;
            consumed.catch_up(&sink.property::<gst::Structure>("stats"));
            // Down long enough for the sink to see it (a broker takes seconds to restart), then
            // back on the same address.
            let port: u16 = broker
                .bootstrap()
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            broker.kill();
            let seen_down = Instant::now() + Duration::from_secs(30);
            while sink
                .property::<gst::Structure>("stats")
                .get::<bool>("broker-up")
                == Ok(true)
                && Instant::now() < seen_down
            {
                consumed
                    .reader
                    .read_until(Duration::from_millis(200), |_| false);
            }
            broker = Broker::start_on(port);
            consumed.restarted(&broker.bootstrap());
            restarts += 1;
            println!("  broker restarted ({restarts})");
        }
    }
    // The demuxer loops in segment mode and never ends the stream: end it after the pacer.
    let pace = pipeline.by_name("pace").unwrap();
    pace.static_pad("sink")
        .unwrap()
        .send_event(gst::event::Eos::new());
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        if matches!(
            msg.view(),
            gst::MessageView::Eos(_) | gst::MessageView::Error(_)
        ) {
            break;
        }
    }
    let stats = sink.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    consumed.catch_up(&stats);
    drop(exporter);

    let warm: Vec<&(Duration, [f64; 3], [f64; 3])> =
        samples.iter().filter(|s| s.0 >= WARM_UP).collect();
    if let (Some(first), Some(last)) = (warm.first(), warm.last()) {
        let names = ["RSS MB", "fds", "threads"];
        for (who, pick) in [("pipeline", 0usize), ("exporter", 1)] {
            for (i, name) in names.iter().enumerate() {
                let v =
                    |s: &(Duration, [f64; 3], [f64; 3])| if pick == 0 { s.1[i] } else { s.2[i] };
                let max = warm.iter().map(|s| v(s)).fold(f64::MIN, f64::max);
                println!(
                    "{who} {name}: first {:.1}, last {:.1}, max {:.1}, last/first {:.3}",
                    v(first),
                    v(last),
                    max,
                    v(last) / v(first)
                );
            }
        }
    }
    let built: u64 = ["motion-events", "face-events", "alert-events"]
        .iter()
        .map(|k| stats.get::<u64>(*k).unwrap_or(0))
        .sum();
    let count = |k: &str| topic_sum(&stats, k);
    let mut ids = consumed.ids;
    ids.extend(consumed.reader.ids());
    println!(
        "{loops} loops of the clip, {restarts} broker restarts; events built {built}, \
         acknowledged {} (dropped {}, waited in the spool {}), distinct in Kafka {} ({} missing; \
         tansu acknowledges and drops events that reach a restarted broker before its topics \
         are created again, see the notes in README)",
        count("success"),
        count("dropped"),
        count("spooled"),
        ids.len(),
        built.saturating_sub(ids.len() as u64)
    );
}

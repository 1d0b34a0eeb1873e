//! `cargo bench -p gst-plugin-fess --bench kafka_sink` (or `scripts/bench.sh`).
//!
//! In one run against a local tansu broker:
//! (a) events per second the publishing engine sustains (snappy, acks=1): N motion events handed
//!     to `fess::delivery::publisher::EventPublisher` as fast as possible, timed until the last is acknowledged, with
//!     the write-ahead spool off (no spool folder: memory only) and on (every event written to
//!     disk before it is sent, marked when acknowledged, fsynced every second);
//! (b) streaming-thread time per buffer in `fesskafkasink`'s render (p50/p99/max), every buffer
//!     carrying three objects one of which is a new track (so every buffer publishes an
//!     event), with the broker up and with it down (nothing listening; events queue, then spool).
//!
//! Environment: FESS_BENCH_EVENTS (N for (a), default 200000), FESS_BENCH_BUFFERS (for (b),
//! default 20000).

use std::time::{Duration, Instant};

use fess::delivery::publisher::EventPublisher;
use fess::events::{BBox, DetectedObject, Event, MotionEvent};
use fess_gst::roi_meta;
use fess_testkit::{free_port, tmp_dir, Broker};
use fess_vision::geometry::BBox as NormBox;
use fess_vision::objects::RoiObject;
use gst::prelude::*;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    gst::init().unwrap();
    gstfess::plugin_register_static().unwrap();
    let n_events = env_usize("FESS_BENCH_EVENTS", 200_000);
    let n_buffers = env_usize("FESS_BENCH_BUFFERS", 20_000);
    let broker = Broker::start();
    println!(
        "FESS kafka_sink benchmark (broker: tansu on {})",
        broker.bootstrap()
    );

    // (a) sustained publishing, without and with the write-ahead spool.
    let events: Vec<Event> = (0..n_events)
        .map(|i| {
            let o = DetectedObject {
                class: "person".into(),
                confidence: 0.9,
                bbox: BBox::new(10.0, 20.0, 110.0, 320.0),
                track_id: Some(i as u64),
            };
            Event::Motion(
                MotionEvent::new(&format!("cam_{:02}", i % 16), i as u64, vec![o], None).unwrap(),
            )
        })
        .collect();
    let mut rates = Vec::new();
    for label in ["spool off", "spool on"] {
        let mut b = EventPublisher::builder()
            .bootstrap_servers(&broker.bootstrap())
            .compression("snappy")
            .kafka_config("queue.buffering.max.messages=1000000");
        if label == "spool on" {
            b = b.spool_dir(tmp_dir("bench-spool-a"));
        }
        let p = b.build().unwrap();
        // Warm up: topics created, connection open.
        p.publish_alert("bench", fess::events::AlertLevel::Info, "warm-up")
            .unwrap();
        assert!(p.flush(Duration::from_secs(60)), "warm-up not delivered");
        let t0 = Instant::now();
        for e in &events {
            p.publish(e).unwrap();
        }
        let handed = t0.elapsed();
        assert!(
            p.flush(Duration::from_secs(300)),
            "not everything delivered"
        );
        let total = t0.elapsed();
        let s = p.stats();
        let rate = n_events as f64 / total.as_secs_f64();
        rates.push(rate);
        println!(
            "(a) {label}: {n_events} motion events handed over in {:.2} s ({:.0}/s), all acknowledged in {:.2} s: {rate:.0} events/s sustained (goal >= 100000); delivered {}, spooled {}",
            handed.as_secs_f64(),
            n_events as f64 / handed.as_secs_f64(),
            total.as_secs_f64(),
            s.topics[0].1.success,
            s.topics[0].1.spooled
        );
        p.close();
    }
    println!("(a) spool on / spool off: {:.2}", rates[1] / rates[0]);

    // (b) render() time per buffer.
    for (label, bootstrap) in [
        ("broker up", broker.bootstrap()),
        ("broker down", format!("127.0.0.1:{}", free_port())),
    ] {
        // Properties first: the harness starts the element when it adds it.
        let spool = tmp_dir(&format!("bench-spool-{}", label.replace(' ', "-")));
        let sink = gst::ElementFactory::make("fesskafkasink")
            .property("bootstrap-servers", &bootstrap)
            .property("camera-id", "bench")
            .property("flush-timeout", 1000u32)
            .property("spool-dir", spool.to_str().unwrap())
            .build()
            .unwrap();
        let mut h = gst_check::Harness::with_element(&sink, Some("sink"), None);
        h.set_src_caps_str("video/x-raw,format=RGB,width=640,height=480,framerate=30/1");
        h.play();
        let mut times = Vec::with_capacity(n_buffers);
        for i in 0..n_buffers as u64 {
            let mut buf = gst::Buffer::new();
            {
                let b = buf.get_mut().unwrap();
                b.set_pts(gst::ClockTime::from_mseconds(i * 33));
                for (k, track) in [(0u64, 1u64), (1, 2), (2, 1000 + i)] {
                    let x = 0.1 + k as f32 * 0.3;
                    roi_meta::attach(
                        b,
                        640,
                        480,
                        &RoiObject::tracked(
                            "person",
                            0,
                            0.9,
                            NormBox::new(x, 0.2, x + 0.1, 0.8),
                            track,
                        ),
                    );
                }
            }
            let t = Instant::now();
            h.push(buf).unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
        let stats = h.element().unwrap().property::<gst::Structure>("stats");
        println!(
            "(b) render, {label}: {n_buffers} buffers, one event each: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (goal p99 <= 50 µs); queued {}, spooled {}",
            q(0.5),
            q(0.99),
            q(1.0),
            stats.get::<u64>("queued").unwrap_or(0),
            stats.get::<u64>("spool-records").unwrap_or(0),
        );
    }
}

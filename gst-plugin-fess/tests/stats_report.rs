//! fessdetect and fesskafkasink report their counters (about once a second and at stop) over the stats protocol to
//! `FESS_STATS_SOCKET`.
//! (Its own test binary: it sets an environment variable.)

mod common;

use std::os::unix::net::UnixDatagram;

use common::*;
use fess::observability::stats::{Datagram, Value, MAX_DATAGRAM_BYTES};

fn counter(d: &Datagram, name: &str) -> u64 {
    d.metrics
        .iter()
        .find_map(|m| match (&m.value, m.name == name) {
            (Value::Counter { value }, true) => Some(*value),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn elements_send_cumulative_datagrams_and_a_final_one() {
    let dir = std::env::temp_dir().join(format!("fess-stats-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stats.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixDatagram::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    // Before any element exists (and no other thread runs in this binary).
    std::env::set_var("FESS_STATS_SOCKET", &path);
    let clip = fess_testkit::clip(&media("vtest.avi"), 60);

    let run = run_pipeline(&format!(
        "filesrc location=\"{}\" ! decodebin ! \
         fessdetect name=detect camera-id=stats_cam motion-gate=false ! tee name=t \
         t. ! queue ! appsink name=sink \
         t. ! queue ! fesskafkasink name=events bootstrap-servers=127.0.0.1:{} flush-timeout=200 spool-dir=\"{}\"",
        clip.display(),
        fess_testkit::free_port(),
        fess_testkit::tmp_dir("stats-spool").display()
    ));
    assert_eq!(run.error, None);
    let frames = run.stats.unwrap().get::<u64>("frames").unwrap();
    assert_eq!(frames, 60);

    let mut buf = vec![0u8; MAX_DATAGRAM_BYTES];
    let mut got = Vec::new();
    while let Ok(n) = listener.recv(&mut buf) {
        got.push(Datagram::parse(&buf[..n]).unwrap());
    }
    // Every metric the elements sent is in the catalogue, with its kind and labels.
    for m in got.iter().flat_map(|d| &d.metrics) {
        if let Err(e) = fess::observability::metrics::check(m) {
            panic!("{e}");
        }
    }
    let (detect, sink): (Vec<Datagram>, Vec<Datagram>) =
        got.into_iter().partition(|d| d.source.kind == "fessdetect");
    assert!(
        detect.len() >= 2,
        "{} datagrams from fessdetect",
        detect.len()
    );
    for d in &detect {
        assert_eq!(d.source.name, "detect");
        assert_eq!(d.source.pid, std::process::id());
    }
    // The sink reports while running (its first buffer), not only at stop.
    assert!(
        sink.len() >= 2,
        "{} datagrams from fesskafkasink",
        sink.len()
    );
    // The sink's last report: events built, and (no broker) spooled at EOS.
    let s = sink.last().expect("datagrams from fesskafkasink");
    assert_eq!(
        (
            s.source.kind.as_str(),
            s.source.name.as_str(),
            s.source.camera_id.as_str()
        ),
        ("fesskafkasink", "events", "stats_cam")
    );
    let value = |name: &str, label: (&str, &str)| {
        s.metrics
            .iter()
            .find_map(|m| match &m.value {
                Value::Counter { value }
                    if m.name == name
                        && m.labels.get(label.0).map(String::as_str) == Some(label.1) =>
                {
                    Some(*value)
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name} {label:?} missing"))
    };
    let built = value("fess_events_built_total", ("type", "motion"));
    assert!(built > 0);
    assert_eq!(
        value("fess_kafka_events_sent_total", ("status", "success")),
        0
    );
    assert!(value("fess_kafka_events_sent_total", ("status", "spooled")) >= built);
    let got = detect;
    // Cumulative and monotonic; the last one (sent at stop) has the final totals.
    let totals: Vec<u64> = got
        .iter()
        .map(|d| counter(d, "fess_frames_total"))
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    let last = got.last().unwrap();
    assert_eq!(counter(last, "fess_frames_total"), frames);
    assert_eq!(counter(last, "fess_inferences_total"), frames);
    assert_eq!(last.source.camera_id, "stats_cam");
    assert!(last
        .metrics
        .iter()
        .any(|m| m.name == "fess_detections_total"
            && m.labels.get("object_class").map(String::as_str) == Some("person")
            && m.labels.get("camera_id").map(String::as_str) == Some("stats_cam")));
}

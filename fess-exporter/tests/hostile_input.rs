//! Bad input: garbage, truncated, oversized and hostile datagrams (10,000 distinct camera ids)
//! are refused or folded and counted while memory stays bounded; malformed HTTP, huge heads,
//! slow clients and too many connections get bounded answers; SIGTERM removes the socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use fess::observability::stats::{Datagram, Metric, Source, MAX_DATAGRAM_BYTES, PROTOCOL_VERSION};
use fess_exporter::http::HEAD_PLACES_PER_SLOT;
use fess_testkit::{sample, ExporterProcess};

fn datagram(name: &str, camera: &str, metrics: Vec<Metric>) -> Datagram {
    Datagram {
        v: PROTOCOL_VERSION,
        source: Source {
            pid: 4242,
            name: name.into(),
            kind: "app".into(),
            camera_id: camera.into(),
            started_ms: 1,
        },
        sent_ms: 0,
        metrics,
        problems: Vec::new(),
        camera: None,
    }
}

/// 100 sources × 100 metrics, each metric with a camera id never seen before.
fn flood(tx: &UnixDatagram, to: &std::path::Path, round: u32) {
    for s in 0..100 {
        let metrics = (0..100)
            .map(|i| {
                let cam = format!("r{round}-cam-{}", s * 100 + i);
                Metric::counter("fess_frames_total", &[("camera_id", &cam)], 1)
            })
            .collect();
        let d = datagram(&format!("flood-{round}-{s}"), "", metrics);
        tx.send_to(&d.to_bytes(), to).unwrap();
    }
}

/// Waits until the exporter has received `n` datagrams; returns /metrics.
fn received(exporter: &ExporterProcess, n: u64) -> String {
    for _ in 0..100 {
        let m = exporter.metrics();
        if sample(&m, "fess_exporter_datagrams_received_total") == Some(n as f64) {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the exporter did not receive {n} datagrams:\n{}",
        exporter.metrics()
    );
}

/// Sends `raw` on a new connection and returns the status line of the answer.
fn raw_http(exporter: &ExporterProcess, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(exporter.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn hostile_datagrams_are_refused_or_folded_and_memory_stays_bounded() {
    let exporter = ExporterProcess::start(
        "hostile",
        &["--no-redis", "--no-kafka", "--min-cameras", "0"],
    );
    // Blocking sends: when the exporter's queue is full they wait, so nothing is lost.
    let tx = UnixDatagram::unbound().unwrap();
    let to = exporter.socket.as_path();
    let good = datagram(
        "detect0",
        "cam_ok",
        vec![Metric::counter(
            "fess_frames_total",
            &[("camera_id", "cam_ok")],
            5,
        )],
    );
    let bytes = good.to_bytes();
    let mut wrong_version = good.clone();
    wrong_version.v = 7;
    let mut bad_source = good.clone();
    bad_source.source.camera_id = "line\nbreak".into();
    let bad_metrics = datagram(
        "detect0",
        "cam_ok",
        vec![
            Metric::counter("fess_no_suffix", &[], 1),
            Metric::counter("fess_x_total", &[("camera_id", "quote\"d")], 1),
            Metric::gauge("fess_active_cameras", &[], 1e9),
        ],
    );
    for b in [
        &bytes[..],
        b"garbage",
        &bytes[..bytes.len() / 2],
        &vec![b' '; MAX_DATAGRAM_BYTES + 100],
        &wrong_version.to_bytes(),
        &bad_source.to_bytes(),
        &bad_metrics.to_bytes(),
    ] {
        tx.send_to(b, to).unwrap();
    }
    let m = received(&exporter, 7);
    for (reason, n) in [
        ("malformed", 2.0),
        ("too_large", 1.0),
        ("version", 1.0),
        ("bad_source", 1.0),
    ] {
        let series = format!("fess_exporter_datagrams_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&m, &series), Some(n), "{series}\n{m}");
    }
    for (reason, n) in [("bad_name", 1.0), ("bad_label", 1.0), ("reserved", 1.0)] {
        let series = format!("fess_exporter_metrics_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(sample(&m, &series), Some(n), "{series}\n{m}");
    }
    assert_eq!(
        sample(&m, r#"fess_frames_total{camera_id="cam_ok"}"#),
        Some(5.0)
    );
    // The good one and the one whose metrics were refused one by one.
    assert_eq!(
        sample(&m, "fess_exporter_datagrams_accepted_total"),
        Some(2.0)
    );
    assert_eq!(sample(&m, "fess_active_cameras"), Some(1.0));
    let rss_before = exporter.rss_kb();

    // 10,000 camera ids: 255 more fit the default cap of 256, the rest are folded and counted.
    flood(&tx, to, 1);
    let m = received(&exporter, 107);
    assert_eq!(sample(&m, "fess_active_cameras"), Some(256.0));
    assert_eq!(
        sample(
            &m,
            r#"fess_exporter_series_folded_total{label="camera_id"}"#
        ),
        Some(9745.0)
    );
    assert_eq!(
        sample(&m, r#"fess_frames_total{camera_id="_other"}"#),
        Some(9745.0)
    );
    let series = sample(&m, "fess_exporter_series").unwrap();
    assert!(series <= 258.0, "{series} series");
    let rss_flood = exporter.rss_kb();
    // Another 10,000 new ids: nothing more is held.
    flood(&tx, to, 2);
    let m = received(&exporter, 207);
    assert_eq!(sample(&m, "fess_exporter_series"), Some(series));
    let rss_again = exporter.rss_kb();
    println!("exporter RSS: {rss_before} kB at start, {rss_flood} kB after 10,000 camera ids, {rss_again} kB after 20,000");
    // Bounded: each source keeps at most 512 last values (the per-datagram cap), and no
    // series is added past the caps.
    assert!(rss_again < 64 * 1024, "{rss_again} kB");
    assert!(
        rss_again < rss_flood + 16 * 1024,
        "{rss_flood} kB then {rss_again} kB"
    );

    // Sockets and the server still answer properly.
    assert_eq!(exporter.get("/livez").status, 200);
    let path = exporter.socket.clone();
    let status = exporter.terminate();
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "the socket outlived the exporter");
}

#[test]
fn bad_http_gets_bounded_answers() {
    let exporter = ExporterProcess::start(
        "http",
        &[
            "--no-redis",
            "--no-kafka",
            "--min-cameras",
            "0",
            "--http-timeout",
            "1",
            "--http-max-connections",
            "4",
        ],
    );
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(
        raw_http(&exporter, huge.as_bytes()),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(
        raw_http(
            &exporter,
            b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
        ),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(
        raw_http(&exporter, b"GET\r\n\r\n"),
        "HTTP/1.1 400 Bad Request"
    );
    assert_eq!(exporter.get("/nothing-here").status, 404);

    // Slow clients: each holds a place until the timeout, then gets 408; a probe meanwhile is
    // answered at once (places are HEAD_PLACES_PER_SLOT per slot: no eviction needed).
    let slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(exporter.addr).unwrap();
            s.write_all(b"GET /metr").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    assert_eq!(
        raw_http(&exporter, b"GET /livez HTTP/1.1\r\n\r\n"),
        "HTTP/1.1 200 OK"
    );
    let answers: Vec<String> = slow
        .into_iter()
        .map(|mut s| {
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer.lines().next().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(answers, ["HTTP/1.1 408 Request Timeout"; 4]);

    // A slow-header flood far past the places: each new connection evicted the oldest, the
    // last ones hold every place, and probes are still answered (each evicting the oldest).
    let places = 4 * HEAD_PLACES_PER_SLOT;
    let mut flood: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(exporter.addr).unwrap();
            let _ = s.write_all(b"GET /met");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    let held = flood.split_off(100 - places);
    for mut s in flood {
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }
    for probe in ["/livez", "/readyz"].repeat(4) {
        let head = format!("GET {probe} HTTP/1.1\r\n\r\n");
        assert_eq!(raw_http(&exporter, head.as_bytes()), "HTTP/1.1 200 OK");
    }
    drop(held);
    let metrics = exporter.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    assert!(metrics.body.contains("fess_build_info"));
}

//! Lines and zones on real video: vtest.avi through fessdetect into fesskafkasink (the tansu
//! broker) and fessoverlay (a recording), with a counting line across the road the pedestrians
//! walk and a zone on the lawn. The crossings in Kafka and in Prometheus (the real server
//! scraping the exporter) agree with each other and with a hand count of the clip, and the
//! recording shows the line and the zone.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::plugin_dir;
use fess::events::{AnalyticsKind, Event};
use fess_testkit::{media, tmp_dir, Broker, ExporterProcess, PrometheusServer, Reader};

/// A line from the lawn's edge up across the road at x = 0.6 (A at the bottom, so its first
/// direction, "east", is walking left to right), and the lawn below the road.
const RULES: &str = r#"
[[line]]
name = "road"
points = [[0.6, 0.9], [0.6, 0.3]]
directions = ["east", "west"]
class = "person"

[[zone]]
name = "lawn"
points = [[0.0, 0.43], [0.45, 0.56], [1.0, 0.86], [1.0, 1.0], [0.0, 1.0]]
class = "person"

[[rule]]
name = "east"
when = "crossing"
line = "road"
direction = "east"
cooldown = 0
level = "INFO"
message = "Walked east across the road line"

[[rule]]
name = "west"
when = "crossing"
line = "road"
direction = "west"
level = "INFO"
message = "Walked west across the road line"

[[rule]]
name = "lawn busy"
when = "occupancy"
zone = "lawn"
above = 1
min_duration = 1
cooldown = 10
level = "WARNING"
message = "More than one person on the lawn"
"#;

/// The tracks that walk across x = 0.6 on the road in the 795 frames, east and west, counted by
/// hand: fessdetect's person tracks (feet, frame by frame) checked against the clip. Persons:
/// 10 east, 12 west; two of the westward walkers get a new track id on their first frame past
/// the line (tracks 4 → 10 at frame 23, 58 → 62 at frame 742), so no track of theirs is seen
/// on both sides: a crossing needs its track on the new side twice (README, "Lines, zones and
/// alert rules"). A third track crosses west below the line's lower end (y 0.99), not counted.
/// One more or less would be a tracker's change of mind; more than that means counting broke.
const HAND_COUNT: (f64, f64) = (10.0, 10.0);

/// Stays on the lawn, counted by hand the same way: tracks whose feet went into the polygon.
const LAWN_STAYS: f64 = 8.0;

#[test]
fn vtest_crossings_agree_in_kafka_prometheus_and_by_hand() {
    let exporter = ExporterProcess::start(
        "lines-zones",
        &["--no-redis", "--no-kafka", "--min-cameras", "0"],
    );
    let prometheus = PrometheusServer::start(&[exporter.addr], Duration::from_secs(1), &[]);
    let broker = Broker::start();
    let dir = tmp_dir("lines-zones");
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    // The overlay's last frame, raw RGB, 768×576.
    let last = dir.join("frame%05d.rgb");
    let launch = format!(
        "filesrc location={video} ! decodebin ! fessdetect camera-id=cam_vtest motion-gate=false ! \
         tee name=t \
         t. ! queue ! fesskafkasink bootstrap-servers={bootstrap} spool-dir={spool} alert-rules={rules} \
         t. ! queue ! fessoverlay alert-rules={rules} ! videoconvert ! video/x-raw,format=RGB ! \
         multifilesink location={last} max-files=1",
        video = media("vtest.avi").display(),
        bootstrap = broker.bootstrap(),
        spool = dir.join("spool").display(),
        rules = rules.display(),
        last = last.display(),
    );
    // `-m` prints the bus messages: fesskafkasink posts one per alert it publishes.
    let out = Command::new("gst-launch-1.0")
        .arg("-m")
        .args(launch.split_whitespace())
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("FESS_STATS_SOCKET", &exporter.socket)
        .stderr(Stdio::inherit())
        .output()
        .expect("gst-launch-1.0 (gstreamer1.0-tools, installed by scripts/setup.sh)");
    assert!(out.status.success(), "pipeline: {}", out.status);
    let posted = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("fess-alert"))
        .count();

    // Kafka: each crossing alert lists the tracks that crossed on its frame.
    let mut r = Reader::new(&broker.bootstrap(), &["alert.events"]);
    assert!(
        r.read_until(Duration::from_secs(60), |s| s.len() >= posted),
        "{} of {posted} alerts in Kafka",
        r.seen.len()
    );
    assert_eq!(r.seen.len(), posted);
    let mut kafka: BTreeMap<String, f64> = BTreeMap::new();
    let mut tracks = BTreeMap::new();
    let mut busy = Vec::new();
    for c in &r.seen {
        let Ok(Event::Alert(a)) = Event::from_json(&serde_json::to_vec(&c.json).unwrap()) else {
            panic!("not an alert: {}", c.json);
        };
        let d = a.analytics.expect("every rule here is a line or zone rule");
        match d.kind {
            AnalyticsKind::Crossing => {
                let direction = d.direction.unwrap();
                assert_eq!(d.line.as_deref(), Some("road"));
                assert!(!a.associated_events.is_empty());
                for t in &d.track_ids {
                    // Once per track and direction.
                    assert!(
                        tracks.insert((*t, direction.clone()), ()).is_none(),
                        "{t} twice"
                    );
                }
                *kafka.entry(direction).or_default() += d.track_ids.len() as f64;
            }
            AnalyticsKind::Occupancy => busy.push(d),
            AnalyticsKind::Dwell => panic!("no dwell rule here: {d:?}"),
        }
    }
    let (east, west) = (kafka["east"], kafka["west"]);
    assert!(
        (east - HAND_COUNT.0).abs() <= 1.0 && (west - HAND_COUNT.1).abs() <= 1.0,
        "Kafka: {east} east, {west} west; counted by hand: {HAND_COUNT:?}; tracks {:?}",
        tracks.keys().collect::<Vec<_>>()
    );

    // Prometheus: the same numbers, by direction.
    let wait = Duration::from_secs(30);
    let (s, ok) = prometheus.query_until(
        r#"max_over_time(fess_line_crossings_total{camera_id="cam_vtest",line="road",object_class="person"}[5m])"#,
        wait,
        |s| {
            let v: BTreeMap<String, f64> = s
                .iter()
                .map(|(l, v)| (l["direction"].clone(), *v))
                .collect();
            v == kafka
        },
    );
    assert!(ok, "Prometheus {s:?}, Kafka {kafka:?}");

    // The lawn: the occupancy alerts name it with more than one person, each tracked.
    assert!(!busy.is_empty(), "no occupancy alert");
    for d in &busy {
        assert_eq!(d.zone.as_deref(), Some("lawn"));
        assert!(d.objects.unwrap() >= 2 && d.track_ids.len() as u64 == d.objects.unwrap());
        assert!(d.seconds.unwrap() >= 1.0);
    }
    // Stays on the lawn, all ended by the end of the stream: as many as the tracks that stepped
    // on it (8 by hand: tracks 36, 41, 42, 45, 50, 54, 64, 65, each once), and at least those
    // the occupancy alerts named.
    let named: BTreeSet<u64> = busy.iter().flat_map(|d| d.track_ids.clone()).collect();
    let (s, ok) = prometheus.query_until(
        r#"max_over_time(fess_zone_dwell_seconds_count{camera_id="cam_vtest",zone="lawn"}[5m])"#,
        wait,
        |s| {
            s.first()
                .is_some_and(|(_, v)| (*v - LAWN_STAYS).abs() <= 1.0 && *v >= named.len() as f64)
        },
    );
    assert!(
        ok,
        "stays on the lawn {s:?}; by hand {LAWN_STAYS}, in the alerts {named:?}"
    );
    // The gauge saw someone there, and nobody once the stream ended.
    let (s, ok) = prometheus.query_until(
        r#"max_over_time(fess_zone_objects{camera_id="cam_vtest",zone="lawn"}[5m])"#,
        wait,
        |s| s.first().is_some_and(|(_, v)| *v >= 1.0),
    );
    assert!(ok, "lawn occupancy {s:?}");
    let (s, ok) = prometheus.query_until(
        r#"fess_zone_objects{camera_id="cam_vtest",zone="lawn"}"#,
        wait,
        |s| s.first().is_some_and(|(_, v)| *v == 0.0),
    );
    assert!(ok, "lawn occupancy after the end {s:?}");

    // The recording: the line in its colour down x = 0.6 (where no box or caption covers it),
    // the zone's edge in its colour.
    let frame = std::fs::read(only_file(&dir, "rgb")).unwrap();
    assert_eq!(frame.len(), 768 * 576 * 3);
    // The video is I420: a 2-pixel line's colour bleeds into its neighbours' (chroma is
    // shared by 2×2 pixels), so the hue is checked, not the exact colour.
    let near = |x: usize, y: usize, hue: fn(i32, i32, i32) -> bool| {
        (x.saturating_sub(2)..x + 3).any(|x| {
            let i = (y * 768 + x) * 3;
            let [r, g, b] = [0, 1, 2].map(|c| i32::from(frame[i + c]));
            hue(r, g, b)
        })
    };
    let cyan = |r, g, b| g > r + 60 && b > r + 40;
    let yellow = |r, g, b| r > 180 && g > 150 && b < 120;
    let on_line = (173..518).filter(|y| near(461, *y, cyan)).count();
    assert!(on_line > 250, "{on_line} of 345 rows show the line");
    // Along the lawn's upper edge from (0.45, 0.56) to (1.0, 0.86).
    let on_edge = (1..10)
        .map(|i| f64::from(i) / 10.0)
        .filter(|t| {
            let (x, y) = (0.45 + 0.55 * t, 0.56 + 0.30 * t);
            near((x * 768.0) as usize, (y * 576.0) as usize, yellow)
        })
        .count();
    assert!(on_edge >= 6, "{on_edge} of 9 points on the lawn's edge");
}

fn only_file(dir: &Path, ext: &str) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

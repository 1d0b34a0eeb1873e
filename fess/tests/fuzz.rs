//! Bounded fuzzing (proptest) of every input of the `fess` crate that crosses a boundary: the
//! alert-rules file, `.env` and `kafka-config` text, spool files, stats datagrams, gallery
//! import files, and the per-frame metadata the event builder reads (what any upstream element
//! may attach). None may panic. `FESS_FUZZ_CASES` runs more cases.

use std::time::Duration;

use fess::delivery::spool::{Append, Record, Spool};
use fess::events::emission::{EventBuilder, Frame, SeenFace, SeenObject};
use fess::gallery::{GalleryExport, GalleryStore, Person, DEFAULT_GALLERY_KEY, MAX_NAME_CHARS};
use fess::observability::stats::{Datagram, Metric};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: fess_testkit::fuzz_cases(1024),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Numbers as hostile metadata and files carry them.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        -2.0..2.0f64,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-1e300),
        Just(1e300),
        Just(0.0),
        any::<f64>(),
    ]
}

/// Object classes: mostly ones the rules name, so rules fire.
fn class() -> impl Strategy<Value = String> {
    prop_oneof![Just("person".to_string()), Just("car".to_string()), text()]
}

/// A fraction, mostly sane (so metadata passes the checks and reaches the rules), sometimes not.
fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![4 => 0.0..=1.0f64, 1 => number()]
}

/// A box of fractions, mostly well ordered.
fn bbox() -> impl Strategy<Value = [f64; 4]> {
    prop_oneof![
        4 => (0.0..0.5f64, 0.0..0.5f64, 0.0..0.5f64, 0.0..0.5f64)
            .prop_map(|(x, y, w, h)| [x, y, x + w, y + h]),
        1 => [number(), number(), number(), number()],
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), ".{0,12}", "[a-z_]{1,8}", "\\PC{0,40}"]
}

/// A TOML number (or not quite one) for a rule's field: mostly sane, so most files pass the
/// checks and their rules run.
fn toml_number() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0.0..3.0f64).prop_map(|n| format!("{n:?}")),
        1 => number().prop_map(|n| format!("{n:?}")),
        2 => prop_oneof![
            Just("nan"), Just("inf"), Just("-inf"), Just("\"5\""), Just("1e400"),
            Just("1e300"), Just("1e300"), Just("1e15"), Just("3.2e7")
        ]
        .prop_map(str::to_string),
    ]
}

/// TOML points, mostly within the frame.
fn points(n: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let point = prop_oneof![4 => (0.0..=1.0f64, 0.0..=1.0f64), 1 => (number(), number())];
    prop::collection::vec(point, n).prop_map(|p| {
        let p: Vec<String> = p.iter().map(|(x, y)| format!("[{x:?}, {y:?}]")).collect();
        format!("[{}]", p.join(", "))
    })
}

/// A counting line "l" and a zone "z" for the rules to name, with hostile points.
fn scene_toml() -> impl Strategy<Value = String> {
    (
        points(1..4),
        points(2..6),
        prop_oneof![Just("centre"), Just("bottom_centre")],
        // Mostly valid, so that the scenes these files make are run, not only refused.
        prop_oneof![4 => (0.0..0.2f64).prop_map(|n| format!("{n:?}")), 1 => toml_number()],
        prop_oneof![
            4 => (1..=5u32).prop_map(|n| n.to_string()),
            1 => prop_oneof![Just("0"), Just("-1"), Just("101"), Just("4294967296")]
                .prop_map(str::to_string),
        ],
    )
        .prop_map(|(line, zone, point, band, inertia)| {
            format!(
                "[[line]]\nname = \"l\"\npoints = {line}\npoint = \"{point}\"\nband = {band}\n\
                 inertia = {inertia}\n\n\
                 [[zone]]\nname = \"z\"\npoints = {zone}\nclass = \"person\"\ninertia = {inertia}\n\n"
            )
        })
}

/// Rules files shaped like real ones, with hostile values.
fn rules_toml() -> impl Strategy<Value = String> {
    let rule = (
        prop_oneof![
            2 => Just("crossing"),
            2 => Just("occupancy"),
            6 => Just("object"),
            2 => Just("unknown_face"),
            2 => Just("unauthorized_face"),
            1 => Just("nothing")
        ],
        class(),
        prop_oneof![
            4 => Just(None),
            2 => prop::collection::vec((0.0..=1.0f64, 0.0..=1.0f64), 3..6).prop_map(Some),
            1 => prop::collection::vec((number(), number()), 0..5).prop_map(Some),
        ],
        toml_number(),
        toml_number(),
        prop_oneof![4 => Just("WARNING"), 2 => Just("CRITICAL"), 1 => Just("loud")],
        prop_oneof![3 => Just(None), 1 => text().prop_map(Some)],
    );
    (scene_toml(), prop::collection::vec(rule, 0..3)).prop_map(|(scene, rules)| {
        let mut t = scene;
        for (when, class, zone, min, cooldown, level, camera) in rules {
            t += &format!(
                "[[rule]]\nname = \"r\"\nwhen = \"{when}\"\n\
                 cooldown = {cooldown}\nlevel = \"{level}\"\nmessage = \"m\"\n"
            );
            if when != "crossing" {
                t += &format!("min_duration = {min}\n");
            }
            // Mostly what the trigger wants, so most files pass the checks and run.
            match when {
                "object" => t += &format!("class = {class:?}\n"),
                "crossing" => t += "line = \"l\"\n",
                // min_duration is hostile already; `above` small so it fires.
                "occupancy" => t += "zone = \"z\"\nabove = 0\n",
                _ => {}
            }
            if let Some(zone) = zone.filter(|_| when != "occupancy") {
                let points: Vec<String> = zone
                    .iter()
                    .map(|(x, y)| format!("[{x:?}, {y:?}]"))
                    .collect();
                t += &format!("zone = [{}]\n", points.join(", "));
            }
            if let Some(camera) = camera {
                t += &format!("cameras = [{camera:?}]\n");
            }
        }
        t
    })
}

fn object() -> impl Strategy<Value = (SeenObject, bool)> {
    (
        proptest::option::of(prop_oneof![0..4u64, any::<u64>()]),
        class(),
        fraction(),
        bbox(),
    )
        .prop_map(|(track_id, class, confidence, bbox)| {
            (
                SeenObject {
                    track_id,
                    class,
                    confidence,
                    bbox,
                },
                track_id.is_some(),
            )
        })
}

fn face() -> impl Strategy<Value = SeenFace> {
    (
        prop_oneof![3 => Just("f1".to_string()), 1 => text()],
        proptest::option::of(text()),
        any::<(bool, bool)>(),
        fraction(),
        bbox(),
    )
        .prop_map(
            |(face_id, person_name, (known, is_authorized), confidence, bbox)| SeenFace {
                face_id,
                person_name,
                known,
                is_authorized,
                confidence,
                bbox,
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_as_a_rules_file(text in "\\PC{0,300}", json in any::<bool>()) {
        let _ = fess::events::rules::parse(&text, json);
    }

    /// Rules with hostile values either are refused with a message or run on hostile frames.
    #[test]
    fn rules_and_frames_together(
        rules in rules_toml(),
        camera in prop_oneof![3 => Just("cam".to_string()), 1 => text()],
        frames in prop::collection::vec(
            (prop::collection::vec(object(), 0..4), prop::collection::vec(face(), 0..3),
             0..100_000u64, any::<(u16, u16)>()),
            2..8,
        ),
    ) {
        let rules = match fess::events::rules::parse(&rules, false) {
            Ok(r) => r,
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                Default::default()
            }
        };
        let mut b = EventBuilder::new(&camera, Duration::from_secs(1), Duration::from_secs(5), rules);
        for (i, (objects, faces, ms, (w, h))) in frames.into_iter().enumerate() {
            let objects: Vec<SeenObject> = objects.into_iter().map(|(o, _)| o).collect();
            let frame = Frame {
                frame_number: i as u64,
                time: Duration::from_millis(ms),
                width: w.into(),
                height: h.into(),
                objects: &objects,
                faces: &faces,
            };
            for e in b.observe(&frame) {
                // What is built is publishable.
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&e.to_json()).is_ok());
            }
        }
    }

    #[test]
    fn any_text_as_a_dotenv_file(text in "(\\PC|\n|\"|'|#|=|\\\\){0,300}") {
        let _ = fess::env::parse_dotenv(&text);
    }

    #[test]
    fn any_text_as_kafka_config(text in "(\\PC|;|=|\n){0,200}") {
        if let Err(e) = fess::delivery::kafka_config::parse_extra(&text) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn any_bytes_as_a_stats_datagram(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Datagram::parse(&bytes);
    }

    /// A real datagram with bytes changed or cut.
    #[test]
    fn damaged_stats_datagrams(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let good = datagram_bytes(vec![
            Metric::counter("fess_frames_total", &[("camera_id", "cam")], 7),
            Metric::gauge("fess_kafka_queue_depth", &[], 3.0),
        ]);
        let mut bytes = good.clone();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = Datagram::parse(&bytes);
    }

    /// Any file in a spool folder: opened, read, never a panic; a valid log with damage gives
    /// back its intact records.
    #[test]
    fn any_bytes_as_a_spool_segment(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let dir = fess_testkit::tmp_dir("fuzz-spool-bytes");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("spool-{:020}.log", 0)), &bytes).unwrap();
        std::fs::write(dir.join(format!("spool-{:020}.done", 0)), &bytes[..bytes.len() / 2]).unwrap();
        let mut spool = Spool::open(&dir, 1 << 20).unwrap();
        let _ = spool.take_waiting(usize::MAX).unwrap();
    }

    #[test]
    fn damaged_spool_segments_keep_their_intact_records(
        n in 1..20usize,
        flips in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = fess_testkit::tmp_dir("fuzz-spool-damage");
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                topic: "alert.events".into(),
                key: b"cam".to_vec(),
                headers: vec![("event_id".into(), format!("e{i}").into_bytes())],
                payload: format!("{{\"n\":{i}}}").into_bytes(),
            })
            .collect();
        {
            let mut spool = Spool::open(&dir, 1 << 20).unwrap();
            for r in &records {
                spool.append(r, Append::Waiting).unwrap();
            }
        }
        let seg = dir.join(format!("spool-{:020}.log", 0));
        let mut data = std::fs::read(&seg).unwrap();
        let len = data.len();
        let damaged: Vec<usize> = flips.iter().map(|f| f.index(len)).collect();
        for &i in &damaged {
            data[i] ^= 0xa5;
        }
        let cut = cut.index(len + 1);
        data.truncate(cut);
        std::fs::write(&seg, &data).unwrap();
        let mut spool = Spool::open(&dir, 1 << 20).unwrap();
        let back: Vec<Record> = spool
            .take_waiting(usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        // Every record returned is one that was written, in order; every record wholly before
        // the first damage is returned.
        let mut written = records.iter();
        for r in &back {
            prop_assert!(written.any(|w| w == r), "{r:?} was not written (or out of order)");
        }
        let first_damage = damaged.iter().copied().chain([cut]).min().unwrap();
        let mut end = 0;
        for r in &records {
            end += 12 + encoded_len(r);
            if end <= first_damage {
                prop_assert!(back.contains(r), "{r:?} before the damage was lost");
            }
        }
    }
}

fn datagram_bytes(metrics: Vec<Metric>) -> Vec<u8> {
    Datagram {
        v: fess::observability::stats::PROTOCOL_VERSION,
        sent_ms: 1,
        source: fess::observability::stats::Source {
            pid: 1,
            name: "fuzz".into(),
            kind: "fessdetect".into(),
            camera_id: "cam".into(),
            started_ms: 1,
        },
        metrics,
        problems: Vec::new(),
        camera: None,
    }
    .to_bytes()
}

/// Bytes of a record's body on disk (topic, key, headers, payload, each length-prefixed).
fn encoded_len(r: &Record) -> usize {
    let headers: usize = r.headers.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    4 + r.topic.len() + 4 + r.key.len() + 4 + headers + 4 + r.payload.len()
}

/// The length of the fuzzed embeddings, standing for the embedder's output length.
const DIM: usize = 4;

fn person() -> impl Strategy<Value = Person> {
    let embedding = prop_oneof![
        // As the embedder makes them: unit length.
        3 => prop::collection::vec(-1.0..1.0f32, DIM).prop_map(|mut v| {
            fess::gallery::normalize(&mut v);
            v
        }),
        1 => prop::collection::vec(-1.0..1.0f32, DIM),
        1 => prop::collection::vec(-1.0..1.0f32, DIM)
            .prop_map(|v| v.into_iter().map(|x| x * 1000.0).collect()),
        1 => prop::collection::vec(
            prop_oneof![Just(f32::NAN), Just(f32::INFINITY), -1.0..1.0f32],
            0..6
        ),
    ];
    (
        prop_oneof![3 => "[a-z0-9-]{1,12}", 1 => "\\PC{0,20}"],
        prop_oneof![
            3 => "\\PC{0,20}",
            1 => Just("x".repeat(MAX_NAME_CHARS + 1)),
            1 => Just("\u{1b}[2J\nroot".to_string()),
        ],
        any::<bool>(),
        prop::collection::vec(embedding, 0..3),
    )
        .prop_map(|(id, name, authorized, embeddings)| Person {
            id,
            name,
            authorized,
            embeddings,
        })
}

/// Gallery files: any text is refused or read; hostile persons are refused or stored, and the
/// gallery read back (as the elements read it) never panics and holds no over-long name. An
/// import is all or nothing: refused, the gallery is as it was; accepted, it holds every
/// person of the file.
#[test]
fn any_gallery_import_file() {
    use proptest::test_runner::TestRunner;
    let redis = fess_testkit::RedisServer::start();
    // The runner takes a `Fn`: the connection lives in a cell.
    let store = std::cell::RefCell::new(
        GalleryStore::connect(
            &redis.settings(),
            DEFAULT_GALLERY_KEY,
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: config().cases / 4,
        ..config()
    });
    let export = prop_oneof![
        "\\PC{0,200}".prop_map(|t| serde_json::from_str::<GalleryExport>(&t).ok()),
        (
            prop_oneof![3 => Just("fess-gallery/1".to_string()), 1 => "\\PC{0,10}"],
            prop::collection::vec(person(), 0..4)
        )
            .prop_map(|(format, persons)| Some(GalleryExport { format, persons })),
    ];
    runner
        .run(&export, |export| {
            let mut store = store.borrow_mut();
            let (before, _) = store.load(None).unwrap();
            let imported = export.as_ref().map(|e| store.import(e, DIM));
            let (gallery, _warnings) = store.load(None).unwrap();
            for p in &gallery.persons {
                prop_assert!(p.name.chars().count() <= MAX_NAME_CHARS);
                for e in &p.embeddings {
                    let n = e.iter().map(|x| x * x).sum::<f32>().sqrt();
                    prop_assert!((n - 1.0).abs() < 1e-5, "{p:?}");
                }
            }
            match (export, imported) {
                (Some(export), Some(Ok(n))) => {
                    prop_assert_eq!(n, export.persons.len());
                    let bump = u64::from(n > 0);
                    prop_assert_eq!(gallery.version, before.version + bump);
                    for p in &export.persons {
                        let stored = gallery.person(&p.id);
                        prop_assert!(stored.is_some_and(|s| s.name == p.name
                            && s.authorized == p.authorized
                            && s.embeddings.len() == p.embeddings.len()));
                    }
                }
                // Refused, or no file at all: nothing changed.
                _ => prop_assert_eq!(&gallery, &before),
            }
            Ok(())
        })
        .unwrap();
}

//! Bounded fuzzing (proptest) of the ROI metadata any upstream element may attach, as
//! `fesskafkasink` (and `fessface`, through the same reader) receive it: any mix of ROI types,
//! missing or wrongly typed `detection`/`tracking`/`object_id`/`face` fields, huge and zero-size
//! rectangles, NaN and infinite numbers, empty and odd strings. No buffer may panic the element
//! or stop the stream. `FESS_FUZZ_CASES` runs more.

mod common;

use common::*;
use fess_gst::roi_meta;
use fess_testkit::{free_port, tmp_dir};
use gst::prelude::*;
use gst_video::VideoRegionOfInterestMeta;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A field value of any of the types a structure field may hold.
#[derive(Debug, Clone)]
enum Field {
    Int(i32),
    UInt(u32),
    Int64(i64),
    UInt64(u64),
    Double(f64),
    Str(String),
    Bool(bool),
}

impl Field {
    fn set(&self, b: gst::structure::Builder, name: &str) -> gst::structure::Builder {
        match self {
            Field::Int(v) => b.field(name, *v),
            Field::UInt(v) => b.field(name, *v),
            Field::Int64(v) => b.field(name, *v),
            Field::UInt64(v) => b.field(name, *v),
            Field::Double(v) => b.field(name, *v),
            Field::Str(v) => b.field(name, v.as_str()),
            Field::Bool(v) => b.field(name, *v),
        }
    }
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        any::<i32>().prop_map(Field::Int),
        any::<u32>().prop_map(Field::UInt),
        any::<i64>().prop_map(Field::Int64),
        any::<u64>().prop_map(Field::UInt64),
        prop_oneof![
            3 => -0.5..1.5f64,
            1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-1e300), Just(0.0)],
        ]
        .prop_map(Field::Double),
        "\\PC{0,16}".prop_map(Field::Str),
        any::<bool>().prop_map(Field::Bool),
    ]
}

const NAMES: [&str; 4] = ["detection", "tracking", "object_id", "face"];
const FIELDS: [&str; 16] = [
    "label",
    "label_id",
    "confidence",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
    "track_id",
    "id",
    "face_id",
    "person_name",
    "is_authorized",
    "known",
    "similarity",
    "",
    "x",
];

/// One ROI: type, rectangle, and params of any of our names with any fields.
type Roi = (
    String,
    (u32, u32, u32, u32),
    Vec<(usize, Vec<(usize, Field)>)>,
);

fn roi() -> impl Strategy<Value = Roi> {
    let rect = prop_oneof![
        3 => (0..640u32, 0..480u32, 0..640u32, 0..480u32),
        1 => any::<(u32, u32, u32, u32)>(),
    ];
    let param = (
        0..NAMES.len(),
        prop::collection::vec((0..FIELDS.len(), field()), 0..9),
    );
    (
        prop_oneof![Just("person".to_string()), "\\PC{0,10}"],
        rect,
        prop::collection::vec(param, 0..4),
    )
}

fn buffer(i: u64, rois: &[Roi]) -> gst::Buffer {
    let mut buf = gst::Buffer::new();
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(i * 40));
        for (kind, rect, params) in rois {
            let mut meta = VideoRegionOfInterestMeta::add(b, kind, *rect);
            for (name, fields) in params {
                let mut s = gst::Structure::builder(NAMES[*name]);
                for (f, v) in fields {
                    if !FIELDS[*f].is_empty() {
                        s = v.set(s, FIELDS[*f]);
                    }
                }
                meta.add_param(s.build());
            }
        }
    }
    buf
}

#[test]
fn any_roi_metadata_reaching_the_sink() {
    init();
    // The broker down: events queue and wait in the spool; the element's reading and building
    // is what is tried here.
    let sink = gst::ElementFactory::make("fesskafkasink")
        .property("bootstrap-servers", format!("127.0.0.1:{}", free_port()))
        .property("camera-id", "fuzz")
        .property("min-interval", 0.0)
        .property("flush-timeout", 100u32)
        .property("spool-dir", tmp_dir("fuzz-meta-spool").to_str().unwrap())
        .build()
        .unwrap();
    let mut h = gst_check::Harness::with_element(&sink, Some("sink"), None);
    h.set_src_caps_str("video/x-raw,format=RGB,width=640,height=480,framerate=25/1");
    h.play();
    // The runner takes a `Fn`: the harness and the frame count live in cells.
    let (h, frame) = (std::cell::RefCell::new(h), std::cell::Cell::new(0u64));
    let mut runner = TestRunner::new(Config {
        cases: fess_testkit::fuzz_cases(128),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(roi(), 0..6), |rois| {
            let buf = buffer(frame.get(), &rois);
            frame.set(frame.get() + 1);
            // Our reader sees what the element sees.
            let _ = roi_meta::read(&buf);
            prop_assert_eq!(h.borrow_mut().push(buf), Ok(gst::FlowSuccess::Ok));
            Ok(())
        })
        .unwrap();
    let stats = h
        .borrow()
        .element()
        .unwrap()
        .property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("frames").unwrap(), frame.get(), "{stats}");
}

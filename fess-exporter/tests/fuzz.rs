//! Bounded fuzzing (proptest) of what reaches the exporter from outside: stats datagrams of any
//! shape (names, labels, kinds, values, histograms that do not add up), rendered afterwards;
//! none may panic, and what is served stays Prometheus text. `FESS_FUZZ_CASES` runs more.

use std::collections::BTreeMap;
use std::time::Instant;

use fess::observability::stats::{Datagram, Metric, Source, Value, PROTOCOL_VERSION};
use fess_exporter::exporter::{Exporter, PipelineRules};
use fess_exporter::store::Limits;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: fess_testkit::fuzz_cases(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e3..1e3f64,
        1 => prop_oneof![
            Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0),
            Just(f64::MAX), Just(f64::MIN_POSITIVE)
        ],
    ]
}

fn name() -> impl Strategy<Value = String> {
    let known: Vec<String> = fess::observability::metrics::REPORTED
        .iter()
        .chain(fess::observability::metrics::DERIVED)
        .map(|e| e.name.to_string())
        .collect();
    prop_oneof![
        4 => prop::sample::select(known),
        1 => "\\PC{0,20}",
        1 => "fess_[a-z_]{0,12}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(|value| Value::Counter { value }),
        number().prop_map(|value| Value::Gauge { value }),
        (
            prop::collection::vec(number(), 0..5),
            prop::collection::vec(any::<u64>(), 0..6),
            number(),
            any::<u64>()
        )
            .prop_map(|(bounds, counts, sum, count)| Value::Histogram {
                bounds,
                counts,
                sum,
                count
            }),
    ]
}

fn metric() -> impl Strategy<Value = Metric> {
    let label = prop_oneof![
        Just("camera_id".to_string()),
        Just("status".to_string()),
        "\\PC{0,8}"
    ];
    (
        name(),
        prop::collection::btree_map(label, "\\PC{0,16}", 0..3),
        value(),
    )
        .prop_map(|(name, labels, value)| Metric {
            name,
            labels: labels.into_iter().collect::<BTreeMap<_, _>>(),
            value,
        })
}

fn datagram() -> impl Strategy<Value = Datagram> {
    (
        prop_oneof![Just(PROTOCOL_VERSION), any::<u32>()],
        prop_oneof![Just("fessdetect".to_string()), "\\PC{0,10}"],
        prop_oneof![Just("cam".to_string()), "\\PC{0,10}"],
        any::<u64>(),
        prop::collection::vec(metric(), 0..8),
    )
        .prop_map(|(v, kind, camera_id, started_ms, metrics)| Datagram {
            v,
            source: Source {
                pid: 1,
                name: "fuzz".into(),
                kind,
                camera_id,
                started_ms,
            },
            sent_ms: 1,
            metrics,
            problems: Vec::new(),
            camera: None,
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_datagrams_then_a_scrape(
        datagrams in prop::collection::vec(datagram(), 1..6),
        junk in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let ex = Exporter::new(Limits::default(), PipelineRules::default());
        let now = Instant::now();
        let _ = ex.ingest(&junk, now);
        for d in &datagrams {
            let _ = ex.ingest(&d.to_bytes(), now);
        }
        let text = ex.metrics(now);
        let _ = ex.health(now);
        for line in text.lines() {
            let ok = line.starts_with("# HELP ")
                || line.starts_with("# TYPE ")
                || line
                    .rsplit_once(' ')
                    .is_some_and(|(series, v)| series.starts_with("fess_") && !v.is_empty());
            prop_assert!(ok, "not Prometheus text: {line:?}");
        }
    }
}

//! Faults: the broker process killed for a minute mid-stream, and injected request errors from
//! librdkafka's mock cluster (a mock only for faults a real broker cannot make on demand).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fess::delivery::publisher::EventPublisher;
use fess::events::AlertLevel;
use fess_testkit::*;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const TOPICS: [&str; 3] = [
    "motion.detection.events",
    "face.recognition.events",
    "alert.events",
];

#[test]
fn broker_killed_for_a_minute_loses_no_event() {
    let mut broker = Broker::start();
    let p = Arc::new(
        EventPublisher::builder()
            .bootstrap_servers(&broker.bootstrap())
            .topics(TOPICS[0], TOPICS[1], TOPICS[2])
            .spool_dir(tmp_dir("outage-spool"))
            // Shorter than the outage, so undelivered events really go through the spool.
            .kafka_config("message.timeout.ms=20000")
            .build()
            .unwrap(),
    );
    let produced = Arc::new(Mutex::new(Vec::<String>::new()));
    let running = Arc::new(AtomicBool::new(true));
    let paused = Arc::new(AtomicBool::new(false));
    let producer = {
        let (p, produced, running, paused) =
            (p.clone(), produced.clone(), running.clone(), paused.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while running.load(Ordering::SeqCst) {
                if paused.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let id = p
                    .publish_alert("cam_01", AlertLevel::Info, &format!("tick {i}"))
                    .unwrap();
                produced.lock().unwrap().push(id);
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut reader = Reader::new(&broker.bootstrap(), &TOPICS);
    // Before the kill, everything produced so far has been read (the in-memory broker loses
    // its data when killed, so only what a consumer already has counts as delivered).
    std::thread::sleep(Duration::from_secs(5));
    paused.store(true, Ordering::SeqCst);
    assert!(p.flush(Duration::from_secs(20)));
    let acked =
        |p: &EventPublisher| p.stats().topics.iter().map(|(_, c)| c.success).sum::<u64>() as usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        reader.read_until(Duration::from_millis(500), |_| false);
        if reader.seen.len() >= acked(&p) && reader.seen.len() > 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumer did not catch up: {} of {}",
            reader.seen.len(),
            acked(&p)
        );
    }
    broker.kill();
    paused.store(false, Ordering::SeqCst);
    let seen_before_kill = reader.seen.len();
    std::thread::sleep(Duration::from_secs(60));
    broker.restart();
    reader.reassign();
    std::thread::sleep(Duration::from_secs(10));
    running.store(false, Ordering::SeqCst);
    producer.join().unwrap();
    p.flush(Duration::from_secs(30));

    let want: BTreeSet<String> = produced.lock().unwrap().iter().cloned().collect();
    let ok = reader.read_until(Duration::from_secs(90), |seen| {
        let got: BTreeSet<&str> = seen
            .iter()
            .map(|c| c.json["event_id"].as_str().unwrap())
            .collect();
        want.iter().all(|id| got.contains(id.as_str()))
    });
    let got = reader.ids();
    let missing: Vec<&String> = want.iter().filter(|id| !got.contains(*id)).collect();
    let stats = p.stats();
    assert!(
        ok,
        "{} of {} events missing after the outage; stats {stats:?}",
        missing.len(),
        want.len()
    );
    assert!(
        want.len() > seen_before_kill + 500,
        "events were produced during the outage"
    );
    assert!(
        stats.topics[2].1.spooled > 0,
        "the outage was long enough to spool: {stats:?}"
    );
    assert_eq!(stats.topics[2].1.dropped, 0);
}

#[test]
fn injected_produce_errors_are_retried_not_lost() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("alert.events", 1, 1).unwrap();
    // Every other produce request fails with a retriable error for a while.
    let errors = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 8];
    mock.request_errors(RDKafkaApiKey::Produce, &errors);
    let p = EventPublisher::builder()
        .bootstrap_servers(&mock.bootstrap_servers())
        .create_topics(false, 1, 1)
        .build()
        .unwrap();
    for i in 0..200 {
        p.publish_alert("cam_01", AlertLevel::Info, &format!("n{i}"))
            .unwrap();
    }
    assert!(p.flush(Duration::from_secs(30)));
    let s = p.stats();
    assert_eq!(s.topics[2].1.success, 200, "{s:?}");
    assert_eq!(
        s.topics[2].1.error + s.topics[2].1.spooled + s.topics[2].1.dropped,
        0,
        "{s:?}"
    );
}

//! `/health` against a real Redis (with a password) and the Kafka-protocol broker: healthy;
//! Redis killed → degraded within seconds while /livez stays 200; broker killed → degraded,
//! then unhealthy after --kafka-grace (/readyz 503); both back → healthy; a camera whose
//! frames stop → degraded. The password appears nowhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fess::observability::stats::AppStats;
use fess_testkit::{sample, ExporterProcess};
use fess_testkit::{Broker, RedisServer};

const PASSWORD: &str = "s3cret-redis-pw";

fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    k.sort();
    k
}

#[test]
fn health_follows_redis_kafka_and_the_pipelines() {
    let mut redis = RedisServer::with_password(PASSWORD);
    let mut broker = Broker::start();
    let (redis_url, bootstrap) = (redis.url(), broker.bootstrap());
    let exporter = ExporterProcess::start(
        "health",
        &[
            "--redis-url",
            &redis_url,
            "--kafka-bootstrap-servers",
            &bootstrap,
            "--check-interval",
            "0.5",
            "--check-timeout",
            "0.5",
            "--kafka-grace",
            "3",
            "--stale-after",
            "4",
            // Tests load the machine; the CPU rule is not what this test is about.
            "--max-cpu-percent",
            "101",
        ],
    );
    // A program that counts frames of camera "door" and reports them like an element does.
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (stop, socket) = (stop.clone(), exporter.socket.clone());
        std::thread::spawn(move || {
            let app = AppStats::to_path(socket, "health-test");
            while !stop.load(Ordering::Relaxed) {
                app.inc_by("fess_frames_total", &[("camera_id", "door")], 2);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let wait = Duration::from_secs(20);
    let status_is = |s: &'static str| move |h: &serde_json::Value| h["status"] == s;

    let (h, ok) = exporter.health_until(wait, status_is("healthy"));
    assert!(ok, "{h:#}");
    // The shape of README "Health status".
    assert_eq!(keys(&h), ["components", "status", "timestamp"]);
    let c = &h["components"];
    assert_eq!(keys(c), ["kafka", "pipelines", "redis", "system"]);
    assert_eq!(keys(&c["redis"]), ["healthy", "latency_ms", "status"]);
    assert_eq!(keys(&c["kafka"]), ["healthy", "status"]);
    assert_eq!(
        keys(&c["system"]),
        [
            "cpu_percent",
            "disk_free_gb",
            "disk_percent",
            "healthy",
            "memory_available_mb",
            "memory_percent",
            "status"
        ]
    );
    assert_eq!(c["pipelines"]["active_cameras"], 1, "{h:#}");
    assert_eq!(c["pipelines"]["cameras"]["door"]["sources"][0], "app");

    redis.kill();
    let (h, ok) = exporter.health_until(Duration::from_secs(5), |h| {
        h["status"] == "degraded" && h["components"]["redis"]["healthy"] == false
    });
    assert!(ok, "Redis down: {h:#}");
    assert_eq!(exporter.get("/livez").status, 200);
    assert_eq!(exporter.get("/readyz").status, 200);
    let m = exporter.metrics();
    assert_eq!(
        sample(&m, r#"fess_component_up{component="redis"}"#),
        Some(0.0)
    );

    broker.kill();
    let (h, ok) = exporter.health_until(wait, |h| h["components"]["kafka"]["healthy"] == false);
    assert!(ok, "broker down: {h:#}");
    let (h, ok) = exporter.health_until(wait, status_is("unhealthy"));
    assert!(ok, "broker down past the grace: {h:#}");
    let ready = exporter.get("/readyz");
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (503, "not ready (unhealthy)\n")
    );
    assert_eq!(exporter.get("/health").status, 503);
    assert_eq!(exporter.get("/livez").status, 200);

    redis.restart();
    broker.restart();
    let (h, ok) = exporter.health_until(wait, status_is("healthy"));
    assert!(ok, "both back: {h:#}");

    // The frames stop: the camera is stale.
    stop.store(true, Ordering::Relaxed);
    reporter.join().unwrap();
    let (h, ok) = exporter.health_until(wait, |h| {
        h["status"] == "degraded" && h["components"]["pipelines"]["status"] == "degraded"
    });
    assert!(ok, "stale camera: {h:#}");

    let everything = format!(
        "{}{}{}",
        exporter.metrics(),
        exporter.health(),
        exporter.log.lock().unwrap()
    );
    assert!(!everything.contains(PASSWORD), "{everything}");
    assert!(everything.contains("checking Redis at redis://***@127.0.0.1:"));
}

//! fess-exporter: the FESS sidecar, as a library so its pure parts are tested (and benchmarked)
//! apart from the binary's glue.
//!
//! - [`store`]: datagrams in, monotonic totals, caps and forgetting (with [`validate`] deciding
//!   what is acceptable and [`fess::observability::metrics`], the catalogue shared with the elements, naming
//!   what is published);
//! - [`render`]: `/metrics` in the Prometheus text format;
//! - [`exporter`]: the state the threads share; [`routes`]: what each path answers;
//! - [`socket`]: the stats socket; [`http`]: tiny_http behind a guard, with the TLS and basic
//!   authentication of [`web_config`]; [`cli`]: flags; [`run`]: all of it together until
//!   SIGTERM or SIGINT.

pub mod cli;
pub mod exporter;
pub mod http;
pub mod render;
pub mod routes;
pub mod socket;
pub mod store;
pub mod validate;
pub mod web_config;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use std::path::PathBuf;

use fess::delivery::kafka_config::KafkaSettings;
use fess::gallery::redis_settings::RedisSettings;
use fess::observability::health::HealthChecker;

use crate::cli::Args;
use crate::exporter::Exporter;
use crate::http::HttpServer;
use crate::socket::StatsSocket;

/// Copies the exporter's variables from `./.env` into the environment where the environment
/// does not set them, so clap's `env` sees them (as python-dotenv does).
pub fn load_dotenv() {
    for key in cli::ENV_VARS {
        if std::env::var_os(key).is_none() {
            if let Some(v) = fess::env::var(key) {
                std::env::set_var(key, v);
            }
        }
    }
}

fn health_checker(args: &Args) -> anyhow::Result<HealthChecker> {
    let kafka = if args.no_kafka {
        None
    } else {
        // KAFKA_* the way the publisher reads them; the flag (or its variable) names the brokers.
        let mut k = KafkaSettings::from_env().context("reading KAFKA_* settings")?;
        k.bootstrap_servers = args.kafka_bootstrap_servers.clone();
        k.client_id = "fess-exporter".into();
        if let Some(extra) = &args.kafka_config {
            k.extra = fess::delivery::kafka_config::parse_extra(extra)?;
        }
        k.validate()?;
        eprintln!("fess-exporter: checking Kafka at {}", k.bootstrap_servers);
        Some(k)
    };
    let redis = (!args.no_redis).then(|| RedisSettings {
        url: args.redis_url.clone(),
        ca_file: args.redis_tls_ca_file.as_ref().map(PathBuf::from),
        cert_file: args.redis_tls_cert_file.as_ref().map(PathBuf::from),
        key_file: args.redis_tls_key_file.as_ref().map(PathBuf::from),
        password_file: args.redis_password_file.clone(),
    });
    if let Some(r) = &redis {
        eprintln!("fess-exporter: checking Redis at {}", r.shown_url());
        for w in r.warnings() {
            eprintln!("fess-exporter: {w}");
        }
    }
    Ok(HealthChecker::new(redis.as_ref(), kafka.as_ref())?
        .timeout(args.check_timeout)
        .kafka_grace(args.kafka_grace)
        .thresholds(args.thresholds())
        .disk_path(&args.disk_path))
}

/// Runs the exporter until SIGTERM or SIGINT, then removes its socket and stops cleanly.
pub fn run(args: Args) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let checker = health_checker(&args)?;
    let exporter = Arc::new(Exporter::new(args.limits(), args.rules()));
    let socket_path = args
        .stats_socket
        .clone()
        .unwrap_or_else(fess::observability::stats::socket_path);
    let socket = Arc::new(StatsSocket::bind(&socket_path)?);
    eprintln!(
        "fess-exporter: receiving stats on {} (mode 0660)",
        socket.path().display()
    );

    // The first check before serving, so /health has an answer; later ones in the background.
    exporter.set_checked(checker.get_health_status());
    let checks = {
        let (exporter, stop, interval) = (exporter.clone(), stop.clone(), args.check_interval);
        std::thread::Builder::new()
            .name("health-checks".into())
            .spawn(move || {
                while !sleep_unless(&stop, interval) {
                    exporter.set_checked(checker.get_health_status());
                }
            })?
    };
    let receiver = {
        let (exporter, stop, socket) = (exporter.clone(), stop.clone(), socket.clone());
        std::thread::Builder::new()
            .name("stats-receiver".into())
            .spawn(move || socket.receive(&exporter, &stop))?
    };
    let handler_exporter = exporter.clone();
    let http = HttpServer::start(
        args.http()?,
        Arc::new(move |method: &str, url: &str| routes::respond(&handler_exporter, method, url)),
    )?;
    eprintln!(
        "fess-exporter: serving {1}://{0}/metrics, /health, /livez and /readyz on {0}",
        http.local_addr(),
        http.scheme()
    );

    while !sleep_unless(&stop, Duration::from_secs(1)) {
        let gone = exporter.forget_silent(Instant::now());
        if gone > 0 {
            eprintln!("fess-exporter: forgot {gone} silent source(s)");
        }
    }
    eprintln!("fess-exporter: stopping");
    http.stop();
    let _ = receiver.join();
    let _ = checks.join();
    drop(socket);
    Ok(())
}

/// Sleeps `d` in small steps; true as soon as `stop` is set.
fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    stop.load(Ordering::Relaxed)
}

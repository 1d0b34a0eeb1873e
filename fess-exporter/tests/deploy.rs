//! deploy/: the Prometheus configuration and alerting rules pass promtool (and the rules fire in
//! promtool's unit tests), the dashboard and the rules only name metrics the exporter
//! publishes, and the systemd unit passes `systemd-analyze verify` with flags the binary takes.

use std::path::{Path, PathBuf};
use std::process::Command;

use fess::observability::metrics::{Kind, DERIVED, REPORTED};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (installed by scripts/setup.sh?)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_config_and_rules_and_the_alerts_fire() {
    let out = run(Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(deploy("prometheus.yml")));
    assert!(out.contains("1 rule files found"), "{out}");
    let out = run(Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(deploy("alerts.yml")));
    assert!(out.contains("SUCCESS"), "{out}");
    // Relative rule_files resolve against the test file's folder.
    let out = run(Command::new("promtool")
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(deploy("")));
    assert!(out.contains("SUCCESS"), "{out}");
}

/// The `fess_` names in `text`, `_bucket`, `_sum` and `_count` taken back to their histogram.
fn metric_names(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("fess_"))
        .map(|w| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| w.strip_suffix(s))
                .filter(|base| {
                    REPORTED
                        .iter()
                        .any(|e| e.name == *base && e.kind == Kind::Histogram)
                })
                .unwrap_or(w)
                .to_string()
        })
        .collect()
}

#[test]
fn dashboard_and_rules_name_only_published_metrics() {
    let published: Vec<&str> = REPORTED.iter().chain(DERIVED).map(|e| e.name).collect();
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana-dashboard.json")).unwrap())
            .expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 10);
    let rules = std::fs::read_to_string(deploy("alerts.yml")).unwrap();
    let named = metric_names(&exprs.join("\n"));
    for must in [
        "fess_fps",
        "fess_detections_total",
        "fess_kafka_events_sent_total",
    ] {
        assert!(
            named.iter().any(|n| n == must),
            "the dashboard shows no {must}"
        );
    }
    for name in named.iter().chain(&metric_names(&rules)) {
        assert!(
            published.contains(&name.as_str()),
            "{name} is not published by the exporter"
        );
    }
}

#[test]
fn the_systemd_unit_verifies_and_its_flags_parse() {
    let exe = Path::new(env!("CARGO_BIN_EXE_fess-exporter"));
    let args = fess_testkit::verify_unit(
        &deploy("fess-exporter.service"),
        "/usr/local/bin/fess-exporter",
        exe,
    );
    let help = run(Command::new(exe).args(&args).arg("--help"));
    assert!(help.contains("FESS_STATS_SOCKET"), "{help}");
}

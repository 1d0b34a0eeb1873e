//! What each path answers: `/metrics`, `/health`, `/livez`, `/readyz` and `/`.

use std::time::Instant;

use fess::observability::health::Status;

use crate::exporter::Exporter;
use crate::http::Reply;
use crate::render;

const INDEX: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>fess-exporter</title></head>
<body><h1>fess-exporter</h1><ul>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="/health">/health</a>: Redis, Kafka, system and pipelines (JSON; 503 when unhealthy)</li>
<li><a href="/livez">/livez</a>: the process answers</li>
<li><a href="/readyz">/readyz</a>: 503 when unhealthy</li>
</ul></body></html>
"#;

/// Answers `method` `url`.
pub fn respond(exporter: &Exporter, method: &str, url: &str) -> Reply {
    if method != "GET" && method != "HEAD" {
        return Reply::text(405, "only GET and HEAD\n");
    }
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let now = Instant::now();
    match path {
        "/" => Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: INDEX.as_bytes().to_vec(),
        },
        "/metrics" => Reply {
            status: 200,
            content_type: render::content_type(),
            body: exporter.metrics(now).into_bytes(),
        },
        "/livez" => Reply::text(200, "ok\n"),
        "/health" => match exporter.health(now) {
            Some(h) => Reply {
                status: status_code(h.status),
                content_type: "application/json",
                body: serde_json::to_vec_pretty(&h).expect("health always serialises"),
            },
            None => Reply::text(503, "the first health check has not finished\n"),
        },
        "/readyz" => match exporter.health(now).map(|h| h.status) {
            Some(s) if s != Status::Unhealthy => Reply::text(200, format!("ready ({})\n", name(s))),
            Some(s) => Reply::text(503, format!("not ready ({})\n", name(s))),
            None => Reply::text(503, "not ready (no health check yet)\n"),
        },
        _ => Reply::text(
            404,
            "not found: try /, /metrics, /health, /livez or /readyz\n",
        ),
    }
}

/// 503 when unhealthy, else 200 (degraded still serves).
fn status_code(s: Status) -> u16 {
    if s == Status::Unhealthy {
        503
    } else {
        200
    }
}

fn name(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::PipelineRules;
    use crate::store::Limits;
    use fess::observability::health::HealthChecker;

    #[test]
    fn paths_and_statuses() {
        let ex = Exporter::new(Limits::default(), PipelineRules::default());
        assert_eq!(respond(&ex, "GET", "/livez").status, 200);
        assert_eq!(respond(&ex, "GET", "/readyz").status, 503);
        assert_eq!(respond(&ex, "GET", "/health").status, 503);
        assert_eq!(respond(&ex, "GET", "/nope").status, 404);
        assert_eq!(respond(&ex, "DELETE", "/metrics").status, 405);
        let m = respond(&ex, "GET", "/metrics?x=1");
        assert_eq!((m.status, m.content_type), (200, render::content_type()));
        assert!(String::from_utf8(respond(&ex, "GET", "/").body)
            .unwrap()
            .contains("/metrics"));

        // No Redis, no Kafka, no camera yet: the pipelines rule makes it unhealthy.
        ex.set_checked(HealthChecker::new(None, None).unwrap().get_health_status());
        let h = respond(&ex, "GET", "/health");
        assert_eq!(h.status, 503);
        let v: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(v["status"], "unhealthy");
        assert_eq!(v["components"]["pipelines"]["active_cameras"], 0);
        assert_eq!(respond(&ex, "GET", "/readyz").status, 503);
        assert_eq!(respond(&ex, "GET", "/livez").status, 200);
        let metrics = String::from_utf8(respond(&ex, "GET", "/metrics").body).unwrap();
        assert!(
            metrics.contains("fess_component_up{component=\"pipelines\"} 0"),
            "{metrics}"
        );
        assert!(metrics.contains("fess_memory_usage_bytes "), "{metrics}");
    }
}

//! `/metrics` as Prometheus reads it: the real binary with traffic on every metric family,
//! scraped in the classic text format (checked by `promtool check metrics`) and as
//! OpenMetrics (scraped by a real Prometheus, which asks for it first); each with its own
//! content type, the same series in both.

use std::collections::BTreeSet;
use std::time::Duration;

use sessiond_tests::process::DaemonProcess;
use sessiond_tests::prometheus::{PrometheusServer, check_metrics};
use sessiond_tests::{DbKind, TestDb, client, on_both_backends, poll};

on_both_backends!(metrics_parse_exactly_in_both_formats);

/// What Prometheus 2.x sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Families that must carry samples after the traffic below.
const FAMILIES: [&str; 13] = [
    "sessiond_http_requests_total",
    "sessiond_http_request_duration_seconds_bucket",
    "sessiond_audit_batch_ops_count",
    "sessiond_db_pool_connections",
    "sessiond_db_pool_idle_connections",
    "sessiond_db_pool_max_connections",
    "sessiond_open_connections",
    "sessiond_rate_limit_refused_total",
    "sessiond_rate_limit_keys",
    "sessiond_job_runs_total",
    "sessiond_job_duration_seconds_bucket",
    "sessiond_job_last_success_timestamp_seconds",
    "sessiond_audit_writes_failing",
];

async fn scrape(addr: &str, accept: Option<&str>) -> (String, String) {
    let mut req = client().get(format!("http://{addr}/metrics"));
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let res = req.send().await.expect("scrape");
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().expect("ascii").to_owned();
    (ct, res.text().await.expect("body"))
}

/// Metric names of the sample lines.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

async fn metrics_parse_exactly_in_both_formats(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let daemon = DaemonProcess::start(
        env!("CARGO_BIN_EXE_sessiond"),
        &db,
        &[
            ("SESSIOND_RATE_LIMIT__ENABLED", "true"),
            ("SESSIOND_RATE_LIMIT__ROUTES__VALIDATE", "2/minute"),
            ("SESSIOND_JOBS__ENABLED", "true"),
            ("SESSIOND_JOBS__SESSION_EXPIRY__SCHEDULE", "* * * * * *"),
        ],
    )
    .await;
    // Traffic: a session, its reads, validations until one is refused, a 404.
    let c = client();
    let uuid = sessiond_tests::generate_session(&daemon.url("")).await;
    let got = c
        .get(daemon.url(&format!("/api/session/{uuid}")))
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), 200);
    let mut refused = false;
    for _ in 0..3 {
        let res = c
            .post(daemon.url("/api/session/validate-uuid"))
            .json(&serde_json::json!({ "uuid": uuid }))
            .send()
            .await
            .expect("validate");
        refused |= res.status() == 429;
    }
    assert!(refused, "the third validation within a minute is refused");
    let missing = c.get(daemon.url("/nowhere")).send().await.expect("404");
    assert_eq!(missing.status(), 404);
    poll("a scheduled session_expiry run", Duration::from_secs(20), || async {
        scrape(&daemon.addr, None)
            .await
            .1
            .lines()
            .any(|l| l.starts_with("sessiond_job_last_success_timestamp_seconds{name=\"session_expiry\"}"))
    })
    .await;

    // The classic text format, by default and when asked for.
    for accept in [None, Some("text/plain"), Some("*/*")] {
        let (ct, text) = scrape(&daemon.addr, accept).await;
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8", "{accept:?}");
        assert!(!text.contains("# EOF"), "{text}");
        let findings = check_metrics(&text);
        assert!(findings.is_empty(), "promtool check metrics: {findings}\n{text}");
    }
    let (_, classic) = scrape(&daemon.addr, None).await;
    let names = sample_names(&classic);
    for family in FAMILIES {
        assert!(names.contains(family), "no samples of {family}:\n{classic}");
    }
    if kind == DbKind::Sqlite {
        assert!(names.contains("sessiond_database_disk_free_bytes"), "{classic}");
    }

    // OpenMetrics when asked for: its content type, `# EOF` last, the same series.
    let (ct, openmetrics) = scrape(&daemon.addr, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(ct, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert_eq!(sample_names(&openmetrics), names);

    // A real Prometheus scrapes it (as OpenMetrics) without an error and stores the series.
    let prometheus = PrometheusServer::start(&daemon.addr).await;
    poll("Prometheus to scrape sessiond", Duration::from_secs(30), || async {
        match prometheus.target_health().await {
            Some((health, error)) => {
                assert!(error.is_empty(), "Prometheus could not parse /metrics: {error}");
                health == "up"
            }
            None => false,
        }
    })
    .await;
    for family in [
        "sessiond_http_requests_total",
        "sessiond_job_last_success_timestamp_seconds",
    ] {
        poll(family, Duration::from_secs(15), || async {
            prometheus.series(family).await > 0
        })
        .await;
    }
}

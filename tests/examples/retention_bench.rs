//! Retention under API load (PERF.md: "retention purging 1 M old audit events during validate
//! load: API p99 stays ≤ 20 ms"). Not part of the test suite; run it with
//! `scripts/bench/retention.sh [sqlite|postgres] [rows] [batch]`.
//!
//! Seeds `rows` audit events 100 days old (to purge) and `rows / 5` ten days old (to
//! anonymize), starts the real daemon on 127.0.0.1:0, measures validate-uuid latency for a
//! few seconds without retention (baseline), then again while one retention pass runs, and
//! prints both with the pass's duration and counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sessiond_core::domain::now_millis;
use sessiond_tests::seed::seed_audit;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client};

const DAY_MS: i64 = 86_400_000;
const CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = match args.get(1).map(String::as_str).unwrap_or("sqlite") {
        "postgres" => DbKind::Postgres,
        _ => DbKind::Sqlite,
    };
    let rows: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let batch: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5000);

    let db = TestDb::new(kind).await;
    let now = now_millis().timestamp_millis();
    let t = Instant::now();
    seed_audit(&db.url, kind, rows, now - 100 * DAY_MS).await;
    seed_audit(&db.url, kind, rows / 5, now - 10 * DAY_MS).await;
    println!("{kind:?}: seeded {} audit rows in {:?}", rows + rows / 5, t.elapsed());

    let mut settings = db.settings();
    settings.jobs.retention.batch_size = batch;
    let daemon = TestDaemon::start(settings.clone()).await;
    let c = client();
    let mut ids = Vec::new();
    for _ in 0..200 {
        let res = c
            .post(daemon.url("/api/session/generate-uuid"))
            .send()
            .await
            .expect("generate");
        let body: serde_json::Value = res.json().await.expect("json");
        ids.push(body["uuid"].as_str().expect("uuid").to_owned());
    }
    let ids = Arc::new(ids);

    let baseline = load(&daemon, ids.clone(), Duration::from_secs(5), None).await;
    report("baseline (no retention)", &baseline.0, baseline.1);

    let store = db.store().await;
    let ctx = sessiond::jobs::job_context(Arc::new(settings), store)
        .await
        .expect("context");
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let retention = tokio::spawn(async move {
        let t = Instant::now();
        let counts = sessiond_core::jobs::run_retention(&ctx, now_millis()).await;
        flag.store(true, Ordering::Release);
        (t.elapsed(), counts)
    });
    let during = load(&daemon, ids, Duration::from_secs(3600), Some(done)).await;
    let (took, counts) = retention.await.expect("retention task");
    println!(
        "retention pass: {took:?} ({} per batch), counts {:?}",
        batch,
        counts.expect("retention ran")
    );
    report("during retention", &during.0, during.1);
    daemon.stop().await;
}

/// Run validate-uuid from CONCURRENCY tasks until `until` is set (or `max` passed).
async fn load(
    d: &TestDaemon,
    ids: Arc<Vec<String>>,
    max: Duration,
    until: Option<Arc<AtomicBool>>,
) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let url = d.url("/api/session/validate-uuid");
    let mut tasks = Vec::new();
    for w in 0..CONCURRENCY {
        let (url, ids, until) = (url.clone(), ids.clone(), until.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut lat = Vec::new();
            let mut i = w;
            while start.elapsed() < max && !until.as_ref().is_some_and(|u| u.load(Ordering::Acquire)) {
                let body = serde_json::json!({ "uuid": ids[i % ids.len()] });
                let t = Instant::now();
                let res = c.post(&url).json(&body).send().await.expect("validate");
                assert!(res.status().is_success(), "validate answered {}", res.status());
                let _ = res.bytes().await;
                lat.push(t.elapsed());
                i += CONCURRENCY;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    (all, start.elapsed())
}

fn report(what: &str, lat: &[Duration], took: Duration) {
    let mut v = lat.to_vec();
    v.sort();
    let pct = |p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{what}: {} requests in {took:?} ({:.0} req/s), p50 {:?}, p99 {:?}, max {:?}",
        v.len(),
        v.len() as f64 / took.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        v.last().copied().unwrap_or_default()
    );
}

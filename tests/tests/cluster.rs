//! Several daemons as one service (issue 20), on SQLite and PostgreSQL: each scheduled tick
//! runs once in total across daemons, `run-job` still runs at once, job metrics, and the
//! drain on shutdown (`/readyz` 503 while still serving).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{SubsecRound, TimeZone, Utc};
use sessiond_core::Settings;
use sessiond_core::jobs::{RunOutcome, find, run_job, run_tick, scheduled_tick};
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, events_of, on_both_backends, poll};

on_both_backends!(
    a_tick_is_claimed_once,
    three_daemons_run_each_tick_once,
    job_metrics_report_runs_failures_and_last_success,
    daemons_starting_together_migrate_once,
    an_older_daemon_refuses_a_newer_database,
);

/// A schedule that will not fire during a test (once a year).
const NEVER: &str = "0 0 0 1 1 *";

/// `session_expiry` on `every`, every other job effectively off.
fn only_expiry(mut s: Settings, every: &str) -> Settings {
    s.jobs.enabled = true;
    s.jobs.session_expiry.schedule = every.to_owned();
    s.jobs.retention.schedule = NEVER.to_owned();
    s.jobs.alert_detection.schedule = NEVER.to_owned();
    s.jobs.alert_digest.schedule = NEVER.to_owned();
    s.jobs.notification_sender.schedule = NEVER.to_owned();
    s.jobs.upload_gc.schedule = NEVER.to_owned();
    s
}

#[test]
fn the_tick_of_a_wake_up_is_the_latest_matching_second() {
    let at = |h, m, s, ms| {
        Utc.with_ymd_and_hms(2026, 3, 4, h, m, s).single().expect("time") + chrono::Duration::milliseconds(ms)
    };
    // Woken late within the period: still the tick it was woken for.
    assert_eq!(
        scheduled_tick("*/2 * * * * *", at(10, 0, 3, 700)),
        Some(at(10, 0, 2, 0))
    );
    assert_eq!(scheduled_tick("*/2 * * * * *", at(10, 0, 4, 0)), Some(at(10, 0, 4, 0)));
    assert_eq!(
        scheduled_tick("0 */5 * * * *", at(10, 7, 59, 999)),
        Some(at(10, 5, 0, 0))
    );
    assert_eq!(scheduled_tick("0 15 3 * * *", at(10, 0, 0, 0)), Some(at(3, 15, 0, 0)));
    assert_eq!(scheduled_tick("not cron", at(10, 0, 0, 0)), None);
}

async fn a_tick_is_claimed_once(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let tick = Utc::now().trunc_subsecs(0);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_tick(
                    "session_expiry",
                    tick,
                    &format!("daemon-{i}"),
                    Utc::now(),
                    "*/2 * * * * *",
                )
                .await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.expect("task").expect("claim") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one daemon claims a tick");
    // The same or an older tick: refused; the next one: claimed; other jobs are independent.
    let claim = |job: &'static str, t| {
        let store = store.clone();
        async move { store.claim_tick(job, t, "late", Utc::now(), "x").await.expect("claim") }
    };
    assert!(!claim("session_expiry", tick).await);
    assert!(!claim("session_expiry", tick - chrono::Duration::seconds(2)).await);
    assert!(claim("retention", tick).await);
    assert!(claim("session_expiry", tick + chrono::Duration::seconds(2)).await);
    let ticks = store.claimed_ticks().await.expect("ticks");
    assert!(ticks.contains(&("session_expiry".into(), tick + chrono::Duration::seconds(2), "x".into())));

    // Through the job runner: the claimed tick does not run twice; `run-job` runs at once anyway.
    let ctx = sessiond::jobs::job_context(std::sync::Arc::new(db.settings()), store.clone())
        .await
        .expect("job context");
    let job = find("session_expiry").expect("job");
    let next = tick + chrono::Duration::seconds(4);
    assert!(matches!(
        run_tick(&ctx, job, next).await.expect("tick"),
        RunOutcome::Succeeded { .. }
    ));
    assert_eq!(run_tick(&ctx, job, next).await.expect("tick"), RunOutcome::TickTaken);
    assert!(matches!(
        run_job(&ctx, job).await.expect("run-job"),
        RunOutcome::Succeeded { .. }
    ));
    let runs = store.list_runs(Some("session_expiry"), 10).await.expect("runs");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].scheduled_for, None, "run-job is not a tick");
    assert_eq!(runs[1].scheduled_for, Some(next));
}

async fn three_daemons_run_each_tick_once(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let started = Utc::now();
    let mut daemons = Vec::new();
    for _ in 0..3 {
        daemons.push(TestDaemon::start(only_expiry(db.settings(), "*/2 * * * * *")).await);
    }
    // At least four ticks run (about 8 s), bounded.
    poll("four session_expiry runs", Duration::from_secs(60), || {
        let store = store.clone();
        async move {
            store
                .list_runs(Some("session_expiry"), 100)
                .await
                .map(|r| {
                    r.iter()
                        .filter(|r| r.status != sessiond_core::store::jobs::RunStatus::Running)
                        .count()
                        >= 4
                })
                .unwrap_or(false)
        }
    })
    .await;
    for d in daemons {
        d.stop().await;
    }
    let stopped = Utc::now();
    let runs = store.list_runs(Some("session_expiry"), 1000).await.expect("runs");
    let ticks: Vec<_> = runs
        .iter()
        .map(|r| r.scheduled_for.expect("a scheduled run records its tick"))
        .collect();
    let distinct: HashSet<_> = ticks.iter().collect();
    assert_eq!(distinct.len(), runs.len(), "one run per tick: {ticks:?}");
    for (run, tick) in runs.iter().zip(&ticks) {
        assert_eq!(tick.timestamp() % 2, 0, "ticks of */2 are even seconds: {tick}");
        assert!(run.started_at >= *tick, "a run starts at or after its tick");
        assert!(
            *tick >= started.trunc_subsecs(0),
            "no tick before the daemons started is replayed"
        );
        assert_eq!(run.status, sessiond_core::store::jobs::RunStatus::Succeeded, "{run:?}");
    }
    // Counted independently of the recorded ticks: no more runs than ticks elapsed.
    let elapsed_ticks = (stopped.timestamp() - started.timestamp()) / 2 + 1;
    assert!(
        i64::try_from(runs.len()).expect("count") <= elapsed_ticks,
        "{} runs in {elapsed_ticks} ticks",
        runs.len()
    );
    // One job.completed event per run.
    let events = events_of(store.as_ref(), "job.completed").await;
    let expiry_events = events.iter().filter(|e| e.metadata["job"] == "session_expiry").count();
    assert_eq!(expiry_events, runs.len());
}

/// `name{labels} value` lines of a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn job_metrics_report_runs_failures_and_last_success(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let mut settings = only_expiry(db.settings(), "*/1 * * * * *");
    // alert_detection fails once its table is gone (below).
    settings.jobs.alert_detection.schedule = "*/1 * * * * *".to_owned();
    let daemon = TestDaemon::start(settings).await;
    let http = client();
    let url = daemon.url("/metrics");
    let fetch = || {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.get(&url)
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("body")
        }
    };
    let page = fetch().await;
    // Declared before any run.
    assert!(
        page.contains("sessiond_job_runs_total{name=\"retention\",outcome=\"failed\"} 0"),
        "{page}"
    );
    poll(
        "a successful session_expiry run in the metrics",
        Duration::from_secs(30),
        || async move {
            let page = fetch().await;
            sample(
                &page,
                "sessiond_job_runs_total{name=\"session_expiry\",outcome=\"succeeded\"}",
            )
            .unwrap_or(0.0)
                >= 1.0
                && sample(&page, "sessiond_job_duration_seconds_count{name=\"session_expiry\"}").unwrap_or(0.0) >= 1.0
                && sample(
                    &page,
                    "sessiond_job_last_success_timestamp_seconds{name=\"session_expiry\"}",
                )
                .is_some()
        },
    )
    .await;
    let page = fetch().await;
    let last = sample(
        &page,
        "sessiond_job_last_success_timestamp_seconds{name=\"session_expiry\"}",
    )
    .expect("last");
    let now = Utc::now().timestamp_millis() as f64 / 1000.0;
    assert!(
        (now - 60.0..=now + 1.0).contains(&last),
        "last success {last}, now {now}"
    );

    db.exec("DROP TABLE alerts").await;
    poll(
        "a failed alert_detection run in the metrics",
        Duration::from_secs(30),
        || async move {
            sample(
                &fetch().await,
                "sessiond_job_runs_total{name=\"alert_detection\",outcome=\"failed\"}",
            )
            .unwrap_or(0.0)
                >= 1.0
        },
    )
    .await;
    daemon.stop().await;
}

/// A database nobody has migrated yet: (its URL, its PostgreSQL name to drop after).
async fn unmigrated(kind: DbKind, dir: &std::path::Path) -> (String, Option<String>) {
    match kind {
        DbKind::Sqlite => (format!("sqlite://{}", dir.join("fresh.db").display()), None),
        DbKind::Postgres => {
            let admin = sessiond_tests::postgres_admin_url();
            let name = format!("sessiond_t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("PostgreSQL is required");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin);
            (format!("{base}/{name}"), Some(name))
        }
    }
}

async fn drop_pg(name: Option<String>) {
    let Some(name) = name else { return };
    let admin = sessiond_tests::postgres_admin_url();
    if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

/// Four daemons of a new version started at once on an empty database: every one starts,
/// and each migration is applied once (PostgreSQL: sqlx's advisory lock; SQLite: the loser of
/// a race retries and finds the winner's work).
async fn daemons_starting_together_migrate_once(kind: DbKind) {
    let dir = tempfile::tempdir().expect("dir");
    let (url, pg) = unmigrated(kind, dir.path()).await;
    let mut settings = Settings::default();
    settings.database.url = sessiond_core::config::SecretUrl::new(url.clone());
    settings.database.max_connections = 4;
    let mut starts = Vec::new();
    for _ in 0..4 {
        let settings = settings.clone();
        starts.push(tokio::spawn(async move { sessiond::open_store(&settings).await }));
    }
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.expect("task").expect("every daemon starts"));
    }
    let files = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(match kind {
        DbKind::Sqlite => "../migrations/sqlite",
        DbKind::Postgres => "../migrations/postgres",
    }))
    .expect("migrations")
    .count();
    let applied: Vec<(i64, bool)> = match kind {
        DbKind::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("connect");
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut c)
                .await
                .expect("migrations table")
        }
        DbKind::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("connect");
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut c)
                .await
                .expect("migrations table")
        }
    };
    assert_eq!(applied.len(), files, "each migration once: {applied:?}");
    assert!(applied.iter().all(|(_, ok)| *ok));
    for s in stores {
        s.close().await;
    }
    drop_pg(pg).await;
}

/// A database migrated by a newer sessiond (a migration this binary does not have): the old
/// binary refuses to start and says why.
async fn an_older_daemon_refuses_a_newer_database(kind: DbKind) {
    let db = TestDb::new(kind).await;
    match kind {
        DbKind::Sqlite => {
            db.exec(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (9999, 'from the future', 1, X'00', 0)",
            )
            .await
        }
        DbKind::Postgres => {
            db.exec(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (9999, 'from the future', true, '\\x00'::bytea, 0)",
            )
            .await
        }
    }
    let err = match sessiond::open_store(&db.settings()).await {
        Ok(_) => panic!("an older binary started on a newer database"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("migration 9999"), "{err}");
    assert!(err.contains("newer sessiond"), "{err}");
}

//! Scheduled jobs (SPEC §6) on SQLite and PostgreSQL: leases, the live scheduler with
//! one-second schedules, two daemons on one database, session expiry and retention.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use sessiond_core::Settings;
use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::{SessionStatus, now_millis};
use sessiond_core::jobs::{JobContext, JobDef, RunOutcome, anonymize_ip, registry, run_job};
use sessiond_core::store::WriteOp;
use sessiond_core::store::jobs::RunStatus;
use sessiond_tests::seed::seed_audit;
use sessiond_tests::smtp::SmtpServer;
use sessiond_tests::{DbKind, TestDaemon, TestDb, events_of, on_both_backends, poll, seed_session};

on_both_backends!(
    lease_is_held_by_exactly_one,
    live_daemon_runs_every_job,
    two_daemons_never_run_a_job_at_the_same_time,
    retention_purges_and_anonymizes_in_batches,
    a_panicking_job_fails_and_runs_again,
    requested_runs_run_once_under_the_lease,
    run_requests_at_once_open_one_request,
    retention_deletes_the_jobs_history_with_the_audit_trail,
);

const DAY_MS: i64 = 86_400_000;

/// Every job every second.
fn fast_jobs(mut s: Settings) -> Settings {
    s.jobs.enabled = true;
    let every = "*/1 * * * * *".to_owned();
    s.jobs.session_expiry.schedule = every.clone();
    s.jobs.retention.schedule = every.clone();
    s.jobs.alert_detection.schedule = every.clone();
    s.jobs.alert_digest.schedule = every.clone();
    s.jobs.notification_sender.schedule = every.clone();
    s.jobs.upload_gc.schedule = every.clone();
    s.jobs.object_deletion.schedule = every;
    s
}

async fn lease_is_held_by_exactly_one(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let now = Utc::now();
    let until = now + chrono::Duration::seconds(60);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease("retention", &format!("holder-{i}"), now, until)
                .await
        }));
    }
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if t.await.expect("task").expect("acquire") {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one holder: {winners:?}");
    let holder = format!("holder-{}", winners[0]);
    // Not the holder: cannot take, renew or release it.
    assert!(
        !store
            .acquire_lease("retention", "other", now, until)
            .await
            .expect("acquire")
    );
    assert!(!store.renew_lease("retention", "other", until).await.expect("renew"));
    store.release_lease("retention", "other").await.expect("release");
    assert!(
        !store
            .acquire_lease("retention", "other", now, until)
            .await
            .expect("acquire")
    );
    // Another job is independent.
    assert!(
        store
            .acquire_lease("upload_gc", "other", now, until)
            .await
            .expect("acquire")
    );
    // The holder renews; an expired lease is taken over; a released one is free.
    assert!(store.renew_lease("retention", &holder, until).await.expect("renew"));
    let after = until + chrono::Duration::seconds(1);
    assert!(
        store
            .acquire_lease("retention", "other", after, after + chrono::Duration::seconds(60))
            .await
            .expect("take over")
    );
    assert!(
        !store
            .renew_lease("retention", &holder, until)
            .await
            .expect("renew lost")
    );
    store.release_lease("retention", "other").await.expect("release");
    assert!(
        store
            .acquire_lease("retention", &holder, now, until)
            .await
            .expect("acquire released")
    );
}

fn event_at(at_ms: i64, event_type: EventType, ip: Option<&str>) -> WriteOp {
    let mut e = NewEvent::new(
        &Origin::system("test"),
        sessiond_core::domain::from_millis(at_ms),
        event_type,
        Severity::Info,
        None,
        json!({}),
    );
    e.ip = ip.map(str::to_owned);
    WriteOp::Event(e)
}

async fn live_daemon_runs_every_job(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let smtp = SmtpServer::start(db.dir.path()).await;
    let store = db.store().await;
    let mut settings = fast_jobs(db.settings());
    settings.session.idle_timeout = sessiond_core::config::HumanDuration::secs(3600);
    settings.email.enabled = true;
    settings.email.smtp_url = sessiond_core::config::SecretUrl::new(smtp.url());
    settings.email.to = vec!["ops@test.invalid".into()];

    let idle = seed_session(
        &store,
        chrono::Duration::hours(2),
        chrono::Duration::hours(2),
        Some("192.0.2.55"),
    )
    .await;
    let fresh = seed_session(
        &store,
        chrono::Duration::minutes(1),
        chrono::Duration::minutes(1),
        Some("192.0.2.55"),
    )
    .await;
    let now = now_millis().timestamp_millis();
    let mut ops = Vec::new();
    for i in 0..10 {
        ops.push(event_at(
            now - 100 * DAY_MS + i,
            EventType::SessionValidated,
            Some("203.0.113.9"),
        ));
        ops.push(event_at(
            now - 10 * DAY_MS + i,
            EventType::SessionValidated,
            Some("2001:db8:aa:bb:1:2:3:4"),
        ));
    }
    for _ in 0..6 {
        ops.push(event_at(now, EventType::RequestError, Some("198.51.100.1")));
    }
    store.commit_batch(&ops).await.expect("seed");

    let d = TestDaemon::start(settings).await;
    poll("expiry, retention, alert and mail", Duration::from_secs(60), || {
        let store = store.clone();
        let smtp = &smtp;
        async move {
            let expired = store
                .get_session(idle)
                .await
                .expect("get")
                .is_some_and(|s| s.status == SessionStatus::Expired);
            let purged = events_of(store.as_ref(), "session.validated")
                .await
                .iter()
                .all(|e| e.ip.as_deref() == Some("2001:db8:aa::"));
            let alerted = !store.list_alerts(true, 10).await.expect("alerts").is_empty();
            expired && purged && alerted && !smtp.messages().is_empty()
        }
    })
    .await;
    let runs = store.list_runs(None, 10_000).await.expect("runs");
    for job in registry() {
        poll(job.name, Duration::from_secs(10), || {
            let store = store.clone();
            async move {
                store
                    .list_runs(Some(job.name), 100)
                    .await
                    .expect("runs")
                    .iter()
                    .any(|r| r.status == RunStatus::Succeeded && r.finished_at.is_some())
            }
        })
        .await;
    }
    d.stop().await;
    let s = store.get_session(fresh).await.expect("get").expect("fresh session");
    assert_eq!(s.status, SessionStatus::Active, "a fresh session stays active");
    let s = store.get_session(idle).await.expect("get").expect("idle session");
    assert_eq!(
        (s.ended_by.as_deref(), s.status),
        (Some("system"), SessionStatus::Expired)
    );
    let expired_events = events_of(store.as_ref(), "session.expired").await;
    assert_eq!(expired_events.len(), 1);
    assert_eq!(expired_events[0].session_id, Some(idle));
    assert_eq!(expired_events[0].actor, "system");
    let completed = events_of(store.as_ref(), "job.completed").await;
    assert!(!completed.is_empty(), "job.completed events are written");
    assert!(runs.iter().all(|r| r.status != RunStatus::Failed), "{runs:?}");
    let mail = &smtp.messages()[0];
    assert!(mail.contains("error_spike"), "{mail}");
}

async fn two_daemons_never_run_a_job_at_the_same_time(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    // Some work for every run, so runs last long enough to collide if leases did not hold.
    let now = now_millis().timestamp_millis();
    let ops: Vec<WriteOp> = (0..2000)
        .map(|i| event_at(now - i, EventType::SessionValidationFailed, Some("203.0.113.1")))
        .collect();
    store.commit_batch(&ops).await.expect("seed");
    let a = TestDaemon::start(fast_jobs(db.settings())).await;
    let b = TestDaemon::start(fast_jobs(db.settings())).await;
    poll("several runs of each job", Duration::from_secs(60), || {
        let store = store.clone();
        async move {
            let runs = store.list_runs(Some("alert_detection"), 100).await.expect("runs");
            runs.iter().filter(|r| r.finished_at.is_some()).count() >= 6
        }
    })
    .await;
    a.stop().await;
    b.stop().await;
    let runs = store.list_runs(None, 100_000).await.expect("runs");
    let holders: HashSet<&str> = runs.iter().map(|r| r.holder.as_str()).collect();
    assert!(!holders.is_empty());
    for job in registry() {
        let mut mine: Vec<_> = runs.iter().filter(|r| r.job == job.name).collect();
        assert!(!mine.is_empty(), "{} ran", job.name);
        mine.sort_by_key(|r| (r.started_at, r.id));
        for pair in mine.windows(2) {
            let end = pair[0].finished_at.expect("finished before shutdown");
            assert!(
                end <= pair[1].started_at,
                "{}: run {} ({}) overlaps run {} ({})",
                job.name,
                pair[0].id,
                pair[0].holder,
                pair[1].id,
                pair[1].holder
            );
        }
        assert!(mine.iter().all(|r| r.status == RunStatus::Succeeded), "{mine:?}");
    }
}

async fn audit_ips(db: &TestDb, kind: DbKind, from_ms: i64, to_ms: i64) -> Vec<String> {
    match kind {
        DbKind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
            sqlx::query_scalar(
                "SELECT ip FROM audit_events WHERE occurred_at >= ?1 AND occurred_at < ?2 AND ip IS NOT NULL",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&pool)
            .await
            .expect("ips")
        }
        DbKind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
            sqlx::query_scalar(
                "SELECT ip FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 AND ip IS NOT NULL",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&pool)
            .await
            .expect("ips")
        }
    }
}

async fn retention_purges_and_anonymizes_in_batches(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let now = now_millis().timestamp_millis();
    let (old, aging, recent) = (5_000, 20_000, 2_000);
    seed_audit(&db.url, kind, old, now - 100 * DAY_MS).await;
    seed_audit(&db.url, kind, aging, now - 10 * DAY_MS).await;
    seed_audit(&db.url, kind, recent, now - DAY_MS).await;
    let stale = seed_session(
        &store,
        chrono::Duration::days(10),
        chrono::Duration::days(10),
        Some("192.0.2.55"),
    )
    .await;
    let current = seed_session(
        &store,
        chrono::Duration::days(1),
        chrono::Duration::days(1),
        Some("192.0.2.55"),
    )
    .await;

    let mut settings = db.settings();
    settings.jobs.retention.batch_size = 1000;
    let ctx = sessiond::jobs::job_context(Arc::new(settings), store.clone())
        .await
        .expect("context");
    let started = Instant::now();
    let counts = sessiond_core::jobs::run_retention(&ctx, now_millis())
        .await
        .expect("retention");
    eprintln!(
        "{kind:?}: retention of {} rows in {:?}: {counts:?}",
        old + aging + recent,
        started.elapsed()
    );
    assert_eq!(counts["audit_deleted"], json!(old));
    // 20 000 seeded + the two session.generated events are younger than 7 days... only the seeded.
    assert_eq!(counts["audit_ips_anonymized"], json!(aging));
    assert_eq!(
        counts["session_ips_anonymized"],
        json!(2),
        "created_ip and last_ip of one session"
    );
    assert!(counts["batches"].as_u64().expect("batches") >= 25, "{counts:?}");

    assert!(
        audit_ips(&db, kind, 0, now - 90 * DAY_MS).await.is_empty(),
        "old rows deleted"
    );
    let aged = audit_ips(&db, kind, now - 11 * DAY_MS, now - 9 * DAY_MS).await;
    assert_eq!(aged.len(), aging as usize);
    for ip in &aged {
        assert_eq!(anonymize_ip(ip).as_deref(), Some(ip.as_str()), "{ip} is anonymized");
        assert!(ip.ends_with(".0.0") || ip.ends_with("::"), "{ip}");
    }
    let young = audit_ips(&db, kind, now - 2 * DAY_MS, now).await;
    assert_eq!(young.len(), recent as usize);
    assert!(
        young.iter().all(|ip| anonymize_ip(ip).as_deref() != Some(ip.as_str())),
        "recent IPs kept in full"
    );

    let s = store.get_session(stale).await.expect("get").expect("stale");
    assert_eq!(
        (s.created_ip.as_deref(), s.last_ip.as_deref()),
        (Some("192.0.0.0"), Some("192.0.0.0"))
    );
    let s = store.get_session(current).await.expect("get").expect("current");
    assert_eq!(s.last_ip.as_deref(), Some("192.0.2.55"));

    // Idempotent: a second pass finds nothing to do.
    let again = sessiond_core::jobs::run_retention(&ctx, now_millis())
        .await
        .expect("retention");
    assert_eq!(again["audit_deleted"], 0);
    assert_eq!(again["audit_ips_anonymized"], 0);
    assert_eq!(again["session_ips_anonymized"], 0);
}

/// A job that panics is a failed run like any other: recorded with the panic's message, its
/// lease released, so the next run goes ahead.
async fn a_panicking_job_fails_and_runs_again(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let ctx: JobContext = sessiond::jobs::job_context(Arc::new(db.settings()), db.store().await)
        .await
        .expect("job context");
    let panicky = JobDef {
        job: sessiond_core::jobs::JobName::Retention,
        name: "panicky",
        run: |_, _| Box::pin(async { panic!("the job fell over") }),
    };
    let mut runs = HashSet::new();
    for _ in 0..2 {
        match run_job(&ctx, panicky).await.expect("run") {
            RunOutcome::Failed { run_id, error } => {
                assert!(error.contains("the job fell over"), "{error}");
                runs.insert(run_id);
            }
            other => panic!("a panicking job: {other:?}"),
        }
    }
    assert_eq!(runs.len(), 2, "the second call ran (the lease was released)");
}

/// Issue 19, "run job now": a run requested from the console (`job_requests`) runs once, on
/// the daemon that takes it, under the job's lease; while the lease is held elsewhere it is
/// given back and runs on a later poll; a job the daemon does not know closes the request.
async fn requested_runs_run_once_under_the_lease(kind: DbKind) {
    use sessiond_core::jobs::run_requested;
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let job_ctx = || async {
        sessiond::jobs::job_context(Arc::new(db.settings()), db.store().await)
            .await
            .expect("job context")
    };
    let ctx = job_ctx().await;
    assert!(run_requested(&ctx).await.expect("poll").is_empty(), "nothing requested");
    let request = |job: &'static str| {
        let store = store.clone();
        async move {
            store
                .request_run(job, "admin:alice", now_millis(), &alice_requests())
                .await
                .expect("request")
                .0
        }
    };
    let id = request("session_expiry").await;

    // The job is running elsewhere: the request goes back to wait.
    let now = Utc::now();
    assert!(
        store
            .acquire_lease("session_expiry", "elsewhere", now, now + chrono::Duration::seconds(60))
            .await
            .expect("lease")
    );
    let done = run_requested(&ctx).await.expect("poll");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].outcome, Some(RunOutcome::Skipped));
    let pending = store.pending_run_requests(10).await.expect("pending");
    assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);
    store
        .release_lease("session_expiry", "elsewhere")
        .await
        .expect("release");

    // Now it runs, and the run is recorded on the request.
    let done = run_requested(&ctx).await.expect("poll");
    let run_id = match &done[..] {
        [r] if r.request_id == id => match r.outcome {
            Some(RunOutcome::Succeeded { run_id, .. }) => run_id,
            ref other => panic!("requested run: {other:?}"),
        },
        other => panic!("one requested run: {other:?}"),
    };
    let row = &store.run_requests("session_expiry", 1).await.expect("requests")[0];
    assert_eq!((row.id, row.run_id), (id, Some(run_id)));
    assert_eq!(row.claimed_by.as_deref(), Some(ctx.holder.as_str()));
    assert!(row.finished_at.is_some());
    let runs = store.list_runs(Some("session_expiry"), 10).await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].id, runs[0].status), (run_id, RunStatus::Succeeded));
    assert_eq!(runs[0].scheduled_for, None, "not a scheduled tick");

    // Another daemon polling afterwards finds nothing to do: it ran once in total.
    let other = job_ctx().await;
    assert!(run_requested(&other).await.expect("poll").is_empty());
    assert!(run_requested(&ctx).await.expect("poll").is_empty());

    // A job this daemon does not know: the request is closed without a run.
    let unknown = request("from_the_future").await;
    let done = run_requested(&ctx).await.expect("poll");
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].request_id, &done[0].outcome), (unknown, &None));
    let row = &store.run_requests("from_the_future", 1).await.expect("requests")[0];
    assert!(row.finished_at.is_some() && row.run_id.is_none());
}

/// Consoles pressing "run now" at once (eight here, each with its own store and connections):
/// one request is opened and one `job.requested` event written; every caller gets its id. On
/// PostgreSQL the look-up before the insert could not see the other transactions' rows, and
/// the job ran once per request; the index `job_requests_one_open` closes that.
async fn run_requests_at_once_open_one_request(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = db.store().await; // each console its own connections
        tasks.spawn(async move {
            store
                .request_run("retention", "admin:alice", now_millis(), &alice_requests())
                .await
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.expect("task").expect("request"));
    }
    let ids: HashSet<i64> = answers.iter().map(|(id, _)| *id).collect();
    let opened = answers.iter().filter(|(_, new)| *new).count();
    assert_eq!(
        (ids.len(), opened),
        (1, 1),
        "one request for eight callers: {answers:?}"
    );
    let pending = store.pending_run_requests(100).await.expect("pending");
    assert_eq!(pending.len(), 1, "{pending:?}");
    let events = events_of(store.as_ref(), EventType::JobRequested.as_str()).await;
    assert_eq!(events.len(), 1, "one job.requested event: {events:?}");

    // Once a daemon has taken it, the next press opens a new request.
    let id = pending[0].id;
    assert!(
        store
            .claim_run_request(id, "daemon-1", Utc::now())
            .await
            .expect("claim")
    );
    let (next, new) = store
        .request_run("retention", "admin:alice", now_millis(), &alice_requests())
        .await
        .expect("request");
    assert!(new && next != id, "a new request after the claim: {next} vs {id}");
}

/// What `sessionctl jobs run` (or `r`) asks with: alice's `job.requested` event.
fn alice_requests() -> NewEvent {
    let alice = Origin {
        request_id: "sessionctl-test".into(),
        ip: None,
        user_agent: None,
        actor: sessiond_core::audit::Actor::Admin("alice".into()),
    };
    NewEvent::new(
        &alice,
        now_millis(),
        EventType::JobRequested,
        Severity::Info,
        None,
        json!({}),
    )
}

/// Retention deletes run requests (they name the operator who asked) and job runs that
/// finished before the audit trail's cut-off, in batches; unfinished and recent ones stay.
async fn retention_deletes_the_jobs_history_with_the_audit_trail(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let now = Utc::now();
    let long_ago = now - chrono::Duration::days(120); // audit.retention_days is 90
    let lately = now - chrono::Duration::days(1);
    let mut old_runs = Vec::new();
    for _ in 0..5 {
        let id = store.start_run("retention", "d1", long_ago, None).await.expect("start");
        store
            .finish_run(id, long_ago, true, &json!({}), None)
            .await
            .expect("finish");
        old_runs.push(id);
    }
    let recent_run = store.start_run("retention", "d1", lately, None).await.expect("start");
    store
        .finish_run(recent_run, lately, true, &json!({}), None)
        .await
        .expect("finish");
    let died_mid_run = store.start_run("upload_gc", "d1", long_ago, None).await.expect("start");
    // Requests: finished long ago (one per job, each claimed so the next can open), finished
    // lately, and one still waiting.
    let mut requests = Vec::new();
    for (job, finished) in [
        ("session_expiry", long_ago),
        ("alert_detection", long_ago),
        ("upload_gc", lately),
    ] {
        let (id, _) = store
            .request_run(job, "admin:alice", long_ago, &alice_requests())
            .await
            .expect("request");
        assert!(store.claim_run_request(id, "d1", finished).await.expect("claim"));
        store
            .finish_run_request(id, Some(old_runs[0]), finished)
            .await
            .expect("finish");
        requests.push(id);
    }
    let (waiting, _) = store
        .request_run("retention", "admin:alice", long_ago, &alice_requests())
        .await
        .expect("request");

    let mut settings = db.settings();
    settings.jobs.retention.batch_size = 2; // several batches for five runs
    let ctx = sessiond::jobs::job_context(Arc::new(settings), store.clone())
        .await
        .expect("context");
    let counts = sessiond_core::jobs::run_retention(&ctx, now).await.expect("retention");
    assert_eq!(
        (
            counts["job_requests_deleted"].clone(),
            counts["job_runs_deleted"].clone()
        ),
        (json!(2), json!(5)),
        "{counts:?}"
    );
    let runs: HashSet<i64> = store
        .list_runs(None, 100)
        .await
        .expect("runs")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        runs,
        HashSet::from([recent_run, died_mid_run]),
        "the recent run and the unfinished one stay"
    );
    let mut left: Vec<i64> = Vec::new();
    for job in ["session_expiry", "alert_detection", "upload_gc", "retention"] {
        left.extend(
            store
                .run_requests(job, 100)
                .await
                .expect("requests")
                .iter()
                .map(|r| r.id),
        );
    }
    left.sort_unstable();
    assert_eq!(
        left,
        [requests[2], waiting],
        "the recent request and the waiting one stay"
    );
}

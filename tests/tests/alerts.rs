//! Alerts and admin email (SPEC §5) on SQLite and PostgreSQL, against a real SMTP server
//! (aiosmtpd on loopback, mail read back from its Maildir). Jobs are run directly through the
//! same `run_job`/job functions the scheduler uses, so each step is deterministic; the
//! scheduler itself is covered in `jobs.rs`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sessiond_core::Settings;
use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::now_millis;
use sessiond_core::jobs::{JobContext, RunOutcome, find, run_job};
use sessiond_core::store::alerts::AlertStatus;
use sessiond_core::store::{Store, WriteOp};
use sessiond_tests::smtp::SmtpServer;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, events_of, on_both_backends};

on_both_backends!(
    probing_burst_raises_one_alert_and_a_digest_mail,
    smtp_down_mail_waits_and_is_delivered_once,
    cooldown_holds_under_sustained_attack,
    email_disabled_still_stores_alerts,
    dependency_down_is_critical_after_its_window,
);

fn mail_settings(db: &TestDb, smtp: &SmtpServer) -> Settings {
    let mut s = db.settings();
    s.email.enabled = true;
    s.email.smtp_url = sessiond_core::config::SecretUrl::new(smtp.url());
    s.email.from = "sessiond@test.invalid".into();
    s.email.to = vec!["ops@test.invalid".into()];
    s
}

async fn ctx(db: &TestDb, settings: Settings) -> JobContext {
    sessiond::jobs::job_context(Arc::new(settings), db.store().await)
        .await
        .expect("job context")
}

async fn run(ctx: &JobContext, job: &str) -> serde_json::Map<String, serde_json::Value> {
    match run_job(ctx, find(job).expect("job")).await.expect("run job") {
        RunOutcome::Succeeded { counts, .. } => counts,
        other => panic!("{job}: {other:?}"),
    }
}

async fn insert_events(store: &Arc<dyn Store>, event_type: EventType, ip: Option<&str>, n: usize) {
    let origin = Origin {
        request_id: "test".into(),
        ip: ip.map(str::to_owned),
        user_agent: None,
        actor: sessiond_core::audit::Actor::Client,
    };
    let ops: Vec<WriteOp> = (0..n)
        .map(|_| {
            WriteOp::Event(NewEvent::new(
                &origin,
                now_millis(),
                event_type,
                Severity::Warning,
                None,
                json!({}),
            ))
        })
        .collect();
    store.commit_batch(&ops).await.expect("insert events");
}

async fn probe(d: &TestDaemon, n: usize) {
    let c = client();
    for _ in 0..n {
        let res = c
            .post(d.url("/api/session/validate-uuid"))
            .json(&json!({ "uuid": uuid::Uuid::new_v4().to_string() }))
            .send()
            .await
            .expect("validate");
        assert_eq!(res.status().as_u16(), 404);
    }
}

async fn probing_burst_raises_one_alert_and_a_digest_mail(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let smtp = SmtpServer::start(db.dir.path()).await;
    let settings = mail_settings(&db, &smtp);
    let d = TestDaemon::start(settings.clone()).await;
    let store = db.store().await;
    let jobs = ctx(&db, settings).await;

    // Below the threshold (20 in 5 min): nothing.
    probe(&d, 19).await;
    let counts = run(&jobs, "alert_detection").await;
    assert_eq!(counts["raised"], 0, "{counts:?}");
    assert!(store.list_alerts(true, 10).await.expect("alerts").is_empty());

    probe(&d, 11).await;
    let counts = run(&jobs, "alert_detection").await;
    assert_eq!(counts["raised"], 1, "{counts:?}");
    // Repeats update the one alert instead of raising another.
    probe(&d, 5).await;
    run(&jobs, "alert_detection").await;
    run(&jobs, "alert_detection").await;
    let alerts = store.list_alerts(true, 10).await.expect("alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!((a.rule.as_str(), a.subject.as_str()), ("uuid_probing", "127.0.0.1"));
    assert_eq!((a.severity, a.status), (Severity::Warning, AlertStatus::Open));
    assert_eq!(a.count, 35);
    assert_eq!(a.sample_event_ids.len(), 5);
    let raised = events_of(store.as_ref(), "alert.raised").await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].metadata["alert_id"], a.id);
    assert_eq!(raised[0].actor, "system");
    // A warning is not mailed at once.
    assert!(store.list_notifications(10).await.expect("outbox").is_empty());

    // The digest gathers it into one mail; the sender delivers it.
    assert_eq!(run(&jobs, "alert_digest").await["queued"], 1);
    assert_eq!(run(&jobs, "notification_sender").await["sent"], 1);
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    for needle in [
        "uuid_probing",
        "127.0.0.1",
        "Count:      35",
        "First seen:",
        "Last seen:",
        "sessionctl alerts list",
        "To: ops@test.invalid",
    ] {
        assert!(mail.contains(needle), "mail lacks `{needle}`:\n{mail}");
    }
    for id in &a.sample_event_ids {
        assert!(mail.contains(&id.to_string()), "sample id {id} not in mail");
    }
    // Nothing new since the digest: no second digest.
    assert_eq!(run(&jobs, "alert_digest").await["queued"], 0);
    assert_eq!(run(&jobs, "notification_sender").await["sent"], 0);
    assert_eq!(smtp.messages().len(), 1);

    // Quiet for the rule's window: resolved.
    let later = now_millis() + chrono::Duration::minutes(6);
    let counts = sessiond_core::alerts::detect(&jobs, 0, later).await.expect("detect");
    assert_eq!(counts["resolved"], 1, "{counts:?}");
    let a = &store.list_alerts(true, 10).await.expect("alerts")[0];
    assert_eq!(a.status, AlertStatus::Resolved);
    assert!(a.resolved_at.is_some());
    d.stop().await;
}

async fn smtp_down_mail_waits_and_is_delivered_once(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let mut smtp = SmtpServer::start(db.dir.path()).await;
    let settings = mail_settings(&db, &smtp);
    let store = db.store().await;
    let jobs = ctx(&db, settings).await;
    smtp.stop().await;

    // A critical alert queues its mail at once.
    insert_events(&store, EventType::RequestError, Some("198.51.100.7"), 6).await;
    let counts = run(&jobs, "alert_detection").await;
    assert_eq!(
        (counts["raised"].clone(), counts["emails_queued"].clone()),
        (json!(1), json!(1))
    );

    // SMTP is down: the attempt fails, is recorded, and the row waits.
    let counts = run(&jobs, "notification_sender").await;
    assert_eq!((counts["sent"].clone(), counts["failed"].clone()), (json!(0), json!(1)));
    let outbox = store.list_notifications(10).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    let n = &outbox[0];
    assert_eq!(
        (n.kind.as_str(), n.status.as_str(), n.attempts),
        ("alert", "pending", 1)
    );
    assert!(n.last_error.as_deref().is_some_and(|e| !e.is_empty()));
    assert!(n.next_attempt_at > now_millis().timestamp_millis(), "backoff");
    // Not due yet: a run now does not touch it.
    assert_eq!(run(&jobs, "notification_sender").await["failed"], 0);

    // Back up; once the backoff has passed it goes out exactly once.
    smtp.resume().await;
    let later = now_millis() + chrono::Duration::hours(1);
    let counts = sessiond_core::mailer::deliver_pending(&jobs, 0, later)
        .await
        .expect("send");
    assert_eq!(counts["sent"], 1);
    for _ in 0..3 {
        let counts = sessiond_core::mailer::deliver_pending(&jobs, 0, later)
            .await
            .expect("send");
        assert_eq!(counts["sent"], 0);
    }
    let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "exactly one delivery");
    assert!(mails[0].contains("error_spike"));
    assert!(mails[0].contains("critical"));
    let n = &store.list_notifications(10).await.expect("outbox")[0];
    assert_eq!((n.status.as_str(), n.attempts), ("sent", 2));
    assert!(n.sent_at.is_some());
    let audit = async |t: &str| events_of(store.as_ref(), t).await.len();
    assert_eq!(audit("notification.failed").await, 1);
    assert_eq!(audit("notification.sent").await, 1);
}

async fn cooldown_holds_under_sustained_attack(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let smtp = SmtpServer::start(db.dir.path()).await;
    let settings = mail_settings(&db, &smtp);
    let store = db.store().await;
    let jobs = ctx(&db, settings).await;

    for round in 0..6 {
        insert_events(&store, EventType::RequestError, None, 6).await;
        run(&jobs, "alert_detection").await;
        run(&jobs, "notification_sender").await;
        let alerts = store.list_alerts(true, 10).await.expect("alerts");
        assert_eq!(alerts.len(), 1, "round {round}: {alerts:?}");
        assert_eq!(alerts[0].count, 6 * (round + 1));
        assert_eq!(alerts[0].subject, "*");
    }
    let outbox = store.list_notifications(10).await.expect("outbox");
    assert_eq!(outbox.len(), 1, "one mail per cooldown: {outbox:?}");
    assert_eq!(smtp.wait_for(1, Duration::from_secs(10)).await.len(), 1);

    // After the cooldown a repeat mails again (one more, not one per round).
    let later = now_millis() + chrono::Duration::minutes(61);
    let late = NewEvent::new(
        &Origin::system("test"),
        later,
        EventType::RequestError,
        Severity::Critical,
        None,
        json!({}),
    );
    store.commit_batch(&[WriteOp::Event(late)]).await.expect("insert");
    let counts = sessiond_core::alerts::detect(&jobs, 0, later).await.expect("detect");
    assert_eq!(counts["emails_queued"], 1, "{counts:?}");
    assert_eq!(store.list_notifications(10).await.expect("outbox").len(), 2);
}

async fn email_disabled_still_stores_alerts(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let mut settings = db.settings();
    settings.alerts.rules.upload_abuse.threshold = 3;
    let jobs = ctx(&db, settings).await;
    insert_events(&store, EventType::UploadRejected, Some("2001:db8:5:6:1:2:3:4"), 2).await;
    insert_events(&store, EventType::UploadRejected, Some("2001:db8:5:6:ffff::9"), 2).await;
    insert_events(&store, EventType::RequestError, None, 5).await;
    run(&jobs, "alert_detection").await;
    let alerts = store.list_alerts(true, 10).await.expect("alerts");
    let mut found: Vec<(String, String)> = alerts.iter().map(|a| (a.rule.clone(), a.subject.clone())).collect();
    found.sort();
    // IPv6 clients are keyed by their /64, like the rate limiter.
    assert_eq!(
        found,
        vec![
            ("error_spike".to_owned(), "*".to_owned()),
            ("upload_abuse".to_owned(), "2001:db8:5:6::/64".to_owned())
        ]
    );
    assert!(store.list_notifications(10).await.expect("outbox").is_empty());
    assert_eq!(run(&jobs, "alert_digest").await["email_disabled"], true);
    assert_eq!(run(&jobs, "notification_sender").await["email_disabled"], true);
}

async fn dependency_down_is_critical_after_its_window(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let jobs = ctx(&db, db.settings()).await;
    let origin = Origin::system("test");
    let dep = |t, at| {
        WriteOp::Event(NewEvent::new(
            &origin,
            at,
            t,
            Severity::Critical,
            None,
            json!({ "dependency": "database" }),
        ))
    };
    let now = now_millis();
    store
        .commit_batch(&[dep(EventType::DependencyDown, now)])
        .await
        .expect("insert");
    // Down for less than 60 s: nothing yet.
    assert_eq!(
        sessiond_core::alerts::detect(&jobs, 0, now).await.expect("detect")["raised"],
        0
    );
    let later = now + chrono::Duration::seconds(61);
    assert_eq!(
        sessiond_core::alerts::detect(&jobs, 0, later).await.expect("detect")["raised"],
        1
    );
    let a = &store.list_alerts(true, 10).await.expect("alerts")[0];
    assert_eq!(
        (a.rule.as_str(), a.subject.as_str(), a.severity.as_str()),
        ("dependency_down", "database", "critical")
    );
    // Back up: resolved.
    store
        .commit_batch(&[dep(EventType::DependencyUp, later)])
        .await
        .expect("insert");
    assert_eq!(
        sessiond_core::alerts::detect(&jobs, 0, later).await.expect("detect")["resolved"],
        1
    );
}

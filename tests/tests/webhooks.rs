//! Signed webhooks (SPEC §5) against a real HTTP receiver started by the test, on SQLite and
//! PostgreSQL: the receiver checks every Standard Webhooks signature itself; it goes down, the
//! delivery waits in the outbox and arrives once when it comes back; an endpoint that keeps
//! failing is dead-lettered.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
use sessiond_core::config::{Secret, WebhookSettings};
use sessiond_core::domain::now_millis;
use sessiond_core::store::WriteOp;
use sessiond_core::store::webhooks::WebhookCounts;
use sessiond_tests::webhooks::{Received, receiver};
use sessiond_tests::{DbKind, TestDb, on_both_backends};
use tokio::net::TcpListener;

on_both_backends!(webhooks_are_signed_survive_an_outage_and_dead_letter);

const SECRET_KEY: &[u8] = b"webhook test secret bytes 012345";

fn endpoint(name: &str, url: String, types: &[&str], max_attempts: u32) -> WebhookSettings {
    WebhookSettings {
        name: name.into(),
        url,
        secret: Secret::new(format!("whsec_{}", STANDARD.encode(SECRET_KEY))),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        alert_rules: Vec::new(),
        severities: Vec::new(),
        max_attempts,
    }
}

fn event(ty: EventType, n: usize) -> WriteOp {
    WriteOp::Event(NewEvent::new(
        &Origin::system(format!("req-{n}")),
        now_millis(),
        ty,
        Severity::Warning,
        None,
        json!({ "n": n }),
    ))
}

async fn webhooks_are_signed_survive_an_outage_and_dead_letter(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let got: Received = Arc::default();
    let (addr, server) = receiver("127.0.0.1:0".parse().expect("addr"), SECRET_KEY, got.clone(), None).await;
    // An endpoint nobody listens on: bind a port, then free it.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let mut settings = db.settings();
    settings.webhooks = vec![
        endpoint(
            "siem",
            format!("http://{addr}/hooks"),
            &["session.validation_failed", "rate_limit.exceeded"],
            8,
        ),
        endpoint("gone", format!("http://{closed}/hooks"), &["session.reset"], 2),
    ];
    settings.validate().expect("valid webhook settings");
    let store = sessiond::open_store(&settings).await.expect("store");
    let ctx = sessiond::jobs::job_context(Arc::new(settings), store.clone())
        .await
        .expect("context");
    let run = |at: chrono::DateTime<chrono::Utc>| {
        let ctx = &ctx;
        async move { sessiond_core::webhooks::run(ctx, at).await.expect("webhook run") }
    };

    // The first run places the endpoints at the end of the trail: no replay of history.
    store
        .commit_batch(&[event(EventType::SessionValidationFailed, 0)])
        .await
        .expect("commit");
    let counts = run(now_millis()).await;
    assert_eq!(counts["webhooks_queued"], json!(0));

    store
        .commit_batch(&[
            event(EventType::SessionValidationFailed, 1),
            event(EventType::SessionValidated, 2),
            event(EventType::RateLimitExceeded, 3),
        ])
        .await
        .expect("commit");
    let counts = run(now_millis()).await;
    assert_eq!(
        (counts["webhooks_queued"].clone(), counts["webhooks_sent"].clone()),
        (json!(2), json!(2))
    );
    {
        let got = got.lock().expect("lock");
        let types: Vec<&str> = got.iter().map(|(_, v)| v["type"].as_str().unwrap_or("")).collect();
        assert_eq!(types, vec!["session.validation_failed", "rate_limit.exceeded"]);
        assert_eq!(got[0].1["data"]["metadata"]["n"], json!(1));
    }

    // The receiver goes down; the event waits in the outbox.
    server.abort();
    let _ = server.await;
    store
        .commit_batch(&[event(EventType::SessionValidationFailed, 4)])
        .await
        .expect("commit");
    let now = now_millis();
    let counts = run(now).await;
    assert_eq!(
        (counts["webhooks_queued"].clone(), counts["webhooks_failed"].clone()),
        (json!(1), json!(1))
    );
    let pending = store.webhook_counts().await.expect("counts");
    assert_eq!((pending.pending, pending.sent), (1, 2));
    // Not due again before its backoff.
    assert_eq!(run(now).await["webhooks_sent"], json!(0));

    // It comes back on the same address: delivered once, later.
    let (_, server) = receiver(addr, SECRET_KEY, got.clone(), None).await;
    assert_eq!(run(now + chrono::Duration::hours(1)).await["webhooks_sent"], json!(1));
    assert_eq!(run(now + chrono::Duration::hours(2)).await["webhooks_sent"], json!(0));
    {
        let got = got.lock().expect("lock");
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].1["data"]["metadata"]["n"], json!(4));
        let mut ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3, "one delivery per event");
    }

    // An endpoint that keeps failing is dead-lettered after max_attempts (2).
    store
        .commit_batch(&[event(EventType::SessionReset, 5)])
        .await
        .expect("commit");
    run(now + chrono::Duration::hours(3)).await;
    let counts = run(now + chrono::Duration::hours(5)).await;
    assert_eq!(counts["webhooks_dead"], json!(1));
    assert_eq!(
        store.webhook_counts().await.expect("counts"),
        WebhookCounts {
            pending: 0,
            sent: 3,
            dead: 1
        }
    );
    server.abort();
}

//! `log.audit_events`: the daemon's JSON log carries each committed audit event (target
//! `sessiond::audit`), and says at start-up whether the audit chain is on, never showing its key.

use std::time::{Duration, Instant};

use sessiond_tests::process::DaemonProcess;
use sessiond_tests::{DbKind, TestDb, on_both_backends};

on_both_backends!(json_logs_carry_audit_events_and_the_chain_state);

const KEY: &str = "log-test-chain-key-0123456789abcdef";

async fn json_logs_carry_audit_events_and_the_chain_state(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let daemon = DaemonProcess::start(
        env!("CARGO_BIN_EXE_sessiond"),
        &db,
        &[
            ("SESSIOND_LOG__AUDIT_EVENTS", "true"),
            ("SESSIOND_AUDIT__HMAC_KEY", KEY),
        ],
    )
    .await;
    let response = reqwest::Client::new()
        .post(daemon.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("generate");
    assert!(response.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let found = daemon
            .logs
            .lock()
            .expect("lock")
            .iter()
            .find(|l| l["target"] == "sessiond::audit" && l["event_type"] == "session.generated")
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no audit event in the log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event: serde_json::Value =
        serde_json::from_str(line["event"].as_str().unwrap_or_default()).expect("event JSON");
    assert_eq!(event["event_type"], "session.generated");
    assert_eq!(event["id"], line["event_id"]);
    let logs = daemon.logs.lock().expect("lock").clone();
    assert!(
        logs.iter()
            .any(|l| l["message"].as_str().unwrap_or_default().starts_with("audit chain on"))
    );
    assert!(
        !serde_json::to_string(&logs).unwrap_or_default().contains(KEY),
        "the key reached the log"
    );
}

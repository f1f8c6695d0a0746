//! Webhooks to an HTTPS receiver, through the real binary (`sessiond run-job
//! notification_sender`, the job that drains the outbox), on SQLite and PostgreSQL. The
//! receiver's certificate comes from an authority made for the test: trusted through
//! `SSL_CERT_FILE` (as an operator points the daemon at an internal CA, docs/audit.md), the
//! delivery arrives signed; without it the delivery fails, the failure names the certificate
//! problem, and the log does not show the URL's token.

use std::process::Command;

use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::now_millis;
use sessiond_core::store::WriteOp;
use sessiond_tests::webhooks::{Received, TestCa, receiver, whsec};
use sessiond_tests::{DbKind, TestDb, on_both_backends};

on_both_backends!(webhooks_reach_an_https_receiver_only_through_a_trusted_certificate);

const KEY: &[u8] = b"tls webhook test secret 0123456789";
const TOKEN: &str = "tok3n-in-the-query";

/// `sessiond run-job notification_sender` on `db` with `config`; `ca`: the file to trust.
fn run_outbox(db: &TestDb, config: &std::path::Path, ca: Option<&std::path::Path>) -> (serde_json::Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessiond"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SESSIOND_CONFIG", config)
        .env("SESSIOND_DATABASE__URL", &db.url)
        .env("SESSIOND_STORAGE__FS__ROOT", db.dir.path().join("objects"))
        .env("SESSIOND_LOG__LEVEL", "warn")
        .args(["run-job", "notification_sender"]);
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let out = cmd.output().expect("run sessiond");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "run-job failed: {stderr}");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON report ({e}): {stderr}"));
    (report, stderr)
}

fn event(n: usize) -> WriteOp {
    WriteOp::Event(NewEvent::new(
        &Origin::system(format!("req-{n}")),
        now_millis(),
        EventType::SessionValidationFailed,
        Severity::Warning,
        None,
        serde_json::json!({ "n": n }),
    ))
}

async fn webhooks_reach_an_https_receiver_only_through_a_trusted_certificate(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let ca = TestCa::new();
    let ca_file = db.dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
    let got = Received::default();
    let (addr, server) = receiver(
        "127.0.0.1:0".parse().expect("addr"),
        KEY,
        got.clone(),
        Some(ca.acceptor.clone()),
    )
    .await;
    let config = db.dir.path().join("sessiond.toml");
    std::fs::write(
        &config,
        format!(
            "[[webhooks]]\nname = \"siem\"\nurl = \"https://localhost:{}/hooks?token={TOKEN}\"\n\
             secret = \"{}\"\nevent_types = [\"session.validation_failed\"]\n",
            addr.port(),
            whsec(KEY)
        ),
    )
    .expect("write config");

    // The first run places the endpoint at the end of the trail.
    let (report, _) = tokio::task::block_in_place(|| run_outbox(&db, &config, Some(&ca_file)));
    assert_eq!(report["counts"]["webhooks_queued"], 0, "{report}");

    // Trusted: delivered over TLS, signed.
    store.commit_batch(&[event(1)]).await.expect("commit");
    let (report, stderr) = tokio::task::block_in_place(|| run_outbox(&db, &config, Some(&ca_file)));
    assert_eq!(
        (&report["counts"]["webhooks_sent"], &report["counts"]["webhooks_failed"]),
        (&serde_json::json!(1), &serde_json::json!(0)),
        "{report} {stderr}"
    );
    {
        let got = got.lock().expect("lock");
        assert_eq!(got.len(), 1, "one verified delivery");
        assert_eq!(got[0].1["type"], "session.validation_failed");
        assert_eq!(got[0].1["data"]["metadata"]["n"], 1);
    }

    // Not trusted (the system's roots do not know the test's authority): not delivered, and
    // the warning says why without the URL's token.
    store.commit_batch(&[event(2)]).await.expect("commit");
    let (report, stderr) = tokio::task::block_in_place(|| run_outbox(&db, &config, None));
    assert_eq!(report["counts"]["webhooks_failed"], 1, "{report} {stderr}");
    assert!(stderr.contains("webhook not delivered"), "{stderr}");
    assert!(stderr.contains("certificate"), "the cause is named: {stderr}");
    assert!(!stderr.contains(TOKEN), "the URL's token reached the log: {stderr}");
    assert_eq!(got.lock().expect("lock").len(), 1, "nothing arrived untrusted");
    server.abort();
}

//! `sessionctl audit verify` and `sessionctl audit export` as the real binary, on SQLite and
//! PostgreSQL: exit codes 0 / 1 / 2 and `--json`; export as JSON lines and CSV with filters.

use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
use sessiond_core::config::Secret;
use sessiond_core::domain::now_millis;
use sessiond_core::store::WriteOp;
use sessiond_tests::{DbKind, TestDb, on_both_backends};

on_both_backends!(verify_exit_codes_and_json, export_jsonl_and_csv);

const KEY: &str = "cli-test-chain-key-0123456789";

fn sessionctl(db: &TestDb, key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessionctl"));
    cmd.arg("--database-url")
        .arg(&db.url)
        .args(args)
        .current_dir(db.dir.path())
        .env_remove("SESSIOND_CONFIG")
        .env_remove("SESSIOND_AUDIT__HMAC_KEY")
        .stdin(Stdio::null());
    if let Some(key) = key {
        cmd.env("SESSIOND_AUDIT__HMAC_KEY", key);
    }
    cmd.output().expect("run sessionctl")
}

/// Six events in two chained batches, the first two hours old; returns their ids.
async fn seed(db: &TestDb) -> Vec<i64> {
    let mut settings = db.settings();
    settings.audit.hmac_key = Some(Secret::new(KEY));
    let store = sessiond::open_store(&settings).await.expect("store");
    for (b, ago) in [(0, chrono::Duration::hours(2)), (1, chrono::Duration::minutes(1))] {
        let ops: Vec<WriteOp> = (0..3)
            .map(|i| {
                let ty = if i == 2 {
                    EventType::SessionValidationFailed
                } else {
                    EventType::SessionValidated
                };
                WriteOp::Event(NewEvent::new(
                    &Origin {
                        request_id: format!("r{b}{i}"),
                        ip: Some("192.0.2.7".into()),
                        user_agent: Some("agent, with \"quotes\"".into()),
                        actor: sessiond_core::audit::Actor::Client,
                    },
                    now_millis() - ago,
                    ty,
                    Severity::Info,
                    None,
                    json!({ "batch": b, "i": i }),
                ))
            })
            .collect();
        store.commit_batch(&ops).await.expect("commit");
    }
    store
        .list_audit(&sessiond_core::audit::AuditQuery {
            ascending: true,
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .iter()
        .map(|e| e.id)
        .collect()
}

async fn tamper(db: &TestDb, sql: String) {
    if db.url.starts_with("sqlite") {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
            .await
            .expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("tamper");
    } else {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
            .await
            .expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("tamper");
    }
}

/// The chain state the console's Jobs tab shows.
async fn console_chain(db: &TestDb) -> String {
    let mut settings = db.settings();
    settings.audit.hmac_key = Some(Secret::new(KEY));
    let console = sessionctl::ops::Console::open(settings, true).await.expect("console");
    let health = console.audit_health().await.expect("health");
    console.close().await;
    health.chain
}

async fn verify_exit_codes_and_json(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let ids = seed(&db).await;

    let out = sessionctl(&db, Some(KEY), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("intact: 6 events in 2 links"));

    let out = sessionctl(&db, None, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(2), "no key: cannot check");
    assert_eq!(console_chain(&db).await, "audit chain intact");

    tamper(
        &db,
        format!("UPDATE audit_events SET severity = 'critical' WHERE id = {}", ids[4]),
    )
    .await;
    let out = sessionctl(&db, Some(KEY), &["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["status"], "broken");
    assert_eq!(report["problem"]["kind"], "edited_field");
    assert_eq!(report["problem"]["event_id"], json!(ids[4]));
    assert_eq!(report["problem"]["fields"], json!(["severity"]));

    assert_eq!(
        console_chain(&db).await,
        format!("audit chain broken at event {}", ids[4])
    );

    let out = sessionctl(&db, Some("a different key entirely, long"), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrong key"));

    // A database that cannot be reached cannot be checked.
    let out = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "audit",
            "verify",
        ])
        .env("SESSIOND_AUDIT__HMAC_KEY", KEY)
        .env_remove("SESSIOND_CONFIG")
        .current_dir(db.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

async fn export_jsonl_and_csv(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let ids = seed(&db).await;

    let out = sessionctl(&db, None, &["audit", "export", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(
        lines.iter().map(|l| l["id"].as_i64().unwrap_or(0)).collect::<Vec<_>>(),
        ids
    );

    // Only the last hour, only failures.
    let since = (now_millis() - chrono::Duration::hours(1)).to_rfc3339();
    let out = sessionctl(
        &db,
        None,
        &[
            "audit",
            "export",
            "--since",
            &since,
            "--type",
            "session.validation_failed",
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rows: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("id,occurred_at,event_type,severity,"));
    assert!(rows[1].starts_with(&format!("{},", ids[5])), "{text}");
    assert!(rows[1].contains("\"agent, with \"\"quotes\"\"\""), "{text}");

    let out = sessionctl(&db, None, &["audit", "export", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

//! The script subcommands, run as the real binary with `--json` and parsed, on SQLite and
//! PostgreSQL: listing and filtering sessions, show, reset (and its `--yes` guard), purge
//! (right to erasure), audit tail, alerts list/ack, jobs list, `--read-only`.

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sessionctl::ops::os_user;
use sessiond_core::audit::AuditQuery;
use sessiond_core::domain::now_millis;
use sessiond_tests::console::seed_sessions;
use sessiond_tests::{DbKind, TestDb, on_both_backends};
use uuid::Uuid;

/// The daemon's object store root for `db` (as a daemon on it would have created it).
fn objects_root(db: &TestDb) -> std::path::PathBuf {
    let root = db.settings().storage.fs.root;
    std::fs::create_dir_all(&root).expect("objects root");
    root
}

fn sessionctl(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .current_dir(db.dir.path())
        .env_remove("SESSIOND_CONFIG")
        .env("SESSIOND_STORAGE__FS__ROOT", objects_root(db))
        .stdin(Stdio::null())
        .output()
        .expect("run sessionctl")
}

fn json_ok(db: &TestDb, args: &[&str]) -> Value {
    let out = sessionctl(db, args);
    assert!(
        out.status.success(),
        "sessionctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sessionctl {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn exec(db: &TestDb, sqlite: &'static str, pg: &'static str) {
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
        sqlx::query(sqlite).execute(&pool).await.expect("exec");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pg");
        sqlx::query(pg).execute(&pool).await.expect("exec");
        pool.close().await;
    }
}

async fn sessions_subcommands(kind: DbKind) {
    let db = TestDb::new(kind).await;
    seed_sessions(&db, 120, now_millis().timestamp_millis()).await;

    // list: newest first, one page.
    let rows = json_ok(&db, &["--json", "sessions", "list", "--limit", "10"]);
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 10);
    let created: Vec<&str> = rows.iter().map(|r| r["created_at"].as_str().expect("time")).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");

    // status and prefix filters.
    let revoked = json_ok(
        &db,
        &["--json", "sessions", "list", "--status", "revoked", "--limit", "100"],
    );
    let revoked = revoked.as_array().expect("array");
    assert_eq!(revoked.len(), 2, "every 50th of 120 is revoked");
    assert!(revoked.iter().all(|r| r["status"] == "revoked"));
    let target = rows[3]["id"].as_str().expect("id").to_owned();
    let prefix = &target[..3];
    let matching = json_ok(
        &db,
        &["--json", "sessions", "list", "--prefix", prefix, "--limit", "1000"],
    );
    let matching = matching.as_array().expect("array");
    assert!(matching.iter().any(|r| r["id"] == target.as_str()));
    assert!(
        matching
            .iter()
            .all(|r| r["id"].as_str().expect("id").starts_with(prefix))
    );
    let ip = rows[3]["last_ip"].as_str().expect("ip").to_owned();
    let by_ip = json_ok(&db, &["--json", "sessions", "list", "--ip", &ip]);
    assert!(
        by_ip
            .as_array()
            .expect("array")
            .iter()
            .all(|r| r["last_ip"] == ip.as_str())
    );
    assert!(
        !sessionctl(&db, &["sessions", "list", "--sort", "sideways"])
            .status
            .success()
    );

    // show.
    let shown = json_ok(&db, &["--json", "sessions", "show", &target]);
    assert_eq!(shown["id"], target.as_str());
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["uploads"].as_array().expect("uploads").len(), 0);

    // reset refuses without --yes when stdin is not a terminal, and changes nothing.
    let refused = sessionctl(&db, &["sessions", "reset", &target]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    let store = db.store().await;
    let id: Uuid = target.parse().expect("uuid");
    assert_eq!(
        store.get_session(id).await.expect("get").expect("row").status.as_str(),
        "active"
    );
    // --read-only refuses too.
    let ro = sessionctl(&db, &["--read-only", "sessions", "reset", &target, "--yes"]);
    assert!(!ro.status.success());
    assert!(String::from_utf8_lossy(&ro.stderr).contains("read-only"));

    let reset = json_ok(&db, &["--json", "sessions", "reset", &target, "--yes"]);
    assert_eq!(reset["previous_status"], "active");
    assert_eq!(
        store.get_session(id).await.expect("get").expect("row").status.as_str(),
        "revoked"
    );
    let admin = format!("admin:{}", os_user());
    let events = store
        .list_audit(&AuditQuery {
            session_id: Some(id),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "session.reset");
    assert_eq!(events[0].actor, admin);

    // audit tail --json: JSON lines, oldest first.
    let out = sessionctl(&db, &["--json", "audit", "tail", "--limit", "5"]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event_type"], "session.reset");
    assert_eq!(lines[0]["session_id"], target.as_str());

    // purge: row and uploads gone, events pseudonymized, a session.purged event without the id.
    let refused = sessionctl(&db, &["sessions", "purge", &target]);
    assert_eq!(refused.status.code(), Some(2));
    let purged = json_ok(&db, &["--json", "sessions", "purge", &target, "--yes"]);
    let pseudonym: Uuid = purged["pseudonym"].as_str().expect("pseudonym").parse().expect("uuid");
    assert_ne!(pseudonym, id);
    assert_eq!(purged["events_pseudonymized"], 1);
    assert!(store.get_session(id).await.expect("get").is_none());
    let left = store
        .list_audit(&AuditQuery {
            session_id: Some(id),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(left.is_empty(), "no event names the purged session");
    let under = store
        .list_audit(&AuditQuery {
            session_id: Some(pseudonym),
            limit: 10,
            ascending: true,
            ..Default::default()
        })
        .await
        .expect("audit");
    let types: Vec<&str> = under.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["session.reset", "session.purged"]);
    // The user's facts are gone from its events (the purge event carries only the operator's).
    assert!(under[0].ip.is_none() && under[0].user_agent.is_none());
    assert_eq!(under[1].actor, format!("admin:{}", os_user()));
    let all =
        String::from_utf8_lossy(&sessionctl(&db, &["--json", "audit", "tail", "--limit", "100"]).stdout).into_owned();
    assert_eq!(all.lines().count(), 2);
    assert!(
        !all.contains(&target),
        "the purged id appears nowhere in the audit trail"
    );
    let gone = sessionctl(&db, &["sessions", "purge", &target, "--yes"]);
    assert_eq!(gone.status.code(), Some(1));
}

async fn alerts_and_jobs_subcommands(kind: DbKind) {
    let db = TestDb::new(kind).await;
    assert_eq!(json_ok(&db, &["--json", "alerts", "list"]), Value::Array(vec![]));
    exec(
        &db,
        "INSERT INTO alerts (rule, subject, severity, status, count, first_seen_at, last_seen_at, sample_event_ids) \
         VALUES ('uuid_probing', '203.0.113.7', 'warning', 'open', 25, 1000, 2000, '[1, 2]')",
        "INSERT INTO alerts (rule, subject, severity, status, count, first_seen_at, last_seen_at, sample_event_ids) \
         VALUES ('uuid_probing', '203.0.113.7', 'warning', 'open', 25, 1000, 2000, '[1, 2]')",
    )
    .await;
    let alerts = json_ok(&db, &["--json", "alerts", "list"]);
    let alerts = alerts.as_array().expect("array");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["rule"], "uuid_probing");
    assert_eq!(alerts[0]["sample_event_ids"], serde_json::json!([1, 2]));
    let id = alerts[0]["id"].as_i64().expect("id").to_string();
    let acked = json_ok(&db, &["--json", "alerts", "ack", &id]);
    assert_eq!(acked["status"], "acknowledged");
    let store = db.store().await;
    let alert = store
        .get_alert(id.parse().expect("id"))
        .await
        .expect("get")
        .expect("alert");
    assert_eq!(alert.status, sessiond_core::store::alerts::AlertStatus::Acknowledged);
    assert_eq!(alert.acknowledged_by, Some(format!("admin:{}", os_user())));
    let acknowledged = AuditQuery {
        event_type: Some("alert.acknowledged".into()),
        limit: 10,
        ..Default::default()
    };
    let events = store.list_audit(&acknowledged).await.expect("audit");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].metadata["rule"], "uuid_probing");
    assert_eq!(events[0].metadata["subject"], "203.0.113.7");
    assert_eq!(events[0].metadata["alert_id"].to_string(), id);
    assert_eq!(events[0].actor, format!("admin:{}", os_user()));
    // Acknowledging twice is an error, not a second event.
    assert_eq!(sessionctl(&db, &["alerts", "ack", &id]).status.code(), Some(1));
    let again = store.list_audit(&acknowledged).await.expect("audit");
    assert_eq!(again.len(), 1, "one acknowledgement, one event");

    let jobs = json_ok(&db, &["--json", "jobs", "list"]);
    let jobs = jobs.as_array().expect("array");
    let names: Vec<&str> = jobs.iter().map(|j| j["name"].as_str().expect("name")).collect();
    assert_eq!(
        names,
        [
            "session_expiry",
            "retention",
            "alert_detection",
            "alert_digest",
            "notification_sender",
            "upload_gc",
            "object_deletion"
        ]
    );
    assert!(jobs.iter().all(|j| j["next_run"].as_i64().is_some()));
    let text = sessionctl(&db, &["jobs", "list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("never"));
}

/// Issue 16 point 6: `sessionctl` uses the daemon's storage settings or refuses, never creates
/// `./data/objects`, and hands a reset's objects to the durable queue (reporting them queued,
/// not deleted); the daemon's `object_deletion` job deletes them.
async fn reset_uses_the_daemons_storage_or_refuses(kind: DbKind) {
    use sessiond_core::jobs::{JobContext, RunOutcome, find, run_job};
    use sessiond_core::storage::session_prefix;
    use std::sync::Arc;

    let db = TestDb::new(kind).await;
    let moto = sessiond_tests::s3::Moto::start().await;
    moto.create_bucket("console").await;
    let mut settings = db.settings();
    moto.configure(&mut settings, "console");
    let d = sessiond_tests::TestDaemon::start(settings.clone()).await;
    let http = sessiond_tests::client();
    let res = http
        .post(d.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("generate");
    let s = res.json::<Value>().await.expect("json")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    for name in ["a.pdf", "b.pdf"] {
        let boundary = "clitestboundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/pdf\r\n\r\n%PDF-1.7 test\r\n--{boundary}--\r\n"
        );
        let res = http
            .post(d.url(&format!("/api/session/{s}/uploads")))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status().as_u16(), 201);
    }
    let sid: Uuid = s.parse().expect("uuid");
    let objects = sessiond_core::storage::from_settings(&settings.storage)
        .await
        .expect("objects");
    let stored = || async { objects.list(&session_prefix(sid)).await.expect("list").len() };
    assert_eq!(stored().await, 2);

    let run = |envs: &[(&str, String)]| {
        let cwd = tempfile::tempdir().expect("cwd");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessionctl"));
        cmd.arg("--database-url")
            .arg(&db.url)
            .args(["--json", "sessions", "reset", &s, "--yes"])
            .current_dir(cwd.path())
            .env_remove("SESSIOND_CONFIG")
            .stdin(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run sessionctl");
        assert!(
            !cwd.path().join("data").exists(),
            "sessionctl created ./data in its working directory"
        );
        out
    };

    // Without the daemon's storage settings (the default ./data/objects, absent here): refused,
    // and the session is untouched.
    let refused = run(&[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("storage.fs.root"), "{err}");
    assert_eq!(d.validate(&s).await.status().as_u16(), 200, "not reset");
    // A bogus backend is refused too (configuration error, exit 2).
    let bogus = run(&[("SESSIOND_STORAGE__BACKEND", "s3".into())]);
    assert_eq!(
        bogus.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bogus.stderr)
    );
    assert_eq!(d.validate(&s).await.status().as_u16(), 200, "not reset");

    // With the daemon's S3 settings: reset, and the objects are queued, not claimed deleted.
    let s3 = &settings.storage.s3;
    let envs = [
        ("SESSIOND_STORAGE__BACKEND", "s3".to_owned()),
        ("SESSIOND_STORAGE__S3__BUCKET", s3.bucket.clone().expect("bucket")),
        ("SESSIOND_STORAGE__S3__ENDPOINT", s3.endpoint.clone().expect("endpoint")),
        ("SESSIOND_STORAGE__S3__REGION", "us-east-1".to_owned()),
        ("SESSIOND_STORAGE__S3__FORCE_PATH_STYLE", "true".to_owned()),
        ("SESSIOND_STORAGE__S3__ACCESS_KEY_ID", "testing".to_owned()),
        ("SESSIOND_STORAGE__S3__SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    let out = run(&envs);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reset: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reset["uploads_queued_for_deletion"], 2, "{reset}");
    assert!(reset.get("uploads_deleted").is_none(), "{reset}");
    assert_eq!(d.validate(&s).await.status().as_u16(), 410, "reset");
    let store = db.store().await;
    let queued = store.list_object_deletions(10).await.expect("queue");
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (queued[0].reason.as_str(), queued[0].target.clone()),
        ("session_reset", session_prefix(sid))
    );
    assert_eq!(stored().await, 2, "sessionctl deletes nothing itself");

    // The daemon's job deletes them with the daemon's settings.
    let ctx = JobContext {
        store: store.clone(),
        settings: Arc::new(settings.clone()),
        objects: sessiond_core::storage::from_settings(&settings.storage)
            .await
            .expect("objects"),
        mailer: None,
        holder: "test".into(),
    };
    match run_job(&ctx, find("object_deletion").expect("job")).await.expect("run") {
        RunOutcome::Succeeded { counts, .. } => assert_eq!(counts["objects_deleted"], 2, "{counts:?}"),
        other => panic!("object_deletion: {other:?}"),
    }
    assert_eq!(stored().await, 0);
    assert!(store.list_object_deletions(10).await.expect("queue").is_empty());
    d.stop().await;
}

on_both_backends!(
    sessions_subcommands,
    alerts_and_jobs_subcommands,
    reset_uses_the_daemons_storage_or_refuses
);

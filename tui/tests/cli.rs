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

async fn sessions_subcommands(kind: DbKind) {
    let db = TestDb::new(kind).await;
    seed_sessions(&db, 120, now_millis().timestamp_millis()).await;

    // list: newest first, one page; the table's times are marked UTC.
    let table = sessionctl(&db, &["sessions", "list", "--limit", "10"]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert_eq!(utc_times(&table), 20, "created and last seen of 10 rows: {table}");
    let rows = json_ok(&db, &["--json", "sessions", "list", "--limit", "10"]);
    let rows = rows["sessions"].as_array().expect("array");
    assert_eq!(rows.len(), 10);
    let created: Vec<&str> = rows.iter().map(|r| r["created_at"].as_str().expect("time")).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");

    // status and prefix filters.
    let revoked = json_ok(
        &db,
        &["--json", "sessions", "list", "--status", "revoked", "--limit", "100"],
    );
    let revoked = revoked["sessions"].as_array().expect("array");
    assert_eq!(revoked.len(), 2, "every 50th of 120 is revoked");
    assert!(revoked.iter().all(|r| r["status"] == "revoked"));
    let target = rows[3]["uuid"].as_str().expect("uuid").to_owned();
    let prefix = &target[..3];
    let matching = json_ok(
        &db,
        &["--json", "sessions", "list", "--prefix", prefix, "--limit", "1000"],
    );
    let matching = matching["sessions"].as_array().expect("array");
    assert!(matching.iter().any(|r| r["uuid"] == target.as_str()));
    assert!(
        matching
            .iter()
            .all(|r| r["uuid"].as_str().expect("uuid").starts_with(prefix))
    );
    let ip = rows[3]["last_ip"].as_str().expect("ip").to_owned();
    let by_ip = json_ok(&db, &["--json", "sessions", "list", "--ip", &ip]);
    assert!(
        by_ip["sessions"]
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
    assert_eq!(shown["uuid"], target.as_str());
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

    let reset = json_ok(&db, &["-o", "json", "sessions", "reset", &target, "-y"]);
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
    assert_eq!(
        json_ok(&db, &["--json", "alerts", "list"]),
        serde_json::json!({ "alerts": [] })
    );
    db.exec(
        "INSERT INTO alerts (rule, subject, severity, status, count, first_seen_at, last_seen_at, sample_event_ids) \
         VALUES ('uuid_probing', '203.0.113.7', 'warning', 'open', 25, 1000, 2000, '[1, 2]')",
    )
    .await;
    let alerts = json_ok(&db, &["--json", "alerts", "list"]);
    let alerts = alerts["alerts"].as_array().expect("array");
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
    // Un-acknowledge (as `u` in the console): open again, audited; twice is an error.
    let reopened = json_ok(&db, &["--json", "alerts", "unack", &id]);
    assert_eq!(reopened["status"], "open");
    let alert = store
        .get_alert(id.parse().expect("id"))
        .await
        .expect("get")
        .expect("alert");
    assert_eq!(alert.status, sessiond_core::store::alerts::AlertStatus::Open);
    let unacked = AuditQuery {
        event_type: Some("alert.unacknowledged".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.list_audit(&unacked).await.expect("audit").len(), 1);
    assert_eq!(sessionctl(&db, &["alerts", "unack", &id]).status.code(), Some(1));
    assert_eq!(
        sessionctl(&db, &["--read-only", "alerts", "ack", &id]).status.code(),
        Some(1),
        "read-only refuses"
    );
    // Run a job now (as `r` in the Jobs tab): one request, audited; a second waits on it.
    let first = json_ok(&db, &["--json", "jobs", "run", "session_expiry"]);
    assert_eq!(first["new"], true, "{first}");
    let second = json_ok(&db, &["--json", "jobs", "run", "session_expiry"]);
    assert_eq!(
        (second["new"].clone(), second["request_id"].clone()),
        (serde_json::json!(false), first["request_id"].clone())
    );
    let requested = AuditQuery {
        event_type: Some("job.requested".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.list_audit(&requested).await.expect("audit").len(), 1);
    assert_eq!(
        sessionctl(&db, &["jobs", "run", "nope"]).status.code(),
        Some(2),
        "unknown job"
    );
    assert_eq!(
        sessionctl(&db, &["--read-only", "jobs", "run", "retention"])
            .status
            .code(),
        Some(1),
        "read-only refuses"
    );

    let jobs = json_ok(&db, &["--json", "jobs", "list"]);
    let jobs = jobs["jobs"].as_array().expect("array");
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
    assert!(jobs.iter().all(|j| j["next_run_at"].as_str().is_some_and(is_rfc3339)));
    let text = sessionctl(&db, &["jobs", "list"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("never"));
    // Tables print UTC and say so (issue 19 point 13): `2026-12-01 21:19:05Z`.
    let utc = utc_times(&text);
    assert!(utc > 0, "next runs marked Z: {text}");
}

/// How many `YYYY-MM-DD HH:MM:SSZ` times `text` holds.
fn utc_times(text: &str) -> usize {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| {
            chrono::NaiveDate::parse_from_str(w[0], "%Y-%m-%d").is_ok()
                && w[1]
                    .strip_suffix('Z')
                    .is_some_and(|t| chrono::NaiveTime::parse_from_str(t, "%H:%M:%S").is_ok())
        })
        .count()
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

/// `2026-01-08T10:15:30.123Z`: RFC 3339, UTC, milliseconds (SPEC §2).
fn is_rfc3339(s: &str) -> bool {
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.' && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Every time field in `v` (`*_at`, `scheduled_for`) is null or RFC 3339 UTC with ms; returns
/// how many were set.
fn times_are_rfc3339(v: &Value, path: &str) -> usize {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, x)| {
                let here = format!("{path}.{k}");
                if (k.ends_with("_at") || k == "scheduled_for") && !x.is_null() {
                    assert!(x.as_str().is_some_and(is_rfc3339), "{here} = {x}: not RFC 3339 UTC");
                    1
                } else {
                    times_are_rfc3339(x, &here)
                }
            })
            .sum(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| times_are_rfc3339(x, &format!("{path}[{i}]")))
            .sum(),
        _ => 0,
    }
}

/// stderr of a failed `-o json` run: `{"error": {"code", "message", "exit_code"}}`.
fn json_error(out: &Output) -> Value {
    let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| {
        panic!(
            "stderr is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        err["error"]["exit_code"].as_i64(),
        out.status.code().map(i64::from),
        "{err}"
    );
    err
}

fn origin(ip: &str) -> sessiond_core::audit::Origin {
    sessiond_core::audit::Origin {
        request_id: "cli-test".into(),
        ip: Some(ip.into()),
        user_agent: None,
        actor: sessiond_core::audit::Actor::Client,
    }
}

/// Issue 19 point 3: unknown filter values are errors naming what is accepted, values are
/// case-insensitive, the console's abbreviations work, IPs must be IPs (and match in any
/// spelling of the address).
async fn filters_reject_unknown_values(kind: DbKind) {
    use sessiond_core::audit::{EventType, NewEvent, Severity};
    use sessiond_core::store::WriteOp;

    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let ops: Vec<WriteOp> = [
        (EventType::SessionReset, Severity::Info, "192.0.2.7"),
        (EventType::RateLimitExceeded, Severity::Warning, "192.0.2.7"),
        (EventType::RequestError, Severity::Critical, "2001:db8::1"),
    ]
    .into_iter()
    .map(|(t, s, ip)| {
        WriteOp::Event(NewEvent::new(
            &origin(ip),
            now_millis(),
            t,
            s,
            None,
            serde_json::json!({}),
        ))
    })
    .collect();
    store.commit_batch(&ops).await.expect("events");
    let tail = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["-o", "json", "audit", "tail", "--limit", "100"];
        all.extend_from_slice(args);
        let out = sessionctl(&db, &all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    let types = |rows: Vec<Value>| -> Vec<String> {
        rows.iter()
            .map(|r| r["event_type"].as_str().expect("type").to_owned())
            .collect()
    };
    for sev in ["warning", "WARNING", "WARN", "warn"] {
        assert_eq!(types(tail(&["--severity", sev])), ["rate_limit.exceeded"], "{sev}");
    }
    assert_eq!(types(tail(&["--severity", "CRIT"])), ["request.error"]);
    assert_eq!(types(tail(&["--type", "Session.Reset"])), ["session.reset"]);
    assert_eq!(
        types(tail(&["--ip", "::ffff:192.0.2.7"])),
        ["session.reset", "rate_limit.exceeded"]
    );
    assert_eq!(types(tail(&["--ip", "2001:DB8:0::1"])), ["request.error"]);

    // Refused, exit 2, saying what is accepted; nothing printed on stdout.
    for (args, says) in [
        (
            &["audit", "tail", "--severity", "loud"][..],
            "use info, warning (WARN) or critical (CRIT)",
        ),
        (
            &["audit", "tail", "--type", "session.resett"],
            "did you mean `session.reset`?",
        ),
        (
            &["audit", "tail", "--type", "foo.bar"],
            "event types: session.generated,",
        ),
        (&["audit", "tail", "--ip", "nope"], "`nope` is not an IP address"),
        (
            &["audit", "export", "--type", "job.complete"],
            "did you mean `job.completed`?",
        ),
        (&["sessions", "list", "--ip", "1.2.3"], "`1.2.3` is not an IP address"),
        (
            &["sessions", "list", "--status", "gone"],
            "use active, revoked or expired",
        ),
        (&["sessions", "list", "--prefix", "xyz"], "is not a UUID prefix"),
        (&["sessions", "list", "--sort", "sideways"], "created-asc"),
    ] {
        let out = sessionctl(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        // The same with -o json: one JSON object on stderr.
        let mut json_args = vec!["-o", "json"];
        json_args.extend_from_slice(args);
        let out = sessionctl(&db, &json_args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let e = json_error(&out);
        assert_eq!(e["error"]["code"], "usage");
        assert!(e["error"]["message"].as_str().expect("message").contains(says), "{e}");
    }
    // Case-insensitive status and sort.
    seed_sessions(&db, 60, now_millis().timestamp_millis()).await;
    let revoked = json_ok(
        &db,
        &[
            "--json",
            "sessions",
            "list",
            "--status",
            "REVOKED",
            "--sort",
            "Last-Seen",
        ],
    );
    assert_eq!(
        revoked["sessions"].as_array().expect("rows").len(),
        1,
        "every 50th is revoked"
    );
}

/// Issue 19 point 11: every JSON time is RFC 3339 UTC with milliseconds, field names are the
/// API's, and failures under `-o json` are JSON on stderr with the usual exit codes.
async fn json_output_is_consistent(kind: DbKind) {
    use sessiond_core::audit::{EventType, NewEvent, Severity};
    use sessiond_core::jobs::{JobContext, find, run_job};
    use sessiond_core::store::WriteOp;
    use sessiond_core::store::uploads::{UploadOp, UploadRecord};
    use std::sync::Arc;

    let db = TestDb::new(kind).await;
    seed_sessions(&db, 5, now_millis().timestamp_millis()).await;
    let store = db.store().await;
    let list = json_ok(&db, &["-o", "json", "sessions", "list"]);
    assert_eq!(
        times_are_rfc3339(&list, ""),
        15,
        "created, last seen, expires × 5: {list}"
    );
    let row = &list["sessions"][0];
    let keys: Vec<&str> = row.as_object().expect("row").keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "uuid",
            "status",
            "created_at",
            "last_seen_at",
            "expires_at",
            "upload_count",
            "last_ip"
        ]
    );
    let sid: Uuid = row["uuid"].as_str().expect("uuid").parse().expect("uuid");

    // An upload and an event on that session, an acknowledged alert, a job run.
    let upload = Uuid::new_v4();
    let event = |t, s| {
        NewEvent::new(
            &origin("192.0.2.9"),
            now_millis(),
            t,
            s,
            Some(sid),
            serde_json::json!({}),
        )
    };
    store
        .commit_batch(&[
            WriteOp::Upload(UploadOp::Insert {
                upload: UploadRecord {
                    id: upload,
                    session_id: sid,
                    object_key: format!("uploads/{sid}/{upload}.pdf"),
                    filename: "a.pdf".into(),
                    size: 1234,
                    sha256: "00".repeat(32),
                    content_type: "application/pdf".into(),
                    created_at: now_millis(),
                },
                max_per_session: 10,
                event: event(EventType::UploadAccepted, Severity::Info),
            }),
            WriteOp::Event(event(EventType::SessionValidated, Severity::Info)),
        ])
        .await
        .expect("commit");
    let shown = json_ok(&db, &["--json", "sessions", "show", &sid.to_string()]);
    assert_eq!(shown["uuid"], sid.to_string());
    assert_eq!(
        (shown["upload_count"].as_i64(), shown["upload_bytes"].as_i64()),
        (Some(1), Some(1234))
    );
    assert_eq!(shown["uploads"][0]["id"], upload.to_string());
    assert_eq!(shown["uploads"][0]["session_uuid"], sid.to_string());
    assert_eq!(shown["events"].as_array().expect("events").len(), 2);
    // created, last seen, expires; the upload's; the two events'.
    assert_eq!(times_are_rfc3339(&shown, ""), 6, "{shown}");

    db.exec(
        "INSERT INTO alerts (rule, subject, severity, status, count, first_seen_at, last_seen_at, sample_event_ids) \
         VALUES ('uuid_probing', '203.0.113.7', 'warning', 'open', 25, 1000, 2000, '[1]')",
    )
    .await;
    let alerts = json_ok(&db, &["--json", "alerts", "list"]);
    let id = alerts["alerts"][0]["id"].as_i64().expect("id").to_string();
    assert_eq!(alerts["alerts"][0]["first_seen_at"], "1970-01-01T00:00:01.000Z");
    let acked = json_ok(&db, &["--json", "alerts", "ack", &id]);
    assert_eq!(acked["acknowledged_by"], format!("admin:{}", os_user()));
    let alerts = json_ok(&db, &["--json", "alerts", "list"]);
    assert_eq!(
        times_are_rfc3339(&alerts, ""),
        3,
        "first, last seen, acknowledged: {alerts}"
    );

    let settings = db.settings();
    let ctx = JobContext {
        store: store.clone(),
        settings: Arc::new(settings.clone()),
        objects: sessiond_core::storage::from_settings(&settings.storage)
            .await
            .expect("objects"),
        mailer: None,
        holder: "cli-test".into(),
    };
    run_job(&ctx, find("alert_detection").expect("job")).await.expect("run");
    let jobs = json_ok(&db, &["--json", "jobs", "list"]);
    let detection = jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["name"] == "alert_detection")
        .expect("alert_detection")
        .clone();
    assert_eq!(detection["runs"].as_array().expect("runs").len(), 1, "{detection}");
    // next run of 7 jobs; the run's start and end.
    assert_eq!(times_are_rfc3339(&jobs, ""), 9, "{jobs}");

    let out = sessionctl(&db, &["--json", "audit", "tail"]);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let e: Value = serde_json::from_str(line).expect("json line");
        assert_eq!(times_are_rfc3339(&e, ""), 1, "{e}");
    }
    let out = sessionctl(&db, &["audit", "export"]);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let e: Value = serde_json::from_str(line).expect("json line");
        assert_eq!(times_are_rfc3339(&e, ""), 1, "{e}");
    }

    // Failures as JSON on stderr, exit codes unchanged.
    let missing = Uuid::new_v4().to_string();
    for (args, code, kind) in [
        (&["sessions", "show", missing.as_str()][..], 1, "not_found"),
        (
            &["sessions", "reset", &sid.to_string(), "--read-only", "-y"],
            1,
            "read_only",
        ),
        (&["sessions", "reset", &sid.to_string()], 2, "confirmation_required"),
        (&["alerts", "ack", &id], 1, "conflict"),
        (&["sessions", "list", "--bogus"], 2, "usage"),
        (&["sessions"], 2, "usage"),
    ] {
        for flag in [&["--json"][..], &["-o", "json"], &["-ojson"], &["--output=JSON"]] {
            let mut all = flag.to_vec();
            all.extend_from_slice(args);
            let out = sessionctl(&db, &all);
            assert_eq!(out.status.code(), Some(code), "{all:?}");
            assert_eq!(json_error(&out)["error"]["code"], kind, "{all:?}");
        }
        // Without JSON: the plain message.
        let out = sessionctl(&db, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(serde_json::from_slice::<Value>(&out.stderr).is_err(), "{args:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .args(["--json", "--database-url", "mysql://nope", "jobs", "list"])
        .env_remove("SESSIOND_CONFIG")
        .current_dir(db.dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_error(&out)["error"]["code"], "config");
}

/// Issue 19 point 12: `--limit` outside 1..=1000 is refused; `--after` pages through more rows
/// than one page holds, and `--all` streams them all, in the same order, on both databases.
async fn sessions_list_pages_with_a_cursor(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let total = 2150;
    seed_sessions(&db, total, now_millis().timestamp_millis()).await;

    for bad in ["0", "1001", "5000", "-1"] {
        let out = sessionctl(&db, &["sessions", "list", "--limit", bad]);
        assert_eq!(out.status.code(), Some(2), "--limit {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            bad == "-1" || err.contains("is not in 1..=1000"),
            "--limit {bad}: {err}"
        );
    }

    let uuids = |v: &Value| -> Vec<String> {
        v["sessions"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["uuid"].as_str().expect("uuid").to_owned())
            .collect()
    };
    for (sort, status) in [
        ("created", None),
        ("last-seen-asc", Some("active")),
        ("id", None),
        ("id-desc", None),
    ] {
        let mut base = vec!["--json", "sessions", "list", "--sort", sort];
        if let Some(s) = status {
            base.extend(["--status", s]);
        }
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut args = base.clone();
            args.extend(["--limit", "1000"]);
            if let Some(c) = &after {
                args.extend(["--after", c.as_str()]);
            }
            let page = json_ok(&db, &args);
            pages += 1;
            let rows = uuids(&page);
            assert!(rows.len() <= 1000);
            paged.extend(rows);
            match page["next_cursor"].as_str() {
                Some(c) => after = Some(c.to_owned()),
                None => break,
            }
            assert!(pages < 10, "the cursor does not advance");
        }
        let mut all_args = base.clone();
        all_args.push("--all");
        let all = uuids(&json_ok(&db, &all_args));
        let expected = match status {
            None => total as usize,
            // Every 50th is revoked and every 7th (not 50th) expired.
            Some(_) => (1..=total).filter(|i| i % 50 != 0 && i % 7 != 0).count(),
        };
        assert_eq!(all.len(), expected, "{sort}");
        assert_eq!(paged, all, "{sort}: pages and --all agree, in order");
        assert_eq!(pages, expected.div_ceil(1000), "{sort}: no empty last page");
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "{sort}: no row twice");
        if sort == "id" {
            assert!(all.windows(2).all(|w| w[0] < w[1]), "UUID order");
        }
        if sort == "id-desc" {
            assert!(all.windows(2).all(|w| w[0] > w[1]), "UUID order, descending");
        }
    }

    // A table prints the cursor as a hint on stderr; it continues where the page stopped.
    let out = sessionctl(&db, &["sessions", "list", "--limit", "3", "--no-headers"]);
    assert!(out.status.success());
    let first: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l[..36].to_owned())
        .collect();
    assert_eq!(first.len(), 3, "no header line");
    let hint = String::from_utf8_lossy(&out.stderr).into_owned();
    let cursor = hint
        .split("--after ")
        .nth(1)
        .expect("a next-page hint")
        .trim()
        .to_owned();
    let next = json_ok(&db, &["--json", "sessions", "list", "--limit", "3", "--after", &cursor]);
    let all = uuids(&json_ok(&db, &["--json", "sessions", "list", "--limit", "6"]));
    assert_eq!([first, uuids(&next)].concat(), all);
    // A cursor of another order, or garbage, is refused.
    let out = sessionctl(&db, &["sessions", "list", "--sort", "last-seen", "--after", &cursor]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`created` order"));
    let out = sessionctl(&db, &["sessions", "list", "--after", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a cursor"));
    // --all takes no --limit.
    assert_eq!(
        sessionctl(&db, &["sessions", "list", "--all", "--limit", "5"])
            .status
            .code(),
        Some(2)
    );
    // The last page has no cursor.
    let out = sessionctl(
        &db,
        &[
            "sessions",
            "list",
            "--limit",
            "1000",
            "--sort",
            "created-asc",
            "--status",
            "revoked",
        ],
    );
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Issue 19, CLI polish: `-o table|wide|json`, `--no-headers`, `--watch` (bounded, and seeing
/// a change), completions, the man page, `--help` with exit codes and environment.
async fn output_flags_and_watch(kind: DbKind) {
    let db = TestDb::new(kind).await;
    seed_sessions(&db, 4, now_millis().timestamp_millis()).await;

    let table = String::from_utf8_lossy(&sessionctl(&db, &["sessions", "list"]).stdout).into_owned();
    assert!(table.starts_with("uuid "), "{table}");
    assert_eq!(table.lines().count(), 5);
    let wide = String::from_utf8_lossy(&sessionctl(&db, &["-o", "wide", "sessions", "list"]).stdout).into_owned();
    assert!(wide.lines().next().expect("header").contains("expires"), "{wide}");
    assert!(
        wide.lines().nth(1).expect("row").contains('Z'),
        "full RFC 3339 times: {wide}"
    );
    let bare = String::from_utf8_lossy(&sessionctl(&db, &["sessions", "list", "--no-headers"]).stdout).into_owned();
    assert_eq!(
        bare.lines().collect::<Vec<_>>(),
        table.lines().skip(1).collect::<Vec<_>>()
    );
    assert_eq!(
        sessionctl(&db, &["-o", "json", "jobs", "list"]).stdout.len(),
        sessionctl(&db, &["--json", "jobs", "list"]).stdout.len()
    );
    assert_eq!(
        sessionctl(&db, &["-o", "table", "--json", "jobs", "list"])
            .status
            .code(),
        Some(2),
        "-o and --json together are refused"
    );
    let jobs =
        String::from_utf8_lossy(&sessionctl(&db, &["jobs", "list", "--no-headers", "-o", "wide"]).stdout).into_owned();
    assert_eq!(jobs.lines().count(), 7);
    assert!(jobs.lines().all(|l| l.contains("console config")), "{jobs}");

    // --watch, bounded: one JSON document per refresh.
    let out = sessionctl(
        &db,
        &[
            "-o",
            "json",
            "sessions",
            "list",
            "--watch",
            "100ms",
            "--watch-count",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("JSON documents");
    assert_eq!(docs.len(), 3);
    assert!(
        docs.iter()
            .all(|d| d["sessions"].as_array().is_some_and(|r| r.len() == 4))
    );
    let out = sessionctl(
        &db,
        &["jobs", "list", "-w", "100ms", "--watch-count", "2", "--no-headers"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 14);
    assert_eq!(
        sessionctl(&db, &["alerts", "list", "--watch", "0"]).status.code(),
        Some(2),
        "an interval of 0 is refused"
    );

    // --watch sees a change: an alert raised after the first refresh shows up in a later one.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .args([
            "--database-url",
            &db.url,
            "--json",
            "alerts",
            "list",
            "--watch",
            "100ms",
        ])
        .current_dir(db.dir.path())
        .env_remove("SESSIOND_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for doc in serde_json::Deserializer::from_reader(stdout).into_iter::<Value>() {
            let Ok(doc) = doc else { break };
            if tx.send(doc).is_err() {
                break;
            }
        }
    });
    let wait = std::time::Duration::from_secs(30);
    let first = rx.recv_timeout(wait).expect("a first refresh");
    assert_eq!(first, serde_json::json!({ "alerts": [] }));
    db.exec(
        "INSERT INTO alerts (rule, subject, severity, status, count, first_seen_at, last_seen_at, sample_event_ids) \
         VALUES ('error_spike', '*', 'critical', 'open', 5, 1000, 2000, '[]')",
    )
    .await;
    let seen = loop {
        let doc = rx.recv_timeout(wait).expect("a later refresh");
        if let Some(a) = doc["alerts"].as_array().and_then(|a| a.first()) {
            break a["rule"].clone();
        }
    };
    assert_eq!(seen, "error_spike");
    child.kill().expect("kill");
    let _ = child.wait();
}

/// Completions, the man page and `--help` need no configuration and no database.
#[test]
fn completions_man_and_help() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sessionctl"))
            .args(args)
            .current_dir(dir.path())
            // A config that does not exist: these never read it.
            .env("SESSIOND_CONFIG", "/nonexistent/sessiond.toml")
            .stdin(Stdio::null())
            .output()
            .expect("run sessionctl")
    };
    for (shell, marker) in [
        ("bash", "complete -F _sessionctl"),
        ("zsh", "#compdef sessionctl"),
        ("fish", "complete -c sessionctl"),
    ] {
        let out = run(&["completions", shell]);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}");
        for word in ["sessions", "after", "watch", "no-headers"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    // bash loads the script and registers the completion.
    let script = dir.path().join("sessionctl.bash");
    std::fs::write(&script, run(&["completions", "bash"]).stdout).expect("write");
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p sessionctl", script.display()))
        .output()
        .expect("bash");
    assert!(bash.status.success(), "{}", String::from_utf8_lossy(&bash.stderr));
    assert!(String::from_utf8_lossy(&bash.stdout).contains("_sessionctl"));
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));

    let man = run(&["man"]);
    assert!(man.status.success(), "{}", String::from_utf8_lossy(&man.stderr));
    let roff = String::from_utf8_lossy(&man.stdout);
    assert!(roff.starts_with(".ie") || roff.contains(".TH sessionctl"), "{roff}");
    for word in ["sessions", "completions", "Exit codes", "SESSIOND_DATABASE__URL"] {
        assert!(roff.contains(word), "the man page mentions {word}");
    }
    let pages = dir.path().join("man1");
    std::fs::create_dir(&pages).expect("mkdir");
    assert!(run(&["man", "--dir", pages.to_str().expect("utf-8")]).status.success());
    for page in ["sessionctl.1", "sessionctl-sessions.1", "sessionctl-sessions-list.1"] {
        assert!(pages.join(page).is_file(), "{page}");
    }

    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for word in [
        "Exit codes:",
        "0  success",
        "2  usage",
        "Environment:",
        "SESSIOND_CONFIG",
        "SESSIOND_DATABASE__URL",
        "SESSIOND_<SECTION>__<KEY>",
        "-o, --output",
    ] {
        assert!(help.contains(word), "--help lists {word}");
    }
    let short = String::from_utf8_lossy(&run(&["-h"]).stdout).into_owned();
    assert!(short.contains("Exit codes: 0 ok, 1 failure, 2 usage"), "{short}");
    // Every subcommand's help ends the same way, and so does its man page.
    for args in [
        &["sessions", "reset", "--help"][..],
        &["audit", "verify", "--help"],
        &["jobs", "run", "-h"],
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Exit codes:"), "{args:?} lists the exit codes: {help}");
    }
    let page = std::fs::read_to_string(pages.join("sessionctl-sessions-list.1")).expect("page");
    assert!(
        page.contains("Exit codes"),
        "a subcommand's man page lists the exit codes"
    );
}

on_both_backends!(
    filters_reject_unknown_values,
    json_output_is_consistent,
    sessions_list_pages_with_a_cursor,
    output_flags_and_watch
);

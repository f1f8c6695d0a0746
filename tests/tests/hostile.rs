//! Hostile clients (issue #16): one client's data never fails another's request, hostile bodies
//! cannot grow memory, refusals a client repeats for free cannot grow the audit trail, an
//! incomplete body never commits, and readiness follows failing writes. Real daemon on
//! 127.0.0.1:0, on SQLite and PostgreSQL.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sessiond_core::audit::{AuditEvent, AuditQuery, EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::now_millis;
use sessiond_core::store::{Backend, Store, StoreError, WriteOp};
use sessiond_core::writer::{BatchWriter, WriteError, WriterOptions};
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, events_of, on_both_backends, poll, raw_request};
use tokio::io::AsyncWriteExt;

on_both_backends!(
    nul_in_user_info_is_refused_and_harms_no_one,
    a_refused_value_fails_only_its_own_submission,
    an_incomplete_upload_body_never_commits,
    free_refusals_are_summarized_and_cost_budget,
    readiness_follows_failing_writes,
);

async fn generate_with(d: &TestDaemon, body: &Value) -> reqwest::Response {
    client()
        .post(d.url("/api/session/generate-uuid"))
        .json(body)
        .send()
        .await
        .expect("generate")
}

/// NUL in a `user_info` key or value is `400 invalid_text` on both databases (PostgreSQL cannot
/// store it), and innocent clients sending at the same time all get their session.
async fn nul_in_user_info_is_refused_and_harms_no_one(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = Arc::new(TestDaemon::start(db.settings()).await);
    let mut tasks = Vec::new();
    for client_no in 0..8 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let attacker = client_no % 2 == 0;
            let mut statuses = Vec::new();
            for i in 0..25 {
                let body = if attacker {
                    if i % 2 == 0 {
                        json!({"user_info": {"a": "x\u{0}y"}})
                    } else {
                        json!({"user_info": {"k\u{0}": ["fine", {"deep": "\u{0}"}]}})
                    }
                } else {
                    json!({"user_info": {"locale": "de-DE", "n": i}})
                };
                let res = generate_with(&d, &body).await;
                let status = res.status();
                let doc: Value = res.json().await.expect("JSON answer");
                if attacker {
                    assert_eq!(doc["code"], "invalid_text", "{doc}");
                }
                statuses.push(status);
            }
            (attacker, statuses)
        }));
    }
    let mut innocent_created = 0;
    for t in tasks {
        let (attacker, statuses) = t.await.expect("client task");
        for s in statuses {
            if attacker {
                assert_eq!(s, StatusCode::BAD_REQUEST);
            } else {
                assert_eq!(s, StatusCode::CREATED, "an innocent client was failed");
                innocent_created += 1;
            }
        }
    }
    assert_eq!(innocent_created, 100);
    let ready = client().get(d.url("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    match Arc::try_unwrap(d) {
        Ok(d) => d.stop().await,
        Err(_) => panic!("daemon still shared"),
    }
}

fn event(request_id: &str, note: &str) -> WriteOp {
    WriteOp::Event(NewEvent::new(
        &Origin::system(request_id),
        now_millis(),
        EventType::RequestRejected,
        Severity::Warning,
        None,
        json!({ "note": note }),
    ))
}

/// The group-commit writer under concurrent submissions, one of which holds a value the
/// database refuses (a NUL in jsonb on PostgreSQL): only that one fails, every other
/// submission of its batch commits. On SQLite, which stores the value, all commit.
async fn a_refused_value_fails_only_its_own_submission(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let (writer, handle) = BatchWriter::spawn(store.clone(), WriterOptions::default());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let poisoned = i % 50 == 7;
            let note = if poisoned { "x\u{0}y" } else { "innocent" };
            let rid = format!("w{i}");
            (
                poisoned,
                writer.submit(vec![event(&rid, note), event(&rid, "second")]).await,
            )
        }));
    }
    let mut committed = 0;
    for t in tasks {
        let (poisoned, result) = t.await.expect("task");
        match (poisoned, store.backend(), result) {
            (true, Backend::Postgres, Err(WriteError::Store(StoreError::Rejected(_)))) => {}
            (true, Backend::Postgres, other) => panic!("a poisoned submission on PostgreSQL: {other:?}"),
            (_, _, Ok(_)) => committed += 2,
            (poisoned, _, Err(e)) => panic!("submission (poisoned: {poisoned}) failed: {e}"),
        }
    }
    let expected = match store.backend() {
        Backend::Postgres => 2 * (200 - 4),
        Backend::Sqlite => 400,
    };
    assert_eq!(committed, expected);
    let stored = store
        .list_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(stored.len(), expected, "every acknowledged event is stored, no other");
    handle.shutdown().await;
}

async fn new_session(d: &TestDaemon) -> String {
    let res = generate_with(d, &json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.expect("JSON");
    body["uuid"].as_str().expect("uuid").to_owned()
}

async fn uploads_of(d: &TestDaemon, session: &str) -> Vec<Value> {
    let res = client()
        .get(d.url(&format!("/api/session/{session}/uploads")))
        .send()
        .await
        .expect("list");
    let body: Value = res.json().await.expect("JSON");
    body["uploads"].as_array().cloned().unwrap_or_default()
}

const PDF_PART: &str = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\
                        Content-Type: application/pdf\r\n\r\n%PDF-1.4\n1 0 obj\n%%EOF\n\r\n--XYZ--\r\n";

/// Send `head` and `body` on a fresh connection and go away without reading an answer.
async fn send_and_vanish(d: &TestDaemon, head: &str, body: &[u8]) {
    let mut stream = tokio::net::TcpStream::connect(d.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(body).await.expect("body");
}

/// The events of `event_type` once there are `n` of them (fails after 10 s).
async fn wait_for_events(store: &Arc<dyn Store>, event_type: &str, n: usize) -> Vec<AuditEvent> {
    let list = || events_of(store.as_ref(), event_type);
    let what = format!("{n} {event_type} event(s)");
    poll(&what, std::time::Duration::from_secs(10), || async {
        list().await.len() >= n
    })
    .await;
    list().await
}

/// A body complete up to its closing boundary but 2 bytes short of its `Content-Length`, then a
/// disconnect: the client never learns an outcome, so nothing may commit (the upload is
/// recorded as aborted). The same body sent whole, and chunked, is stored.
async fn an_incomplete_upload_body_never_commits(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let s = new_session(&d).await;
    let path = format!("/api/session/{s}/uploads");
    let head = |len: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XYZ\r\n\
             Content-Length: {len}\r\nConnection: close\r\n\r\n"
        )
    };
    send_and_vanish(&d, &head(PDF_PART.len() + 2), PDF_PART.as_bytes()).await;
    let store = db.store().await;
    let events = wait_for_events(&store, "upload.aborted", 1).await;
    assert_eq!(events.len(), 1, "the incomplete upload is recorded as aborted");
    assert_eq!(events[0].metadata["reason"], "disconnected");
    assert!(uploads_of(&d, &s).await.is_empty(), "an incomplete body was stored");
    assert!(wait_for_events(&store, "upload.accepted", 0).await.is_empty());

    let answer = raw_request(d.addr, format!("{}{PDF_PART}", head(PDF_PART.len())).as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // A large body written at once: the parser must not count the file's bytes it was handed
    // before it saw the part's headers against the framing allowance.
    let mut big = Vec::new();
    big.extend_from_slice(
        b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n\r\n%PDF-1.4\n",
    );
    big.resize(big.len() + 1024 * 1024, b'x');
    big.extend_from_slice(b"\n%%EOF\n\r\n--XYZ--\r\n");
    let mut request = head(big.len()).into_bytes();
    request.extend_from_slice(&big);
    let answer = raw_request(d.addr, &request).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let chunked = format!("{:x}\r\n{PDF_PART}\r\n0\r\n\r\n", PDF_PART.len());
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XYZ\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_request(d.addr, format!("{head}{chunked}").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(uploads_of(&d, &s).await.len(), 3);
    d.stop().await;
}

/// Unknown routes and wrong methods under the API: with rate limiting off, 700 of them from one
/// client write at most one event and one summary per (code, route, method) — the counts add up
/// to every refusal; with it on, they spend the client's budget and end in 429.
async fn free_refusals_are_summarized_and_cost_budget(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let s = new_session(&d).await;
    let c = client();
    for i in 0..500 {
        let res = c
            .get(d.url(&format!("/api/session/{s}/nope/{i}")))
            .send()
            .await
            .expect("404");
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    for _ in 0..200 {
        let res = c.patch(d.url(&format!("/api/session/{s}"))).send().await.expect("405");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    d.stop().await;
    let store = db.store().await;
    let events = wait_for_events(&store, "request.rejected", 0).await;
    assert!(
        events.len() <= 4,
        "{} request.rejected rows for two kinds of refusal",
        events.len()
    );
    let count = |code: &str| -> u64 {
        events
            .iter()
            .filter(|e| e.metadata["code"] == code)
            .map(|e| e.metadata["count"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(count("not_found"), 500);
    assert_eq!(count("method_not_allowed"), 200);

    let mut settings = db.settings();
    settings.rate_limit.enabled = true;
    let d = TestDaemon::start(settings).await;
    let mut statuses = Vec::new();
    for i in 0..15 {
        let res = c
            .get(d.url(&format!("/api/session/x/y/z/{i}")))
            .send()
            .await
            .expect("miss");
        statuses.push(res.status().as_u16());
    }
    // The default quota: 10 a minute, burst 10.
    assert_eq!(statuses[..10], [404; 10]);
    assert_eq!(statuses[10..], [429; 5]);
    d.stop().await;
}

/// Make the database refuse writes while it still answers queries (as a full disk does), or
/// repair it. SQLite: triggers make every audit and probe write fail with SQLite's own disk-full
/// message. PostgreSQL: the database becomes read-only by default and its connections are cut,
/// so the pool reconnects read-only.
async fn break_writes(db: &TestDb, broken: bool) {
    if db.url.starts_with("sqlite") {
        if broken {
            db.exec(
                "CREATE TRIGGER full_events BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
            )
            .await;
            db.exec(
                "CREATE TRIGGER full_probe BEFORE INSERT ON write_probe \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
            )
            .await;
        } else {
            db.exec("DROP TRIGGER full_events").await;
            db.exec("DROP TRIGGER full_probe").await;
        }
        return;
    }
    let name = db.url.rsplit('/').next().expect("database name").to_owned();
    let admin = sessiond_tests::postgres_admin_url();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect admin");
    let setting = if broken {
        format!("ALTER DATABASE {name} SET default_transaction_read_only = on")
    } else {
        format!("ALTER DATABASE {name} RESET default_transaction_read_only")
    };
    sqlx::query(sqlx::AssertSqlSafe(setting))
        .execute(&mut conn)
        .await
        .expect("alter database");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&mut conn)
    .await
    .expect("cut connections");
}

async fn metric(d: &TestDaemon, name: &str) -> Option<String> {
    let text = client()
        .get(d.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_owned)
}

/// A database that answers queries but refuses writes (a full disk) is not ready: `/readyz`
/// says 503 and the metrics say writes are failing; once writes work again `/readyz` finds out
/// by itself (its own probe write) and says 200, with no client request in between.
async fn readiness_follows_failing_writes(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let readyz = || async { client().get(d.url("/readyz")).send().await.expect("readyz") };
    assert_eq!(readyz().await.status(), StatusCode::OK);
    assert_eq!(metric(&d, "sessiond_audit_writes_failing").await.as_deref(), Some("0"));

    break_writes(&db, true).await;
    let mut refused = 0;
    for _ in 0..3 {
        let res = generate_with(&d, &json!({})).await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused += 1;
        }
    }
    assert!(refused >= 1, "no write failed");
    let res = readyz().await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["database"], "unavailable", "{body}");
    assert_eq!(metric(&d, "sessiond_audit_writes_failing").await.as_deref(), Some("1"));
    let failures: u64 = metric(&d, "sessiond_audit_write_failures")
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(failures >= 1);

    break_writes(&db, false).await;
    assert_eq!(readyz().await.status(), StatusCode::OK, "ready again once writes work");
    assert_eq!(metric(&d, "sessiond_audit_writes_failing").await.as_deref(), Some("0"));
    assert_eq!(generate_with(&d, &json!({})).await.status(), StatusCode::CREATED);
    d.stop().await;
}

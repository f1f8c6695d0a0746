//! The store story, run on SQLite and on PostgreSQL: every verb of the `Store` trait, the
//! group-commit writer, and the query plans of the hot path.

use std::sync::{Arc, Mutex};

use serde_json::json;
use sessiond_core::audit::{AuditQuery, EventType, NewEvent, Origin, Severity};
use sessiond_core::config::HumanDuration;
use sessiond_core::domain::Timeouts;
use sessiond_core::domain::{Session, SessionStatus, now_millis};
use sessiond_core::store::console::session_audit_statements;
use sessiond_core::store::{Backend, PgStore, SqliteStore};
use sessiond_core::store::{OpOutcome, Refusal, WriteOp};
use sessiond_core::writer::{BatchWriter, WriteError, WriterOptions};
use sessiond_tests::{DbKind, TestDb, on_both_backends};
use uuid::Uuid;

on_both_backends!(
    sessions_round_trip,
    duplicate_id_is_a_collision_and_changes_nothing,
    touch_never_moves_back,
    revoke_is_idempotent_and_audited,
    audit_queries_filter_and_page,
    migrations_are_idempotent,
    writer_groups_concurrent_requests_into_batches,
    failed_batch_fails_every_request_and_stores_nothing,
    writer_shutdown_flushes_queued_writes,
    hot_path_queries_use_indexes,
    validations_are_judged_inside_the_batch,
    validations_see_what_other_connections_commit,
    other_writers_get_their_turn_under_writer_load,
    audit_by_session_pages_and_purges_across_segments,
    session_audit_statements_use_indexes,
);

fn session(id: Uuid, ip: &str) -> Session {
    let now = now_millis();
    Session {
        id,
        status: SessionStatus::Active,
        created_at: now,
        last_seen_at: now,
        ended_at: None,
        ended_by: None,
        user_info: Some(json!({"locale": "fr", "nested": {"a": [1, 2]}})),
        created_ip: Some(ip.into()),
        last_ip: Some(ip.into()),
    }
}

fn origin(rid: &str) -> Origin {
    Origin {
        request_id: rid.into(),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("store-test".into()),
        actor: sessiond_core::audit::Actor::Client,
    }
}

fn event(rid: &str, ty: EventType, id: Option<Uuid>) -> NewEvent {
    NewEvent::new(&origin(rid), now_millis(), ty, Severity::Info, id, json!({"k": rid}))
}

fn create(s: Session, rid: &str) -> WriteOp {
    let id = s.id;
    WriteOp::CreateSession {
        session: s,
        event: event(rid, EventType::SessionGenerated, Some(id)),
    }
}

async fn sessions_round_trip(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let s = session(Uuid::new_v4(), "2001:db8::7");
    let out = store.commit_batch(&[create(s.clone(), "r1")]).await.expect("commit");
    assert_eq!(out, vec![OpOutcome::Done]);
    assert_eq!(store.get_session(s.id).await.expect("get"), Some(s.clone()));
    assert_eq!(store.get_session(Uuid::new_v4()).await.expect("get"), None);
    assert_eq!(
        store.upload_totals(s.id).await.expect("totals"),
        sessiond_core::store::UploadTotals { count: 0, bytes: 0 }
    );
    let counts = store.count_sessions().await.expect("count");
    assert_eq!((counts.active, counts.revoked, counts.expired), (1, 0, 0));
    store.ping().await.expect("ping");
    assert!(!store.describe().is_empty());
}

async fn duplicate_id_is_a_collision_and_changes_nothing(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let first = session(Uuid::new_v4(), "192.0.2.1");
    store.commit_batch(&[create(first.clone(), "a")]).await.expect("commit");
    let mut second = session(first.id, "198.51.100.2");
    second.user_info = None;
    let out = store
        .commit_batch(&[
            create(second, "b"),
            WriteOp::Event(event("c", EventType::SessionRead, None)),
        ])
        .await
        .expect("commit");
    assert_eq!(out, vec![OpOutcome::Collision, OpOutcome::Done]);
    assert_eq!(store.get_session(first.id).await.expect("get"), Some(first));
    // The colliding op's event was not written; the other op's was.
    let events = store
        .list_audit(&AuditQuery {
            limit: 10,
            ascending: true,
            ..Default::default()
        })
        .await
        .expect("list");
    let rids: Vec<_> = events
        .iter()
        .map(|e| e.request_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(rids, vec!["a", "c"]);
}

async fn touch_never_moves_back(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let s = session(Uuid::new_v4(), "192.0.2.1");
    store.commit_batch(&[create(s.clone(), "a")]).await.expect("commit");
    let later = s.last_seen_at + chrono::Duration::seconds(90);
    let earlier = s.last_seen_at - chrono::Duration::seconds(90);
    store
        .commit_batch(&[
            WriteOp::Touch {
                id: s.id,
                at: later,
                ip: Some("198.51.100.9".into()),
            },
            WriteOp::Touch {
                id: s.id,
                at: earlier,
                ip: None,
            },
            WriteOp::Touch {
                id: Uuid::new_v4(),
                at: later,
                ip: None,
            },
        ])
        .await
        .expect("commit");
    let got = store.get_session(s.id).await.expect("get").expect("row");
    assert_eq!(got.last_seen_at, later);
    assert_eq!(got.last_ip.as_deref(), Some("198.51.100.9"));
    assert_eq!(got.created_ip.as_deref(), Some("192.0.2.1"));
}

async fn revoke_is_idempotent_and_audited(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let s = session(Uuid::new_v4(), "192.0.2.1");
    store.commit_batch(&[create(s.clone(), "a")]).await.expect("commit");
    let revoke = |rid: &str, id: Uuid| WriteOp::Revoke {
        id,
        at: now_millis(),
        by: "admin:alice".into(),
        event: event(rid, EventType::SessionReset, Some(id)),
    };
    let out = store.commit_batch(&[revoke("r1", s.id)]).await.expect("commit");
    assert_eq!(
        out,
        vec![OpOutcome::Revoked {
            previous: SessionStatus::Active
        }]
    );
    let first = store.get_session(s.id).await.expect("get").expect("row");
    assert_eq!(first.status, SessionStatus::Revoked);
    assert_eq!(first.ended_by.as_deref(), Some("admin:alice"));
    let out = store
        .commit_batch(&[revoke("r2", s.id), revoke("r3", Uuid::new_v4())])
        .await
        .expect("commit");
    assert_eq!(
        out,
        vec![
            OpOutcome::Revoked {
                previous: SessionStatus::Revoked
            },
            OpOutcome::NotFound
        ]
    );
    assert_eq!(
        store.get_session(s.id).await.expect("get").expect("row").ended_at,
        first.ended_at
    );
    let events = store
        .list_audit(&AuditQuery {
            event_type: Some("session.reset".into()),
            limit: 10,
            ascending: true,
            ..Default::default()
        })
        .await
        .expect("list");
    let prev: Vec<_> = events.iter().map(|e| e.metadata["previous_status"].clone()).collect();
    assert_eq!(
        prev,
        vec![json!("active"), json!("revoked")],
        "no event for the unknown id"
    );
    assert_eq!(events[0].metadata["k"], "r1", "the caller's metadata is kept");
    assert_eq!(store.count_sessions().await.expect("count").revoked, 1);
}

async fn audit_queries_filter_and_page(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let a = Uuid::new_v4();
    let mut ops = Vec::new();
    for i in 0..30 {
        let mut e = event(
            &format!("q{i}"),
            if i % 3 == 0 {
                EventType::SessionRead
            } else {
                EventType::SessionValidated
            },
            (i % 2 == 0).then_some(a),
        );
        if i >= 20 {
            e.ip = Some("203.0.113.5".into());
        }
        ops.push(WriteOp::Event(e));
    }
    store.commit_batch(&ops).await.expect("commit");
    let all = store
        .list_audit(&AuditQuery {
            limit: 100,
            ascending: true,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 30);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ids are monotonic");
    let newest = store
        .list_audit(&AuditQuery {
            limit: 5,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        newest.iter().map(|e| e.id).collect::<Vec<_>>(),
        all.iter().rev().take(5).map(|e| e.id).collect::<Vec<_>>()
    );
    let cursor = all[24].id;
    let tail = store
        .list_audit(&AuditQuery {
            after_id: Some(cursor),
            limit: 100,
            ascending: true,
            ..Default::default()
        })
        .await
        .expect("tail");
    assert_eq!(tail.len(), 5);
    let by_session = store
        .list_audit(&AuditQuery {
            session_id: Some(a),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(by_session.len(), 15);
    let by_ip = store
        .list_audit(&AuditQuery {
            ip: Some("203.0.113.5".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(by_ip.len(), 10);
    let by_type = store
        .list_audit(&AuditQuery {
            event_type: Some("session.read".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(by_type.len(), 10);
    let before = store
        .list_audit(&AuditQuery {
            before_id: Some(all[3].id),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(before.len(), 3);
    let e = &all[0];
    assert_eq!(e.actor, "client");
    assert_eq!(e.severity, "info");
    assert_eq!(e.user_agent.as_deref(), Some("store-test"));
    assert_eq!(e.metadata, json!({"k": "q0"}));
}

async fn migrations_are_idempotent(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    store.migrate().await.expect("second migrate");
    let again = sessiond::open_store(&db.settings()).await.expect("reopen");
    again.migrate().await.expect("third migrate");
    again.close().await;
}

async fn writer_groups_concurrent_requests_into_batches(kind: DbKind) {
    // One batch at a time, and (PostgreSQL's `database.postgres_write_pipeline`; SQLite's
    // writer thread ignores it) three in flight.
    for pipeline in [1, 3] {
        writer_groups_with_pipeline(kind, pipeline).await;
    }
}

async fn writer_groups_with_pipeline(kind: DbKind, pipeline: usize) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let (writer, handle) = BatchWriter::spawn(
        store.clone(),
        WriterOptions {
            observer: Some(Arc::new(move |n| seen.lock().expect("lock").push(n))),
            pipeline,
            ..Default::default()
        },
    );
    let mut tasks = Vec::new();
    for i in 0..400 {
        let w = writer.clone();
        tasks.push(tokio::spawn(async move {
            w.submit(vec![create(session(Uuid::new_v4(), "192.0.2.1"), &format!("g{i}"))])
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("committed"), vec![OpOutcome::Done]);
    }
    handle.shutdown().await;
    let sizes = sizes.lock().expect("lock").clone();
    assert_eq!(sizes.iter().sum::<usize>(), 400, "every op committed exactly once");
    assert!(
        sizes.len() < 400 && sizes.iter().any(|&n| n > 1),
        "concurrent requests share commits: {sizes:?}"
    );
    assert_eq!(store.count_sessions().await.expect("count").active, 400);
    let events = store
        .list_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(events.len(), 400);
}

async fn failed_batch_fails_every_request_and_stores_nothing(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let (writer, handle) = BatchWriter::spawn(store.clone(), WriterOptions::default());
    db.exec("ALTER TABLE audit_events RENAME TO audit_events_away").await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let w = writer.clone();
        tasks.push(tokio::spawn(async move {
            w.submit(vec![create(session(Uuid::new_v4(), "192.0.2.1"), &format!("f{i}"))])
                .await
        }));
    }
    for t in tasks {
        assert!(matches!(t.await.expect("task"), Err(WriteError::Store(_))));
    }
    db.exec("ALTER TABLE audit_events_away RENAME TO audit_events").await;
    assert_eq!(
        store.count_sessions().await.expect("count").active,
        0,
        "sessions of failed batches were rolled back"
    );
    // The writer keeps working afterwards.
    writer
        .submit(vec![create(session(Uuid::new_v4(), "192.0.2.1"), "ok")])
        .await
        .expect("commit after recovery");
    handle.shutdown().await;
    assert!(matches!(writer.submit(vec![]).await, Err(WriteError::Closed)));
}

async fn writer_shutdown_flushes_queued_writes(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let (writer, handle) = BatchWriter::spawn(
        store.clone(),
        WriterOptions {
            max_batch_ops: 8,
            ..Default::default()
        },
    );
    let mut tasks = Vec::new();
    for i in 0..100 {
        let w = writer.clone();
        tasks.push(tokio::spawn(async move {
            w.submit(vec![WriteOp::Event(event(
                &format!("s{i}"),
                EventType::SessionRead,
                None,
            ))])
            .await
        }));
    }
    // Let every task queue its write, then shut down: all of them must still be committed.
    tokio::task::yield_now().await;
    let results: Vec<_> = futures_join(tasks).await;
    handle.shutdown().await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let events = store
        .list_audit(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(events.len(), ok, "every acknowledged write is stored, nothing else");
    assert_eq!(ok, 100);
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

async fn hot_path_queries_use_indexes(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let ops: Vec<WriteOp> = (0..500)
        .map(|i| create(session(Uuid::new_v4(), "192.0.2.1"), &format!("h{i}")))
        .collect();
    store.commit_batch(&ops).await.expect("seed");
    let id = Uuid::new_v4();
    match kind {
        DbKind::Sqlite => {
            let mut c = sqlite_connect(&db.url).await;
            for (name, sql) in SqliteStore::HOT_PATH {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                        .bind(id)
                        .fetch_all(&mut c)
                        .await
                        .expect("explain");
                assert!(!rows.is_empty());
                for (_, _, _, detail) in rows {
                    assert!(detail.starts_with("SEARCH"), "{name}: {detail}");
                }
            }
            // Batch statements scan their JSON parameter, and only look tables up by index.
            for (name, sql) in SqliteStore::BATCH_PATH {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                        .bind(sqlx::types::Json(json!([])))
                        .fetch_all(&mut c)
                        .await
                        .expect("explain");
                for (_, _, _, detail) in rows {
                    for table in ["user_sessions", "audit_events", "uploads"] {
                        assert!(!detail.starts_with(&format!("SCAN {table}")), "{name}: {detail}");
                    }
                }
            }
        }
        DbKind::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query("ANALYZE").execute(&mut c).await.expect("analyze");
            // With sequential scans priced out, a plan that still scans has no usable index.
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut c)
                .await
                .expect("set");
            for (name, sql) in PgStore::HOT_PATH {
                let lines: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                    .bind(id)
                    .fetch_all(&mut c)
                    .await
                    .expect("explain");
                let plan = lines.into_iter().map(|(l,)| l).collect::<Vec<_>>().join("\n");
                assert!(plan.contains("Index"), "{name}: {plan}");
                assert!(!plan.contains("Seq Scan"), "{name}: {plan}");
            }
            for (name, sql) in PgStore::BATCH_PATH {
                let lines: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                    .bind(sqlx::types::Json(json!([])))
                    .fetch_all(&mut c)
                    .await
                    .expect("explain");
                let plan = lines.into_iter().map(|(l,)| l).collect::<Vec<_>>().join("\n");
                assert!(!plan.contains("Seq Scan"), "{name}: {plan}");
            }
        }
    }
}

fn validate(id: Uuid, rid: &str, ip: &str, touch_every: chrono::Duration) -> WriteOp {
    let at = now_millis();
    let mut o = origin(rid);
    o.ip = Some(ip.into());
    WriteOp::Validate {
        id,
        at,
        ip: o.ip.clone(),
        timeouts: Timeouts::new(
            std::time::Duration::from_secs(30 * 86_400),
            std::time::Duration::from_secs(365 * 86_400),
        ),
        touch_interval: touch_every,
        event: NewEvent::new(&o, at, EventType::SessionValidated, Severity::Info, Some(id), json!({})),
    }
}

/// One batch holding every kind of validation: each is judged against the rows as the batch
/// sees them, answered as stored after it, and audited with the right event.
async fn validations_are_judged_inside_the_batch(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let minute = chrono::Duration::seconds(60);
    let live = sessiond_tests::seed_session(&store, minute * 10, minute * 5, Some("192.0.2.1")).await;
    let fresh =
        sessiond_tests::seed_session(&store, minute * 10, chrono::Duration::seconds(5), Some("192.0.2.1")).await;
    let idle = sessiond_tests::seed_session(&store, chrono::Duration::days(40), chrono::Duration::days(31), None).await;
    let revoked = sessiond_tests::seed_session(&store, minute, minute, None).await;
    let reset = WriteOp::Revoke {
        id: revoked,
        at: now_millis(),
        by: "client".into(),
        event: event("reset", EventType::SessionReset, Some(revoked)),
    };
    store.commit_batch(&[reset]).await.expect("reset");
    let unknown = Uuid::new_v4();
    let before = store.get_session(fresh).await.expect("get").expect("row");

    let ops = vec![
        validate(live, "v-live", "192.0.2.1", minute),
        validate(fresh, "v-fresh", "192.0.2.1", minute),
        validate(idle, "v-idle", "192.0.2.1", minute),
        validate(revoked, "v-revoked", "192.0.2.1", minute),
        validate(unknown, "v-unknown", "192.0.2.1", minute),
        validate(live, "v-live-again", "198.51.100.7", minute),
    ];
    let out = store.commit_batch(&ops).await.expect("batch");
    let stored_live = store.get_session(live).await.expect("get").expect("row");
    match &out[0] {
        OpOutcome::Validated { session, touched } => {
            assert!(touched, "5 minutes old: refreshed");
            assert!(session.last_seen_at > now_millis() - minute);
        }
        other => panic!("{other:?}"),
    }
    // Two validations of one session in one batch: one refresh, the latest time and address.
    assert!(matches!(&out[5], OpOutcome::Validated { touched: true, .. }));
    assert_eq!(stored_live.last_ip.as_deref(), Some("198.51.100.7"));
    assert!(stored_live.last_seen_at > now_millis() - minute);
    match &out[1] {
        OpOutcome::Validated { session, touched } => {
            assert!(!touched, "5 seconds old, same address: not rewritten");
            assert_eq!(**session, before);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.get_session(fresh).await.expect("get").expect("row"), before);
    assert_eq!(out[2], OpOutcome::Refused(Refusal::Expired));
    assert_eq!(out[3], OpOutcome::Refused(Refusal::Revoked));
    assert_eq!(out[4], OpOutcome::Refused(Refusal::NotFound));
    // Refused sessions are not touched.
    assert_eq!(store.get_session(idle).await.expect("get").expect("row").last_ip, None);
    // A validation and a reset of one session in one batch: both backends judge the session
    // as it was before the batch, then revoke it.
    let both = vec![
        validate(live, "v-then-reset", "198.51.100.7", minute),
        WriteOp::Revoke {
            id: live,
            at: now_millis(),
            by: "client".into(),
            event: event("reset-live", EventType::SessionReset, Some(live)),
        },
    ];
    let out = store.commit_batch(&both).await.expect("batch");
    assert!(matches!(&out[0], OpOutcome::Validated { .. }), "{out:?}");
    assert_eq!(
        out[1],
        OpOutcome::Revoked {
            previous: SessionStatus::Active
        }
    );
    assert_eq!(
        store.get_session(live).await.expect("get").expect("row").status,
        SessionStatus::Revoked
    );

    for (rid, ty, reason) in [
        ("v-live", "session.validated", None),
        ("v-fresh", "session.validated", None),
        ("v-idle", "session.validation_failed", Some("expired")),
        ("v-revoked", "session.validation_failed", Some("revoked")),
        ("v-unknown", "session.validation_failed", Some("not_found")),
    ] {
        let events = store
            .list_audit(&AuditQuery {
                request_id: Some(rid.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(events.len(), 1, "{rid}");
        assert_eq!(events[0].event_type, ty, "{rid}");
        assert_eq!(
            events[0].metadata.get("reason").and_then(|r| r.as_str()),
            reason,
            "{rid}"
        );
        if reason.is_some() {
            assert_eq!(events[0].severity, "warning");
            assert_eq!(events[0].metadata["operation"], "validate");
        }
    }
}

/// A validation judges the session as stored, whoever changed it since the writer last read it:
/// a job's update through another connection, a reset from a second store on the same database
/// (the console). The SQLite writer keeps the sessions it has read (`SessionCache` in
/// `store/sqlite/batch.rs`); this is what it must never get wrong.
async fn validations_see_what_other_connections_commit(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let minute = chrono::Duration::seconds(60);
    let id = sessiond_tests::seed_session(&store, minute * 10, minute * 5, Some("192.0.2.1")).await;
    let out = store
        .commit_batch(&[validate(id, "first", "192.0.2.1", minute)])
        .await
        .expect("batch");
    assert!(matches!(&out[0], OpOutcome::Validated { touched: true, .. }), "{out:?}");

    // A job rewrites the address; the next validation from the old one must put it back.
    db.exec("UPDATE user_sessions SET last_ip = '203.0.113.9'").await;
    let out = store
        .commit_batch(&[validate(id, "after-job", "192.0.2.1", minute)])
        .await
        .expect("batch");
    match &out[0] {
        OpOutcome::Validated { session, touched } => {
            assert!(touched, "the stored address changed: refreshed");
            assert_eq!(session.last_ip.as_deref(), Some("192.0.2.1"));
        }
        other => panic!("{other:?}"),
    }
    let stored = store.get_session(id).await.expect("get").expect("row");
    assert_eq!(stored.last_ip.as_deref(), Some("192.0.2.1"));

    // The console, with its own store on the same database, resets the session.
    let console = sessiond::open_store(&db.settings()).await.expect("second store");
    let reset = WriteOp::Revoke {
        id,
        at: now_millis(),
        by: "admin:ops".into(),
        event: event("console-reset", EventType::SessionReset, Some(id)),
    };
    console.commit_batch(&[reset]).await.expect("reset");
    let out = store
        .commit_batch(&[validate(id, "after-reset", "192.0.2.1", minute)])
        .await
        .expect("batch");
    assert_eq!(out[0], OpOutcome::Refused(Refusal::Revoked));
    console.close().await;
}

/// A batch that fails after refreshing a session leaves nothing of it behind, in the database
/// or in what the writer remembers: the next validation refreshes the session again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failed_batch_leaves_no_remembered_change() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.store().await;
    let minute = chrono::Duration::seconds(60);
    let id = sessiond_tests::seed_session(&store, minute * 10, minute * 5, Some("192.0.2.1")).await;
    // The batch's event insert (after its refreshes) fails for request id `fail`.
    db.exec(
        "CREATE TRIGGER refuse_marked BEFORE INSERT ON audit_events WHEN NEW.request_id = 'fail' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .await;
    // One batch after that commit, so the writer's memory of the session is current.
    let out = store
        .commit_batch(&[validate(id, "before", "192.0.2.1", minute)])
        .await
        .expect("batch");
    assert!(matches!(&out[0], OpOutcome::Validated { touched: true, .. }), "{out:?}");
    let failed = store
        .commit_batch(&[validate(id, "fail", "198.51.100.7", minute)])
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let stored = store.get_session(id).await.expect("get").expect("row");
    assert_eq!(stored.last_ip.as_deref(), Some("192.0.2.1"), "rolled back");

    let out = store
        .commit_batch(&[validate(id, "again", "198.51.100.7", minute)])
        .await
        .expect("batch");
    assert!(matches!(&out[0], OpOutcome::Validated { touched: true, .. }), "{out:?}");
    let stored = store.get_session(id).await.expect("get").expect("row");
    assert_eq!(stored.last_ip.as_deref(), Some("198.51.100.7"));
}

/// While the group-commit writer commits batch after batch, the stores' own write transactions
/// (here job leases and a retention batch) still get their turn promptly.
async fn other_writers_get_their_turn_under_writer_load(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let (writer, handle) = BatchWriter::spawn(store.clone(), WriterOptions::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for c in 0..16 {
        let (w, stop) = (writer.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let rid = format!("load-{c}-{n}");
                w.submit(vec![WriteOp::Event(event(&rid, EventType::SessionRead, None))])
                    .await
                    .expect("committed");
                n += 1;
            }
            n
        }));
    }
    // Let the load build up, then take turns with it.
    while store
        .list_audit(&AuditQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .expect("list")
        .len()
        < 500
    {
        tokio::task::yield_now().await;
    }
    let started = std::time::Instant::now();
    for i in 0..20 {
        let now = chrono::Utc::now();
        let job = format!("gate-test-{i}");
        assert!(
            store
                .acquire_lease(&job, "me", now, now + chrono::Duration::seconds(30))
                .await
                .expect("lease")
        );
        store.release_lease(&job, "me").await.expect("release");
        store
            .delete_audit_before(now - chrono::Duration::days(1000), 100)
            .await
            .expect("retention batch");
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let committed: u64 = futures_join(load).await.into_iter().sum();
    handle.shutdown().await;
    assert!(committed > 0);
    // 60 write transactions against a saturated writer; starved, one would wait out the busy
    // timeout (5 s).
    assert!(
        took < std::time::Duration::from_secs(3),
        "other writers waited {took:?}"
    );
}

/// Events of about 6 KiB each, so that each takes a couple of WAL pages.
fn bulky_events(n: usize) -> Vec<WriteOp> {
    let filler = "x".repeat(6 * 1024);
    (0..n)
        .map(|_| {
            WriteOp::Event(NewEvent::new(
                &Origin::system("bulk"),
                now_millis(),
                EventType::SessionGenerated,
                Severity::Info,
                None,
                json!({ "filler": filler }),
            ))
        })
        .collect()
}

/// The writer's connection never checkpoints; the checkpoint thread does, and catches up often
/// enough that the log starts over instead of growing with everything ever written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_is_checkpointed_off_the_writer_and_stays_small() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let mut settings = db.settings();
    settings.database.sqlite_checkpoint_interval = HumanDuration(std::time::Duration::from_millis(20));
    settings.database.sqlite_wal_restart_mib = 8;
    let store = sessiond::open_store(&settings)
        .await
        .expect("open with a small restart size");
    let wal = db.dir.path().join("sessiond.db-wal");
    // ≈ 48 MiB through the log: 400 batches of 20 events of 6 KiB.
    for _ in 0..400 {
        store.commit_batch(&bulky_events(20)).await.expect("commit");
    }
    let mut c = sqlite_connect(&db.url).await;
    let events: (i64,) = sqlx::query_as("SELECT count(*) FROM audit_events")
        .fetch_one(&mut c)
        .await
        .expect("count");
    assert_eq!(events.0, 8_000);
    let log = std::fs::metadata(&wal)
        .expect("the log exists while the store is open")
        .len();
    // Nothing checkpointing, or checkpoints that never let the log start over, would leave
    // (nearly) all 48 MiB in the log; restarting at 8 MiB keeps it near that, with room here
    // for a checkpoint thread starved by a busy CI machine.
    assert!(log < 24 * 1024 * 1024, "log of {log} bytes after 48 MiB written");
    let db_file = std::fs::metadata(db.dir.path().join("sessiond.db")).expect("db").len();
    assert!(
        db_file > 30 * 1024 * 1024,
        "checkpoints copied the events back ({db_file} bytes)"
    );
    // Writes stopped: within an interval or two the file is cut back below the restart size.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let shrunk = loop {
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size <= 8 * 1024 * 1024 || std::time::Instant::now() > deadline {
            break size;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        shrunk <= 8 * 1024 * 1024,
        "log still {shrunk} bytes after writes stopped"
    );
}

/// A log that cannot be fsynced is never acknowledged, and the store refuses every later
/// commit: after a failed fsync the kernel may have dropped pages it still shows as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failed_flush_refuses_every_later_write() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.store().await;
    store.commit_batch(&bulky_events(1)).await.expect("healthy commit");
    // The log's name no longer leads to the file SQLite writes: the flush cannot open it.
    std::fs::remove_file(db.dir.path().join("sessiond.db-wal")).expect("unlink the log");
    let err = store
        .commit_batch(&bulky_events(1))
        .await
        .expect_err("no flush, no acknowledgement");
    assert!(err.to_string().contains("fsync of the SQLite log failed"), "{err}");
    let err = store
        .commit_batch(&bulky_events(1))
        .await
        .expect_err("refused after a failed flush");
    assert!(err.to_string().contains("restart the daemon"), "{err}");
}

/// On SQLite, segments of `1 << bits` events instead of 32 768, so that a test seals many. Only
/// on a fresh database (no events yet).
async fn sqlite_segment_bits(db: &TestDb, bits: i64) -> sqlx::SqliteConnection {
    let mut c = sqlite_connect(&db.url).await;
    sqlx::query("UPDATE audit_session_index_state SET segment_bits = ?")
        .bind(bits)
        .execute(&mut c)
        .await
        .expect("segment size");
    c
}

/// `(sealed, rows in audit_session_index, session events below the sealed segments)`.
async fn segment_index_counts(c: &mut sqlx::SqliteConnection) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT s.sealed, (SELECT count(*) FROM audit_session_index), \
         (SELECT count(*) FROM audit_events WHERE session_id IS NOT NULL AND id < s.sealed << s.segment_bits) \
         FROM audit_session_index_state s",
    )
    .fetch_one(c)
    .await
    .expect("segment index")
}

async fn index_rows_naming(c: &mut sqlx::SqliteConnection, session: Uuid) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_session_index WHERE session_id = ?")
        .bind(session)
        .fetch_one(c)
        .await
        .expect("count");
    n
}

/// The ids of `session`'s audit trail as the console pages it, `limit` at a time: newest first
/// (`before_id` cursors) or oldest first (`after_id` cursors), in the order received.
async fn trail_pages(
    store: &dyn sessiond_core::store::Store,
    session: Uuid,
    oldest_first: bool,
    limit: u32,
) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let q = AuditQuery {
            session_id: Some(session),
            after_id: if oldest_first { Some(cursor.unwrap_or(0)) } else { None },
            before_id: if oldest_first { None } else { cursor },
            limit,
            ascending: oldest_first,
            ..Default::default()
        };
        let page = store.list_audit(&q).await.expect("page");
        assert!(page.iter().all(|e| e.session_id == Some(session)));
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        ids.extend(page.iter().map(|e| e.id));
    }
    ids
}

/// Every page of `session`'s audit trail, newest first and oldest first, 7 at a time; the two
/// walks must agree. Newest first.
async fn session_trail(store: &dyn sessiond_core::store::Store, session: Uuid) -> Vec<i64> {
    let down = trail_pages(store, session, false, 7).await;
    let mut up = trail_pages(store, session, true, 7).await;
    up.reverse();
    assert_eq!(down, up, "newest-first and oldest-first walks differ");
    assert!(down.windows(2).all(|w| w[0] > w[1]), "newest first, each once");
    down
}

/// A session's audit trail is complete and in order whether its events are in sealed segments
/// (SQLite's segment index) or above them, and a purge renames all of it.
async fn audit_by_session_pages_and_purges_across_segments(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let mut sqlite = match kind {
        DbKind::Sqlite => Some(sqlite_segment_bits(&db, 3).await),
        DbKind::Postgres => None,
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store
        .commit_batch(&[
            create(session(a, "192.0.2.1"), "ca"),
            create(session(b, "192.0.2.2"), "cb"),
        ])
        .await
        .expect("create");
    for i in 0..60 {
        let ops = [
            WriteOp::Event(event(&format!("a{i}"), EventType::SessionRead, Some(a))),
            WriteOp::Event(event(&format!("b{i}"), EventType::SessionRead, Some(b))),
            WriteOp::Event(event(&format!("n{i}"), EventType::SessionRead, None)),
        ];
        store.commit_batch(&ops).await.expect("commit");
    }
    if let Some(c) = sqlite.as_mut() {
        // 182 events in segments of 8; a segment takes two batches (find and gather, insert).
        let (sealed, rows, below) = segment_index_counts(c).await;
        assert!(sealed >= 15, "only {sealed} segments indexed");
        assert_eq!(
            rows, below,
            "every session event of the sealed segments is indexed once"
        );
    }
    let expected = |s: Uuid, all: &[sessiond_core::audit::AuditEvent]| -> Vec<i64> {
        all.iter()
            .rev()
            .filter(|e| e.session_id == Some(s))
            .map(|e| e.id)
            .collect()
    };
    let all = store
        .list_audit(&AuditQuery {
            limit: 1000,
            ascending: true,
            ..Default::default()
        })
        .await
        .expect("all");
    assert_eq!(all.len(), 182);
    let trail_a = session_trail(store.as_ref(), a).await;
    assert_eq!(trail_a.len(), 61);
    assert_eq!(trail_a, expected(a, &all));
    assert_eq!(session_trail(store.as_ref(), b).await, expected(b, &all));

    let pseudonym = Uuid::new_v4();
    let purged = event("purge", EventType::SessionRead, None);
    let counts = store
        .purge_session(a, pseudonym, &purged)
        .await
        .expect("purge")
        .expect("a exists");
    assert_eq!(counts.events, 61);
    assert!(session_trail(store.as_ref(), a).await.is_empty());
    assert_eq!(session_trail(store.as_ref(), pseudonym).await, trail_a);
    assert_eq!(session_trail(store.as_ref(), b).await, expected(b, &all));
    if let Some(c) = sqlite.as_mut() {
        assert_eq!(
            index_rows_naming(c, a).await,
            0,
            "the index still names the erased session"
        );
    }
}

/// A purge that lands while the writer is halfway through inserting a segment: the rows already
/// inserted are renamed, the rest are read with the pseudonym, nothing names the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_purge_while_a_segment_is_being_indexed_renames_all_of_it() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.store().await;
    let mut c = sqlite_segment_bits(&db, 10).await;
    let a = Uuid::new_v4();
    let mut ops = vec![create(session(a, "192.0.2.1"), "ca")];
    ops.extend((0..1100).map(|i| WriteOp::Event(event(&format!("a{i}"), EventType::SessionRead, Some(a)))));
    let other = || [WriteOp::Event(event("other", EventType::SessionRead, None))];
    // Ids 1..=1101: segment 0 (ids below 1024) is complete. One step per batch: this batch
    // finds and gathers it, the next inserts 512 of its 1023 pairs.
    store.commit_batch(&ops).await.expect("commit");
    store.commit_batch(&other()).await.expect("insert");
    let (sealed, rows, _) = segment_index_counts(&mut c).await;
    assert_eq!((sealed, rows), (0, 512), "the segment is half inserted");
    let pseudonym = Uuid::new_v4();
    let counts = store
        .purge_session(a, pseudonym, &event("purge", EventType::SessionRead, None))
        .await
        .expect("purge")
        .expect("a exists");
    assert_eq!(counts.events, 1101);
    store.commit_batch(&other()).await.expect("insert the rest");
    let (sealed, rows, below) = segment_index_counts(&mut c).await;
    assert_eq!((sealed, rows, below), (1, 1023, 1023));
    assert_eq!(
        index_rows_naming(&mut c, a).await,
        0,
        "the index still names the erased session"
    );
    assert_eq!(index_rows_naming(&mut c, pseudonym).await, 1023);
    assert_eq!(session_trail(store.as_ref(), pseudonym).await.len(), 1101);
}

/// Index rows of segments whose events retention deleted go too, a piece per batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_segment_index_forgets_segments_retention_emptied() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.store().await;
    let mut c = sqlite_segment_bits(&db, 3).await;
    let a = Uuid::new_v4();
    for i in 0..40 {
        let e = event(&format!("a{i}"), EventType::SessionRead, Some(a));
        store.commit_batch(&[WriteOp::Event(e)]).await.expect("commit");
    }
    let (sealed, rows, _) = segment_index_counts(&mut c).await;
    assert!(sealed >= 3 && rows >= 24, "sealed {sealed}, {rows} rows");
    let deleted = store
        .delete_audit_before(chrono::Utc::now() + chrono::Duration::seconds(1), 1000)
        .await
        .expect("retention");
    assert_eq!(deleted, 40);
    // The next event (id 41, segment 5) is all that is left: segments 0-4 are dead. The first
    // batch finishes the segment in progress (id 40 completed segment 4), the second cleans.
    store
        .commit_batch(&[WriteOp::Event(event("late", EventType::SessionRead, Some(a)))])
        .await
        .expect("commit");
    store
        .commit_batch(&[WriteOp::Event(event("later", EventType::SessionRead, None))])
        .await
        .expect("commit");
    let (dead,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_session_index WHERE segment < 5")
        .fetch_one(&mut c)
        .await
        .expect("count");
    assert_eq!(dead, 0, "index rows of deleted events are left");
    assert_eq!(session_trail(store.as_ref(), a).await.len(), 1);
}

/// The statements that find a session's events look it up by index: no scan of the audit table
/// or of the segment index (the events above the sealed segments are a range of ids).
async fn session_audit_statements_use_indexes(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    store.commit_batch(&bulky_events(3)).await.expect("some events");
    let id = Uuid::new_v4();
    match kind {
        DbKind::Sqlite => {
            let mut c = sqlite_connect(&db.url).await;
            for (name, sql) in session_audit_statements(Backend::Sqlite) {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                        .bind(0_i64)
                        .bind(i64::MAX)
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(10_i64)
                        .bind(false)
                        .bind(id)
                        .fetch_all(&mut c)
                        .await
                        .expect("explain");
                let text = rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join(" | ");
                for table in ["audit_events", "audit_session_index"] {
                    assert!(!text.contains(&format!("SCAN {table} ")), "{name}: {text}");
                    assert!(!text.ends_with(&format!("SCAN {table}")), "{name}: {text}");
                }
                assert!(!text.contains("AUTOMATIC"), "{name} builds an index: {text}");
            }
        }
        DbKind::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut c)
                .await
                .expect("set");
            for (name, sql) in session_audit_statements(Backend::Postgres) {
                let query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
                // The purge binds (pseudonym, session); the pages (after, before, ip, type,
                // severity, request id, limit, hide routine system events, session).
                let query = if name.starts_with("pseudonymize") {
                    query.bind(id).bind(id)
                } else {
                    query
                        .bind(0_i64)
                        .bind(i64::MAX)
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(None::<String>)
                        .bind(10_i64)
                        .bind(false)
                        .bind(id)
                };
                let plan = query.fetch_all(&mut c).await.expect("explain");
                let text = plan.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n");
                assert!(text.contains("audit_events_session"), "{name}:\n{text}");
            }
        }
    }
}

/// A new SQLite database in `db`'s directory with the migrations numbered below `version`
/// applied (the schema an older release left), and a pool on it.
async fn sqlite_schema_before(db: &TestDb, version: &str) -> (std::path::PathBuf, sqlx::SqlitePool) {
    let old = tempfile::tempdir().expect("dir");
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    for entry in std::fs::read_dir(&migrations).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.as_str() < version {
            std::fs::copy(&path, old.path().join(&name)).expect("copy");
        }
    }
    let file = db.dir.path().join(format!("before-{version}.db"));
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
    sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("old migrations")
        .run(&pool)
        .await
        .expect("old schema");
    (file, pool)
}

/// Open the store on the database at `file` (which runs the migrations it lacks), and a
/// connection of the test's own to it.
async fn open_upgraded(
    db: &TestDb,
    file: &std::path::Path,
) -> (Arc<dyn sessiond_core::store::Store>, sqlx::SqliteConnection) {
    let mut settings = db.settings();
    let url = format!("sqlite://{}", file.display());
    settings.database.url = sessiond_core::config::SecretUrl::new(url.clone());
    let store = sessiond::open_store(&settings).await.expect("upgrade");
    (store, sqlite_connect(&url).await)
}

/// A connection of the test's own to the SQLite database at `url` (foreign keys on).
async fn sqlite_connect(url: &str) -> sqlx::SqliteConnection {
    <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
        .await
        .expect("connect")
}

/// Upgrading a database that already holds events: migration 0008 indexes every complete
/// segment by session, and the trail reads the same as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_indexes_the_events_already_stored() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let (file, pool) = sqlite_schema_before(&db, "0008").await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000) \
         INSERT INTO audit_events (occurred_at, event_type, severity, session_id, actor) \
         SELECT i, 'session.read', 'info', CASE i % 4 WHEN 0 THEN ?1 WHEN 1 THEN ?2 END, 'client' FROM n",
    )
    .bind(a)
    .bind(b)
    .execute(&pool)
    .await
    .expect("events");
    pool.close().await;

    let (store, mut c) = open_upgraded(&db, &file).await;
    let (sealed, rows, below) = segment_index_counts(&mut c).await;
    assert_eq!(sealed, 1, "ids 1..=40000 complete segment 0 (ids below 32768) only");
    // Ids 1..=32767 of which i % 4 is 0 (8 191) or 1 (8 192).
    assert_eq!((rows, below), (16_383, 16_383));
    for (session, first) in [(a, 4), (b, 1)] {
        let ids = trail_pages(store.as_ref(), session, false, 5_000).await;
        let mut expected: Vec<i64> = (first..=40_000).step_by(4).collect();
        expected.reverse();
        assert_eq!(ids.len(), 10_000);
        assert!(ids == expected, "the trail of {session} differs from its events");
    }
}

/// Migration 0010 rebuilds `user_sessions` as a WITHOUT ROWID table: every session and upload
/// is kept (uploads in their order), uploads still belong to their sessions (a deleted session
/// takes its uploads along) and a validation's look-up is one primary-key search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_rebuilds_sessions_keeping_their_uploads() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let (file, pool) = sqlite_schema_before(&db, "0010").await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "INSERT INTO user_sessions (id, status, created_at, last_seen_at, ended_at, ended_by, user_info, created_ip, last_ip) \
         VALUES (?1, 'active', 1, 2, NULL, NULL, '{\"k\":1}', '192.0.2.1', '192.0.2.2'), \
                (?2, 'revoked', 3, 4, 5, 'admin:ops', NULL, NULL, '192.0.2.3')",
    )
    .bind(a)
    .bind(b)
    .execute(&pool)
    .await
    .expect("sessions");
    // Rowids out of id order, one gap: the list of a session's uploads is ordered by them.
    for (rowid, session, n) in [(7_i64, a, 1), (3, b, 2), (9, a, 3), (4, a, 4)] {
        sqlx::query(
            "INSERT INTO uploads (rowid, id, session_id, object_key, filename, size, sha256, content_type, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ab', 'application/pdf', 10)",
        )
        .bind(rowid)
        .bind(Uuid::new_v4())
        .bind(session)
        .bind(format!("objects/{n}"))
        .bind(format!("f{n}.pdf"))
        .bind(n * 100)
        .execute(&pool)
        .await
        .expect("upload");
    }
    const SESSIONS: &str = "SELECT id, status, created_at, last_seen_at, ended_at, ended_by, user_info, created_ip, last_ip \
        FROM user_sessions ORDER BY id";
    const UPLOADS: &str =
        "SELECT rowid, id, session_id, object_key, filename, size, created_at FROM uploads ORDER BY rowid";
    type SessionCols = (
        Vec<u8>,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    type UploadCols = (i64, Vec<u8>, Vec<u8>, String, String, i64, i64);
    let sessions: Vec<SessionCols> = sqlx::query_as(SESSIONS).fetch_all(&pool).await.expect("sessions");
    let uploads: Vec<UploadCols> = sqlx::query_as(UPLOADS).fetch_all(&pool).await.expect("uploads");
    pool.close().await;

    // Foreign keys are on in this connection too (sqlx's default), for the cascade below.
    let (store, mut c) = open_upgraded(&db, &file).await;
    let (table,): (String,) = sqlx::query_as("SELECT sql FROM sqlite_schema WHERE name = 'user_sessions'")
        .fetch_one(&mut c)
        .await
        .expect("schema");
    assert!(table.ends_with("WITHOUT ROWID"), "{table}");
    let after: Vec<SessionCols> = sqlx::query_as(SESSIONS).fetch_all(&mut c).await.expect("sessions");
    assert_eq!(after, sessions);
    let after: Vec<UploadCols> = sqlx::query_as(UPLOADS).fetch_all(&mut c).await.expect("uploads");
    assert_eq!(after, uploads);
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut c)
        .await
        .expect("foreign key check");
    assert!(broken.is_empty(), "{broken:?}");
    let plan: Vec<(i64, i64, i64, String)> =
        sqlx::query_as("EXPLAIN QUERY PLAN SELECT status FROM user_sessions WHERE id = ?")
            .bind(a)
            .fetch_all(&mut c)
            .await
            .expect("plan");
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(plan[0].3.contains("USING PRIMARY KEY (id=?)"), "{plan:?}");

    assert_eq!(
        store.upload_totals(a).await.expect("totals"),
        sessiond_core::store::UploadTotals { count: 3, bytes: 800 }
    );
    let revoked = store.get_session(b).await.expect("get").expect("b is kept");
    assert_eq!(revoked.status, SessionStatus::Revoked);
    assert_eq!(revoked.ended_by.as_deref(), Some("admin:ops"));
    sqlx::query("DELETE FROM user_sessions WHERE id = ?")
        .bind(a)
        .execute(&mut c)
        .await
        .expect("delete");
    let left: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT session_id FROM uploads")
        .fetch_all(&mut c)
        .await
        .expect("uploads");
    assert_eq!(left, vec![(b.as_bytes().to_vec(),)], "a's uploads go with it");
}

/// The index's work never fails a batch: with its table gone, events are still committed; once
/// it is back, indexing catches up and the trail is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_segment_index_failure_never_fails_a_batch() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.store().await;
    let mut c = sqlite_segment_bits(&db, 3).await;
    sqlx::query("ALTER TABLE audit_session_index RENAME TO audit_session_index_away")
        .execute(&mut c)
        .await
        .expect("take the index away");
    let a = Uuid::new_v4();
    for i in 0..30 {
        let e = event(&format!("a{i}"), EventType::SessionRead, Some(a));
        store
            .commit_batch(&[WriteOp::Event(e)])
            .await
            .expect("commit without the index");
    }
    sqlx::query("ALTER TABLE audit_session_index_away RENAME TO audit_session_index")
        .execute(&mut c)
        .await
        .expect("bring it back");
    // After a failure the indexer looks again only every 256 batches.
    for i in 0..300 {
        let e = event(&format!("b{i}"), EventType::SessionRead, None);
        store.commit_batch(&[WriteOp::Event(e)]).await.expect("commit");
    }
    let (sealed, rows, below) = segment_index_counts(&mut c).await;
    assert!(sealed >= 30, "indexing did not resume: {sealed} segments");
    assert_eq!(rows, below);
    assert_eq!(session_trail(store.as_ref(), a).await.len(), 30);
}

/// A SQLite file put over the database's path while the daemon runs (a restore without
/// stopping it): the writer's connection still has the old file, so what it commits would be
/// lost with it. The flush before the answers notices the other file and fails the batch (a
/// 503 for its requests), and every later one, instead of acknowledging them.
#[tokio::test]
async fn sqlite_writer_refuses_a_replaced_database_file() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.store().await;
    let (writer, handle) = BatchWriter::spawn(store.clone(), WriterOptions::default());
    let before = writer
        .submit(vec![create(session(Uuid::new_v4(), "192.0.2.1"), "r1")])
        .await
        .expect("committed before the restore");
    assert_eq!(before, vec![OpOutcome::Done]);

    let file = db.dir.path().join("sessiond.db");
    let restored = db.dir.path().join("restored.db");
    std::fs::copy(&file, &restored).expect("copy the database");
    std::fs::rename(&restored, &file).expect("put the copy over it");
    for rid in ["r2", "r3"] {
        match writer
            .submit(vec![create(session(Uuid::new_v4(), "192.0.2.1"), rid)])
            .await
        {
            Err(WriteError::Store(sessiond_core::store::StoreError::Unavailable(why))) => {
                assert!(why.contains("was replaced while sessiond ran"), "{why}");
            }
            other => panic!("{rid} through the replaced file: {other:?}"),
        }
    }
    handle.shutdown().await;
}

//! The tamper-evident audit chain (SPEC §4, docs/audit.md), on SQLite and PostgreSQL: events
//! written by the group-commit batches and by other transactions are chained; editing,
//! deleting, inserting or reordering rows directly in the database is named by `verify`, as is
//! a wrong key; retention, IP anonymization and `sessions purge` leave the chain verifiable.

use std::sync::Arc;

use serde_json::json;
use sessiond_core::audit::{AuditQuery, EventType, NewEvent, Origin, Severity};
use sessiond_core::audit_chain::ChainKeys;
use sessiond_core::audit_verify::{ProblemKind, Report, Status, verify};
use sessiond_core::config::{Secret, Settings};
use sessiond_core::domain::{Session, SessionStatus, now_millis};
use sessiond_core::store::{Store, WriteOp};
use sessiond_tests::{DbKind, TestDb, events_of, on_both_backends};
use uuid::Uuid;

on_both_backends!(
    an_untouched_chain_verifies,
    an_edited_field_is_named,
    a_deleted_event_is_named,
    an_inserted_event_is_named,
    reordered_events_are_named,
    a_wrong_key_is_named,
    a_deleted_link_is_named,
    retention_anonymization_and_purge_keep_the_chain_verifiable,
);

const KEY: &str = "test-chain-key-0123456789abcdef";

fn chained_settings(db: &TestDb) -> Settings {
    let mut s = db.settings();
    s.audit.hmac_key = Some(Secret::new(KEY));
    s
}

/// A store on `db` with the chain on.
async fn chained_store(db: &TestDb) -> (Arc<dyn Store>, Settings) {
    let settings = chained_settings(db);
    let store = sessiond::open_store(&settings).await.expect("open store");
    (store, settings)
}

fn keys() -> Arc<ChainKeys> {
    Arc::new(ChainKeys::new("k1", KEY.as_bytes()))
}

async fn check(store: &Arc<dyn Store>) -> Report {
    verify(store.as_ref(), Some(&keys())).await
}

fn event(n: usize, ago: chrono::Duration, session: Option<Uuid>) -> NewEvent {
    let origin = Origin {
        request_id: format!("req-{n}"),
        ip: Some(format!("198.51.100.{}", n % 250 + 1)),
        user_agent: Some(format!("agent/{n}")),
        actor: sessiond_core::audit::Actor::Client,
    };
    NewEvent::new(
        &origin,
        now_millis() - ago,
        EventType::SessionValidated,
        Severity::Info,
        session,
        json!({ "n": n, "z": "last", "a": { "nested": [1, 2, n] } }),
    )
}

/// Commit `n` events in one batch (one link), numbered from `from`.
async fn batch(store: &Arc<dyn Store>, from: usize, n: usize, ago: chrono::Duration, session: Option<Uuid>) {
    let ops: Vec<WriteOp> = (from..from + n)
        .map(|i| WriteOp::Event(event(i, ago, session)))
        .collect();
    store.commit_batch(&ops).await.expect("commit batch");
}

/// Three batches of four events, and one event from another transaction (expiry).
async fn seed(store: &Arc<dyn Store>) -> Vec<i64> {
    for b in 0..3 {
        batch(store, b * 4, 4, chrono::Duration::minutes(5), Some(Uuid::new_v4())).await;
    }
    let s = session(chrono::Duration::days(60));
    store
        .commit_batch(&[WriteOp::CreateSession {
            session: s.clone(),
            event: event(99, chrono::Duration::days(60), Some(s.id)),
        }])
        .await
        .expect("create");
    let now = now_millis();
    let expired = store
        .expire_sessions(&[s.id], now, now - chrono::Duration::days(30), now, &|id| {
            NewEvent::new(
                &Origin::system("expiry"),
                now,
                EventType::SessionExpired,
                Severity::Info,
                Some(id),
                json!({ "reason": "idle" }),
            )
        })
        .await
        .expect("expire");
    assert_eq!(expired, vec![s.id]);
    ids(store).await
}

fn session(age: chrono::Duration) -> Session {
    let at = now_millis() - age;
    Session {
        id: Uuid::new_v4(),
        status: SessionStatus::Active,
        created_at: at,
        last_seen_at: at,
        ended_at: None,
        ended_by: None,
        user_info: None,
        created_ip: Some("192.0.2.9".into()),
        last_ip: Some("192.0.2.9".into()),
    }
}

async fn ids(store: &Arc<dyn Store>) -> Vec<i64> {
    store
        .list_audit(&AuditQuery {
            ascending: true,
            limit: 10_000,
            ..AuditQuery::default()
        })
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Run SQL on the database behind the daemon's back.
async fn tamper(db: &TestDb, statements: &[String]) {
    if db.url.starts_with("sqlite") {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
            .await
            .expect("connect");
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut conn)
                .await
                .expect(sql);
        }
    } else {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
            .await
            .expect("connect");
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut conn)
                .await
                .expect(sql);
        }
    }
}

fn broken(report: &Report, kind: ProblemKind, id: i64) {
    assert_eq!(report.status, Status::Broken, "{report:?}");
    assert_eq!(report.exit_code(), 1);
    let p = report.problem.as_ref().expect("problem");
    assert_eq!(p.kind, kind, "{report:?}");
    assert_eq!(p.event_id, Some(id), "{report:?}");
}

async fn an_untouched_chain_verifies(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, _) = chained_store(&db).await;
    let all = seed(&store).await;
    let report = check(&store).await;
    assert_eq!(report.status, Status::Intact, "{report:?}");
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.events_checked, all.len() as u64);
    // Three batches, the create, and the expiry's transaction.
    assert_eq!(report.links_checked, 5);
    // Without a key there is nothing to check with.
    let none = verify(store.as_ref(), None).await;
    assert_eq!((none.status, none.exit_code()), (Status::CannotCheck, 2));
    // The writer's batches are chained too.
    let (writer, handle) = sessiond_core::writer::BatchWriter::spawn(store.clone(), Default::default());
    let mut submits = tokio::task::JoinSet::new();
    for i in 0..20 {
        let writer = writer.clone();
        submits.spawn(async move {
            writer
                .submit(vec![WriteOp::Event(event(200 + i, chrono::Duration::zero(), None))])
                .await
        });
    }
    while let Some(r) = submits.join_next().await {
        r.expect("join").expect("submit");
    }
    handle.shutdown().await;
    let report = check(&store).await;
    assert_eq!(report.status, Status::Intact, "{report:?}");
    assert_eq!(report.events_checked, all.len() as u64 + 20);
}

async fn an_edited_field_is_named(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, _) = chained_store(&db).await;
    let all = seed(&store).await;
    let target = all[5];
    tamper(
        &db,
        &[format!(
            "UPDATE audit_events SET actor = 'admin:mallory' WHERE id = {target}"
        )],
    )
    .await;
    let report = check(&store).await;
    broken(&report, ProblemKind::EditedField, target);
    assert_eq!(report.problem.as_ref().expect("problem").fields, vec!["actor"]);

    let ip_target = all[9];
    tamper(
        &db,
        &[
            format!("UPDATE audit_events SET actor = 'client' WHERE id = {target}"),
            format!("UPDATE audit_events SET ip = '203.0.113.66' WHERE id = {ip_target}"),
        ],
    )
    .await;
    let report = check(&store).await;
    broken(&report, ProblemKind::EditedField, ip_target);
    assert_eq!(report.problem.as_ref().expect("problem").fields, vec!["ip"]);
}

async fn a_deleted_event_is_named(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, _) = chained_store(&db).await;
    let all = seed(&store).await;
    let target = all[6];
    tamper(&db, &[format!("DELETE FROM audit_events WHERE id = {target}")]).await;
    broken(&check(&store).await, ProblemKind::DeletedEvent, target);
}

async fn an_inserted_event_is_named(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, _) = chained_store(&db).await;
    seed(&store).await;
    tamper(
        &db,
        &[
            "INSERT INTO audit_events (occurred_at, event_type, severity, actor, metadata) \
        VALUES (0, 'session.reset', 'info', 'client', '{}')"
                .to_owned(),
        ],
    )
    .await;
    let inserted = *ids(&store).await.last().expect("rows");
    broken(&check(&store).await, ProblemKind::InsertedEvent, inserted);
}

async fn reordered_events_are_named(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, _) = chained_store(&db).await;
    let all = seed(&store).await;
    let (a, b) = (all[4], all[5]);
    let swap = if kind == DbKind::Sqlite {
        vec![
            format!("UPDATE audit_events SET id = -1 WHERE id = {a}"),
            format!("UPDATE audit_events SET id = {a} WHERE id = {b}"),
            format!("UPDATE audit_events SET id = {b} WHERE id = -1"),
        ]
    } else {
        // PostgreSQL's identity column cannot be updated: swap everything else instead.
        vec![format!(
            "UPDATE audit_events t SET occurred_at = s.occurred_at, event_type = s.event_type, \
             severity = s.severity, session_id = s.session_id, ip = s.ip, user_agent = s.user_agent, \
             request_id = s.request_id, actor = s.actor, metadata = s.metadata \
             FROM audit_events s WHERE (t.id = {a} AND s.id = {b}) OR (t.id = {b} AND s.id = {a})"
        )]
    };
    tamper(&db, &swap).await;
    let report = check(&store).await;
    broken(&report, ProblemKind::ReorderedEvents, a);
    assert!(
        report
            .problem
            .as_ref()
            .expect("problem")
            .detail
            .contains(&b.to_string()),
        "{report:?}"
    );
}

async fn a_wrong_key_is_named(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, _) = chained_store(&db).await;
    let all = seed(&store).await;
    let wrong = ChainKeys::new("k1", b"some other key of enough length");
    let report = verify(store.as_ref(), Some(&wrong)).await;
    broken(&report, ProblemKind::WrongKey, all[0]);
    // An unknown key id cannot be checked.
    let other_id = ChainKeys::new("k9", KEY.as_bytes());
    let report = verify(store.as_ref(), Some(&other_id)).await;
    assert_eq!(
        (report.status, report.exit_code()),
        (Status::CannotCheck, 2),
        "{report:?}"
    );
}

async fn a_deleted_link_is_named(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, _) = chained_store(&db).await;
    let all = seed(&store).await;
    // The second batch's link and its events disappear together.
    tamper(
        &db,
        &[
            format!("DELETE FROM audit_events WHERE id >= {} AND id <= {}", all[4], all[7]),
            "DELETE FROM audit_chain WHERE seq = 2".to_owned(),
        ],
    )
    .await;
    let report = check(&store).await;
    assert_eq!(report.status, Status::Broken, "{report:?}");
    assert_eq!(report.problem.as_ref().expect("problem").kind, ProblemKind::LinkMissing);
}

async fn retention_anonymization_and_purge_keep_the_chain_verifiable(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let (store, settings) = chained_store(&db).await;
    // Old enough for retention (90 days), for anonymization (7 days), recent.
    batch(&store, 0, 5, chrono::Duration::days(100), None).await;
    batch(&store, 5, 5, chrono::Duration::days(95), None).await;
    batch(&store, 10, 5, chrono::Duration::days(10), Some(Uuid::new_v4())).await;
    let s = session(chrono::Duration::hours(1));
    store
        .commit_batch(&[WriteOp::CreateSession {
            session: s.clone(),
            event: event(50, chrono::Duration::hours(1), Some(s.id)),
        }])
        .await
        .expect("create");
    batch(&store, 20, 5, chrono::Duration::minutes(1), Some(s.id)).await;
    let before = ids(&store).await;
    assert_eq!(check(&store).await.status, Status::Intact);

    let mut job_settings = settings.clone();
    job_settings.jobs.retention.batch_size = 3;
    let ctx = sessiond::jobs::job_context(Arc::new(job_settings), store.clone())
        .await
        .expect("context");
    let counts = sessiond_core::jobs::run_retention(&ctx, now_millis())
        .await
        .expect("retention");
    assert_eq!(counts["audit_deleted"], json!(10), "{counts:?}");
    assert_eq!(counts["audit_ips_anonymized"], json!(5), "{counts:?}");
    let after = ids(&store).await;
    assert_eq!(after.len(), before.len() - 10);
    let report = check(&store).await;
    assert_eq!(report.status, Status::Intact, "{report:?}");
    assert_eq!(report.checkpoint_through_id, Some(before[9]));
    assert_eq!(report.events_pseudonymized, 5);

    // Right to erasure: the session's events are pseudonymized in place.
    let purged = store
        .purge_session(
            s.id,
            Uuid::new_v4(),
            &NewEvent::new(
                &Origin::system("purge"),
                now_millis(),
                EventType::SessionPurged,
                Severity::Info,
                None,
                json!({}),
            ),
        )
        .await
        .expect("purge")
        .expect("existed");
    assert_eq!(purged.events, 6);
    let report = check(&store).await;
    assert_eq!(report.status, Status::Intact, "{report:?}");
    assert_eq!(report.events_pseudonymized, 11);

    // A pseudonymized field is still protected.
    let target = after[0];
    tamper(
        &db,
        &[format!("UPDATE audit_events SET ip = '10.9.0.0' WHERE id = {target}")],
    )
    .await;
    let report = check(&store).await;
    broken(&report, ProblemKind::EditedField, target);
}

/// PostgreSQL only: SQLite has one writer at a time, so its transactions cannot deadlock.
/// A batch that revokes session X holds X's row and waits for the chain's head, which another
/// transaction holds while it waits for X's row: PostgreSQL ends the batch's transaction (the
/// first to wait detects the cycle). The store runs the batch again once the other has
/// committed: its request succeeds, nothing is written twice, and the chain verifies.
/// PostgreSQL looks for a cycle once per wait, `deadlock_timeout` after it began: the store's
/// connections look after 5 s and the other transaction's after 60 s, so on a loaded machine
/// too the batch's look comes after the cycle formed and before the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_loses_a_deadlock_runs_again() {
    use sqlx::Connection as _;
    let db = TestDb::new(DbKind::Postgres).await;
    {
        let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut c)
            .await
            .expect("name");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{name}\" SET deadlock_timeout = '5s'"
        )))
        .execute(&mut c)
        .await
        .expect("deadlock_timeout");
    }
    let (store, _) = chained_store(&db).await;
    let x =
        sessiond_tests::seed_session(&store, chrono::Duration::minutes(5), chrono::Duration::minutes(1), None).await;
    let deadlocks = || async {
        let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        let n: i64 = sqlx::query_scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            .fetch_one(&mut c)
            .await
            .expect("deadlocks");
        n
    };
    let before = deadlocks().await;

    // The other transaction takes the head first.
    let mut other = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("SET deadlock_timeout = '60s'")
        .execute(&mut other)
        .await
        .expect("deadlock_timeout");
    sqlx::query("BEGIN").execute(&mut other).await.expect("begin");
    sqlx::query("SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE")
        .execute(&mut other)
        .await
        .expect("lock head");

    // The batch locks X's row, then waits for the head.
    let revoke = WriteOp::Revoke {
        id: x,
        at: now_millis(),
        by: "admin:test".into(),
        event: NewEvent::new(
            &Origin::system("deadlock"),
            now_millis(),
            EventType::SessionReset,
            Severity::Info,
            Some(x),
            json!({}),
        ),
    };
    let batch = tokio::spawn({
        let store = store.clone();
        async move { store.commit_batch(&[revoke]).await }
    });
    sessiond_tests::poll(
        "the batch waits for the chain's head",
        std::time::Duration::from_secs(10),
        || async {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut c)
            .await
            .expect("pg_stat_activity");
            waiting == 1
        },
    )
    .await;

    // Now the other wants X's row: a cycle. The batch, waiting longer, detects it and ends.
    sqlx::query("UPDATE user_sessions SET last_ip = '192.0.2.7' WHERE id = $1")
        .bind(x)
        .execute(&mut other)
        .await
        .expect("the other transaction is not the one ended");
    sqlx::query("COMMIT").execute(&mut other).await.expect("commit");

    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), batch)
        .await
        .expect("the batch finished")
        .expect("join")
        .expect("the batch ran again and committed");
    assert!(
        matches!(outcome.as_slice(), [sessiond_core::store::OpOutcome::Revoked { .. }]),
        "{outcome:?}"
    );
    assert_eq!(deadlocks().await, before + 1, "exactly one deadlock was broken");
    let resets = events_of(store.as_ref(), EventType::SessionReset.as_str()).await;
    assert_eq!(resets.len(), 1, "the reset was written once");
    let report = check(&store).await;
    assert_eq!(report.status, Status::Intact, "{report:?}");
}

/// Two daemons on one PostgreSQL, each with its own group-commit writer, write chained batches
/// at once (the batches race for the head: `PgStore::commit_chained` recomputes its link when
/// the other moved it), with the console's transactions in between: one chain, every event in
/// it once, ids in chain order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_writing_at_once_keep_one_verifiable_chain() {
    let db = TestDb::new(DbKind::Postgres).await;
    let (a, _) = chained_store(&db).await;
    let (b, _) = chained_store(&db).await;
    // Each with batches pipelined (`database.postgres_write_pipeline`): its own batches take
    // turns on the head while the other daemon's race them.
    let options = || sessiond_core::writer::WriterOptions {
        pipeline: 4,
        max_batch_ops: 8,
        ..Default::default()
    };
    let (writer_a, handle_a) = sessiond_core::writer::BatchWriter::spawn(a.clone(), options());
    let (writer_b, handle_b) = sessiond_core::writer::BatchWriter::spawn(b.clone(), options());
    let mut submits = tokio::task::JoinSet::new();
    for i in 0..400 {
        let writer = if i % 2 == 0 { writer_a.clone() } else { writer_b.clone() };
        submits.spawn(async move {
            writer
                .submit(vec![WriteOp::Event(event(i, chrono::Duration::zero(), None))])
                .await
        });
    }
    // Transactions that lock the head (a session's expiry) in between.
    for _ in 0..5 {
        let s = session(chrono::Duration::days(60));
        let created = b
            .commit_batch(&[WriteOp::CreateSession {
                session: s.clone(),
                event: event(999, chrono::Duration::days(60), Some(s.id)),
            }])
            .await;
        assert!(created.is_ok(), "{created:?}");
    }
    while let Some(r) = submits.join_next().await {
        r.expect("join").expect("submit");
    }
    handle_a.shutdown().await;
    handle_b.shutdown().await;
    let all = ids(&a).await;
    assert_eq!(all.len(), 405);
    let report = check(&a).await;
    assert_eq!(report.status, Status::Intact, "{report:?}");
    assert_eq!(report.events_checked, 405);
    let links = a.chain_links(0, 10_000).await.expect("links");
    assert!(
        links
            .windows(2)
            .all(|w| w[0].link.header.last_id < w[1].link.header.first_id),
        "links follow id order"
    );
}

/// Linked events take their ids from the chain's head on PostgreSQL; writes with the chain
/// off (a daemon started without the key, or SQL by hand) still get new ids.
#[tokio::test]
async fn writes_without_the_chain_after_chained_ones_take_new_ids() {
    let db = TestDb::new(DbKind::Postgres).await;
    let (chained, _) = chained_store(&db).await;
    batch(&chained, 0, 4, chrono::Duration::zero(), None).await;
    let plain = sessiond::open_store(&db.settings()).await.expect("open store");
    let done = plain
        .commit_batch(&[WriteOp::Event(event(10, chrono::Duration::zero(), None))])
        .await;
    assert!(done.is_ok(), "{done:?}");
    batch(&chained, 20, 4, chrono::Duration::zero(), None).await;
    let all = ids(&chained).await;
    assert_eq!(all.len(), 9);
    let report = check(&chained).await;
    assert_eq!(
        report.status,
        Status::Broken,
        "the unchained event is named: {report:?}"
    );
}

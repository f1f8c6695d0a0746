//! What the console shows about the database, on both backends (issue 19 points 5 and 19): a
//! reset of a session that is already revoked changes nothing and writes no event; the upload
//! records of an ended session show their files as queued for deletion, then deleted, in the
//! list and in the detail (through the real console loop too); hiding routine system events
//! is done in the query, so pages stay full.

mod support;
use support::{Screen, add_upload};

use std::sync::Arc;

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use serde_json::json;
use sessionctl::app::buffer_text;
use sessionctl::ops::{Console, FilesState, os_user};
use sessionctl::theme::Theme;
use sessionctl::views::Themed;
use sessionctl::views::audit::AuditView;
use sessionctl::views::sessions::SessionsView;
use sessiond_core::audit::{Actor, AuditEvent, AuditQuery, EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::{SessionStatus, now_millis};
use sessiond_core::store::console::SessionPageQuery;
use sessiond_core::store::deletions::session_target;
use sessiond_core::store::{Store, WriteOp};
use sessiond_tests::{DbKind, TestDb, on_both_backends, seed_session};
use uuid::Uuid;

on_both_backends!(
    a_reset_of_a_revoked_session_changes_nothing,
    the_console_shows_what_a_reset_did,
    routine_system_events_are_left_out_in_the_query,
);

async fn resets(store: &Arc<dyn Store>, id: Uuid) -> Vec<AuditEvent> {
    store
        .list_audit(&AuditQuery {
            session_id: Some(id),
            event_type: Some("session.reset".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit")
}

/// A console on `db` with the daemon's object store root in place (resets refuse without it).
async fn console(db: &TestDb) -> Arc<Console> {
    std::fs::create_dir_all(db.dir.path().join("objects")).expect("objects root");
    Arc::new(Console::open(db.settings(), false).await.expect("console"))
}

async fn a_reset_of_a_revoked_session_changes_nothing(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let id = seed_session(
        &store,
        chrono::Duration::hours(1),
        chrono::Duration::minutes(1),
        Some("203.0.113.7"),
    )
    .await;
    add_upload(&db, id, "invoice.pdf").await;
    let console = console(&db).await;
    assert_eq!(
        console.session_record(id).await.expect("record").files,
        FilesState::Stored
    );

    let first = console.reset(id).await.expect("reset");
    assert!(!first.already_revoked);
    assert_eq!(first.previous_status, SessionStatus::Active);
    assert_eq!(first.uploads_queued_for_deletion, 1);
    let record = console.session_record(id).await.expect("record");
    assert!(
        matches!(record.files, FilesState::Queued { attempts: 0, .. }),
        "{:?}",
        record.files
    );
    assert_eq!(record.uploads.len(), 1, "the upload record stays");

    // Again: nothing is done, nothing is written, nothing is queued again.
    let second = console.reset(id).await.expect("second reset");
    assert!(second.already_revoked);
    assert_eq!(second.previous_status, SessionStatus::Revoked);
    assert_eq!(second.uploads_queued_for_deletion, 0);
    assert_eq!(resets(&store, id).await.len(), 1, "one session.reset event");
    let queued = store.object_deletions_for(&session_target(id)).await.expect("queue");
    assert_eq!(queued.len(), 1, "{queued:?}");
    let facts = console.reset_facts(id).await.expect("facts");
    assert_eq!(facts.status, SessionStatus::Revoked);
    assert_eq!(facts.ended_by, Some(format!("admin:{}", os_user())));
    assert!(facts.ended_at.is_some());

    // The daemon's object_deletion job deletes the files and drops the record.
    store.finish_object_deletion(queued[0].id).await.expect("finish");
    assert_eq!(
        console.session_record(id).await.expect("record").files,
        FilesState::Deleted
    );
    // The list marks the count: the records of files that are gone.
    let rows = console
        .session_page(&SessionPageQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("page");
    let view = SessionsView {
        rows,
        page_size: 10,
        ..Default::default()
    };
    let mut buf = Buffer::empty(Rect::new(0, 0, 80, 4));
    Themed(&view, &Theme::dark()).render(buf.area, &mut buf);
    let text = buffer_text(&buf);
    assert!(text.contains("revoked") && text.contains("1 del"), "{text}");

    // `sessions reset` (a script: no terminal, no --yes) says the same and asks nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .args(["--database-url", &db.url, "sessions", "reset", &id.to_string()])
        .env_remove("SESSIOND_CONFIG")
        .env("SESSIOND_STORAGE__FS__ROOT", db.dir.path().join("objects"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sessionctl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("was already revoked: nothing changed"), "{stdout}");
    assert_eq!(resets(&store, id).await.len(), 1, "still one session.reset event");
    console.close().await;
}

/// The console loop: the detail and the list show the reset's effect on the uploads right
/// after it; `r` again says the session is already revoked and does nothing.
async fn the_console_shows_what_a_reset_did(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let id = seed_session(&store, chrono::Duration::hours(1), chrono::Duration::minutes(1), None).await;
    add_upload(&db, id, "invoice.pdf").await;
    let console = console(&db).await;
    let mut s = Screen::start(console.clone(), 120, 30);
    let uuid = id.to_string();
    s.wait("the list", |scr| scr.contains(uuid.as_str())).await;
    s.key(KeyCode::Enter);
    s.wait("the detail", |scr| {
        scr.contains("Uploads (1)") && scr.contains("invoice.pdf")
    })
    .await;
    s.key(KeyCode::Char('r'));
    s.wait("the dialog", |scr| scr.contains("Reset session?")).await;
    s.key(KeyCode::Char('y'));
    let detail = s
        .wait("the detail after the reset", |scr| {
            scr.contains("files queued for deletion since") && scr.contains("status      revoked")
        })
        .await;
    assert!(detail.contains("invoice.pdf  deletion queued"), "{detail}");
    s.key(KeyCode::Esc);
    s.wait("the list after the reset", |scr| {
        scr.contains("revoked") && scr.contains("1 del")
    })
    .await;

    // `r` on the revoked session: a dialog that only informs, and nothing is written.
    s.key(KeyCode::Char('r'));
    let dialog = s
        .wait("the already-revoked dialog", |scr| scr.contains("Already revoked"))
        .await;
    assert!(dialog.contains("A reset would change nothing"), "{dialog}");
    assert!(dialog.contains(&format!("by admin:{}", os_user())), "{dialog}");
    s.key(KeyCode::Char('y'));
    s.wait("the dialog closed", |scr| !scr.contains("Already revoked"))
        .await;
    assert!(!s.now().contains("cancelled"), "nothing to cancel");
    assert_eq!(resets(&store, id).await.len(), 1, "one session.reset event");
    s.quit().await;
    console.close().await;
}

async fn routine_system_events_are_left_out_in_the_query(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let session = Uuid::new_v4();
    let client = Origin {
        request_id: "req-1".into(),
        ip: Some("203.0.113.9".into()),
        user_agent: None,
        actor: Actor::Client,
    };
    let admin = Origin {
        request_id: "sessionctl-1".into(),
        ip: None,
        user_agent: None,
        actor: Actor::Admin("alice".into()),
    };
    let system = Origin::system("job:alert_detection:1");
    let routine = || (system.clone(), EventType::JobCompleted, Severity::Info, None);
    let mut plan = vec![(
        client.clone(),
        EventType::SessionGenerated,
        Severity::Info,
        Some(session),
    )];
    plan.extend((0..5).map(|_| routine()));
    plan.push((system.clone(), EventType::JobFailed, Severity::Warning, None));
    plan.extend((0..3).map(|_| routine()));
    plan.push((system.clone(), EventType::SessionExpired, Severity::Info, Some(session)));
    plan.push((admin, EventType::AlertAcknowledged, Severity::Info, None));
    plan.extend((0..3).map(|_| routine()));
    for (origin, event_type, severity, sid) in plan {
        let e = NewEvent::new(&origin, now_millis(), event_type, severity, sid, json!({}));
        store.commit_batch(&[WriteOp::Event(e)]).await.expect("event");
    }
    let types = |events: &[AuditEvent]| events.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>();
    let page = |before: Option<i64>, hide: bool| AuditQuery {
        before_id: before,
        hide_routine_system: hide,
        limit: 3,
        ..Default::default()
    };

    // Shown: the newest page is all routine.
    let all = store.list_audit(&page(None, false)).await.expect("audit");
    assert_eq!(types(&all), ["job.completed"; 3]);
    // Hidden: full pages of the rest, newest first, failures and session events kept.
    let first = store.list_audit(&page(None, true)).await.expect("audit");
    assert_eq!(types(&first), ["alert.acknowledged", "session.expired", "job.failed"]);
    let next = store
        .list_audit(&page(first.last().map(|e| e.id), true))
        .await
        .expect("audit");
    assert_eq!(types(&next), ["session.generated"]);
    // A session's own events (read through its index) are filtered the same way.
    let own = store
        .list_audit(&AuditQuery {
            session_id: Some(session),
            hide_routine_system: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(types(&own), ["session.expired", "session.generated"]);

    // The Audit tab's history and live tail read with the view's query.
    let console = Arc::new(Console::open(db.settings(), true).await.expect("console"));
    let view = AuditView {
        hide_system: true,
        ..Default::default()
    };
    let history = console.audit_history(view.query()).await.expect("history");
    assert_eq!(history.events.len(), 4);
    let tail = console.audit_tail(view.query(), 0).await.expect("tail");
    assert_eq!(
        types(&tail.events),
        [
            "session.generated",
            "job.failed",
            "session.expired",
            "alert.acknowledged"
        ]
    );
    console.close().await;
}

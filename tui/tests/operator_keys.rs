//! Issue 19, "what operators reach for", below the full loop: the session list paged with the
//! navigation keys through the real store (both backends, every sort, both ways, `G` and back),
//! un-acknowledging and run requests in the store (both backends), and at the view level the
//! paused tail's "+N new", sorting that keeps the selection, the alerts' drill-down filter and
//! the OSC 52 sequence `y` writes.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use sessionctl::app::osc52;
use sessionctl::keymap::{Command, Scope};
use sessionctl::ops::Console;
use sessionctl::views::alerts::{AlertsView, audit_filter};
use sessionctl::views::audit::AuditView;
use sessionctl::views::sessions::{PageNumber, SessionsView};
use sessionctl::views::{Action, View};
use sessiond_core::audit::{AuditEvent, AuditQuery, Origin, Severity};
use sessiond_core::domain::from_millis;
use sessiond_core::jobs::JobName;
use sessiond_core::store::Store;
use sessiond_core::store::alerts::{Alert, AlertStatus, NewAlert};
use sessiond_core::store::console::{SessionPageQuery, SessionSort};
use sessiond_tests::console::seed_sessions;
use sessiond_tests::{DbKind, TestDb, on_both_backends};
use uuid::Uuid;

const NOW: i64 = 1_764_000_000_000;

on_both_backends!(
    keys_page_the_session_list_both_ways,
    a_full_last_page_stays_put,
    unacknowledge_reopens_and_audits,
    run_requests_are_audited_deduplicated_and_claimed_once,
);

/// Run `command` on the view, then every page load it asks for, against `store`.
async fn press(view: &mut SessionsView, store: &dyn Store, command: Command) -> Option<Action> {
    let action = view.handle(command);
    settle(view, store, action).await
}

async fn settle(view: &mut SessionsView, store: &dyn Store, mut action: Option<Action>) -> Option<Action> {
    while action == Some(Action::LoadSessions) {
        let generation = view.begin_load();
        let rows = store.session_page(&view.query()).await.expect("page");
        action = view.page_loaded(generation, rows);
    }
    action
}

/// Press `commands` while the page the first one asked for is still loading.
async fn fast(view: &mut SessionsView, store: &dyn Store, commands: &[Command]) {
    assert_eq!(view.handle(commands[0]), Some(Action::LoadSessions));
    let generation = view.begin_load();
    let query = view.query();
    for c in &commands[1..] {
        assert_eq!(view.handle(*c), None, "waits for the page in flight");
    }
    let rows = store.session_page(&query).await.expect("page");
    let action = view.page_loaded(generation, rows);
    settle(view, store, action).await;
}

fn ids(view: &SessionsView) -> Vec<Uuid> {
    view.rows.iter().map(|r| r.id).collect()
}

async fn keys_page_the_session_list_both_ways(kind: DbKind) {
    let db = TestDb::new(kind).await;
    seed_sessions(&db, 50, NOW).await;
    let store = db.store().await;
    for sort in SessionSort::ALL {
        let all: Vec<Uuid> = store
            .session_page(&SessionPageQuery {
                sort,
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("all")
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(all.len(), 50);
        let mut view = SessionsView {
            page_size: 7,
            sort,
            ..Default::default()
        };
        settle(&mut view, &*store, Some(Action::LoadSessions)).await;
        assert_eq!(ids(&view), all[..7], "{sort:?} first page");

        // Space to the end: every row once, in order; the short last page ends it.
        let mut seen = ids(&view);
        while press(&mut view, &*store, Command::PageDown).await.is_none() && seen.len() < all.len() {
            seen.extend(ids(&view));
        }
        assert_eq!(seen, all, "{sort:?} paging forward");
        assert_eq!(view.page, PageNumber::FromStart(8));

        // G: the last page (the last 7 rows), its last row selected.
        press(&mut view, &*store, Command::Bottom).await;
        assert_eq!(ids(&view), all[43..], "{sort:?} last page");
        assert_eq!((view.selected, view.page), (6, PageNumber::FromEnd(0)));
        // j on the last row of the last page: nothing to load, the selection stays.
        assert_eq!(view.handle(Command::Down), None);
        assert_eq!(view.selected, 6);

        // PgUp from the end: pages counted back from the last one, until the start.
        for n in 1..=6u64 {
            press(&mut view, &*store, Command::PageUp).await;
            let end = 43 - 7 * n as usize;
            assert_eq!(ids(&view), all[end..end + 7], "{sort:?} {n} before the last");
            assert_eq!(view.page, PageNumber::FromEnd(n));
        }
        // One row is left before this page: the first page (full) is shown instead.
        press(&mut view, &*store, Command::PageUp).await;
        assert_eq!(ids(&view), all[..7], "{sort:?} back at the start");
        assert_eq!(view.page, PageNumber::FromStart(1));
        assert_eq!(view.handle(Command::PageUp), None, "nothing before the first page");

        // k across a page boundary selects the row right above it.
        press(&mut view, &*store, Command::Bottom).await;
        view.selected = 0;
        press(&mut view, &*store, Command::Up).await;
        assert_eq!(
            view.selected_row().map(|r| r.id),
            Some(all[42]),
            "{sort:?} row above the last page"
        );
        // … and from the second page's first row, into the (realigned) first page.
        press(&mut view, &*store, Command::Top).await;
        press(&mut view, &*store, Command::Down).await;
        assert_eq!(view.selected, 1);
        view.selected = 6;
        press(&mut view, &*store, Command::Down).await;
        assert_eq!(
            (view.selected_row().map(|r| r.id), view.page),
            (Some(all[7]), PageNumber::FromStart(2))
        );
        press(&mut view, &*store, Command::Up).await;
        assert_eq!(
            (view.selected_row().map(|r| r.id), view.page),
            (Some(all[6]), PageNumber::FromStart(1))
        );

        // Keys pressed faster than pages load are replayed in order: three quick PgDn from
        // the first page reach the fourth, five quick PgUp from there come back to the first.
        press(&mut view, &*store, Command::Top).await;
        fast(&mut view, &*store, &[Command::PageDown; 3]).await;
        assert_eq!(
            (ids(&view), view.page),
            (all[21..28].to_vec(), PageNumber::FromStart(4)),
            "{sort:?}"
        );
        fast(&mut view, &*store, &[Command::PageUp; 5]).await;
        assert_eq!(
            (ids(&view), view.page),
            (all[..7].to_vec(), PageNumber::FromStart(1)),
            "{sort:?}"
        );

        // S reverses: the first page is the old last rows, backwards.
        press(&mut view, &*store, Command::ReverseSort).await;
        assert_eq!(view.sort, sort.reversed());
        let reversed: Vec<Uuid> = all.iter().rev().take(7).copied().collect();
        assert_eq!(ids(&view), reversed, "{sort:?} reversed");
    }

    // s picks the next column in its usual direction: created ↓ → last seen ↓ → UUID ↑.
    let mut view = SessionsView {
        page_size: 7,
        ..Default::default()
    };
    for expected in [SessionSort::LastSeenDesc, SessionSort::Id, SessionSort::CreatedDesc] {
        press(&mut view, &*store, Command::CycleSort).await;
        assert_eq!(view.sort, expected);
    }
}

/// A list that ends on a full page: paging past it finds nothing and shows it again.
async fn a_full_last_page_stays_put(kind: DbKind) {
    let db = TestDb::new(kind).await;
    seed_sessions(&db, 20, NOW).await;
    let store = db.store().await;
    let mut view = SessionsView {
        page_size: 10,
        ..Default::default()
    };
    settle(&mut view, &*store, Some(Action::LoadSessions)).await;
    press(&mut view, &*store, Command::PageDown).await;
    let last = ids(&view);
    view.selected = 9;
    // ↓ on its last row: the page after it is empty, so this page stays, its last row selected.
    press(&mut view, &*store, Command::Down).await;
    assert_eq!(ids(&view), last);
    assert_eq!((view.selected, view.page), (9, PageNumber::FromStart(2)));
    // Now known to be the last page: no more queries.
    assert_eq!(view.handle(Command::PageDown), None);
}

async fn raise(store: &dyn Store, subject: &str) -> i64 {
    let event = sessiond_core::audit::NewEvent::new(
        &Origin::system("test"),
        Utc::now(),
        sessiond_core::audit::EventType::AlertRaised,
        Severity::Warning,
        None,
        json!({}),
    );
    store
        .raise_alert(
            &NewAlert {
                rule: "uuid_probing".into(),
                subject: subject.into(),
                severity: Severity::Warning,
                count: 20,
                first_seen_at: Utc::now(),
                last_seen_at: Utc::now(),
                sample_event_ids: vec![],
            },
            &event,
            None,
        )
        .await
        .expect("raise")
}

async fn unacknowledge_reopens_and_audits(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let console = Console::open(db.settings(), false).await.expect("console");
    let id = raise(&*store, "198.51.100.7").await;
    // Open: nothing to take back, nothing written.
    assert!(!console.unacknowledge(id).await.expect("unack"));
    assert!(console.acknowledge(id).await.expect("ack"));
    assert!(console.unacknowledge(id).await.expect("unack"));
    let alert = store.get_alert(id).await.expect("get").expect("alert");
    assert_eq!(alert.status, AlertStatus::Open);
    assert_eq!((alert.acknowledged_at, alert.acknowledged_by), (None, None));
    // Twice: the second finds it open.
    assert!(!console.unacknowledge(id).await.expect("unack"));
    assert!(!console.unacknowledge(id + 100).await.expect("unack of nothing"));
    let events = store
        .list_audit(&AuditQuery {
            event_type: Some("alert.unacknowledged".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(events.len(), 1, "one un-acknowledgement, one event");
    let admin = format!("admin:{}", sessionctl::ops::os_user());
    assert_eq!(events[0].actor, admin);
    assert_eq!(events[0].metadata["alert_id"], json!(id));
    assert_eq!(events[0].metadata["subject"], "198.51.100.7");
    assert_eq!(events[0].metadata["was_acknowledged_by"], json!(admin));
    // It can be acknowledged again.
    assert!(console.acknowledge(id).await.expect("ack again"));
    // Read-only refuses, before touching anything.
    let read_only = Console::open(db.settings(), true).await.expect("console");
    assert!(matches!(
        read_only.unacknowledge(id).await,
        Err(sessionctl::ops::ConsoleError::ReadOnly)
    ));
    assert_eq!(
        store.get_alert(id).await.expect("get").expect("alert").status,
        AlertStatus::Acknowledged
    );
    read_only.close().await;
    console.close().await;
}

async fn run_requests_are_audited_deduplicated_and_claimed_once(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let console = Arc::new(Console::open(db.settings(), false).await.expect("console"));
    let (id, new) = console.request_job_run(JobName::SessionExpiry).await.expect("request");
    assert!(new);
    // A second request while the first waits adds nothing.
    assert_eq!(
        console.request_job_run(JobName::SessionExpiry).await.expect("again"),
        (id, false)
    );
    let (other, new) = console.request_job_run(JobName::Retention).await.expect("other job");
    assert!(new && other != id);
    let events = store
        .list_audit(&AuditQuery {
            event_type: Some("job.requested".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(events.len(), 2, "one event per request made");
    let mine = events
        .iter()
        .find(|e| e.metadata["request_id"] == json!(id))
        .expect("event");
    assert_eq!(mine.metadata["job"], "session_expiry");
    assert_eq!(mine.actor, format!("admin:{}", sessionctl::ops::os_user()));

    let pending = store.pending_run_requests(10).await.expect("pending");
    assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), [id, other]);
    // Many daemons race for it: exactly one takes it.
    let mut racers = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store.claim_run_request(id, &format!("daemon-{i}"), Utc::now()).await
        }));
    }
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.expect("task").expect("claim"));
    }
    assert_eq!(won, 1);
    // Taken: a new request for the job is a new one (it runs after the one in flight).
    let latest = &store.run_requests("session_expiry", 1).await.expect("list")[0];
    assert!(latest.claimed_by.is_some() && latest.finished_at.is_none());
    let holder = latest.claimed_by.clone().expect("holder");
    // Given back (the job ran elsewhere): waiting again; only its holder can give it back.
    store.release_run_request(id, "someone-else").await.expect("release");
    assert!(
        store
            .pending_run_requests(10)
            .await
            .expect("pending")
            .iter()
            .all(|r| r.id != id)
    );
    store.release_run_request(id, &holder).await.expect("release");
    assert!(
        store
            .pending_run_requests(10)
            .await
            .expect("pending")
            .iter()
            .any(|r| r.id == id)
    );
    assert!(
        store
            .claim_run_request(id, "daemon-x", Utc::now())
            .await
            .expect("claim")
    );
    store
        .finish_run_request(id, Some(42), Utc::now())
        .await
        .expect("finish");
    let done = &console.run_requests().await.expect("requests");
    let done = done.iter().find(|r| r.job == "session_expiry").expect("latest");
    assert_eq!(
        (done.id, done.run_id, done.claimed_by.as_deref()),
        (id, Some(42), Some("daemon-x"))
    );
    assert!(done.finished_at.is_some());
    // The console shows each job's latest request.
    let (again, new) = console.request_job_run(JobName::SessionExpiry).await.expect("again");
    assert!(new && again > id);
    let latest = console.run_requests().await.expect("requests");
    let mut shown: Vec<(String, i64)> = latest.iter().map(|r| (r.job.clone(), r.id)).collect();
    shown.sort();
    assert_eq!(
        shown,
        [("retention".to_owned(), other), ("session_expiry".to_owned(), again)]
    );
    // Read-only refuses.
    let read_only = Console::open(db.settings(), true).await.expect("console");
    assert!(matches!(
        read_only.request_job_run(JobName::Retention).await,
        Err(sessionctl::ops::ConsoleError::ReadOnly)
    ));
    read_only.close().await;
    console.close().await;
}

fn event(n: i64, severity: &str, session: Option<Uuid>) -> AuditEvent {
    AuditEvent {
        id: n,
        occurred_at: from_millis(NOW + n * 1000),
        event_type: "session.validated".into(),
        severity: severity.into(),
        session_id: session,
        ip: Some("203.0.113.9".into()),
        user_agent: None,
        request_id: None,
        actor: "client".into(),
        metadata: json!({}),
    }
}

#[test]
fn the_paused_tail_counts_then_resume_shows_and_selects_the_newest() {
    let mut view = AuditView {
        rows: VecDeque::from(vec![
            event(3, "info", None),
            event(2, "info", None),
            event(1, "info", None),
        ]),
        loaded: true,
        cursor: 3,
        ..Default::default()
    };
    view.selected = 2;
    view.handle(Command::Pause);
    view.tail(0, vec![event(4, "info", None), event(5, "warning", None)], 5);
    // A PostgreSQL look-back repeats an event: counted once.
    view.tail(0, vec![event(5, "warning", None), event(6, "info", None)], 6);
    assert_eq!((view.held_count, view.rows.len(), view.cursor), (3, 3, 6));
    assert_eq!(view.selected, 2, "nothing moves while paused");
    view.handle(Command::Pause);
    assert!(!view.paused);
    assert_eq!(view.held_count, 0);
    assert_eq!(view.rows.iter().map(|e| e.id).collect::<Vec<_>>(), [6, 5, 4, 3, 2, 1]);
    assert_eq!(
        view.selected_event().map(|e| e.id),
        Some(6),
        "resume jumps to the new events"
    );
    // A new filter forgets what was held.
    view.handle(Command::Pause);
    view.tail(0, vec![event(7, "info", None)], 7);
    assert_eq!(view.held_count, 1);
    view.apply_filter("warning");
    assert_eq!((view.held_count, view.held.len()), (0, 0));
}

#[test]
fn audit_sort_keeps_the_selected_event_and_drills_to_its_session() {
    let session = Uuid::from_u128(7);
    let mut view = AuditView {
        rows: VecDeque::from(vec![
            event(3, "info", None),
            event(2, "critical", Some(session)),
            event(1, "warning", None),
        ]),
        loaded: true,
        ..Default::default()
    };
    view.handle(Command::Down);
    assert_eq!(view.selected_event().map(|e| e.id), Some(2));
    // time, then severity (critical first): event 2 moves to the top, still selected.
    view.handle(Command::CycleSort);
    view.handle(Command::CycleSort);
    assert_eq!(view.ordered().iter().map(|e| e.id).collect::<Vec<_>>(), [2, 1, 3]);
    assert_eq!(view.selected, 0);
    view.handle(Command::ReverseSort);
    assert_eq!(view.ordered().iter().map(|e| e.id).collect::<Vec<_>>(), [3, 1, 2]);
    assert_eq!(view.selected_event().map(|e| e.id), Some(2));
    assert_eq!(view.handle(Command::OpenSession), Some(Action::ShowSession(session)));
    assert_eq!(view.handle(Command::Copy), Some(Action::Copy(session.to_string())));
    // From the open event too; and an event without a session says so.
    view.handle(Command::Top);
    assert_eq!(view.handle(Command::Open), None);
    assert_eq!(view.scope(), Scope::Detail);
    assert!(matches!(view.handle(Command::OpenSession), Some(Action::Toast(t)) if t.contains("no session")));
    // G / End at the end of the list.
    view.handle(Command::Back);
    view.handle(Command::Bottom);
    assert_eq!(view.selected, 2);
}

fn alert(id: i64, rule: &str, subject: &str, status: AlertStatus, count: i64) -> Alert {
    Alert {
        id,
        rule: rule.into(),
        subject: subject.into(),
        severity: Severity::Warning,
        status,
        count,
        first_seen_at: from_millis(NOW),
        last_seen_at: from_millis(NOW + id),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        last_emailed_at: None,
        sample_event_ids: vec![],
    }
}

#[test]
fn alerts_sort_by_any_column_and_drill_down_to_the_audit_tab() {
    let mut view = AlertsView {
        loaded: true,
        ..Default::default()
    };
    view.set_rows(vec![
        alert(1, "uuid_probing", "198.51.100.1", AlertStatus::Open, 30),
        alert(2, "upload_abuse", "2001:db8:1:2::/64", AlertStatus::Open, 50),
        alert(3, "error_spike", "*", AlertStatus::Acknowledged, 10),
    ]);
    let order = |v: &AlertsView| v.visible().iter().map(|a| a.id).collect::<Vec<_>>();
    // By status, open first (the store's order within a status).
    assert_eq!(order(&view), [1, 2, 3]);
    view.handle(Command::Down);
    // severity (all warnings: unchanged), then rule A→Z: alert 2 stays selected.
    view.handle(Command::CycleSort);
    view.handle(Command::CycleSort);
    assert_eq!(order(&view), [3, 2, 1]);
    assert_eq!(view.visible()[view.selected].id, 2);
    // subject, then count (most first).
    view.handle(Command::CycleSort);
    view.handle(Command::CycleSort);
    assert_eq!(order(&view), [2, 1, 3]);
    view.handle(Command::ReverseSort);
    assert_eq!(order(&view), [3, 1, 2]);
    assert_eq!(view.visible()[view.selected].id, 2);

    // e: one address → its events; a prefix or `*` → the rule's event type.
    assert_eq!(
        view.handle(Command::Events),
        Some(Action::AuditFor("type=upload.rejected".into()))
    );
    assert_eq!(
        audit_filter(&alert(1, "uuid_probing", "198.51.100.1", AlertStatus::Open, 1)),
        Ok("ip=198.51.100.1".into())
    );
    assert_eq!(
        audit_filter(&alert(3, "error_spike", "*", AlertStatus::Open, 1)),
        Ok("type=request.error".into())
    );
    assert!(audit_filter(&alert(4, "someday_rule", "*", AlertStatus::Open, 1)).is_err());
    // Every filter it makes is one the Audit tab takes.
    for f in ["ip=198.51.100.1", "type=upload.rejected", "type=request.error"] {
        assert!(sessionctl::views::audit::parse_filter(f).is_ok(), "{f}");
    }
    assert_eq!(view.handle(Command::Unacknowledge), Some(Action::Unacknowledge(2)));
}

#[test]
fn y_writes_an_osc_52_sequence() {
    // ESC ] 52 ; c ; base64 ST
    assert_eq!(osc52("1b4e28ba"), "\x1b]52;c;MWI0ZTI4YmE=\x1b\\");
}

#[test]
fn detail_panes_scroll_to_their_real_end() {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::Widget;
    use sessionctl::theme::Theme;
    use sessionctl::views::Themed;
    let render = |view: &AuditView| {
        let mut buf = Buffer::empty(Rect::new(0, 0, 60, 8));
        Themed(view, &Theme::dark()).render(buf.area, &mut buf);
        sessionctl::app::buffer_text(&buf)
    };
    let mut e = event(1, "info", None);
    // 30 metadata lines, one of them wrapping.
    e.metadata = serde_json::Value::Object(
        (0..30)
            .map(|i| {
                (
                    format!("key{i:02}"),
                    json!(if i == 29 { "x".repeat(100) } else { "v".into() }),
                )
            })
            .collect(),
    );
    let mut view = AuditView {
        detail: Some((e, 0)),
        ..Default::default()
    };
    let top = render(&view);
    assert!(top.contains("Audit event #1") && !top.contains("key29"));
    view.handle(Command::Bottom);
    let bottom = render(&view);
    assert!(bottom.contains("key29") && bottom.trim_end().ends_with('}'), "{bottom}");
    assert!(!bottom.contains("Audit event #1"));
    // One page up from the end, then back to the top.
    view.handle(Command::PageUp);
    assert!(!render(&view).contains("key29"));
    view.handle(Command::Top);
    assert_eq!(render(&view), top);
}

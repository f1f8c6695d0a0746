//! The real console loop on a `TestBackend`, driven by scripted keys against a real daemon
//! and database (both backends): the reset flow (dialog, cancel, confirm, toast, audit event,
//! the daemon then refusing the session), the `/` filter, and pausing the live audit tail.

mod support;
use support::{Screen, add_upload};

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::KeyCode;
use serde_json::Value;
use sessionctl::ops::{Console, os_user};
use sessiond_core::audit::AuditQuery;
use sessiond_core::domain::SessionStatus;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, on_both_backends};
use uuid::Uuid;

async fn generate(d: &TestDaemon) -> String {
    let res = client()
        .post(d.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("generate");
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.expect("json");
    body["uuid"].as_str().expect("uuid").to_owned()
}

async fn reset_flow_filter_and_live_tail(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(generate(&d).await);
    }
    let target: Uuid = ids[1].parse().expect("uuid");
    for _ in 0..2 {
        add_upload(&db, target, "a.pdf").await;
    }
    // The daemon validates the target first, so its writer remembers the session as active;
    // the console's reset below, on its own connection, must still reach the daemon.
    assert_eq!(d.validate(&ids[1]).await.status().as_u16(), 200);
    let console = Arc::new(Console::open(db.settings(), false).await.expect("console"));
    let mut s = Screen::start(console.clone(), 120, 30);

    // All three sessions are listed (120 columns: full UUIDs).
    s.wait_within(Duration::from_secs(10), "the session list", |scr| {
        ids.iter().all(|id| scr.contains(id.as_str()))
    })
    .await;

    // `/` + UUID prefix: only the target remains.
    s.key(KeyCode::Char('/'));
    s.type_text(&ids[1][..8]);
    s.key(KeyCode::Enter);
    s.wait_within(Duration::from_secs(10), "the filtered list", |scr| {
        scr.contains(&ids[1]) && !scr.contains(&ids[0]) && !scr.contains(&ids[2]) && scr.contains("filter ")
    })
    .await;

    // `r` opens a dialog naming the session and its uploads; `n` cancels.
    s.key(KeyCode::Char('r'));
    let dialog = s
        .wait_within(Duration::from_secs(10), "the reset dialog", |scr| {
            scr.contains("Reset session?")
        })
        .await;
    assert!(dialog.contains(&format!("Session {}", ids[1])), "{dialog}");
    assert!(dialog.contains("its 2 uploads deleted"), "{dialog}");
    s.key(KeyCode::Char('n'));
    s.wait_within(Duration::from_secs(10), "the cancel toast", |scr| {
        scr.contains("cancelled")
    })
    .await;
    let store = db.store().await;
    let row = store.get_session(target).await.expect("get").expect("row");
    assert_eq!(row.status, SessionStatus::Active, "only y confirms");

    // `r` then `y` resets through the session service.
    s.key(KeyCode::Char('r'));
    s.wait_within(Duration::from_secs(10), "the reset dialog", |scr| {
        scr.contains("Reset session?")
    })
    .await;
    s.key(KeyCode::Char('y'));
    let done = s
        .wait_within(Duration::from_secs(10), "the reset toast", |scr| {
            scr.contains("reset (was active)")
        })
        .await;
    assert!(done.contains("2 uploads queued for deletion"), "{done}");
    s.wait_within(Duration::from_secs(10), "the row shown revoked", |scr| {
        scr.contains("revoked")
    })
    .await;
    let row = store.get_session(target).await.expect("get").expect("row");
    assert_eq!(row.status, SessionStatus::Revoked);
    let admin = format!("admin:{}", os_user());
    assert_eq!(row.ended_by.as_deref(), Some(admin.as_str()));
    let events = store
        .list_audit(&AuditQuery {
            session_id: Some(target),
            event_type: Some("session.reset".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, admin);
    assert_eq!(events[0].metadata["previous_status"], "active");
    // The daemon now refuses the session.
    let res = d.validate(&ids[1]).await;
    assert_eq!(res.status().as_u16(), 410);
    let body: Value = res.json().await.expect("problem");
    assert_eq!(body["code"], "session_revoked");

    // Audit tab: an event written by the running daemon is on screen within 1 s.
    s.key(KeyCode::Char('2'));
    s.wait_within(Duration::from_secs(10), "the audit tab", |scr| {
        scr.contains("session.reset")
    })
    .await;
    let fresh = generate(&d).await;
    let committed = Instant::now();
    s.wait_within(Duration::from_secs(1), "a new daemon event within 1 s", |scr| {
        scr.contains(&fresh[..8])
    })
    .await;
    eprintln!("audit event on screen {:?} after commit", committed.elapsed());

    // `p` pauses: new events stay off screen until `p` again.
    s.key(KeyCode::Char('p'));
    s.wait_within(Duration::from_secs(10), "the paused marker", |scr| {
        scr.contains("PAUSED")
    })
    .await;
    let held = generate(&d).await;
    // Absence can only be shown over a time window: four poll intervals.
    tokio::time::sleep(sessionctl::app::POLL * 4).await;
    assert!(!s.now().contains(&held[..8]), "paused tail must not show new events");
    s.key(KeyCode::Char('p'));
    s.wait_within(Duration::from_secs(2), "the held event after resuming", |scr| {
        scr.contains(&held[..8]) && scr.contains("live")
    })
    .await;

    // Audit filter by type: only resets remain.
    s.key(KeyCode::Char('/'));
    s.type_text("session.reset");
    s.key(KeyCode::Enter);
    s.wait_within(Duration::from_secs(10), "the filtered audit list", |scr| {
        scr.contains("session.reset") && !scr.contains("session.generated")
    })
    .await;

    let app = s.quit().await;
    assert!(app.quit);
    console.close().await;
    d.stop().await;
}

async fn read_only_refuses_reset(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let id = generate(&d).await;
    let console = Arc::new(Console::open(db.settings(), true).await.expect("console"));
    let mut s = Screen::start(console.clone(), 120, 30);
    s.wait_within(Duration::from_secs(10), "the list", |scr| {
        scr.contains(id.as_str()) && scr.contains("READ-ONLY")
    })
    .await;
    s.key(KeyCode::Char('r'));
    s.wait_within(Duration::from_secs(10), "the read-only refusal", |scr| {
        scr.contains("read-only mode")
    })
    .await;
    let row = db
        .store()
        .await
        .get_session(id.parse().expect("uuid"))
        .await
        .expect("get")
        .expect("row");
    assert_eq!(row.status, SessionStatus::Active);
    // Help overlay is generated from the keymap and lists the view's keys.
    s.key(KeyCode::Char('?'));
    let help = s
        .wait_within(Duration::from_secs(10), "the help overlay", |scr| {
            scr.contains("Keys (any key closes)")
        })
        .await;
    assert!(
        help.contains("reset session") && help.contains("sort column / reverse"),
        "{help}"
    );
    s.key(KeyCode::Esc);
    s.quit().await;
    console.close().await;
    d.stop().await;
}

on_both_backends!(
    reset_flow_filter_and_live_tail,
    read_only_refuses_reset,
    prompt_line_keys_and_esc_clear_filters,
);

/// Issue 19 points 1 and 2: a rejected filter's error leaves the footer once a filter takes;
/// Ctrl-W and Ctrl-U edit the prompt (and type nothing); Esc on the list drops the filter.
async fn prompt_line_keys_and_esc_clear_filters(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(generate(&d).await);
    }
    let console = Arc::new(Console::open(db.settings(), true).await.expect("console"));
    let mut s = Screen::start(console, 120, 30);
    s.wait_within(Duration::from_secs(10), "the session list", |scr| {
        ids.iter().all(|id| scr.contains(id.as_str()))
    })
    .await;

    // A rejected filter: its error shows.
    s.key(KeyCode::Char('/'));
    s.type_text("nonsense");
    s.key(KeyCode::Enter);
    s.wait_within(Duration::from_secs(10), "the filter's error", |scr| {
        scr.contains("`nonsense` is neither")
    })
    .await;

    // Typed, then taken back with Ctrl-W (one word) and Ctrl-U (the line): only the prefix
    // typed after them is applied, and the error is gone with it.
    s.key(KeyCode::Char('/'));
    s.type_text("more words");
    s.ctrl('w');
    s.type_text("x");
    s.ctrl('u');
    s.type_text(&ids[1][..8]);
    s.key(KeyCode::Enter);
    let filtered = s
        .wait_within(Duration::from_secs(10), "the filtered list", |scr| {
            scr.contains(&ids[1]) && !scr.contains(&ids[0]) && !scr.contains(&ids[2])
        })
        .await;
    assert!(!filtered.contains("is neither"), "the old error stayed:\n{filtered}");
    assert!(!filtered.contains("morex") && !filtered.contains("wu"), "{filtered}");

    // Esc on the list drops the filter.
    s.key(KeyCode::Esc);
    s.wait_within(Duration::from_secs(10), "the whole list again", |scr| {
        ids.iter().all(|id| scr.contains(id.as_str()))
    })
    .await;
    s.quit().await;
    d.stop().await;
}

on_both_backends!(
    drill_down_copy_unacknowledge_and_paused_counter,
    run_job_now_through_a_daemon,
);

/// Issue 19, operator keys in the real loop: an alert's subject → Audit filtered by that IP →
/// the event's session → that session's events; `y` copies the UUID (the recorded clipboard
/// gets it, a toast says so); `a` then `u` acknowledges and takes it back (both audited); the
/// paused tail counts new events and resume shows them.
async fn drill_down_copy_unacknowledge_and_paused_counter(kind: DbKind) {
    use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
    use sessiond_core::store::alerts::{AlertStatus, NewAlert};
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let id = generate(&d).await;
    assert_eq!(d.validate(&id).await.status().as_u16(), 200);
    let store = db.store().await;
    let now = chrono::Utc::now();
    let raised = NewEvent::new(
        &Origin::system("test"),
        now,
        EventType::AlertRaised,
        Severity::Warning,
        None,
        serde_json::json!({}),
    );
    let alert = NewAlert {
        rule: "uuid_probing".into(),
        // Every test request comes from here.
        subject: "127.0.0.1".into(),
        severity: Severity::Warning,
        count: 20,
        first_seen_at: now,
        last_seen_at: now,
        sample_event_ids: vec![],
    };
    let alert_id = store.raise_alert(&alert, &raised, None).await.expect("raise");
    let console = Arc::new(Console::open(db.settings(), false).await.expect("console"));
    let copied = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clipboard = copied.clone();
    let mut s = Screen::start_with(console.clone(), 120, 30, move |app| {
        app.set_clipboard(Box::new(move |text| {
            clipboard.lock().expect("clipboard").push(text.to_owned());
            Ok(())
        }))
    });
    s.wait_within(Duration::from_secs(10), "the session list", |scr| {
        scr.contains(id.as_str())
    })
    .await;

    // Alerts: a, then u puts it back to open; both are audited.
    s.key(KeyCode::Char('3'));
    s.wait_within(Duration::from_secs(10), "the alert", |scr| {
        scr.contains("uuid_probing") && scr.contains("127.0.0.1")
    })
    .await;
    s.key(KeyCode::Char('a'));
    s.wait_within(Duration::from_secs(10), "acknowledged", |scr| {
        scr.contains(&format!("alert #{alert_id} acknowledged"))
    })
    .await;
    s.key(KeyCode::Char('u'));
    s.wait_within(Duration::from_secs(10), "the un-acknowledge toast", |scr| {
        scr.contains(&format!("alert #{alert_id} is open again"))
    })
    .await;
    let row = store.get_alert(alert_id).await.expect("get").expect("alert");
    assert_eq!((row.status, row.acknowledged_by), (AlertStatus::Open, None));
    for kind in ["alert.acknowledged", "alert.unacknowledged"] {
        let events = store
            .list_audit(&AuditQuery {
                event_type: Some(kind.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("audit");
        assert_eq!(events.len(), 1, "{kind}");
    }

    // e: the Audit tab, filtered by the alert's subject (an address).
    s.key(KeyCode::Char('e'));
    let audit = s
        .wait_within(Duration::from_secs(10), "the audit tab filtered by IP", |scr| {
            scr.contains("filter ip=127.0.0.1") && scr.contains("session.validated")
        })
        .await;
    assert!(!audit.contains("alert.acknowledged"), "only the IP's events:\n{audit}");

    // o: the newest event's session opens in the Sessions tab; y copies its UUID.
    s.key(KeyCode::Char('o'));
    s.wait_within(Duration::from_secs(10), "the session's detail", |scr| {
        scr.contains(&format!("Session {id}")) && scr.contains("Audit trail")
    })
    .await;
    s.key(KeyCode::Char('y'));
    s.wait_within(Duration::from_secs(10), "the copy toast", |scr| {
        scr.contains(&format!("copied {id}"))
    })
    .await;
    assert_eq!(*copied.lock().expect("clipboard"), vec![id.clone()]);

    // e from the detail: the session's events in the Audit tab.
    s.key(KeyCode::Char('e'));
    s.wait_within(Duration::from_secs(10), "the audit tab filtered by session", |scr| {
        scr.contains(&format!("filter session={id}")) && scr.contains("session.generated")
    })
    .await;
    // y on an event copies its session's UUID.
    s.key(KeyCode::Char('y'));
    s.wait_within(Duration::from_secs(10), "the second copy", |_| {
        copied.lock().expect("clipboard").len() == 2
    })
    .await;
    assert_eq!(copied.lock().expect("clipboard")[1], id);

    // Paused: new events are counted in the title, not shown; p shows them.
    s.key(KeyCode::Esc);
    s.wait_within(Duration::from_secs(10), "the unfiltered tail", |scr| {
        scr.contains(" Audit ·") && !scr.contains("filter session=") && scr.contains("live")
    })
    .await;
    s.key(KeyCode::Char('p'));
    s.wait_within(Duration::from_secs(10), "paused", |scr| scr.contains("PAUSED"))
        .await;
    let held = [generate(&d).await, generate(&d).await];
    let paused = s
        .wait_within(Duration::from_secs(10), "the +2 counter", |scr| {
            scr.contains("PAUSED +2 new")
        })
        .await;
    assert!(held.iter().all(|h| !paused.contains(&h[..8])), "{paused}");
    s.key(KeyCode::Char('p'));
    s.wait_within(Duration::from_secs(10), "the held events after resuming", |scr| {
        held.iter().all(|h| scr.contains(&h[..8])) && scr.contains("live") && !scr.contains("new (p")
    })
    .await;

    s.quit().await;
    console.close().await;
    d.stop().await;
}

/// Issue 19, "run job now": `r` on a job asks first (any key but `y` cancels, `--read-only`
/// refuses), `y` records a request that a daemon with jobs enabled takes within seconds and
/// runs; the job's detail then shows the run it became.
async fn run_job_now_through_a_daemon(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let mut settings = db.settings();
    settings.jobs.enabled = true;
    // Scheduled once a year: any run during the test is the requested one.
    settings.jobs.session_expiry.schedule = "0 0 0 1 1 *".into();
    let d = TestDaemon::start(settings).await;
    let store = db.store().await;

    // Read-only: refused, nothing asked, nothing written.
    let read_only = Arc::new(Console::open(db.settings(), true).await.expect("console"));
    let mut s = Screen::start(read_only.clone(), 100, 30);
    s.key(KeyCode::Char('4'));
    s.wait_within(Duration::from_secs(10), "the jobs", |scr| {
        scr.contains("session_expiry")
    })
    .await;
    s.key(KeyCode::Char('r'));
    s.wait_within(Duration::from_secs(10), "the refusal", |scr| {
        scr.contains("read-only mode")
    })
    .await;
    s.quit().await;
    read_only.close().await;
    assert!(
        store
            .run_requests("session_expiry", 10)
            .await
            .expect("requests")
            .is_empty()
    );

    let console = Arc::new(Console::open(db.settings(), false).await.expect("console"));
    let mut s = Screen::start(console.clone(), 100, 30);
    s.key(KeyCode::Char('4'));
    s.wait_within(Duration::from_secs(10), "the jobs", |scr| {
        scr.contains("session_expiry")
    })
    .await;
    s.key(KeyCode::Char('/'));
    s.type_text("session_expiry");
    s.key(KeyCode::Enter);
    s.wait_within(Duration::from_secs(10), "the filtered jobs", |scr| {
        scr.contains("session_expiry") && !scr.contains("retention")
    })
    .await;
    // n cancels.
    s.key(KeyCode::Char('r'));
    s.wait_within(Duration::from_secs(10), "the dialog", |scr| {
        scr.contains("Run job now?")
    })
    .await;
    s.key(KeyCode::Char('n'));
    s.wait_within(Duration::from_secs(10), "cancelled", |scr| scr.contains("cancelled"))
        .await;
    assert!(
        store
            .run_requests("session_expiry", 10)
            .await
            .expect("requests")
            .is_empty()
    );
    // y requests it.
    s.key(KeyCode::Char('r'));
    s.wait_within(Duration::from_secs(10), "the dialog", |scr| {
        scr.contains("Run job now?")
    })
    .await;
    s.key(KeyCode::Char('y'));
    s.wait_within(Duration::from_secs(10), "the request toast", |scr| {
        scr.contains("run of session_expiry requested")
    })
    .await;
    // The daemon runs it; the detail shows the run it became.
    s.key(KeyCode::Enter);
    let detail = s
        .wait_within(Duration::from_secs(30), "the finished request", |scr| {
            scr.contains("Job session_expiry") && scr.contains(": done, run #")
        })
        .await;
    let request = &store.run_requests("session_expiry", 10).await.expect("requests")[..];
    assert_eq!(request.len(), 1);
    let run_id = request[0].run_id.expect("ran");
    assert!(detail.contains(&format!("done, run #{run_id}")), "{detail}");
    let runs = store.list_runs(Some("session_expiry"), 10).await.expect("runs");
    assert_eq!(runs.len(), 1, "the requested run only");
    assert_eq!(runs[0].id, run_id);
    let requested = store
        .list_audit(&AuditQuery {
            event_type: Some("job.requested".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0].actor, format!("admin:{}", os_user()));
    s.quit().await;
    console.close().await;
    d.stop().await;
}

//! The real console loop on a `TestBackend`, driven by scripted keys against a real daemon
//! and database (both backends): the reset flow (dialog, cancel, confirm, toast, audit event,
//! the daemon then refusing the session), the `/` filter, and pausing the live audit tail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;
use sessionctl::app::{App, Options};
use sessionctl::ops::{Console, os_user};
use sessiond_core::audit::AuditQuery;
use sessiond_core::domain::SessionStatus;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, on_both_backends};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

struct Screen {
    keys: mpsc::UnboundedSender<Event>,
    screen: watch::Receiver<String>,
    task: JoinHandle<App>,
}

impl Screen {
    fn start(console: Arc<Console>, width: u16, height: u16) -> Screen {
        let (keys, input) = mpsc::unbounded_channel();
        let (publish, screen) = watch::channel(String::new());
        let task = tokio::spawn(async move {
            let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
            let mut app = App::new(console, Options::default());
            app.run(&mut terminal, input, Some(publish)).await.expect("loop ran");
            app
        });
        Screen { keys, screen, task }
    }

    fn key(&self, code: KeyCode) {
        self.keys
            .send(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
            .expect("loop is running");
    }

    fn ctrl(&self, c: char) {
        self.keys
            .send(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)))
            .expect("loop is running");
    }

    fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    /// Wait (with a deadline) until the screen satisfies `pred`; returns it.
    async fn wait(&mut self, within: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let now = self.screen.borrow().clone();
            if pred(&now) {
                return now;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}; screen:\n{now}");
            let _ = tokio::time::timeout(left, self.screen.changed()).await;
        }
    }

    async fn quit(self) -> App {
        self.key(KeyCode::Char('q'));
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("loop ends on q")
            .expect("loop task")
    }
}

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

async fn add_uploads(db: &TestDb, id: Uuid, n: usize) {
    for i in 0..n {
        let key = format!("sessions/{id}/{i}.pdf");
        if db.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
            sqlx::query("INSERT INTO uploads VALUES (?, ?, ?, 'a.pdf', 10, 'x', 'application/pdf', 0)")
                .bind(Uuid::new_v4())
                .bind(id)
                .bind(key)
                .execute(&pool)
                .await
                .expect("insert upload");
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("pg");
            sqlx::query("INSERT INTO uploads VALUES ($1, $2, $3, 'a.pdf', 10, 'x', 'application/pdf', 0)")
                .bind(Uuid::new_v4())
                .bind(id)
                .bind(key)
                .execute(&pool)
                .await
                .expect("insert upload");
            pool.close().await;
        }
    }
}

async fn reset_flow_filter_and_live_tail(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(generate(&d).await);
    }
    let target: Uuid = ids[1].parse().expect("uuid");
    add_uploads(&db, target, 2).await;
    // The daemon validates the target first, so its writer remembers the session as active;
    // the console's reset below, on its own connection, must still reach the daemon.
    assert_eq!(d.validate(&ids[1]).await.status().as_u16(), 200);
    let console = Arc::new(Console::open(db.settings(), false).await.expect("console"));
    let mut s = Screen::start(console.clone(), 120, 30);

    // All three sessions are listed (120 columns: full UUIDs).
    s.wait(Duration::from_secs(10), "the session list", |scr| {
        ids.iter().all(|id| scr.contains(id.as_str()))
    })
    .await;

    // `/` + UUID prefix: only the target remains.
    s.key(KeyCode::Char('/'));
    s.type_text(&ids[1][..8]);
    s.key(KeyCode::Enter);
    s.wait(Duration::from_secs(10), "the filtered list", |scr| {
        scr.contains(&ids[1]) && !scr.contains(&ids[0]) && !scr.contains(&ids[2]) && scr.contains("filter ")
    })
    .await;

    // `r` opens a dialog naming the session and its uploads; `n` cancels.
    s.key(KeyCode::Char('r'));
    let dialog = s
        .wait(Duration::from_secs(10), "the reset dialog", |scr| {
            scr.contains("Reset session?")
        })
        .await;
    assert!(dialog.contains(&format!("Session {}", ids[1])), "{dialog}");
    assert!(dialog.contains("its 2 uploads deleted"), "{dialog}");
    s.key(KeyCode::Char('n'));
    s.wait(Duration::from_secs(10), "the cancel toast", |scr| {
        scr.contains("cancelled")
    })
    .await;
    let store = db.store().await;
    let row = store.get_session(target).await.expect("get").expect("row");
    assert_eq!(row.status, SessionStatus::Active, "only y confirms");

    // `r` then `y` resets through the session service.
    s.key(KeyCode::Char('r'));
    s.wait(Duration::from_secs(10), "the reset dialog", |scr| {
        scr.contains("Reset session?")
    })
    .await;
    s.key(KeyCode::Char('y'));
    let done = s
        .wait(Duration::from_secs(10), "the reset toast", |scr| {
            scr.contains("reset (was active)")
        })
        .await;
    assert!(done.contains("2 uploads queued for deletion"), "{done}");
    s.wait(Duration::from_secs(10), "the row shown revoked", |scr| {
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
    s.wait(Duration::from_secs(10), "the audit tab", |scr| {
        scr.contains("session.reset")
    })
    .await;
    let fresh = generate(&d).await;
    let committed = Instant::now();
    s.wait(Duration::from_secs(1), "a new daemon event within 1 s", |scr| {
        scr.contains(&fresh[..8])
    })
    .await;
    eprintln!("audit event on screen {:?} after commit", committed.elapsed());

    // `p` pauses: new events stay off screen until `p` again.
    s.key(KeyCode::Char('p'));
    s.wait(Duration::from_secs(10), "the paused marker", |scr| {
        scr.contains("PAUSED")
    })
    .await;
    let held = generate(&d).await;
    // Absence can only be shown over a time window: four poll intervals.
    tokio::time::sleep(sessionctl::app::POLL * 4).await;
    assert!(
        !s.screen.borrow().contains(&held[..8]),
        "paused tail must not show new events"
    );
    s.key(KeyCode::Char('p'));
    s.wait(Duration::from_secs(2), "the held event after resuming", |scr| {
        scr.contains(&held[..8]) && scr.contains("live")
    })
    .await;

    // Audit filter by type: only resets remain.
    s.key(KeyCode::Char('/'));
    s.type_text("session.reset");
    s.key(KeyCode::Enter);
    s.wait(Duration::from_secs(10), "the filtered audit list", |scr| {
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
    s.wait(Duration::from_secs(10), "the list", |scr| {
        scr.contains(id.as_str()) && scr.contains("READ-ONLY")
    })
    .await;
    s.key(KeyCode::Char('r'));
    s.wait(Duration::from_secs(10), "the read-only refusal", |scr| {
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
        .wait(Duration::from_secs(10), "the help overlay", |scr| {
            scr.contains("Keys (any key closes)")
        })
        .await;
    assert!(help.contains("reset session") && help.contains("cycle sort"), "{help}");
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
    s.wait(Duration::from_secs(10), "the session list", |scr| {
        ids.iter().all(|id| scr.contains(id.as_str()))
    })
    .await;

    // A rejected filter: its error shows.
    s.key(KeyCode::Char('/'));
    s.type_text("nonsense");
    s.key(KeyCode::Enter);
    s.wait(Duration::from_secs(10), "the filter's error", |scr| {
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
        .wait(Duration::from_secs(10), "the filtered list", |scr| {
            scr.contains(&ids[1]) && !scr.contains(&ids[0]) && !scr.contains(&ids[2])
        })
        .await;
    assert!(!filtered.contains("is neither"), "the old error stayed:\n{filtered}");
    assert!(!filtered.contains("morex") && !filtered.contains("wu"), "{filtered}");

    // Esc on the list drops the filter.
    s.key(KeyCode::Esc);
    s.wait(Duration::from_secs(10), "the whole list again", |scr| {
        ids.iter().all(|id| scr.contains(id.as_str()))
    })
    .await;
    s.quit().await;
    d.stop().await;
}

//! The real console loop on a `TestBackend`, for the test files that drive it with keys
//! (`mod support;`): start it, send keys, wait for what the screen shows, quit.
#![allow(dead_code)] // each test file uses a part

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use sessionctl::app::{App, Options};
use sessionctl::ops::Console;
use sessiond_tests::TestDb;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long [`Screen::wait`] waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// A console loop running on a `width`×`height` test terminal.
pub struct Screen {
    keys: mpsc::UnboundedSender<Event>,
    screen: watch::Receiver<String>,
    task: JoinHandle<App>,
}

impl Screen {
    pub fn start(console: Arc<Console>, width: u16, height: u16) -> Screen {
        Self::start_with(console, width, height, |_| {})
    }

    /// Like [`Screen::start`], with `setup` run on the app before its loop (a clipboard to
    /// record what `y` copies).
    pub fn start_with(
        console: Arc<Console>,
        width: u16,
        height: u16,
        setup: impl FnOnce(&mut App) + Send + 'static,
    ) -> Screen {
        let (keys, input) = mpsc::unbounded_channel();
        let (publish, screen) = watch::channel(String::new());
        let task = tokio::spawn(async move {
            let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
            let mut app = App::new(console, Options::default());
            setup(&mut app);
            app.run(&mut terminal, input, Some(publish)).await.expect("loop ran");
            app
        });
        Screen { keys, screen, task }
    }

    pub fn key(&self, code: KeyCode) {
        self.key_with(code, KeyModifiers::NONE);
    }

    pub fn key_with(&self, code: KeyCode, modifiers: KeyModifiers) {
        self.keys
            .send(Event::Key(KeyEvent::new(code, modifiers)))
            .expect("loop is running");
    }

    pub fn ctrl(&self, c: char) {
        self.key_with(KeyCode::Char(c), KeyModifiers::CONTROL);
    }

    pub fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    /// `/`, clear the prompt, type `text`, Enter.
    pub fn filter(&self, text: &str) {
        self.key(KeyCode::Char('/'));
        self.ctrl('u');
        self.type_text(text);
        self.key(KeyCode::Enter);
    }

    /// Wait up to [`WAIT`] until the screen satisfies `pred`; returns it.
    pub async fn wait(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_within(WAIT, what, pred).await
    }

    /// Wait up to `within` until the screen satisfies `pred`; returns it.
    pub async fn wait_within(&mut self, within: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
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

    /// What the screen shows now.
    pub fn now(&self) -> String {
        self.screen.borrow().clone()
    }

    pub async fn quit(self) -> App {
        self.key(KeyCode::Char('q'));
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("loop ends on q")
            .expect("loop task")
    }
}

/// One upload row named `name` for `session`, written behind the store's back (its object is
/// never read by these tests), under the key the daemon would give it.
pub async fn add_upload(db: &TestDb, session: Uuid, name: &str) {
    let id = Uuid::new_v4();
    let key = sessiond_core::storage::upload_key(session, id);
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
        sqlx::query("INSERT INTO uploads VALUES (?, ?, ?, ?, 10, 'x', 'application/pdf', 0)")
            .bind(id)
            .bind(session)
            .bind(key)
            .bind(name)
            .execute(&pool)
            .await
            .expect("insert upload");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pg");
        sqlx::query("INSERT INTO uploads VALUES ($1, $2, $3, $4, 10, 'x', 'application/pdf', 0)")
            .bind(id)
            .bind(session)
            .bind(key)
            .bind(name)
            .execute(&pool)
            .await
            .expect("insert upload");
        pool.close().await;
    }
}

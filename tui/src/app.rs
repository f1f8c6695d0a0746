//! The console's state and event loop. The loop is a `tokio::select!` over terminal input, a
//! frame tick and a channel fed by background tasks: every database query runs in a task and
//! comes back as a [`Msg`], so drawing never waits for the database. The live audit tail is an
//! id-cursor poll every [`POLL`].

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, MouseEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::{Frame, Terminal};
use sessiond_core::audit::AuditEvent;
use sessiond_core::audit::AuditQuery;
use sessiond_core::store::Backend;
use sessiond_core::store::alerts::Alert;
use sessiond_core::store::console::SessionSummary;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::keymap::{Command, Scope, command_for};
use crate::ops::{Console, JobOverview, READ_ONLY};
use crate::theme::Theme;
use crate::views::Action;
use crate::views::alerts::AlertsView;
use crate::views::audit::AuditView;
use crate::views::confirm::{ConfirmView, Pending};
use crate::views::header::{HeaderView, footer_line, tabs_line};
use crate::views::help::HelpView;
use crate::views::jobs::JobsView;
use crate::views::sessions::{SessionDetail, SessionsView};

/// Audit tail poll interval (new events are on screen within one poll plus one frame).
pub const POLL: Duration = Duration::from_millis(250);
/// Header, alerts and jobs refresh interval.
pub const REFRESH: Duration = Duration::from_secs(5);
/// Session counts refresh interval: counting by status reads a whole index, so it is done
/// less often than the cheap header figures.
pub const COUNTS: Duration = Duration::from_secs(30);
/// How long a toast stays.
pub const TOAST: Duration = Duration::from_secs(4);
/// PostgreSQL assigns ids before commit, so a later id can become visible before an earlier
/// one: the tail re-reads this many ids below its cursor (duplicates are skipped).
const PG_LOOKBACK: i64 = 64;
/// Rows of history loaded when the audit view (re)starts.
const AUDIT_HISTORY: u32 = 500;

/// The tabs.
pub const TABS: [&str; 4] = ["Sessions", "Audit", "Alerts", "Jobs"];

/// A result from a background task.
#[derive(Debug)]
pub enum Msg {
    /// A session page.
    SessionsPage {
        /// Request generation.
        generation: u64,
        /// Rows or error.
        result: Result<Vec<SessionSummary>, String>,
        /// Query time.
        elapsed: Duration,
    },
    /// A session's detail.
    SessionDetail(Result<SessionDetail, String>),
    /// Facts for the reset dialog: id, status, uploads.
    AskReset(Result<(Uuid, String, i64), String>),
    /// Audit history for a filter: events (newest first) and the cursor.
    AuditLoaded {
        /// Filter generation.
        generation: u64,
        /// Events and cursor.
        result: Result<(Vec<AuditEvent>, i64), String>,
    },
    /// New audit events (oldest first) and the new cursor.
    AuditTail {
        /// Filter generation.
        generation: u64,
        /// Events and cursor.
        result: Result<(Vec<AuditEvent>, i64), String>,
    },
    /// Header figures.
    Header(HeaderView),
    /// Alerts.
    Alerts(Result<Vec<Alert>, String>),
    /// An alert and its sample events.
    AlertDetail(Result<(Alert, Vec<AuditEvent>), String>),
    /// Jobs.
    Jobs(Result<Vec<JobOverview>, String>),
    /// Webhook deliveries and the audit chain's state (Jobs tab).
    AuditHealth(Result<crate::ops::AuditHealth, String>),
    /// An action finished: toast text, and what to reload.
    Done(Result<String, String>, Reload),
}

/// What to reload after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The session page (and the open detail).
    Sessions,
    /// The alerts.
    Alerts,
}

/// A toast in the footer.
#[derive(Debug, Clone)]
pub struct Toast {
    /// Text.
    pub text: String,
    /// Error (red) or success (green).
    pub error: bool,
    /// When it goes away.
    pub until: Instant,
}

/// Start-up options of the console.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Palette.
    pub theme: Theme,
}

/// Timing trace (`SESSIONCTL_TRACE=<file>`): first frame, first page, each page's query.
struct Trace {
    file: std::fs::File,
    started: Instant,
}

/// The console's state.
pub struct App {
    console: Arc<Console>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// Active tab.
    pub tab: usize,
    /// Sessions tab.
    pub sessions: SessionsView,
    /// Audit tab.
    pub audit: AuditView,
    /// Alerts tab.
    pub alerts: AlertsView,
    /// Jobs tab.
    pub jobs: JobsView,
    /// Header.
    pub header: HeaderView,
    /// Help overlay shown.
    pub help: bool,
    /// Open confirmation.
    pub confirm: Option<ConfirmView>,
    /// Filter prompt text (open when `Some`).
    pub prompt: Option<String>,
    /// Toast.
    pub toast: Option<Toast>,
    /// Palette.
    pub theme: Theme,
    /// Leave the loop.
    pub quit: bool,
    audit_polling: bool,
    header_loading: bool,
    last_refresh: Option<Instant>,
    last_counts: Option<Instant>,
    trace: Option<Trace>,
    first_page_traced: bool,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl App {
    /// A console over `console`.
    pub fn new(console: Arc<Console>, options: Options) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let theme = options.theme;
        let header = HeaderView {
            theme,
            database: console.store.describe(),
            read_only: console.read_only,
            ..HeaderView::default()
        };
        let mut app = Self {
            console,
            tx,
            rx,
            tab: 0,
            sessions: SessionsView::default(),
            audit: AuditView::default(),
            alerts: AlertsView::default(),
            jobs: JobsView::default(),
            header,
            help: false,
            confirm: None,
            prompt: None,
            toast: None,
            theme,
            quit: false,
            audit_polling: false,
            header_loading: false,
            last_refresh: None,
            last_counts: None,
            trace: None,
            first_page_traced: false,
        };
        app.set_theme(theme);
        app
    }

    /// Write timings to `path` (first frame, first page, every page query).
    pub fn trace_to(&mut self, path: &std::path::Path, started: Instant) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        self.trace = Some(Trace { file, started });
        Ok(())
    }

    fn trace(&mut self, what: &str, value: Duration) {
        if let Some(t) = &mut self.trace {
            let _ = writeln!(t.file, "{what} {:.3}", value.as_secs_f64() * 1000.0);
        }
    }

    fn since_start(&self) -> Duration {
        self.trace.as_ref().map_or(Duration::ZERO, |t| t.started.elapsed())
    }

    fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
        self.sessions.theme = theme;
        self.audit.theme = theme;
        self.alerts.theme = theme;
        self.jobs.theme = theme;
        self.header.theme = theme;
        if let Some(c) = &mut self.confirm {
            c.theme = theme;
        }
    }

    /// The key scope in force.
    pub fn scope(&self) -> Scope {
        match self.tab {
            0 => self.sessions.scope(),
            1 => self.audit.scope(),
            2 => self.alerts.scope(),
            _ => self.jobs.scope(),
        }
    }

    /// Size the session page to a `width`×`height` terminal; reloads when it changed.
    pub fn resize(&mut self, _width: u16, height: u16) {
        // header 2 + tabs 1 + footer 1, then the table's title and header rows.
        let rows = u32::from(height.saturating_sub(6).max(1));
        if rows != self.sessions.page_size {
            self.sessions.page_size = rows;
            self.perform(Action::LoadSessions);
        }
    }

    /// Kick off the first loads.
    pub fn start(&mut self) {
        self.perform(Action::ReloadAudit);
        self.refresh();
    }

    fn toast(&mut self, text: impl Into<String>, error: bool) {
        self.toast = Some(Toast {
            text: text.into(),
            error,
            until: Instant::now() + TOAST,
        });
    }

    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = Msg> + Send + 'static,
    {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(fut.await);
        });
    }

    /// Reload the header and the active tab's data (alerts, jobs).
    pub fn refresh(&mut self) {
        self.last_refresh = Some(Instant::now());
        if !self.header_loading {
            self.header_loading = true;
            let c = self.console.clone();
            let base = self.header.clone();
            let count = self.last_counts.is_none_or(|t| t.elapsed() >= COUNTS);
            if count {
                self.last_counts = Some(Instant::now());
            }
            self.spawn(async move {
                let now = Utc::now().timestamp_millis();
                let minute = now / 60_000 * 60_000;
                let since = minute - 29 * 60_000;
                let per = c.store.events_per_minute(since).await.unwrap_or_default();
                let mut per_minute = vec![0u64; 30];
                for (m, n) in per {
                    let i = (m - since) / 60_000;
                    if (0..30).contains(&i) {
                        per_minute[i as usize] = n.max(0) as u64;
                    }
                }
                let counts = if count {
                    c.store.count_sessions().await.ok()
                } else {
                    base.counts
                };
                Msg::Header(HeaderView {
                    counts,
                    open_alerts: c.store.count_open_alerts().await.ok(),
                    pending_deletions: c.store.object_deletion_backlog().await.ok(),
                    per_minute,
                    ..base
                })
            });
        }
        if self.tab == 2 {
            self.perform(Action::ReloadAlerts);
        }
        if self.tab == 3 || !self.jobs.loaded {
            let c = self.console.clone();
            self.spawn(async move { Msg::Jobs(c.jobs(Utc::now(), 10).await) });
            let c = self.console.clone();
            self.spawn(async move { Msg::AuditHealth(c.audit_health().await) });
        }
        if !self.alerts.loaded {
            self.perform(Action::ReloadAlerts);
        }
    }

    /// Every [`POLL`]: poll the audit tail, expire toasts, refresh every [`REFRESH`].
    pub fn tick(&mut self) {
        if self.toast.as_ref().is_some_and(|t| Instant::now() >= t.until) {
            self.toast = None;
        }
        if !self.audit.paused && self.audit.loaded && !self.audit_polling {
            self.audit_polling = true;
            let c = self.console.clone();
            let generation = self.audit.generation;
            let filter = self.audit.filter.clone();
            let lookback = if c.store.backend() == Backend::Postgres {
                PG_LOOKBACK
            } else {
                0
            };
            let cursor = self.audit.cursor;
            self.spawn(async move {
                let result = async {
                    let max = c.store.max_audit_id().await.map_err(err)?;
                    let limit = 1000;
                    let rows = c
                        .store
                        .list_audit(&AuditQuery {
                            after_id: Some((cursor - lookback).max(0)),
                            limit,
                            ascending: true,
                            ..filter
                        })
                        .await
                        .map_err(err)?;
                    let last = rows.last().map_or(cursor, |e| e.id);
                    // A short page means everything up to `max` was seen (filtered out or not).
                    let next = if rows.len() < limit as usize {
                        last.max(max)
                    } else {
                        last
                    };
                    Ok((rows, next))
                }
                .await;
                Msg::AuditTail { generation, result }
            });
        }
        if self.last_refresh.is_none_or(|t| t.elapsed() >= REFRESH) {
            self.refresh();
        }
    }

    /// Run what a view asked for.
    pub fn perform(&mut self, action: Action) {
        let c = self.console.clone();
        match action {
            Action::LoadSessions => {
                let generation = self.sessions.begin_load();
                let q = self.sessions.query();
                self.spawn(async move {
                    let t0 = Instant::now();
                    let result = c.store.session_page(&q).await.map_err(err);
                    Msg::SessionsPage {
                        generation,
                        result,
                        elapsed: t0.elapsed(),
                    }
                });
            }
            Action::OpenSession(id) => self.spawn(async move {
                let result = async {
                    let session = c
                        .store
                        .get_session(id)
                        .await
                        .map_err(err)?
                        .ok_or_else(|| format!("session {id} no longer exists"))?;
                    let uploads = c.store.session_uploads(id, 100).await.map_err(err)?;
                    let events = c
                        .store
                        .list_audit(&AuditQuery {
                            session_id: Some(id),
                            limit: 100,
                            ..Default::default()
                        })
                        .await
                        .map_err(err)?;
                    Ok(SessionDetail {
                        session,
                        uploads,
                        events,
                        scroll: 0,
                    })
                }
                .await;
                Msg::SessionDetail(result)
            }),
            Action::AskReset(id) => {
                if self.console.read_only {
                    self.toast(READ_ONLY, true);
                    return;
                }
                self.spawn(async move {
                    let result = async {
                        let s = c
                            .store
                            .get_session(id)
                            .await
                            .map_err(err)?
                            .ok_or_else(|| format!("session {id} no longer exists"))?;
                        let uploads = c.store.upload_totals(id).await.map_err(err)?.count;
                        Ok((id, s.status.as_str().to_owned(), uploads))
                    }
                    .await;
                    Msg::AskReset(result)
                });
            }
            Action::ReloadAudit => {
                let generation = self.audit.generation;
                let filter = self.audit.filter.clone();
                self.spawn(async move {
                    let result = async {
                        let max = c.store.max_audit_id().await.map_err(err)?;
                        let rows = c
                            .store
                            .list_audit(&AuditQuery {
                                before_id: Some(max.saturating_add(1)),
                                limit: AUDIT_HISTORY,
                                ..filter
                            })
                            .await
                            .map_err(err)?;
                        Ok((rows, max))
                    }
                    .await;
                    Msg::AuditLoaded { generation, result }
                });
            }
            Action::OpenAlert(id) => self.spawn(async move {
                let result = async {
                    let alert = c
                        .store
                        .get_alert(id)
                        .await
                        .map_err(err)?
                        .ok_or_else(|| format!("alert #{id} no longer exists"))?;
                    let mut events = Vec::new();
                    for eid in alert.sample_event_ids.iter().take(20) {
                        if let Some(e) = c.store.audit_event(*eid).await.map_err(err)? {
                            events.push(e);
                        }
                    }
                    Ok((alert, events))
                }
                .await;
                Msg::AlertDetail(result)
            }),
            Action::Acknowledge(id) => {
                if self.console.read_only {
                    self.toast(READ_ONLY, true);
                    return;
                }
                self.spawn(async move {
                    let result = match c.acknowledge(id).await {
                        Ok(true) => Ok(format!("alert #{id} acknowledged")),
                        Ok(false) => Err(format!("alert #{id} is not open")),
                        Err(e) => Err(e),
                    };
                    Msg::Done(result, Reload::Alerts)
                });
            }
            Action::ReloadAlerts => {
                let include_resolved = self.alerts.show_resolved;
                self.spawn(async move { Msg::Alerts(c.store.list_alerts(include_resolved, 500).await.map_err(err)) });
            }
            Action::StartFilter(text) => self.prompt = Some(text),
            Action::Toast(text) => self.toast(text, true),
        }
    }

    fn confirmed(&mut self, pending: Pending) {
        let c = self.console.clone();
        match pending {
            Pending::Reset(id) => self.spawn(async move {
                let result = c.reset(id).await.map(|o| {
                    format!(
                        "session {} reset (was {}); {} upload{} queued for deletion",
                        &id.to_string()[..8],
                        o.previous_status.as_str(),
                        o.uploads_queued_for_deletion,
                        if o.uploads_queued_for_deletion == 1 { "" } else { "s" }
                    )
                });
                Msg::Done(result, Reload::Sessions)
            }),
        }
    }

    /// Handle a result from a background task.
    pub fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::SessionsPage {
                generation,
                result,
                elapsed,
            } => match result {
                Ok(rows) => {
                    self.trace("page_query_ms", elapsed);
                    if let Some(a) = self.sessions.page_loaded(generation, rows) {
                        self.perform(a);
                    }
                }
                Err(e) => {
                    self.sessions.loading = false;
                    self.toast(format!("loading sessions failed: {e}"), true);
                }
            },
            Msg::SessionDetail(r) => match r {
                Ok(d) => self.sessions.detail = Some(d),
                Err(e) => self.toast(e, true),
            },
            Msg::AskReset(r) => match r {
                Ok((id, status, uploads)) => self.confirm = Some(ConfirmView::reset(id, &status, uploads, self.theme)),
                Err(e) => self.toast(e, true),
            },
            Msg::AuditLoaded { generation, result } => match result {
                Ok((rows, cursor)) => self.audit.loaded(generation, rows, cursor),
                Err(e) => self.toast(format!("loading audit events failed: {e}"), true),
            },
            Msg::AuditTail { generation, result } => {
                self.audit_polling = false;
                match result {
                    Ok((rows, cursor)) => self.audit.tail(generation, rows, cursor),
                    Err(e) => self.toast(format!("audit tail failed: {e}"), true),
                }
            }
            Msg::Header(h) => {
                self.header_loading = false;
                self.header = HeaderView { theme: self.theme, ..h };
            }
            Msg::Alerts(r) => match r {
                Ok(rows) => self.alerts.set_rows(rows),
                Err(e) => self.toast(format!("loading alerts failed: {e}"), true),
            },
            Msg::AlertDetail(r) => match r {
                Ok((a, events)) => self.alerts.detail = Some((a, events, 0)),
                Err(e) => self.toast(e, true),
            },
            Msg::Jobs(r) => match r {
                Ok(rows) => self.jobs.set_rows(rows),
                Err(e) => self.toast(format!("loading jobs failed: {e}"), true),
            },
            Msg::AuditHealth(r) => match r {
                Ok(health) => self.jobs.health = Some(health),
                Err(e) => self.toast(format!("loading webhook state failed: {e}"), true),
            },
            Msg::Done(result, reload) => {
                match result {
                    Ok(text) => self.toast(text, false),
                    Err(e) => self.toast(e, true),
                }
                match reload {
                    Reload::Sessions => {
                        self.perform(Action::LoadSessions);
                        if let Some(d) = &self.sessions.detail {
                            let id = d.session.id;
                            self.perform(Action::OpenSession(id));
                        }
                    }
                    Reload::Alerts => {
                        self.perform(Action::ReloadAlerts);
                        if let Some((a, _, _)) = &self.alerts.detail {
                            let id = a.id;
                            self.perform(Action::OpenAlert(id));
                        }
                    }
                }
                self.header_loading = false;
                self.last_counts = None;
                self.refresh();
            }
        }
    }

    /// Handle terminal input.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            Event::Resize(w, h) => self.resize(w, h),
            Event::Mouse(m) => {
                let command = match m.kind {
                    MouseEventKind::ScrollDown => Some(Command::Down),
                    MouseEventKind::ScrollUp => Some(Command::Up),
                    _ => None,
                };
                if let Some(c) = command
                    && self.confirm.is_none()
                    && !self.help
                    && self.prompt.is_none()
                {
                    self.view_command(c);
                }
            }
            _ => {}
        }
    }

    /// Handle a key.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(ratatui::crossterm::event::KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        if let Some(confirm) = self.confirm.take() {
            match confirm.answer(key.code) {
                Some(p) => self.confirmed(p),
                None => self.toast("cancelled: nothing was changed", false),
            }
            return;
        }
        if let Some(text) = &mut self.prompt {
            match key.code {
                KeyCode::Char(c) => text.push(c),
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Esc => self.prompt = None,
                KeyCode::Enter => {
                    let text = self.prompt.take().unwrap_or_default();
                    let action = match self.tab {
                        0 => self.sessions.apply_filter(&text),
                        1 => self.audit.apply_filter(&text),
                        2 => {
                            self.alerts.filter_text = text.trim().to_owned();
                            self.alerts.selected = 0;
                            None
                        }
                        _ => {
                            self.jobs.filter_text = text.trim().to_owned();
                            self.jobs.selected = 0;
                            None
                        }
                    };
                    if let Some(a) = action {
                        self.perform(a);
                    }
                }
                _ => {}
            }
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        let Some(command) = command_for(self.scope(), key) else {
            return;
        };
        match command {
            Command::Quit => self.quit = true,
            Command::Help => self.help = true,
            Command::NextTab => self.switch_tab((self.tab + 1) % TABS.len()),
            Command::PrevTab => self.switch_tab((self.tab + TABS.len() - 1) % TABS.len()),
            Command::Tab(i) => self.switch_tab(usize::from(i)),
            Command::ToggleTheme => self.set_theme(self.theme.toggled()),
            Command::Refresh => {
                self.perform(Action::LoadSessions);
                self.header_loading = false;
                self.last_counts = None;
                self.refresh();
            }
            other => self.view_command(other),
        }
    }

    fn view_command(&mut self, command: Command) {
        let action = match self.tab {
            0 => self.sessions.handle(command),
            1 => self.audit.handle(command),
            2 => self.alerts.handle(command),
            _ => self.jobs.handle(command),
        };
        if let Some(a) = action {
            self.perform(a);
        }
    }

    fn switch_tab(&mut self, tab: usize) {
        if tab != self.tab {
            self.tab = tab;
            if tab >= 2 {
                self.header_loading = false;
                self.last_counts = None;
                self.refresh();
            }
        }
    }

    /// Draw the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        let [header, tabs, body, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(area);
        frame.render_widget(&self.header, header);
        frame.render_widget(tabs_line(self.tab, &self.theme), tabs);
        match self.tab {
            0 => frame.render_widget(&self.sessions, body),
            1 => frame.render_widget(&self.audit, body),
            2 => frame.render_widget(&self.alerts, body),
            _ => frame.render_widget(&self.jobs, body),
        }
        let footer_text = if let Some(text) = &self.prompt {
            Line::from(vec![
                Span::styled(" / ", self.theme.key),
                Span::styled(format!("{text}█"), self.theme.text),
                Span::styled("  Enter apply · Esc cancel", self.theme.dim),
            ])
        } else if let Some(t) = &self.toast {
            Line::from(Span::styled(
                format!(" {}", t.text),
                if t.error { self.theme.critical } else { self.theme.ok },
            ))
        } else {
            footer_line(self.scope(), &self.theme)
        };
        frame.render_widget(footer_text, footer);
        if let Some(c) = &self.confirm {
            frame.render_widget(c, body);
        }
        if self.help {
            frame.render_widget(
                &HelpView {
                    scope: self.scope(),
                    theme: self.theme,
                },
                body,
            );
        }
    }

    /// Run until `q`: input comes from `input` (a crossterm reader thread, or a test's script),
    /// results from background tasks, and a tick every [`POLL`]. Each drawn screen is
    /// published on `screen` as text when given (tests wait on it).
    pub async fn run<B: ratatui::backend::Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        mut input: mpsc::UnboundedReceiver<Event>,
        screen: Option<watch::Sender<String>>,
    ) -> Result<(), B::Error> {
        let size = terminal.size()?;
        self.resize(size.width, size.height);
        self.start();
        let mut tick = tokio::time::interval(POLL);
        let mut first_frame = true;
        loop {
            let frame = terminal.draw(|f| self.draw(f))?;
            if let Some(s) = &screen {
                s.send_replace(buffer_text(frame.buffer));
            }
            if first_frame {
                first_frame = false;
                let t = self.since_start();
                self.trace("first_frame_ms", t);
            }
            if !self.first_page_traced && !self.sessions.rows.is_empty() {
                self.first_page_traced = true;
                let t = self.since_start();
                self.trace("first_page_frame_ms", t);
            }
            if self.quit {
                return Ok(());
            }
            tokio::select! {
                ev = input.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => self.quit = true,
                },
                Some(msg) = self.rx.recv() => self.on_msg(msg),
                _ = tick.tick() => self.tick(),
            }
            // Apply whatever else is ready before drawing again.
            while let Ok(msg) = self.rx.try_recv() {
                self.on_msg(msg);
            }
        }
    }
}

/// A buffer as plain text, one line per row (for tests and screen captures).
pub fn buffer_text(buf: &Buffer) -> String {
    let width = buf.area.width as usize;
    let mut out = String::new();
    for (i, cell) in buf.content().iter().enumerate() {
        out.push_str(cell.symbol());
        if (i + 1) % width == 0 {
            out.push('\n');
        }
    }
    out
}

//! The console's state and event loop. The loop is a `tokio::select!` over terminal input, a
//! frame tick and a channel fed by background tasks: every database query (one method of
//! [`Console`] each, in `ops.rs`) runs in a task and comes back as a [`Msg`], so drawing never
//! waits for the database. The live audit tail is an id-cursor poll every [`POLL`]. The app
//! routes: keys go to the active [`Tab`]'s view, the actions views return are run here, and
//! every view is drawn with the theme of the moment.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::{Frame, Terminal};
use sessiond_core::domain::SessionStatus;
use sessiond_core::store::alerts::Alert;
use sessiond_core::store::console::SessionSummary;
use sessiond_core::store::jobs::RunRequest;
use tokio::sync::{mpsc, watch};

use crate::fmt::Zone;
use crate::keymap::{Command, Scope, command_for};
use crate::ops::{
    AlertRecord, AuditHealth, AuditPage, Console, ConsoleError, HeaderFigures, JobOverview, ResetFacts, SessionRecord,
};
use crate::theme::Theme;
use crate::views::confirm::{ConfirmView, Pending};
use crate::views::header::{HeaderView, disconnected_lines, footer_line, tabs_line};
use crate::views::help::HelpView;
use crate::views::sessions::SessionDetail;
use crate::views::{Action, Tab, Tabs, Themed, View};
use sessiond_core::store::open::OpenError;

/// Audit tail poll interval (new events are on screen within one poll plus one frame).
pub const POLL: Duration = Duration::from_millis(250);
/// Header, alerts and jobs refresh interval.
pub const REFRESH: Duration = Duration::from_secs(5);
/// Session counts refresh interval: counting by status reads a whole index, so it is done
/// less often than the cheap header figures.
pub const COUNTS: Duration = Duration::from_secs(30);
/// How long a toast stays.
pub const TOAST: Duration = Duration::from_secs(4);
/// While the database is lost, how often the console tries it again.
pub const RETRY: Duration = Duration::from_secs(1);
/// A result from a background task.
#[derive(Debug)]
pub enum Msg {
    /// A session page.
    SessionsPage {
        /// The view's load it answers (older ones are dropped).
        generation: u64,
        /// The page.
        result: Result<Vec<SessionSummary>, ConsoleError>,
        /// How long the query took (for `SESSIONCTL_TRACE`).
        elapsed: Duration,
    },
    /// A session's detail.
    SessionDetail(Result<SessionRecord, ConsoleError>),
    /// Facts for the reset dialog.
    AskReset(Result<ResetFacts, ConsoleError>),
    /// Audit history for a filter: events newest first.
    AuditLoaded {
        /// The filter it was read for (answers for an older filter are dropped).
        generation: u64,
        /// The page.
        result: Result<AuditPage, ConsoleError>,
    },
    /// New audit events, oldest first.
    AuditTail {
        /// The filter it was read for.
        generation: u64,
        /// The page.
        result: Result<AuditPage, ConsoleError>,
    },
    /// Header figures, and whether sessions were counted this time (the database answered).
    Header(HeaderFigures, bool),
    /// The header's refresh found the database lost, and why.
    Disconnected(OpenError),
    /// The Alerts tab's rows.
    Alerts(Result<Vec<Alert>, ConsoleError>),
    /// An alert and its sample events.
    AlertDetail(Result<AlertRecord, ConsoleError>),
    /// The Jobs tab's rows.
    Jobs(Result<Vec<JobOverview>, ConsoleError>),
    /// Webhook deliveries and the audit chain's state (Jobs tab).
    AuditHealth(Result<AuditHealth, ConsoleError>),
    /// Each job's latest run request (Jobs tab).
    JobRequests(Result<Vec<RunRequest>, ConsoleError>),
    /// An action finished: toast text, and what to reload.
    Done(Result<String, ConsoleError>, Reload),
}

/// What to reload after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The session page (and the open detail).
    Sessions,
    /// The alerts.
    Alerts,
    /// The jobs.
    Jobs,
}

/// A toast in the footer.
#[derive(Debug, Clone)]
pub struct Toast {
    pub text: String,
    /// Error (red) or success (green).
    pub error: bool,
    /// When it goes away.
    pub until: Instant,
}

/// Where `y` puts text. The terminal's clipboard by default ([`osc52`] on stdout: it works
/// over SSH and, with `set-clipboard on`, in tmux); tests record it instead.
pub type Clipboard = Box<dyn FnMut(&str) -> std::io::Result<()> + Send>;

/// The OSC 52 sequence that puts `text` on the terminal's clipboard.
pub fn osc52(text: &str) -> String {
    use ratatui::crossterm::Command as _;
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = ratatui::crossterm::clipboard::CopyToClipboard::to_clipboard_from(text).write_ansi(&mut out);
    out
}

fn terminal_clipboard() -> Clipboard {
    Box::new(|text| {
        let mut out = std::io::stdout();
        out.write_all(osc52(text).as_bytes())?;
        out.flush()
    })
}

/// Start-up options of the console.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The theme to start with.
    pub theme: Theme,
    /// The zone times are shown in (`--utc`, `TZ`, the system's; see [`Zone::resolve`]).
    pub zone: Zone,
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
    pub tab: Tab,
    /// The tabs' views.
    pub tabs: Tabs,
    pub header: HeaderView,
    /// Help overlay shown.
    pub help: bool,
    /// Open confirmation.
    pub confirm: Option<ConfirmView>,
    /// Filter prompt text (open when `Some`).
    pub prompt: Option<String>,
    pub toast: Option<Toast>,
    /// What every view is drawn with (`t` toggles it).
    pub theme: Theme,
    /// Leave the loop.
    pub quit: bool,
    audit_polling: bool,
    header_loading: bool,
    last_refresh: Option<Instant>,
    last_counts: Option<Instant>,
    /// A load failed with the database unavailable: shown once the connection check finds
    /// the database there (a lost database is the header's to say, not a toast's).
    pending_error: Option<String>,
    trace: Option<Trace>,
    first_page_traced: bool,
    clipboard: Clipboard,
}

impl App {
    /// A console over `console`.
    pub fn new(console: Arc<Console>, options: Options) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let header = HeaderView {
            database: console.store.describe(),
            read_only: console.read_only,
            zone: options.zone,
            ..HeaderView::default()
        };
        let mut tabs = Tabs::default();
        tabs.sessions.zone = options.zone;
        tabs.audit.zone = options.zone;
        tabs.alerts.zone = options.zone;
        tabs.jobs.zone = options.zone;
        Self {
            console,
            tx,
            rx,
            tab: Tab::default(),
            tabs,
            header,
            help: false,
            confirm: None,
            prompt: None,
            toast: None,
            theme: options.theme,
            quit: false,
            audit_polling: false,
            header_loading: false,
            last_refresh: None,
            last_counts: None,
            pending_error: None,
            trace: None,
            first_page_traced: false,
            clipboard: terminal_clipboard(),
        }
    }

    /// Send `y`'s copies to `clipboard` instead of the terminal.
    pub fn set_clipboard(&mut self, clipboard: Clipboard) {
        self.clipboard = clipboard;
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

    /// The key scope in force.
    pub fn scope(&self) -> Scope {
        self.tabs.view(self.tab).scope()
    }

    /// Size the session page to a `width`×`height` terminal; reloads when it changed.
    pub fn resize(&mut self, _width: u16, height: u16) {
        // header 2 + tabs 1 + footer 1, then the table's title and header rows.
        let rows = u32::from(height.saturating_sub(6).max(1));
        if rows != self.tabs.sessions.page_size {
            self.tabs.sessions.page_size = rows;
            self.perform(Action::LoadSessions);
        }
    }

    /// Kick off the first loads.
    pub fn start(&mut self) {
        self.perform(Action::ReloadAudit);
        self.refresh();
    }

    /// Show a warning in the footer (e.g. a `TZ` the console could not read).
    pub fn warn(&mut self, text: impl Into<String>) {
        self.toast(text, true);
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

    /// Reload the header and what each view loads on a refresh (the active tab's data, and
    /// any tab's first load). The header's refresh checks the connection first; while the
    /// database is lost only that check runs, every [`RETRY`].
    pub fn refresh(&mut self) {
        self.last_refresh = Some(Instant::now());
        let disconnected = self.header.disconnected.is_some();
        if !self.header_loading {
            self.header_loading = true;
            let c = self.console.clone();
            let count = self.last_counts.is_none_or(|t| t.elapsed() >= COUNTS);
            if count {
                self.last_counts = Some(Instant::now());
            }
            self.spawn(async move {
                match c.check_connection(disconnected).await {
                    Ok(()) => Msg::Header(c.header_figures(Utc::now(), count).await, count),
                    Err(e) => Msg::Disconnected(e),
                }
            });
        }
        if disconnected {
            return;
        }
        for tab in Tab::ALL {
            if let Some(action) = self.tabs.view(tab).refresh(tab == self.tab) {
                self.perform(action);
            }
        }
    }

    /// Every [`POLL`]: poll the audit tail, expire toasts, refresh every [`REFRESH`].
    pub fn tick(&mut self) {
        if self.toast.as_ref().is_some_and(|t| Instant::now() >= t.until) {
            self.toast = None;
        }
        // Paused too: what arrives is held and counted ("+N new") for the resume.
        let disconnected = self.header.disconnected.is_some();
        let audit = &self.tabs.audit;
        if audit.loaded && !self.audit_polling && !disconnected {
            self.audit_polling = true;
            let c = self.console.clone();
            let generation = audit.generation;
            let filter = audit.query();
            let cursor = audit.cursor;
            self.spawn(async move {
                let result = c.audit_tail(filter, cursor).await;
                Msg::AuditTail { generation, result }
            });
        }
        let every = if disconnected { RETRY } else { REFRESH };
        if self.last_refresh.is_none_or(|t| t.elapsed() >= every) {
            self.refresh();
        }
    }

    /// A load failed. With the database unavailable the connection is checked at the next
    /// tick and the error waits for its answer (see `pending_error`); anything else is a toast.
    fn load_failed(&mut self, text: String, e: &ConsoleError) {
        if !e.is_unavailable() {
            self.toast(text, true);
        } else if self.header.disconnected.is_none() {
            self.pending_error = Some(text);
            self.last_refresh = None;
        }
    }

    /// The database answers again: reload what the views show (the audit history too, as
    /// the database may have been restored meanwhile) and count the sessions.
    fn reconnected(&mut self) {
        self.toast("reconnected to the database", false);
        self.perform(Action::LoadSessions);
        self.perform(Action::ReloadAudit);
        self.last_counts = None;
        self.refresh();
    }

    /// Run what a view asked for.
    pub fn perform(&mut self, action: Action) {
        let c = self.console.clone();
        match action {
            Action::LoadSessions => {
                let generation = self.tabs.sessions.begin_load();
                let q = self.tabs.sessions.query();
                self.spawn(async move {
                    let t0 = Instant::now();
                    let result = c.session_page(&q).await;
                    Msg::SessionsPage {
                        generation,
                        result,
                        elapsed: t0.elapsed(),
                    }
                });
            }
            Action::OpenSession(id) => self.spawn(async move { Msg::SessionDetail(c.session_record(id).await) }),
            Action::AskReset(id) => {
                if self.console.read_only {
                    self.toast(ConsoleError::ReadOnly.to_string(), true);
                    return;
                }
                self.spawn(async move { Msg::AskReset(c.reset_facts(id).await) });
            }
            Action::ReloadAudit => {
                let generation = self.tabs.audit.generation;
                let filter = self.tabs.audit.query();
                self.spawn(async move {
                    let result = c.audit_history(filter).await;
                    Msg::AuditLoaded { generation, result }
                });
            }
            Action::OpenAlert(id) => self.spawn(async move { Msg::AlertDetail(c.alert_record(id).await) }),
            Action::Acknowledge(id) => {
                if self.console.read_only {
                    self.toast(ConsoleError::ReadOnly.to_string(), true);
                    return;
                }
                self.spawn(async move {
                    let result = match c.acknowledge(id).await {
                        Ok(true) => Ok(format!("alert #{id} acknowledged")),
                        Ok(false) => Err(ConsoleError::AlertNotOpen(id)),
                        Err(e) => Err(e),
                    };
                    Msg::Done(result, Reload::Alerts)
                });
            }
            Action::Unacknowledge(id) => {
                if self.console.read_only {
                    self.toast(ConsoleError::ReadOnly.to_string(), true);
                    return;
                }
                self.spawn(async move {
                    let result = match c.unacknowledge(id).await {
                        Ok(true) => Ok(format!("alert #{id} is open again")),
                        Ok(false) => Err(ConsoleError::AlertNotAcknowledged(id)),
                        Err(e) => Err(e),
                    };
                    Msg::Done(result, Reload::Alerts)
                });
            }
            Action::AskRunJob(job) => {
                if self.console.read_only {
                    self.toast(ConsoleError::ReadOnly.to_string(), true);
                    return;
                }
                self.confirm = Some(ConfirmView::run_job(job));
            }
            Action::Copy(text) => match (self.clipboard)(&text) {
                Ok(()) => self.toast(format!("copied {text}"), false),
                Err(e) => self.toast(format!("cannot copy: {e}"), true),
            },
            Action::AuditFor(filter) => {
                self.switch_tab(Tab::Audit);
                self.tabs.audit.detail = None;
                if let Some(a) = self.tabs.audit.apply_filter(&filter) {
                    self.perform(a);
                }
            }
            Action::ShowSession(id) => {
                self.switch_tab(Tab::Sessions);
                self.perform(Action::OpenSession(id));
            }
            Action::ReloadAlerts => {
                let include_resolved = self.tabs.alerts.show_resolved;
                self.spawn(async move { Msg::Alerts(c.alerts(include_resolved).await) });
            }
            Action::ReloadJobs => {
                self.spawn(async move { Msg::Jobs(c.jobs(Utc::now(), 10).await) });
                let c = self.console.clone();
                self.spawn(async move { Msg::AuditHealth(c.audit_health().await) });
                let c = self.console.clone();
                self.spawn(async move { Msg::JobRequests(c.run_requests().await) });
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
                    if o.already_revoked {
                        // Revoked by someone else since the dialog opened.
                        return format!("session {} was already revoked: nothing changed", &id.to_string()[..8]);
                    }
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
            Pending::RunJob(job) => self.spawn(async move {
                let result = c.request_job_run(job).await.map(|(id, new)| {
                    if new {
                        format!("run of {job} requested (#{id}): a daemon with jobs enabled runs it within seconds")
                    } else {
                        format!("a run of {job} is already requested (#{id}); nothing added")
                    }
                });
                Msg::Done(result, Reload::Jobs)
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
                    if let Some(a) = self.tabs.sessions.page_loaded(generation, rows) {
                        self.perform(a);
                    }
                }
                Err(e) => {
                    self.tabs.sessions.load_failed();
                    self.load_failed(format!("loading sessions failed: {e}"), &e);
                }
            },
            Msg::SessionDetail(r) => match r {
                Ok(SessionRecord {
                    session,
                    uploads,
                    files,
                    events,
                }) => {
                    // A reload after an action keeps the pane's scroll.
                    let scroll = match &self.tabs.sessions.detail {
                        Some(d) if d.session.id == session.id => d.scroll,
                        _ => 0,
                    };
                    self.tabs.sessions.detail = Some(SessionDetail {
                        session,
                        uploads,
                        files,
                        events,
                        scroll,
                    })
                }
                Err(e) => self.toast(e.to_string(), true),
            },
            Msg::AskReset(r) => match r {
                Ok(f) if f.status == SessionStatus::Revoked => {
                    self.confirm = Some(ConfirmView::already_revoked(&f, self.tabs.sessions.zone))
                }
                Ok(f) => self.confirm = Some(ConfirmView::reset(f.id, f.status.as_str(), f.uploads)),
                Err(e) => self.toast(e.to_string(), true),
            },
            Msg::AuditLoaded { generation, result } => match result {
                Ok(page) => self.tabs.audit.loaded(generation, page.events, page.cursor),
                Err(e) => self.load_failed(format!("loading audit events failed: {e}"), &e),
            },
            Msg::AuditTail { generation, result } => {
                self.audit_polling = false;
                match result {
                    Ok(page) => self.tabs.audit.tail(generation, page.events, page.cursor),
                    Err(e) => self.load_failed(format!("audit tail failed: {e}"), &e),
                }
            }
            Msg::Header(figures, counted) => {
                self.header_loading = false;
                let reconnected = self.header.disconnected.is_some();
                self.header = HeaderView {
                    // A count that failed (the database going) keeps the last one.
                    counts: if counted {
                        figures.counts.or(self.header.counts)
                    } else {
                        self.header.counts
                    },
                    per_minute: figures.per_minute,
                    open_alerts: figures.open_alerts,
                    pending_deletions: figures.pending_deletions,
                    disconnected: None,
                    ..std::mem::take(&mut self.header)
                };
                self.tabs.audit.stale = false;
                if let Some(text) = self.pending_error.take() {
                    self.toast(text, true);
                }
                if reconnected {
                    self.reconnected();
                }
            }
            Msg::Disconnected(e) => {
                self.header_loading = false;
                self.pending_error = None;
                // The banner says it all: a success toast ("reconnected", "acknowledged") would
                // contradict it, and an error toast is most likely a load that failed as the
                // database went (shown when a check between them still passed), cut to a line.
                self.toast = None;
                self.header.disconnected = Some(e.to_string());
                self.tabs.audit.stale = true;
                // Counted again as soon as it is back.
                self.last_counts = None;
            }
            Msg::Alerts(r) => match r {
                Ok(rows) => self.tabs.alerts.set_rows(rows),
                Err(e) => self.load_failed(format!("loading alerts failed: {e}"), &e),
            },
            Msg::AlertDetail(r) => match r {
                Ok(AlertRecord { alert, events }) => self.tabs.alerts.detail = Some((alert, events, 0)),
                Err(e) => self.toast(e.to_string(), true),
            },
            Msg::Jobs(r) => match r {
                Ok(rows) => self.tabs.jobs.set_rows(rows),
                Err(e) => self.load_failed(format!("loading jobs failed: {e}"), &e),
            },
            Msg::AuditHealth(r) => match r {
                Ok(health) => self.tabs.jobs.health = Some(health),
                Err(e) => self.load_failed(format!("loading webhook state failed: {e}"), &e),
            },
            Msg::JobRequests(r) => match r {
                Ok(requests) => self.tabs.jobs.requests = requests,
                Err(e) => self.load_failed(format!("loading run requests failed: {e}"), &e),
            },
            Msg::Done(result, reload) => {
                match result {
                    Ok(text) => self.toast(text, false),
                    Err(e) => self.toast(e.to_string(), true),
                }
                match reload {
                    Reload::Sessions => {
                        self.perform(Action::LoadSessions);
                        if let Some(d) = &self.tabs.sessions.detail {
                            let id = d.session.id;
                            self.perform(Action::OpenSession(id));
                        }
                    }
                    Reload::Alerts => {
                        self.perform(Action::ReloadAlerts);
                        if let Some((a, _, _)) = &self.tabs.alerts.detail {
                            let id = a.id;
                            self.perform(Action::OpenAlert(id));
                        }
                    }
                    Reload::Jobs => self.perform(Action::ReloadJobs),
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
                None if confirm.pending.is_some() => self.toast("cancelled: nothing was changed", false),
                None => {}
            }
            return;
        }
        if let Some(text) = &mut self.prompt {
            // Readline's line keys: Ctrl-U clears, Ctrl-W drops the last word; no other Ctrl
            // chord types its letter.
            if key.modifiers.contains(KeyModifiers::CONTROL) {
                match key.code {
                    KeyCode::Char('u') => text.clear(),
                    KeyCode::Char('w') => {
                        let kept = text.trim_end().rfind(char::is_whitespace).map_or(0, |i| i + 1);
                        text.truncate(kept);
                    }
                    KeyCode::Char('c') => self.prompt = None,
                    _ => {}
                }
                return;
            }
            match key.code {
                KeyCode::Char(c) => text.push(c),
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Esc => self.prompt = None,
                KeyCode::Enter => {
                    let text = self.prompt.take().unwrap_or_default();
                    let action = self.tabs.view_mut(self.tab).apply_filter(&text);
                    // A filter that took clears the error a rejected one left in the footer.
                    if !matches!(action, Some(Action::Toast(_))) && self.toast.as_ref().is_some_and(|t| t.error) {
                        self.toast = None;
                    }
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
            Command::NextTab => self.switch_tab(self.tab.next()),
            Command::PrevTab => self.switch_tab(self.tab.prev()),
            Command::Tab(i) => {
                if let Some(tab) = Tab::at(usize::from(i)) {
                    self.switch_tab(tab);
                }
            }
            Command::ToggleTheme => self.theme = self.theme.toggled(),
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
        let action = self.tabs.view_mut(self.tab).handle(command);
        if let Some(a) = action {
            self.perform(a);
        }
    }

    /// Show `tab`; a tab that loads on refresh (alerts, jobs) is refreshed at once, with the
    /// header.
    fn switch_tab(&mut self, tab: Tab) {
        if tab != self.tab {
            self.tab = tab;
            if self.tabs.view(tab).refresh(true).is_some() {
                self.header_loading = false;
                self.last_counts = None;
                self.refresh();
            }
        }
    }

    /// Draw the whole screen.
    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        let lost = match &self.header.disconnected {
            Some(reason) => disconnected_lines(reason, area.width, &self.theme),
            None => Vec::new(),
        };
        let [header, tabs, body, banner, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(lost.len() as u16),
            Constraint::Length(1),
        ])
        .areas(area);
        frame.render_widget(ratatui::widgets::Paragraph::new(lost), banner);
        frame.render_widget(Themed(&self.header, &self.theme), header);
        frame.render_widget(tabs_line(self.tab, &self.theme), tabs);
        frame.render_widget(Themed(self.tabs.view(self.tab), &self.theme), body);
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
            frame.render_widget(Themed(c, &self.theme), body);
        }
        if self.help {
            frame.render_widget(Themed(&HelpView { scope: self.scope() }, &self.theme), body);
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
            if !self.first_page_traced && !self.tabs.sessions.rows.is_empty() {
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

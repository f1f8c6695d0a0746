//! One module per screen. A tab's view is a component ([`View`], as gitui's components and
//! ratatui's demo2 tabs): it owns its state, turns a [`crate::keymap::Command`] into an
//! [`Action`] for the app (or handles it itself), and draws itself with the theme the app
//! passes at draw time ([`Draw`]). The tabs are [`Tab`] (`crate::tab`); adding one is a variant
//! there, its arm in [`Tabs::view`] / [`Tabs::view_mut`], and its module (its digit key, tab
//! bar title and help line follow from [`Tab::ALL`]).

pub mod alerts;
pub mod audit;
pub mod confirm;
pub mod fit;
pub mod header;
pub mod help;
pub mod jobs;
pub mod sessions;
pub mod sort;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::widgets::Widget;
use sessiond_core::jobs::JobName;
use uuid::Uuid;

use crate::keymap::{Command, Scope};
use crate::theme::Theme;

pub use crate::tab::Tab;

/// Drawing with the theme of the moment: the app passes it at draw time, so toggling it is
/// one assignment and no view keeps a copy.
pub trait Draw {
    /// Draw into `area` of `buf`.
    fn draw(&self, area: Rect, buf: &mut Buffer, theme: &Theme);
}

/// A view with its theme, as a ratatui widget (`frame.render_widget(Themed(&view, &theme), area)`).
pub struct Themed<'a, V: ?Sized>(pub &'a V, pub &'a Theme);

impl<V: Draw + ?Sized> Widget for Themed<'_, V> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        self.0.draw(area, buf, self.1);
    }
}

/// A tab's view: its state, its input handling and its drawing.
pub trait View: Draw {
    /// The key scope in force (its detail pane has its own).
    fn scope(&self) -> Scope;
    /// React to a command: change its own state, or ask the app for an [`Action`].
    fn handle(&mut self, command: Command) -> Option<Action>;
    /// Apply what was typed at the `/` prompt.
    fn apply_filter(&mut self, text: &str) -> Option<Action>;
    /// What to load on a periodic refresh; `shown` when it is the active tab (a tab switch
    /// refreshes too). Views fed by their own actions load nothing here.
    fn refresh(&self, shown: bool) -> Option<Action> {
        let _ = shown;
        None
    }
}

/// The views of the tabs.
#[derive(Debug, Clone, Default)]
pub struct Tabs {
    /// Sessions tab.
    pub sessions: sessions::SessionsView,
    /// Audit tab.
    pub audit: audit::AuditView,
    /// Alerts tab.
    pub alerts: alerts::AlertsView,
    /// Jobs tab.
    pub jobs: jobs::JobsView,
}

impl Tabs {
    /// The view of `tab`.
    pub fn view(&self, tab: Tab) -> &dyn View {
        match tab {
            Tab::Sessions => &self.sessions,
            Tab::Audit => &self.audit,
            Tab::Alerts => &self.alerts,
            Tab::Jobs => &self.jobs,
        }
    }

    /// The view of `tab`, to change.
    pub fn view_mut(&mut self, tab: Tab) -> &mut dyn View {
        match tab {
            Tab::Sessions => &mut self.sessions,
            Tab::Audit => &mut self.audit,
            Tab::Alerts => &mut self.alerts,
            Tab::Jobs => &mut self.jobs,
        }
    }
}

/// What a view asks the app to do (the app owns the database and the background tasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fetch the session page the view now points at.
    LoadSessions,
    /// Load a session's detail.
    OpenSession(Uuid),
    /// Ask to confirm a session reset.
    AskReset(Uuid),
    /// Reload the audit view with its (new) filter.
    ReloadAudit,
    /// Load an alert's sample events.
    OpenAlert(i64),
    /// Acknowledge an alert (the app checks read-only).
    Acknowledge(i64),
    /// Put an acknowledged alert back to open (the app checks read-only).
    Unacknowledge(i64),
    /// Ask to confirm running a job now (the app checks read-only).
    AskRunJob(JobName),
    /// Copy this text (a UUID) to the clipboard.
    Copy(String),
    /// Show the Audit tab filtered by this `/` filter text.
    AuditFor(String),
    /// Show a session's detail in the Sessions tab.
    ShowSession(Uuid),
    /// Reload alerts.
    ReloadAlerts,
    /// Reload the jobs and the audit trail's health line.
    ReloadJobs,
    /// Open the filter prompt with this text.
    StartFilter(String),
    /// Show a message.
    Toast(String),
}

/// A rectangle of `width`×`height` centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

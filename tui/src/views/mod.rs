//! One module per screen. A view owns its state, turns a [`crate::keymap::Command`] into an
//! [`Action`] for the app (or handles it itself), and draws with `impl Widget for &View`.

pub mod alerts;
pub mod audit;
pub mod confirm;
pub mod header;
pub mod help;
pub mod jobs;
pub mod sessions;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use uuid::Uuid;

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
    /// Reload alerts.
    ReloadAlerts,
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

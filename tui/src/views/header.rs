//! The header (database, session counts, events per minute, open alerts, objects queued for
//! deletion), the tab bar and the
//! footer (main keys, the filter prompt, or a toast).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};
use sessiond_core::store::StatusCounts;
use sessiond_core::store::deletions::DeletionBacklog;

use super::{Draw, Tab};
use crate::fmt;
use crate::keymap::{Scope, footer_entries};
use crate::theme::Theme;

/// What the header shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderView {
    /// The database, password redacted.
    pub database: String,
    /// `--read-only`.
    pub read_only: bool,
    /// Sessions per status (None until loaded).
    pub counts: Option<StatusCounts>,
    /// Audit events per minute, oldest first (the last is the current minute).
    pub per_minute: Vec<u64>,
    /// Open alerts (None until loaded).
    pub open_alerts: Option<i64>,
    /// Objects queued for deletion (`pending_object_deletions`); shown while any wait.
    pub pending_deletions: Option<DeletionBacklog>,
}

impl Draw for HeaderView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let [top, bottom] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
        let mut spans = vec![
            Span::styled("sessionctl ", t.accent),
            Span::styled(self.database.clone(), t.text),
        ];
        if self.read_only {
            spans.push(Span::styled("  READ-ONLY", t.warning));
        }
        Line::from(spans).render(top, buf);
        let counts = match self.counts {
            Some(c) => format!(
                "active {}  revoked {}  expired {}",
                fmt::count(c.active),
                fmt::count(c.revoked),
                fmt::count(c.expired)
            ),
            None => "counting sessions…".into(),
        };
        let alerts = match self.open_alerts {
            Some(n) => (format!(" │ alerts {n} open"), if n > 0 { t.critical } else { t.text }),
            None => (" │ alerts …".into(), t.dim),
        };
        let current = self.per_minute.last().copied().unwrap_or(0);
        let mut spans = vec![Span::styled(counts, t.text), Span::styled(alerts.0, alerts.1)];
        if let Some(d) = self.pending_deletions.filter(|d| d.pending > 0) {
            let text = if d.failing > 0 {
                format!(" │ deletions {} pending, {} failing", d.pending, d.failing)
            } else {
                format!(" │ deletions {} pending", d.pending)
            };
            spans.push(Span::styled(text, if d.failing > 0 { t.warning } else { t.text }));
        }
        spans.push(Span::styled(format!(" │ ev/min {current:>4} "), t.text));
        let left = Line::from(spans);
        let lw = left.width() as u16;
        let [l, r] = Layout::horizontal([Constraint::Length(lw), Constraint::Fill(1)]).areas(bottom);
        left.render(l, buf);
        Sparkline::default()
            .data(
                self.per_minute
                    .iter()
                    .copied()
                    .rev()
                    .take(r.width as usize)
                    .rev()
                    .collect::<Vec<_>>(),
            )
            .style(t.accent)
            .render(r, buf);
    }
}

/// The tab bar.
pub fn tabs_line(active: Tab, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, tab) in Tab::ALL.into_iter().enumerate() {
        let name = tab.title();
        let style = if tab == active {
            theme.selected.patch(theme.accent)
        } else {
            theme.dim
        };
        spans.push(Span::styled(format!(" {} {name} ", i + 1), style));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// The footer's key hints for `scope`.
pub fn footer_line(scope: Scope, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (key, label) in footer_entries(scope) {
        spans.push(Span::styled(format!(" {key}"), theme.key));
        spans.push(Span::styled(format!(" {label} "), theme.dim));
    }
    Line::from(spans)
}

//! The Alerts tab: open and acknowledged alerts (resolved ones on request), sorted by any
//! column, `a` acknowledges and `u` takes it back, `Enter` shows the sample events that raised
//! the alert, `e` the subject's events in the Audit tab.

use std::cmp::Ordering;
use std::net::IpAddr;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, StatefulWidget, Table, TableState, Widget, Wrap};
use sessiond_core::audit::AuditEvent;
use sessiond_core::store::alerts::{Alert, AlertStatus};

use super::fit::{self, Column, Fitted};
use super::sort::{SortBy, SortColumn, Viewport, move_selection, render_scrolled, scroll};
use super::{Action, Draw, View};
use crate::fmt::{self, Zone};
use crate::keymap::{Command, Scope};
use crate::theme::Theme;

/// State of the Alerts tab.
#[derive(Debug, Clone, Default)]
pub struct AlertsView {
    /// Alerts as loaded.
    pub rows: Vec<Alert>,
    /// Loaded at least once.
    pub loaded: bool,
    /// Selected row (of the filtered rows).
    pub selected: usize,
    /// Show resolved alerts too.
    pub show_resolved: bool,
    /// `/` filter on rule or subject.
    pub filter_text: String,
    /// The open alert and its sample events.
    pub detail: Option<(Alert, Vec<AuditEvent>, u16)>,
    /// The order shown (by status, open first, unless `s`/`S` changed it).
    pub sort: SortBy<AlertColumn>,
    /// The table's height at its last draw.
    pub viewport: Viewport,
    /// The detail pane's extent at its last draw.
    pub detail_viewport: Viewport,
    /// The zone times are shown in.
    pub zone: Zone,
}

/// A column the Alerts tab sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertColumn {
    /// Alert id (newest first).
    Id,
    /// Open, acknowledged, resolved (ties: latest activity first, as the store lists them).
    #[default]
    Status,
    /// Critical first.
    Severity,
    /// Rule name.
    Rule,
    /// IP key, dependency or `*`.
    Subject,
    /// Matching events, most first.
    Count,
    /// Latest matching event, newest first.
    LastSeen,
}

impl SortColumn for AlertColumn {
    const ALL: &'static [Self] = &[
        AlertColumn::Id,
        AlertColumn::Status,
        AlertColumn::Severity,
        AlertColumn::Rule,
        AlertColumn::Subject,
        AlertColumn::Count,
        AlertColumn::LastSeen,
    ];

    fn descending_first(self) -> bool {
        !matches!(self, AlertColumn::Status | AlertColumn::Rule | AlertColumn::Subject)
    }
}

impl Default for SortBy<AlertColumn> {
    fn default() -> Self {
        SortBy::by(AlertColumn::Status)
    }
}

fn status_rank(s: AlertStatus) -> u8 {
    match s {
        AlertStatus::Open => 0,
        AlertStatus::Acknowledged => 1,
        AlertStatus::Resolved => 2,
    }
}

fn compare(column: AlertColumn, a: &Alert, b: &Alert) -> Ordering {
    match column {
        AlertColumn::Id => a.id.cmp(&b.id),
        AlertColumn::Status => status_rank(a.status).cmp(&status_rank(b.status)),
        AlertColumn::Severity => a.severity.cmp(&b.severity),
        AlertColumn::Rule => a.rule.cmp(&b.rule),
        AlertColumn::Subject => a.subject.cmp(&b.subject),
        AlertColumn::Count => a.count.cmp(&b.count),
        AlertColumn::LastSeen => a.last_seen_at.cmp(&b.last_seen_at),
    }
}

/// The Audit tab's `/` filter for an alert's events: its subject when that is one address,
/// otherwise (an IPv6 prefix, `*`, a dependency) the event type its rule watches.
pub fn audit_filter(a: &Alert) -> Result<String, String> {
    if a.subject.parse::<IpAddr>().is_ok() {
        return Ok(format!("ip={}", a.subject));
    }
    match sessiond_core::alerts::rule_event(&a.rule) {
        Some(event) => Ok(format!("type={event}")),
        None => Err(format!("alert #{}: no audit filter for rule `{}`", a.id, a.rule)),
    }
}

/// A status in at most 4 columns, for narrow tables.
fn short_status(s: AlertStatus) -> &'static str {
    match s {
        AlertStatus::Open => "open",
        AlertStatus::Acknowledged => "ack",
        AlertStatus::Resolved => "res",
    }
}

impl AlertsView {
    /// The rows passing the filter, in the order shown.
    pub fn visible(&self) -> Vec<&Alert> {
        let f = self.filter_text.to_lowercase();
        let mut rows: Vec<&Alert> = self
            .rows
            .iter()
            .filter(|a| f.is_empty() || a.rule.to_lowercase().contains(&f) || a.subject.to_lowercase().contains(&f))
            .collect();
        // Stable: ties keep the store's order (latest activity first).
        rows.sort_by(|a, b| self.sort.order(compare(self.sort.column, a, b)));
        rows
    }

    /// New rows. The selection follows the alert it was on (acknowledging reorders the list:
    /// keeping the row position would put the cursor on another alert, and a second `a` would
    /// acknowledge that one); when that alert is gone, it stays at the same position.
    pub fn set_rows(&mut self, rows: Vec<Alert>) {
        let was = self.visible().get(self.selected).map(|a| a.id);
        self.rows = rows;
        self.loaded = true;
        let visible = self.visible();
        self.selected = was
            .and_then(|id| visible.iter().position(|a| a.id == id))
            .unwrap_or_else(|| self.selected.min(visible.len().saturating_sub(1)));
    }

    fn draw_detail(&self, a: &Alert, events: &[AuditEvent], scroll: u16, area: Rect, buf: &mut Buffer, t: &Theme) {
        let field =
            |k: &'static str, v: String| Line::from(vec![Span::styled(format!("{k:<14}"), t.dim), Span::raw(v)]);
        let mut lines = vec![
            Line::from(Span::styled(
                format!(" Alert #{} {} · {}", a.id, a.rule, a.subject),
                t.accent,
            )),
            Line::from(vec![
                Span::styled(format!("{:<14}", "severity"), t.dim),
                Span::styled(a.severity.as_str(), t.severity(a.severity.as_str())),
                Span::raw("  "),
                Span::styled(a.status.as_str(), t.status(a.status.as_str())),
            ]),
            field("count", fmt::count(a.count)),
            field("first seen", self.zone.datetime(a.first_seen_at)),
            field("last seen", self.zone.datetime(a.last_seen_at)),
            field(
                "acknowledged",
                match (&a.acknowledged_by, a.acknowledged_at) {
                    (Some(by), Some(at)) => format!("{} by {by}", self.zone.datetime(at)),
                    _ => "—".into(),
                },
            ),
            Line::from(Span::styled(format!("Sample events ({})", events.len()), t.header)),
        ];
        if events.is_empty() {
            lines.push(Line::from(Span::styled(
                "  none recorded (or already deleted by retention)",
                t.dim,
            )));
        }
        for e in events {
            lines.push(Line::from(vec![
                Span::raw(format!("  #{} {} ", e.id, self.zone.datetime(e.occurred_at))),
                Span::styled(e.event_type.clone(), t.severity(&e.severity)),
                Span::styled(format!(" {} {}", e.ip.clone().unwrap_or_default(), e.metadata), t.dim),
            ]));
        }
        render_scrolled(lines, scroll, &self.detail_viewport, t.text, area, buf);
    }
}

impl View for AlertsView {
    fn apply_filter(&mut self, text: &str) -> Option<Action> {
        self.filter_text = text.trim().to_owned();
        self.selected = 0;
        None
    }

    fn refresh(&self, shown: bool) -> Option<Action> {
        (shown || !self.loaded).then_some(Action::ReloadAlerts)
    }

    fn scope(&self) -> Scope {
        if self.detail.is_some() {
            Scope::AlertDetail
        } else {
            Scope::Alerts
        }
    }

    fn handle(&mut self, command: Command) -> Option<Action> {
        if let Some((alert, _, offset)) = &mut self.detail {
            if scroll(offset, command, &self.detail_viewport) {
                return None;
            }
            match command {
                Command::Back => self.detail = None,
                Command::Acknowledge => return Some(Action::Acknowledge(alert.id)),
                Command::Unacknowledge => return Some(Action::Unacknowledge(alert.id)),
                Command::Events => return Some(audit_filter(alert).map_or_else(Action::Toast, Action::AuditFor)),
                _ => {}
            }
            return None;
        }
        let len = self.visible().len();
        if move_selection(&mut self.selected, len, command, self.viewport.page()) {
            return None;
        }
        let selected = self.visible().get(self.selected).map(|a| (*a).clone());
        match command {
            Command::Open => return selected.map(|a| Action::OpenAlert(a.id)),
            Command::Acknowledge => return selected.map(|a| Action::Acknowledge(a.id)),
            Command::Unacknowledge => return selected.map(|a| Action::Unacknowledge(a.id)),
            Command::Events => return selected.map(|a| audit_filter(&a).map_or_else(Action::Toast, Action::AuditFor)),
            Command::Filter => return Some(Action::StartFilter(self.filter_text.clone())),
            Command::ClearFilter if !self.filter_text.is_empty() => return self.apply_filter(""),
            Command::ToggleResolved => {
                self.show_resolved = !self.show_resolved;
                return Some(Action::ReloadAlerts);
            }
            Command::CycleSort | Command::ReverseSort => {
                self.sort = if command == Command::CycleSort {
                    self.sort.next_column()
                } else {
                    self.sort.reversed()
                };
                // The selection stays on its alert.
                let visible = self.visible();
                self.selected = selected
                    .and_then(|a| visible.iter().position(|v| v.id == a.id))
                    .unwrap_or(0);
            }
            _ => {}
        }
        None
    }
}

impl Draw for AlertsView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        if let Some((a, events, scroll)) = &self.detail {
            self.draw_detail(a, events, *scroll, area, buf, t);
            return;
        }
        let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        let visible = self.visible();
        let open = self.rows.iter().filter(|a| a.status == AlertStatus::Open).count();
        let mut items = vec![
            (Span::styled(" Alerts", t.accent), 100),
            (Span::styled(format!(" · {open} open"), t.text), 90),
            (Span::styled(format!(" · {} shown", visible.len()), t.text), 50),
            (
                Span::styled(
                    if self.show_resolved {
                        " · with resolved"
                    } else {
                        " · open + acknowledged"
                    },
                    t.dim,
                ),
                40,
            ),
        ];
        if !self.filter_text.is_empty() {
            items.push((Span::styled(format!(" · filter {}", self.filter_text), t.warning), 80));
        }
        fit::line(items, title.width).render(title, buf);
        if visible.is_empty() {
            let text = if !self.loaded {
                "Loading…"
            } else if self.filter_text.is_empty() {
                "No alerts. The alert_detection job raises them from the audit log (UUID probing, rate-limit abuse, upload abuse, error spikes, dependencies down)."
            } else {
                "No alert matches the filter."
            };
            Paragraph::new(text)
                .style(t.dim)
                .wrap(Wrap { trim: true })
                .render(body, buf);
            return;
        }
        // Columns, widest form first; the lowest `keep` gives way first (see `fit`): status and
        // severity shorten (`ack`, `WARN`), the date goes, then the id, the severity and the
        // time; the subject, the count and the rule stay longest.
        let z = self.zone;
        let label = z.label(visible.iter().map(|a| a.last_seen_at));
        let fitted = Fitted::new(
            self.sort.mark(vec![
                Column::new("id", fit::widest(visible.iter().map(|a| a.id.to_string())), 45),
                Column::new("status", fit::widest(visible.iter().map(|a| a.status.as_str())), 20).or("st", 4, 75),
                Column::new("severity", 8, 30).or("sev", 4, 50),
                Column::new("rule", fit::widest(visible.iter().map(|a| a.rule.as_str())), 80),
                Column::fill(
                    "subject",
                    15,
                    fit::widest(visible.iter().map(|a| a.subject.as_str())),
                    90,
                ),
                Column::new("count", fit::widest(visible.iter().map(|a| fmt::count(a.count))), 85),
                Column::new(format!("last seen ({label})"), 11, 35).or(label, 5, 55),
            ]),
            body.width,
        );
        let rows = visible.iter().map(|a| {
            let status = t.status(a.status.as_str());
            let severity = t.severity(a.severity.as_str());
            fitted.row(|i, f| {
                let w = usize::from(f.width);
                match i {
                    0 => Cell::from(format!("{:>w$}", a.id)),
                    1 if f.form == 0 => Cell::from(Span::styled(a.status.as_str(), status)),
                    1 => Cell::from(Span::styled(short_status(a.status), status)),
                    2 if f.form == 0 => Cell::from(Span::styled(a.severity.as_str(), severity)),
                    2 => Cell::from(Span::styled(
                        match a.severity.as_str() {
                            "critical" => "CRIT",
                            "warning" => "WARN",
                            _ => "info",
                        },
                        severity,
                    )),
                    3 => Cell::from(a.rule.clone()),
                    4 => Cell::from(fmt::clip(&a.subject, w)),
                    5 => Cell::from(format!("{:>w$}", fmt::count(a.count))),
                    _ if f.form == 0 => Cell::from(z.short(a.last_seen_at.timestamp_millis())),
                    _ => Cell::from(z.hour_minute(a.last_seen_at.timestamp_millis())),
                }
            })
        });
        let table = Table::new(rows, fitted.widths())
            .header(fitted.header().style(t.header))
            .style(t.text)
            .row_highlight_style(t.selected);
        self.viewport.set(body.height.saturating_sub(1), 0);
        let mut state = TableState::default().with_selected(Some(self.selected));
        StatefulWidget::render(table, body, buf, &mut state);
    }
}

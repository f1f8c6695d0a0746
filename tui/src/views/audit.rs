//! The Audit tab: a live tail of every daemon's events (id-cursor polling by the app), pause
//! (events keep arriving and are counted, "+N new", and shown on resume), filters (type,
//! severity, session, IP), hiding routine system events, sorting of the loaded events, and an
//! event's full metadata.

use std::cmp::Ordering;
use std::collections::VecDeque;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, StatefulWidget, Table, TableState, Widget, Wrap};
use sessiond_core::audit::{AuditEvent, AuditQuery, Severity};

use super::fit::{self, Column, Fitted};
use super::sort::{SortBy, SortColumn, Viewport, move_selection, render_scrolled, scroll};
use super::{Action, Draw, View};
use crate::fmt::{self, Zone};
use crate::keymap::{Command, Scope};
use crate::theme::Theme;

/// Events kept in memory (older ones scroll away).
pub const KEEP: usize = 2000;

/// State of the Audit tab.
#[derive(Debug, Clone, Default)]
pub struct AuditView {
    /// Events, newest first.
    pub rows: VecDeque<AuditEvent>,
    /// Selected row.
    pub selected: usize,
    /// Tail paused.
    pub paused: bool,
    /// The database is lost: the tail is not following (the header says why).
    pub stale: bool,
    /// Active filter: a query with only its filter fields set.
    pub filter: AuditQuery,
    /// What was typed at `/`.
    pub filter_text: String,
    /// Highest id seen; the tail asks for ids above it.
    pub cursor: i64,
    /// Generation of the current filter (answers for an older one are dropped).
    pub generation: u64,
    /// Initial page loaded.
    pub loaded: bool,
    /// The event whose metadata is open, and the pane's scroll.
    pub detail: Option<(AuditEvent, u16)>,
    /// The order shown (newest first unless `s`/`S` changed it).
    pub sort: SortBy<AuditColumn>,
    /// Events that arrived while paused, shown on resume (at most [`KEEP`]).
    pub held: Vec<AuditEvent>,
    /// How many events arrived while paused (the title's "+N new").
    pub held_count: usize,
    /// The table's height at its last draw.
    pub viewport: Viewport,
    /// The metadata pane's extent at its last draw.
    pub detail_viewport: Viewport,
    /// Routine system events (`job.completed` …) are left out (`.` toggles).
    pub hide_system: bool,
    /// The zone times are shown in.
    pub zone: Zone,
}

/// A column the Audit tab sorts its loaded events by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditColumn {
    /// Event id: the order events were committed (newest first by default).
    #[default]
    Id,
    /// When it happened.
    Time,
    /// Severity, critical first.
    Severity,
    /// Event type.
    Type,
    /// Session UUID.
    Session,
    /// Actor.
    Actor,
    /// IP.
    Ip,
}

impl SortColumn for AuditColumn {
    const ALL: &'static [Self] = &[
        AuditColumn::Id,
        AuditColumn::Time,
        AuditColumn::Severity,
        AuditColumn::Type,
        AuditColumn::Session,
        AuditColumn::Actor,
        AuditColumn::Ip,
    ];

    fn descending_first(self) -> bool {
        matches!(self, AuditColumn::Id | AuditColumn::Time | AuditColumn::Severity)
    }
}

impl Default for SortBy<AuditColumn> {
    fn default() -> Self {
        SortBy::by(AuditColumn::Id)
    }
}

fn compare(column: AuditColumn, a: &AuditEvent, b: &AuditEvent) -> Ordering {
    match column {
        AuditColumn::Id => a.id.cmp(&b.id),
        AuditColumn::Time => (a.occurred_at, a.id).cmp(&(b.occurred_at, b.id)),
        AuditColumn::Severity => Severity::parse(&a.severity).cmp(&Severity::parse(&b.severity)),
        AuditColumn::Type => a.event_type.cmp(&b.event_type),
        AuditColumn::Session => a.session_id.cmp(&b.session_id),
        AuditColumn::Actor => a.actor.cmp(&b.actor),
        AuditColumn::Ip => a.ip.cmp(&b.ip),
    }
}

/// Parse the `/` filter: space-separated tokens, each a severity, an event type, a session
/// UUID or an IP (`key=value` forms `type=`, `severity=`, `session=`, `ip=` also work); unknown
/// values are errors ([`crate::filter::audit_filter`], shared with the subcommands' flags).
pub fn parse_filter(text: &str) -> Result<AuditQuery, String> {
    crate::filter::audit_filter(text).map_err(|e| e.to_string())
}

impl AuditView {
    /// What the view reads: its filter, and whether routine system events are left out.
    pub fn query(&self) -> AuditQuery {
        AuditQuery {
            hide_routine_system: self.hide_system,
            ..self.filter.clone()
        }
    }

    /// Read again from the newest event (a new filter, or system events hidden or shown).
    fn reload(&mut self) -> Option<Action> {
        self.generation += 1;
        self.loaded = false;
        self.rows.clear();
        self.held.clear();
        self.held_count = 0;
        self.selected = 0;
        Some(Action::ReloadAudit)
    }

    /// The history page for the current filter arrived (newest first); `cursor` is the
    /// highest id that existed when it was read.
    pub fn loaded(&mut self, generation: u64, rows: Vec<AuditEvent>, cursor: i64) {
        if generation != self.generation {
            return;
        }
        self.rows = rows.into();
        self.cursor = cursor.max(self.rows.front().map_or(0, |e| e.id));
        self.selected = 0;
        self.loaded = true;
        self.held.clear();
        self.held_count = 0;
    }

    /// The loaded events in the order shown.
    pub fn ordered(&self) -> Vec<&AuditEvent> {
        let mut rows: Vec<&AuditEvent> = self.rows.iter().collect();
        if self.sort != SortBy::default() {
            // Stable: ties stay newest first.
            rows.sort_by(|a, b| self.sort.order(compare(self.sort.column, a, b)));
        }
        rows
    }

    /// The selected event.
    pub fn selected_event(&self) -> Option<&AuditEvent> {
        self.ordered().get(self.selected).copied()
    }

    /// Put the selection on event `id` (or keep its position when it is gone).
    fn select_id(&mut self, id: Option<i64>) {
        let ordered = self.ordered();
        self.selected = id
            .and_then(|id| ordered.iter().position(|e| e.id == id))
            .unwrap_or(self.selected)
            .min(ordered.len().saturating_sub(1));
    }

    /// Whether `id` is already shown or held (PostgreSQL tails look back a little for late
    /// commits, so an event can come twice).
    fn known(&self, id: i64) -> bool {
        self.rows.iter().take(512).any(|r| r.id == id) || self.held.iter().rev().take(512).any(|r| r.id == id)
    }

    /// Insert events in id order (a late commit lands where it belongs) and keep [`KEEP`].
    fn insert(&mut self, events: Vec<AuditEvent>) {
        for e in events {
            let pos = self.rows.iter().position(|r| r.id < e.id).unwrap_or(self.rows.len());
            self.rows.insert(pos, e);
        }
        self.rows.truncate(KEEP);
    }

    /// New events from the tail (oldest first), and the new cursor. While paused they are
    /// held and counted; otherwise they are shown, and the selection stays on its event
    /// (or on the newest one, when it was there in the default order).
    pub fn tail(&mut self, generation: u64, events: Vec<AuditEvent>, cursor: i64) {
        if generation != self.generation || !self.loaded {
            return;
        }
        self.cursor = self.cursor.max(cursor);
        let fresh: Vec<AuditEvent> = events.into_iter().filter(|e| !self.known(e.id)).collect();
        if self.paused {
            self.held_count += fresh.len();
            self.held.extend(fresh);
            let over = self.held.len().saturating_sub(KEEP);
            self.held.drain(..over);
            return;
        }
        let follow = self.selected == 0 && self.detail.is_none() && self.sort == SortBy::default();
        let was = self.selected_event().map(|e| e.id);
        self.insert(fresh);
        if follow {
            self.selected = 0;
        } else {
            self.select_id(was);
        }
    }

    /// `p`: pause, or resume and show what arrived meanwhile, the newest of it selected.
    fn toggle_pause(&mut self) {
        if !self.paused {
            self.paused = true;
            return;
        }
        self.paused = false;
        self.held_count = 0;
        let held = std::mem::take(&mut self.held);
        let newest = held.iter().map(|e| e.id).max();
        if newest.is_some() {
            self.insert(held);
            self.select_id(newest);
        }
    }

    fn draw_detail(&self, e: &AuditEvent, scroll: u16, area: Rect, buf: &mut Buffer, t: &Theme) {
        let field =
            |k: &'static str, v: String| Line::from(vec![Span::styled(format!("{k:<12}"), t.dim), Span::raw(v)]);
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
        let mut lines = vec![
            Line::from(Span::styled(format!(" Audit event #{}", e.id), t.accent)),
            field("occurred", self.zone.datetime(e.occurred_at)),
            field("type", e.event_type.clone()),
            Line::from(vec![
                Span::styled(format!("{:<12}", "severity"), t.dim),
                Span::styled(e.severity.clone(), t.severity(&e.severity)),
            ]),
            field("session", e.session_id.map_or_else(|| "—".into(), |s| s.to_string())),
            field("ip", opt(&e.ip)),
            field("user agent", opt(&e.user_agent)),
            field("request id", opt(&e.request_id)),
            field("actor", e.actor.clone()),
            Line::from(Span::styled("metadata", t.header)),
        ];
        let pretty = serde_json::to_string_pretty(&e.metadata).unwrap_or_else(|_| e.metadata.to_string());
        lines.extend(pretty.lines().map(|l| Line::from(format!("  {l}"))));
        render_scrolled(lines, scroll, &self.detail_viewport, t.text, area, buf);
    }
}

impl View for AuditView {
    fn scope(&self) -> Scope {
        if self.detail.is_some() {
            Scope::Detail
        } else {
            Scope::Audit
        }
    }

    fn handle(&mut self, command: Command) -> Option<Action> {
        if let Some((_, offset)) = &mut self.detail {
            if scroll(offset, command, &self.detail_viewport) {
                return None;
            }
        } else if move_selection(&mut self.selected, self.rows.len(), command, self.viewport.page()) {
            return None;
        }
        // What the command is about: the open event, or the selected row.
        let event = match &self.detail {
            Some((e, _)) => Some(e.clone()),
            None => self.selected_event().cloned(),
        };
        match command {
            Command::OpenSession | Command::Copy => {
                let e = event?;
                let Some(session) = e.session_id else {
                    return Some(Action::Toast(format!("event #{} has no session", e.id)));
                };
                return Some(if command == Command::Copy {
                    Action::Copy(session.to_string())
                } else {
                    Action::ShowSession(session)
                });
            }
            Command::Back if self.detail.is_some() => self.detail = None,
            _ if self.detail.is_some() => {}
            Command::Open => self.detail = event.map(|e| (e, 0)),
            Command::Pause => self.toggle_pause(),
            Command::Filter => return Some(Action::StartFilter(self.filter_text.clone())),
            Command::ClearFilter if !self.filter_text.is_empty() => return self.apply_filter(""),
            Command::CycleSort | Command::ReverseSort => {
                let was = event.map(|e| e.id);
                self.sort = if command == Command::CycleSort {
                    self.sort.next_column()
                } else {
                    self.sort.reversed()
                };
                self.select_id(was);
            }
            Command::ToggleSystem => {
                self.hide_system = !self.hide_system;
                return self.reload();
            }
            _ => {}
        }
        None
    }

    fn apply_filter(&mut self, text: &str) -> Option<Action> {
        match parse_filter(text) {
            Ok(f) => {
                self.filter = f;
                self.filter_text = text.trim().to_owned();
                self.reload()
            }
            Err(e) => Some(Action::Toast(e)),
        }
    }
}

impl Draw for AuditView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        if let Some((e, scroll)) = &self.detail {
            self.draw_detail(e, *scroll, area, buf, t);
            return;
        }
        let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        let mut items = vec![
            (Span::styled(" Audit", t.accent), 100),
            (Span::styled(format!(" · {} events", self.rows.len()), t.text), 50),
            if self.stale {
                (Span::styled(" · STALE (database lost)", t.critical), 95)
            } else if self.paused && self.held_count > 0 {
                (
                    Span::styled(
                        format!(" · PAUSED +{} new (p resumes)", fmt::count(self.held_count as i64)),
                        t.warning,
                    ),
                    90,
                )
            } else if self.paused {
                (Span::styled(" · PAUSED (p resumes)", t.warning), 90)
            } else {
                (Span::styled(" · live", t.ok), 90)
            },
        ];
        if !self.filter_text.is_empty() {
            items.push((Span::styled(format!(" · filter {}", self.filter_text), t.warning), 80));
        }
        if self.hide_system {
            items.push((Span::styled(" · system events hidden (. shows)", t.warning), 85));
        }
        fit::line(items, title.width).render(title, buf);
        if self.rows.is_empty() {
            let text = if !self.loaded {
                "Loading…"
            } else if self.filter_text.is_empty() && !self.hide_system {
                "No audit events yet. Every API call and refusal is recorded here as it happens."
            } else if self.filter_text.is_empty() {
                "No event yet but routine system events, which are hidden (. shows them); new ones appear as they happen."
            } else {
                "No event matches the filter yet; new ones appear as they happen. Press / to change it."
            };
            Paragraph::new(text)
                .style(t.dim)
                .wrap(Wrap { trim: true })
                .render(body, buf);
            return;
        }
        // Columns, widest form first; the lowest `keep` gives way first (see `fit`): the date
        // goes, then the IP, the id, the actor, the severity and the session; the time and
        // the type stay longest. Widths come from the values, so no id is ever cut.
        let z = self.zone;
        let label = z.label(self.rows.iter().map(|e| e.occurred_at));
        let ips = fit::widest(self.rows.iter().map(|e| e.ip.as_deref().unwrap_or("")));
        let fitted = Fitted::new(
            self.sort.mark(vec![
                Column::new("id", fit::widest(self.rows.iter().map(|e| e.id.to_string())), 40),
                Column::new(format!("time ({label})"), 14, 20).or(format!("time ({label})"), 8, 95),
                Column::new("sev", 4, 60),
                Column::new(
                    "type",
                    fit::widest(self.rows.iter().map(|e| e.event_type.as_str())),
                    100,
                ),
                Column::new("session", 8, 70),
                Column::new(
                    "actor",
                    fit::widest(self.rows.iter().map(|e| e.actor.as_str())).min(16),
                    50,
                ),
                Column::fill("ip", ips.min(15), ips, 30),
            ]),
            body.width,
        );
        let rows = self.ordered().into_iter().map(|e| {
            let sev = match e.severity.as_str() {
                "critical" => "CRIT",
                "warning" => "WARN",
                _ => "info",
            };
            fitted.row(|i, f| {
                let w = usize::from(f.width);
                match i {
                    0 => Cell::from(format!("{:>w$}", e.id)),
                    1 => Cell::from(if f.form == 0 {
                        z.day_time(e.occurred_at)
                    } else {
                        z.time(e.occurred_at)
                    }),
                    2 => Cell::from(Span::styled(sev, t.severity(&e.severity))),
                    3 => Cell::from(Span::styled(e.event_type.clone(), t.severity(&e.severity))),
                    4 => Cell::from(e.session_id.map(|s| s.to_string()[..8].to_owned()).unwrap_or_default()),
                    5 => Cell::from(fmt::clip(&e.actor, w)),
                    _ => Cell::from(fmt::clip(e.ip.as_deref().unwrap_or(""), w)),
                }
            })
        });
        let table = Table::new(rows, fitted.widths())
            .header(fitted.header().style(t.header))
            .style(t.text)
            .row_highlight_style(t.selected);
        // The table's header takes a row.
        self.viewport.set(body.height.saturating_sub(1), 0);
        let mut state = TableState::default().with_selected(Some(self.selected));
        StatefulWidget::render(table, body, buf, &mut state);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filter_tokens_are_recognised_by_shape() {
        let f = super::parse_filter("warning session.reset 10.0.0.1").expect("valid");
        assert_eq!(f.severity, Some(sessiond_core::audit::Severity::Warning));
        assert_eq!(f.event_type.as_deref(), Some("session.reset"));
        assert_eq!(f.ip.as_deref(), Some("10.0.0.1"));
        let f = super::parse_filter("session=1b4e28ba-2fa1-41d2-883f-0016d3cca427").expect("valid");
        assert!(f.session_id.is_some());
        assert!(super::parse_filter("nonsense").is_err());
        assert!(super::parse_filter("severity=loud").is_err());
        assert_eq!(super::parse_filter("").expect("empty"), Default::default());
    }
}

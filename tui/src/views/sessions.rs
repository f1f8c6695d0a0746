//! The Sessions tab: a keyset-paged table (only the visible page is fetched), the `/` filter
//! (UUID prefix or IP), status filter and sort, and a session's detail pane.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, StatefulWidget, Table, TableState, Widget, Wrap};
use sessiond_core::audit::AuditEvent;
use sessiond_core::domain::{Session, SessionStatus, from_millis};
use sessiond_core::store::console::{
    SessionCursor, SessionFilter, SessionPageQuery, SessionSort, SessionSummary, UploadSummary,
};

use super::fit::{self, Column, Fitted};
use super::{Action, Draw, View};
use crate::filter::SessionMatch;
use crate::fmt::{self, Zone};
use crate::keymap::{Command, Scope};
use crate::ops::FilesState;
use crate::theme::Theme;

/// A session with its uploads and audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionDetail {
    /// The row.
    pub session: Session,
    /// Its uploads.
    pub uploads: Vec<UploadSummary>,
    /// What became of the uploads' files.
    pub files: FilesState,
    /// Its audit events, newest first.
    pub events: Vec<AuditEvent>,
    /// Scroll offset of the pane.
    pub scroll: u16,
}

/// State of the Sessions tab.
#[derive(Debug, Clone, Default)]
pub struct SessionsView {
    /// The visible page.
    pub rows: Vec<SessionSummary>,
    /// Selected row of the page.
    pub selected: usize,
    /// What was typed at `/`.
    pub filter_text: String,
    /// Active filter.
    pub filter: SessionFilter,
    /// Chosen order.
    pub sort: SessionSort,
    /// Start of the visible page (`None` = first page).
    pub page_start: Option<SessionCursor>,
    /// Starts of the pages before it (for going back).
    pub back: Vec<Option<SessionCursor>>,
    /// Rows per page (the table's height).
    pub page_size: u32,
    /// A page request is in flight.
    pub loading: bool,
    /// Generation of the latest request (older answers are dropped).
    pub generation: u64,
    /// After going back a page, select its last row.
    pub select_last: bool,
    /// The open detail pane.
    pub detail: Option<SessionDetail>,
    /// The zone times are shown in.
    pub zone: Zone,
}

/// The list's upload count: a session that is no longer active has had its files deleted
/// (or queued for deletion) and keeps only the records, so its count is marked `del`.
fn uploads_cell(r: &SessionSummary) -> String {
    if r.status != SessionStatus::Active && r.uploads > 0 {
        format!("{} del", fmt::count(r.uploads))
    } else {
        fmt::count(r.uploads)
    }
}

impl SessionsView {
    /// The query for the page the view points at.
    pub fn query(&self) -> SessionPageQuery {
        SessionPageQuery {
            filter: self.filter.clone(),
            sort: self.sort,
            after: self.page_start,
            limit: self.page_size.max(1),
        }
    }

    /// The selected session.
    pub fn selected_row(&self) -> Option<&SessionSummary> {
        self.rows.get(self.selected)
    }

    /// Start a new request; returns its generation.
    pub fn begin_load(&mut self) -> u64 {
        self.generation += 1;
        self.loading = true;
        self.generation
    }

    /// A page arrived. Returns an action when the view wants another one (an empty page past
    /// the end goes back to the last full page).
    pub fn page_loaded(&mut self, generation: u64, rows: Vec<SessionSummary>) -> Option<Action> {
        if generation != self.generation {
            return None;
        }
        self.loading = false;
        if rows.is_empty() && !self.back.is_empty() {
            self.page_start = self.back.pop().flatten();
            self.select_last = true;
            return Some(Action::LoadSessions);
        }
        self.rows = rows;
        self.selected = if self.select_last {
            self.rows.len().saturating_sub(1)
        } else {
            self.selected.min(self.rows.len().saturating_sub(1))
        };
        self.select_last = false;
        None
    }

    fn restart(&mut self) -> Option<Action> {
        self.back.clear();
        self.page_start = None;
        self.selected = 0;
        Some(Action::LoadSessions)
    }

    fn next_page(&mut self) -> Option<Action> {
        let last = self.rows.last()?;
        if self.rows.len() < self.page_size as usize {
            return None;
        }
        let sort = self.query().effective_sort();
        self.back.push(self.page_start);
        self.page_start = Some(last.cursor(sort));
        Some(Action::LoadSessions)
    }

    fn prev_page(&mut self, select_last: bool) -> Option<Action> {
        let start = self.back.pop()?;
        self.page_start = start;
        self.select_last = select_last;
        Some(Action::LoadSessions)
    }

    fn title(&self, t: &Theme, width: u16) -> Line<'static> {
        let mut items = vec![
            (Span::styled(" Sessions", t.accent), 100),
            (Span::styled(format!(" · page {}", self.back.len() + 1), t.text), 60),
            (
                Span::styled(format!(" · sort {}", self.query().effective_sort().label()), t.text),
                50,
            ),
            (
                Span::styled(
                    format!(" · status {}", self.filter.status.map_or("all", SessionStatus::as_str)),
                    t.text,
                ),
                70,
            ),
        ];
        if !self.filter_text.is_empty() {
            items.push((Span::styled(format!(" · filter {}", self.filter_text), t.warning), 80));
        }
        if self.loading {
            items.push((Span::styled(" · loading…", t.dim), 30));
        }
        fit::line(items, width)
    }

    fn draw_detail(&self, d: &SessionDetail, area: Rect, buf: &mut Buffer, t: &Theme) {
        let s = &d.session;
        let z = self.zone;
        let field =
            |k: &'static str, v: String| Line::from(vec![Span::styled(format!("{k:<12}"), t.dim), Span::raw(v)]);
        let mut lines = vec![
            Line::from(Span::styled(format!(" Session {}", s.id), t.accent)),
            field("status", s.status.as_str().into()),
            field("created", z.datetime(s.created_at)),
            field("last seen", z.datetime(s.last_seen_at)),
            field("ended", s.ended_at.map(|e| z.datetime(e)).unwrap_or_else(|| "—".into())),
            field("ended by", s.ended_by.clone().unwrap_or_else(|| "—".into())),
            field("created ip", s.created_ip.clone().unwrap_or_else(|| "—".into())),
            field("last ip", s.last_ip.clone().unwrap_or_else(|| "—".into())),
            field(
                "user info",
                s.user_info.as_ref().map_or_else(|| "—".into(), |v| v.to_string()),
            ),
            Line::from(vec![
                Span::styled(format!("Uploads ({})", d.uploads.len()), t.header),
                match (&d.files, d.uploads.is_empty()) {
                    (_, true) | (FilesState::Stored, _) => Span::raw(""),
                    (FilesState::Deleted, _) => Span::styled(" · files deleted; the records stay", t.dim),
                    (
                        FilesState::Queued {
                            since,
                            attempts,
                            last_error,
                        },
                        _,
                    ) => Span::styled(
                        match (attempts, last_error) {
                            (0, _) | (_, None) => {
                                format!(" · files queued for deletion since {}", z.datetime(*since))
                            }
                            (n, Some(e)) => format!(
                                " · files queued for deletion since {}; {n} failed attempt{}: {e}",
                                z.datetime(*since),
                                if *n == 1 { "" } else { "s" }
                            ),
                        },
                        t.warning,
                    ),
                },
            ]),
        ];
        if d.uploads.is_empty() {
            lines.push(Line::from(Span::styled("  no uploads", t.dim)));
        }
        let marker = match d.files {
            FilesState::Stored => Span::raw(""),
            FilesState::Queued { .. } => Span::styled("  deletion queued", t.warning),
            FilesState::Deleted => Span::styled("  deleted", t.dim),
        };
        for u in &d.uploads {
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "  {}  {:>9} B  {}",
                    z.datetime_ms(u.created_at),
                    fmt::count(u.size),
                    u.filename
                )),
                marker.clone(),
            ]));
        }
        lines.push(Line::from(Span::styled(
            format!("Audit trail ({} most recent)", d.events.len()),
            t.header,
        )));
        if d.events.is_empty() {
            lines.push(Line::from(Span::styled("  no events", t.dim)));
        }
        for e in &d.events {
            lines.push(Line::from(vec![
                Span::raw(format!("  {} ", z.datetime(e.occurred_at))),
                Span::styled(format!("{:<26}", e.event_type), t.severity(&e.severity)),
                Span::styled(e.actor.clone(), t.dim),
            ]));
        }
        Paragraph::new(lines)
            .style(t.text)
            .wrap(Wrap { trim: false })
            .scroll((d.scroll, 0))
            .render(area, buf);
    }
}

impl View for SessionsView {
    fn scope(&self) -> Scope {
        if self.detail.is_some() {
            Scope::SessionDetail
        } else {
            Scope::Sessions
        }
    }

    fn handle(&mut self, command: Command) -> Option<Action> {
        if let Some(detail) = &mut self.detail {
            return match command {
                Command::Back => {
                    self.detail = None;
                    None
                }
                Command::Down => {
                    detail.scroll = detail.scroll.saturating_add(1);
                    None
                }
                Command::Up => {
                    detail.scroll = detail.scroll.saturating_sub(1);
                    None
                }
                Command::Reset => Some(Action::AskReset(detail.session.id)),
                _ => None,
            };
        }
        match command {
            Command::Down => {
                if self.selected + 1 < self.rows.len() {
                    self.selected += 1;
                    None
                } else {
                    let action = self.next_page();
                    if action.is_some() {
                        self.selected = 0;
                    }
                    action
                }
            }
            Command::Up => {
                if self.selected > 0 {
                    self.selected -= 1;
                    None
                } else {
                    self.prev_page(true)
                }
            }
            Command::PageDown => self.next_page(),
            Command::PageUp => self.prev_page(false),
            Command::Top => self.restart(),
            Command::Open => self.selected_row().map(|r| Action::OpenSession(r.id)),
            Command::Reset => self.selected_row().map(|r| Action::AskReset(r.id)),
            Command::Filter => Some(Action::StartFilter(self.filter_text.clone())),
            Command::ClearFilter if !self.filter_text.is_empty() => self.apply_filter(""),
            Command::CycleStatus => {
                self.filter.status = match self.filter.status {
                    None => Some(SessionStatus::Active),
                    Some(SessionStatus::Active) => Some(SessionStatus::Revoked),
                    Some(SessionStatus::Revoked) => Some(SessionStatus::Expired),
                    Some(SessionStatus::Expired) => None,
                };
                self.restart()
            }
            Command::CycleSort => {
                let i = SessionSort::ALL.iter().position(|s| *s == self.sort).unwrap_or(0);
                self.sort = SessionSort::ALL[(i + 1) % SessionSort::ALL.len()];
                self.restart()
            }
            _ => None,
        }
    }

    fn apply_filter(&mut self, text: &str) -> Option<Action> {
        let text = text.trim();
        match crate::filter::session_filter(text) {
            Ok(SessionMatch::All) => {
                self.filter.id_range = None;
                self.filter.last_ip = None;
            }
            Ok(SessionMatch::Ip(ip)) => {
                self.filter.id_range = None;
                self.filter.last_ip = Some(ip);
            }
            Ok(SessionMatch::Prefix(range)) => {
                self.filter.last_ip = None;
                self.filter.id_range = Some(range);
            }
            Err(e) => return Some(Action::Toast(e.to_string())),
        }
        self.filter_text = text.to_owned();
        self.restart()
    }
}

impl Draw for SessionsView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        if let Some(d) = &self.detail {
            self.draw_detail(d, area, buf, t);
            return;
        }
        let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        self.title(t, title.width).render(title, buf);
        if self.rows.is_empty() {
            let text = if self.loading {
                "Loading…".to_owned()
            } else if self.filter_text.is_empty() && self.filter.status.is_none() {
                "No sessions yet. They appear when clients call POST /api/session/generate-uuid.".to_owned()
            } else {
                "No session matches. Press / and Enter on an empty line to clear the filter, f to change the status filter."
                    .to_owned()
            };
            Paragraph::new(text)
                .style(t.dim)
                .wrap(Wrap { trim: true })
                .render(body, buf);
            return;
        }
        // Columns, widest form first; the lowest `keep` gives way first (see `fit`): full times
        // lose their seconds and year and the UUID its tail, then the last IP and the created
        // time go; the status and the upload count stay longest.
        let z = self.zone;
        let created = z.label(self.rows.iter().map(|r| from_millis(r.created_at)));
        let seen = z.label(self.rows.iter().map(|r| from_millis(r.last_seen_at)));
        let ips = fit::widest(self.rows.iter().map(|r| r.last_ip.as_deref().unwrap_or("")));
        let fitted = Fitted::new(
            vec![
                Column::new("uuid", 36, 30).or("uuid", 23, 75).or("uuid", 9, 100),
                Column::new("status", 7, 90),
                Column::new(format!("created ({created})"), 19, 20).or(format!("created ({created})"), 11, 45),
                Column::new(format!("last seen ({seen})"), 19, 22).or(format!("seen ({seen})"), 11, 70),
                Column::new("upl", fit::widest(self.rows.iter().map(uploads_cell)), 80),
                Column::fill("last ip", ips.min(12), ips, 40),
            ],
            body.width,
        );
        let rows = self.rows.iter().map(|r| {
            fitted.row(|i, f| {
                let w = usize::from(f.width);
                match i {
                    0 => Cell::from(fmt::clip(&r.id.to_string(), w)),
                    1 => Cell::from(Span::styled(r.status.as_str(), t.status(r.status.as_str()))),
                    2 | 3 => {
                        let ms = if i == 2 { r.created_at } else { r.last_seen_at };
                        Cell::from(if f.form == 0 { z.long(ms) } else { z.short(ms) })
                    }
                    4 => Cell::from(Span::styled(
                        format!("{:>w$}", uploads_cell(r)),
                        if r.status == SessionStatus::Active {
                            t.text
                        } else {
                            t.dim
                        },
                    )),
                    _ => Cell::from(fmt::clip(r.last_ip.as_deref().unwrap_or(""), w)),
                }
            })
        });
        let table = Table::new(rows, fitted.widths())
            .header(fitted.header().style(t.header))
            .style(t.text)
            .row_highlight_style(t.selected);
        let mut state = TableState::default().with_selected(Some(self.selected));
        StatefulWidget::render(table, body, buf, &mut state);
    }
}

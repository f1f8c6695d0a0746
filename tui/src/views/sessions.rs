//! The Sessions tab: a keyset-paged table (only the visible page is fetched), the `/` filter
//! (UUID prefix or IP), status filter and sort, and a session's detail pane. A page is anchored
//! at the start, after a row, before a row or at the end; a page before a row is the reverse
//! order's page after it, so `G` (last page) and paging back from it need no history.

use std::collections::VecDeque;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, StatefulWidget, Table, TableState, Widget, Wrap};
use sessiond_core::audit::AuditEvent;
use sessiond_core::domain::{Session, SessionStatus, from_millis};
use sessiond_core::store::console::{
    SessionColumn, SessionCursor, SessionFilter, SessionPageQuery, SessionSort, SessionSummary, UploadSummary,
};
use uuid::Uuid;

use super::fit::{self, Column, Fitted};
use super::sort::{Viewport, render_scrolled, scroll};
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

/// Where the visible page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageAnchor {
    /// The first page.
    #[default]
    Start,
    /// The page that starts right after this row.
    After(SessionCursor),
    /// The page that ends right before this row (read in the reverse order).
    Before(SessionCursor),
    /// The last page (read in the reverse order).
    End,
}

/// The visible page's number, as far as it is known: counted from the first page, or back
/// from the last one after `G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageNumber {
    /// Page n (1-based) from the start.
    FromStart(u64),
    /// n pages before the last one (0: the last page).
    FromEnd(u64),
}

impl Default for PageNumber {
    fn default() -> Self {
        PageNumber::FromStart(1)
    }
}

/// Which row to select when the page arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageSelect {
    /// The same position (clamped).
    #[default]
    Keep,
    /// The first row.
    First,
    /// The last row.
    Last,
    /// This session, if it is on the page.
    Row(Uuid),
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
    /// Where the visible page is.
    pub anchor: PageAnchor,
    /// Its number.
    pub page: PageNumber,
    /// Rows per page (the table's height).
    pub page_size: u32,
    /// A page request is in flight.
    pub loading: bool,
    /// Generation of the latest request (older answers are dropped).
    pub generation: u64,
    /// The row to select when the requested page arrives.
    pub select: PageSelect,
    /// Moves pressed while a page was loading, replayed in order once it is shown (where they
    /// lead depends on its rows: five quick `PgUp` are five pages back).
    pub queued: VecDeque<Command>,
    /// The open detail pane.
    pub detail: Option<SessionDetail>,
    /// The detail pane's extent at its last draw.
    pub detail_viewport: Viewport,
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
    /// The order the list is in (a UUID prefix filter forces UUID order).
    pub fn effective_sort(&self) -> SessionSort {
        SessionPageQuery {
            filter: self.filter.clone(),
            sort: self.sort,
            ..Default::default()
        }
        .effective_sort()
    }

    /// The query for the page the view points at (pages anchored before a row or at the end
    /// are read in the reverse order).
    pub fn query(&self) -> SessionPageQuery {
        let sort = self.effective_sort();
        let (sort, after) = match self.anchor {
            PageAnchor::Start => (sort, None),
            PageAnchor::After(c) => (sort, Some(c)),
            PageAnchor::Before(c) => (sort.reversed(), Some(c)),
            PageAnchor::End => (sort.reversed(), None),
        };
        SessionPageQuery {
            filter: self.filter.clone(),
            sort,
            after,
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

    /// A page arrived. Returns an action when the view wants another one: past the end it
    /// shows the last page, and a short page before a row (the start reached) is replaced by
    /// the first page.
    pub fn page_loaded(&mut self, generation: u64, mut rows: Vec<SessionSummary>) -> Option<Action> {
        if generation != self.generation {
            return None;
        }
        self.loading = false;
        let full = rows.len() >= self.page_size.max(1) as usize;
        match self.anchor {
            PageAnchor::After(_) if rows.is_empty() => {
                // The page before was the last one: show it again, its last row selected when
                // `↓` asked for the row after it.
                self.anchor = PageAnchor::End;
                if self.select == PageSelect::First {
                    self.select = PageSelect::Last;
                }
                self.page = match self.page {
                    PageNumber::FromStart(n) => PageNumber::FromStart(n.saturating_sub(1).max(1)),
                    PageNumber::FromEnd(_) => PageNumber::FromEnd(0),
                };
                return Some(Action::LoadSessions);
            }
            PageAnchor::Before(_) if !full => {
                // Fewer rows than a page before this one: they start the list.
                if let (PageSelect::Last, Some(r)) = (self.select, rows.first()) {
                    self.select = PageSelect::Row(r.id);
                }
                self.anchor = PageAnchor::Start;
                self.page = PageNumber::FromStart(1);
                return Some(Action::LoadSessions);
            }
            _ => {}
        }
        if matches!(self.anchor, PageAnchor::Before(_) | PageAnchor::End) {
            rows.reverse();
            if !full {
                // The whole list fits on the last page: it is the first page too.
                self.anchor = PageAnchor::Start;
                self.page = PageNumber::FromStart(1);
            }
        }
        self.rows = rows;
        let last = self.rows.len().saturating_sub(1);
        self.selected = match self.select {
            PageSelect::Keep => self.selected.min(last),
            PageSelect::First => 0,
            PageSelect::Last => last,
            PageSelect::Row(id) => self.rows.iter().position(|r| r.id == id).unwrap_or(0),
        };
        self.select = PageSelect::Keep;
        while let Some(command) = self.queued.pop_front() {
            if let Some(action) = self.handle(command) {
                return Some(action);
            }
        }
        None
    }

    /// A page could not be read: nothing is loading, and the moves waiting for it are dropped.
    pub fn load_failed(&mut self) {
        self.loading = false;
        self.queued.clear();
    }

    fn go(&mut self, anchor: PageAnchor, page: PageNumber, select: PageSelect) -> Option<Action> {
        if matches!(anchor, PageAnchor::Start | PageAnchor::End) {
            // A jump: moves queued for the page in flight no longer apply.
            self.queued.clear();
        }
        self.anchor = anchor;
        self.page = page;
        self.select = select;
        Some(Action::LoadSessions)
    }

    fn restart(&mut self) -> Option<Action> {
        self.selected = 0;
        self.go(PageAnchor::Start, PageNumber::FromStart(1), PageSelect::First)
    }

    fn next_page(&mut self, select: PageSelect) -> Option<Action> {
        let last = self.rows.last()?;
        if self.rows.len() < self.page_size as usize
            || self.anchor == PageAnchor::End
            || self.page == PageNumber::FromEnd(0)
        {
            return None;
        }
        let page = match self.page {
            PageNumber::FromStart(n) => PageNumber::FromStart(n + 1),
            PageNumber::FromEnd(n) => PageNumber::FromEnd(n - 1),
        };
        let after = last.cursor(self.effective_sort());
        self.go(PageAnchor::After(after), page, select)
    }

    fn prev_page(&mut self, select: PageSelect) -> Option<Action> {
        let first = self.rows.first()?;
        let page = match self.page {
            PageNumber::FromStart(1) => return None,
            PageNumber::FromStart(n) => PageNumber::FromStart(n - 1),
            PageNumber::FromEnd(n) => PageNumber::FromEnd(n + 1),
        };
        let before = first.cursor(self.effective_sort());
        self.go(PageAnchor::Before(before), page, select)
    }

    fn title(&self, t: &Theme, width: u16) -> Line<'static> {
        let mut items = vec![
            (Span::styled(" Sessions", t.accent), 100),
            (
                Span::styled(
                    match self.page {
                        PageNumber::FromStart(n) => format!(" · page {n}"),
                        PageNumber::FromEnd(0) => " · last page".to_owned(),
                        PageNumber::FromEnd(n) => format!(" · page last-{n}"),
                    },
                    t.text,
                ),
                60,
            ),
            (
                Span::styled(format!(" · sort {}", self.effective_sort().label()), t.text),
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
        render_scrolled(lines, d.scroll, &self.detail_viewport, t.text, area, buf);
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
            if scroll(&mut detail.scroll, command, &self.detail_viewport) {
                return None;
            }
            let id = detail.session.id;
            return match command {
                Command::Back => {
                    self.detail = None;
                    None
                }
                Command::Reset => Some(Action::AskReset(id)),
                Command::Copy => Some(Action::Copy(id.to_string())),
                Command::Events => Some(Action::AuditFor(format!("session={id}"))),
                _ => None,
            };
        }
        if self.loading
            && matches!(
                command,
                Command::Down | Command::Up | Command::PageDown | Command::PageUp
            )
        {
            if self.queued.len() < 100 {
                self.queued.push_back(command);
            }
            return None;
        }
        match command {
            Command::Down => {
                if self.selected + 1 < self.rows.len() {
                    self.selected += 1;
                    None
                } else {
                    self.next_page(PageSelect::First)
                }
            }
            Command::Up => {
                if self.selected > 0 {
                    self.selected -= 1;
                    None
                } else {
                    self.prev_page(PageSelect::Last)
                }
            }
            Command::PageDown => self.next_page(PageSelect::Keep),
            Command::PageUp => self.prev_page(PageSelect::Keep),
            Command::Top => self.restart(),
            Command::Bottom => self.go(PageAnchor::End, PageNumber::FromEnd(0), PageSelect::Last),
            Command::Open => self.selected_row().map(|r| Action::OpenSession(r.id)),
            Command::Reset => self.selected_row().map(|r| Action::AskReset(r.id)),
            Command::Copy => self.selected_row().map(|r| Action::Copy(r.id.to_string())),
            Command::Events => self
                .selected_row()
                .map(|r| Action::AuditFor(format!("session={}", r.id))),
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
                // From the order shown: a UUID prefix shows UUID order whatever was picked.
                self.sort = self.effective_sort().next_column();
                self.restart()
            }
            Command::ReverseSort => {
                self.sort = self.effective_sort().reversed();
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
        let mut columns = vec![
            Column::new("uuid", 36, 30).or("uuid", 23, 75).or("uuid", 9, 100),
            Column::new("status", 7, 90),
            Column::new(format!("created ({created})"), 19, 20).or(format!("created ({created})"), 11, 45),
            Column::new(format!("last seen ({seen})"), 19, 22).or(format!("seen ({seen})"), 11, 70),
            Column::new("upl", fit::widest(self.rows.iter().map(uploads_cell)), 80),
            Column::fill("last ip", ips.min(12), ips, 40),
        ];
        // The sorted column's title carries ▲/▼.
        let sort = self.effective_sort();
        let sorted = match sort.column() {
            SessionColumn::Id => 0,
            SessionColumn::Created => 2,
            SessionColumn::LastSeen => 3,
        };
        columns[sorted] = columns[sorted].clone().sorted(sort.descending());
        let fitted = Fitted::new(columns, body.width);
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

//! The Jobs tab: every scheduled job with its schedule, next run, last outcome and lease, and
//! the selected job's recent runs; `Enter` opens a job (runs with their full errors, its run
//! request), `r` asks the daemons to run it now.

use std::cmp::Ordering;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, StatefulWidget, Table, TableState, Widget, Wrap};
use sessiond_core::domain::from_millis;

use sessiond_core::jobs::JobName;
use sessiond_core::store::jobs::{JobRun, RunRequest};

use super::fit::{self, Column, Fitted};
use super::sort::{SortBy, SortColumn, Viewport, move_selection, render_scrolled, scroll};
use super::{Action, Draw, View};
use crate::fmt::{self, Zone};
use crate::keymap::{Command, Scope};
use crate::ops::{JobOverview, ScheduleSource};
use crate::theme::Theme;

/// State of the Jobs tab.
#[derive(Debug, Clone, Default)]
pub struct JobsView {
    /// Jobs as loaded.
    pub rows: Vec<JobOverview>,
    /// Loaded at least once.
    pub loaded: bool,
    /// Selected row (of the filtered rows).
    pub selected: usize,
    /// `/` filter on the job name.
    pub filter_text: String,
    /// Webhook deliveries and the audit chain's state, once loaded.
    pub health: Option<crate::ops::AuditHealth>,
    /// Each job's latest run request ("run now"), once loaded.
    pub requests: Vec<RunRequest>,
    /// The open job and the pane's scroll.
    pub detail: Option<(&'static str, u16)>,
    /// The order shown (by name unless `s`/`S` changed it).
    pub sort: SortBy<JobColumn>,
    /// The table's height at its last draw.
    pub viewport: Viewport,
    /// The detail pane's extent at its last draw.
    pub detail_viewport: Viewport,
    /// The zone times are shown in.
    pub zone: Zone,
}

/// A column the Jobs tab sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobColumn {
    /// Job name, A→Z.
    #[default]
    Job,
    /// Next scheduled run, soonest first.
    NextRun,
    /// Last run's start, most recent first.
    LastRun,
    /// Last run's outcome.
    Outcome,
    /// Lease holder.
    Lease,
}

impl SortColumn for JobColumn {
    const ALL: &'static [Self] = &[
        JobColumn::Job,
        JobColumn::NextRun,
        JobColumn::LastRun,
        JobColumn::Outcome,
        JobColumn::Lease,
    ];

    fn descending_first(self) -> bool {
        self == JobColumn::LastRun
    }
}

impl Default for SortBy<JobColumn> {
    fn default() -> Self {
        SortBy::by(JobColumn::Job)
    }
}

fn compare(column: JobColumn, a: &JobOverview, b: &JobOverview) -> Ordering {
    let last = |j: &JobOverview| j.runs.first().map(|r| r.started_at);
    let outcome = |j: &JobOverview| j.runs.first().map(|r| r.status.as_str());
    let lease = |j: &JobOverview| j.lease.as_ref().map(|l| l.holder.clone());
    match column {
        JobColumn::Job => a.name.cmp(b.name),
        JobColumn::NextRun => a.next_run.cmp(&b.next_run),
        JobColumn::LastRun => last(a).cmp(&last(b)),
        JobColumn::Outcome => outcome(a).cmp(&outcome(b)),
        JobColumn::Lease => lease(a).cmp(&lease(b)),
    }
}

/// Where a run request is, in words, its times in `z`.
pub fn request_text(r: &RunRequest, z: Zone) -> String {
    let asked = format!("run requested by {} at {}", r.requested_by, z.datetime(r.requested_at));
    match (r.finished_at, r.run_id, &r.claimed_by, r.claimed_at) {
        (Some(_), Some(run), _, _) => format!("{asked}: done, run #{run}"),
        (Some(_), None, Some(by), _) => format!("{asked}: {by} does not know this job"),
        (None, _, Some(by), Some(at)) => {
            format!("{asked}: running on {by} since {}", z.datetime(at))
        }
        _ => format!("{asked}: waiting for a daemon (only daemons with jobs.enabled take it)"),
    }
}

fn run_line(r: &JobRun, full_error: bool, z: Zone, t: &Theme) -> Vec<Line<'static>> {
    let took = r
        .finished_at
        .map(|f| duration((f - r.started_at).num_milliseconds()))
        .unwrap_or_else(|| "…".into());
    let detail = match &r.error {
        // The detail pane prints the whole error on its own line.
        Some(_) if full_error => String::new(),
        Some(e) => e.clone(),
        None => r.counts.to_string(),
    };
    let mut lines = vec![Line::from(vec![
        Span::raw(format!("  {} ", z.datetime(r.started_at))),
        Span::styled(format!("{:<9}", r.status), t.status(r.status.as_str())),
        Span::raw(format!(" {took:>8}  ")),
        Span::styled(detail, t.dim),
    ])];
    if let (true, Some(e)) = (full_error, &r.error) {
        lines.push(Line::from(Span::styled(format!("    {e}"), t.critical)));
    }
    lines
}

fn duration(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

impl JobsView {
    /// The rows passing the filter, in the order shown.
    pub fn visible(&self) -> Vec<&JobOverview> {
        let mut rows: Vec<&JobOverview> = self
            .rows
            .iter()
            .filter(|j| j.name.contains(self.filter_text.as_str()))
            .collect();
        rows.sort_by(|a, b| self.sort.order(compare(self.sort.column, a, b)));
        rows
    }

    /// `name`'s latest run request.
    pub fn request(&self, name: &str) -> Option<&RunRequest> {
        self.requests.iter().find(|r| r.job == name)
    }

    fn draw_detail(&self, name: &str, offset: u16, area: Rect, buf: &mut Buffer, t: &Theme) {
        let Some(job) = self.rows.iter().find(|j| j.name == name) else {
            return;
        };
        let z = self.zone;
        let field =
            |k: &'static str, v: String| Line::from(vec![Span::styled(format!("{k:<13}"), t.dim), Span::raw(v)]);
        let mut lines = vec![
            Line::from(Span::styled(format!(" Job {}", job.name), t.accent)),
            field(
                "schedule",
                // The daemons run every schedule in UTC.
                format!(
                    "`{}` UTC {}",
                    job.schedule,
                    match job.schedule_source {
                        ScheduleSource::Daemon => "(the daemons')",
                        ScheduleSource::ConsoleConfig => "(this console's config: no daemon has scheduled it yet)",
                    }
                ),
            ),
            field(
                "next run",
                job.next_run.map(|ms| z.datetime_ms(ms)).unwrap_or_else(|| "—".into()),
            ),
            field(
                "lease",
                job.lease.as_ref().map_or_else(
                    || "— (not running)".into(),
                    |l| format!("{} until {}", l.holder, z.datetime_ms(l.expires_at)),
                ),
            ),
            field(
                "run request",
                self.request(job.name)
                    .map_or_else(|| "—".into(), |r| request_text(r, z)),
            ),
            Line::from(Span::styled(format!("Runs ({} most recent)", job.runs.len()), t.header)),
        ];
        if job.runs.is_empty() {
            lines.push(Line::from(Span::styled("  none recorded yet", t.dim)));
        }
        for r in &job.runs {
            lines.extend(run_line(r, true, z, t));
        }
        render_scrolled(lines, offset, &self.detail_viewport, t.text, area, buf);
    }

    /// New rows.
    pub fn set_rows(&mut self, rows: Vec<JobOverview>) {
        let was = self.visible().get(self.selected).map(|j| j.name);
        self.rows = rows;
        self.loaded = true;
        let visible = self.visible();
        self.selected = was
            .and_then(|name| visible.iter().position(|j| j.name == name))
            .unwrap_or_else(|| self.selected.min(visible.len().saturating_sub(1)));
    }
}

impl View for JobsView {
    fn apply_filter(&mut self, text: &str) -> Option<Action> {
        self.filter_text = text.trim().to_owned();
        self.selected = 0;
        None
    }

    fn refresh(&self, shown: bool) -> Option<Action> {
        (shown || !self.loaded).then_some(Action::ReloadJobs)
    }

    fn scope(&self) -> Scope {
        if self.detail.is_some() {
            Scope::JobDetail
        } else {
            Scope::Jobs
        }
    }

    fn handle(&mut self, command: Command) -> Option<Action> {
        let run = |name: &str| {
            name.parse::<JobName>()
                .map_or_else(|e| Action::Toast(e.to_string()), Action::AskRunJob)
        };
        if let Some((name, offset)) = &mut self.detail {
            if scroll(offset, command, &self.detail_viewport) {
                return None;
            }
            match command {
                Command::Back => self.detail = None,
                Command::RunJob => return Some(run(name)),
                _ => {}
            }
            return None;
        }
        let len = self.visible().len();
        if move_selection(&mut self.selected, len, command, self.viewport.page()) {
            return None;
        }
        let selected = self.visible().get(self.selected).map(|j| j.name);
        match command {
            Command::Open => self.detail = selected.map(|name| (name, 0)),
            Command::RunJob => return selected.map(run),
            Command::Filter => return Some(Action::StartFilter(self.filter_text.clone())),
            Command::ClearFilter if !self.filter_text.is_empty() => return self.apply_filter(""),
            Command::CycleSort | Command::ReverseSort => {
                self.sort = if command == Command::CycleSort {
                    self.sort.next_column()
                } else {
                    self.sort.reversed()
                };
                let visible = self.visible();
                self.selected = selected
                    .and_then(|name| visible.iter().position(|j| j.name == name))
                    .unwrap_or(0);
            }
            _ => {}
        }
        None
    }
}

impl Draw for JobsView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        if let Some((name, offset)) = self.detail {
            self.draw_detail(name, offset, area, buf, t);
            return;
        }
        let visible = self.visible();
        let [title, table_area, runs_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(visible.len() as u16 + 1),
            Constraint::Fill(1),
        ])
        .areas(area);
        let mut items = vec![(Span::styled(" Jobs", t.accent), 100)];
        if let Some(j) = visible.first() {
            items.push((
                Span::styled(
                    if j.enabled {
                        " · scheduler enabled"
                    } else {
                        " · jobs.enabled = false"
                    },
                    t.text,
                ),
                if j.enabled { 40 } else { 85 },
            ));
        }
        if let Some(h) = &self.health {
            if !h.webhooks.is_empty() {
                let style = if h.webhooks_failing { t.warning } else { t.text };
                let keep = if h.webhooks_failing { 75 } else { 50 };
                items.push((Span::styled(format!(" · {}", h.webhooks), style), keep));
            }
            let style = if h.chain_broken { t.warning } else { t.text };
            let keep = if h.chain_broken { 78 } else { 45 };
            items.push((Span::styled(format!(" · {}", h.chain), style), keep));
        }
        if !self.filter_text.is_empty() {
            items.push((Span::styled(format!(" · filter {}", self.filter_text), t.warning), 80));
        }
        fit::line(items, title.width).render(title, buf);
        if !self.loaded {
            Paragraph::new("Loading…").style(t.dim).render(table_area, buf);
            return;
        }
        // Columns, widest form first; the lowest `keep` gives way first (see `fit`): the lease
        // holder goes, the dates go, then the next run; the job and its outcome stay.
        let z = self.zone;
        let next = z.label(visible.iter().filter_map(|j| j.next_run.map(from_millis)));
        let last = z.label(visible.iter().filter_map(|j| j.runs.first().map(|r| r.started_at)));
        let fitted = Fitted::new(
            self.sort.mark(vec![
                Column::new("job", fit::widest(visible.iter().map(|j| j.name)), 100),
                Column::new(format!("next run ({next})"), 11, 35).or(next, 5, 50),
                Column::new(format!("last run ({last})"), 11, 38).or(last, 5, 60),
                Column::new("outcome", 9, 90),
                Column::fill(
                    "lease holder",
                    12,
                    fit::widest(
                        visible
                            .iter()
                            .filter_map(|j| j.lease.as_ref().map(|l| l.holder.as_str())),
                    ),
                    30,
                ),
            ]),
            table_area.width,
        );
        let rows = visible.iter().map(|j| {
            let last = j.runs.first();
            fitted.row(|i, f| match i {
                0 => Cell::from(j.name),
                1 => Cell::from(
                    j.next_run
                        .map(|ms| if f.form == 0 { z.short(ms) } else { z.hour_minute(ms) })
                        .unwrap_or_else(|| "—".into()),
                ),
                2 => Cell::from(
                    last.map(|r| r.started_at.timestamp_millis())
                        .map(|ms| if f.form == 0 { z.short(ms) } else { z.hour_minute(ms) })
                        .unwrap_or_else(|| "never".into()),
                ),
                3 => match last {
                    Some(r) => Cell::from(Span::styled(r.status.as_str(), t.status(r.status.as_str()))),
                    None => Cell::from(Span::styled("—", t.dim)),
                },
                _ => Cell::from(fmt::clip(
                    &j.lease.as_ref().map(|l| l.holder.clone()).unwrap_or_default(),
                    usize::from(f.width),
                )),
            })
        });
        let table = Table::new(rows, fitted.widths())
            .header(fitted.header().style(t.header))
            .style(t.text)
            .row_highlight_style(t.selected);
        self.viewport.set(table_area.height.saturating_sub(1), 0);
        let mut state = TableState::default().with_selected(Some(self.selected));
        StatefulWidget::render(table, table_area, buf, &mut state);

        let Some(job) = visible.get(self.selected) else { return };
        let mut lines = vec![Line::from(vec![
            Span::styled(format!(" {} ", job.name), t.header),
            // The daemons run every schedule in UTC.
            Span::styled(format!("schedule `{}` UTC", job.schedule), t.dim),
            Span::styled(
                match job.schedule_source {
                    ScheduleSource::Daemon => " (the daemons')",
                    ScheduleSource::ConsoleConfig => " (this console's config: no daemon has scheduled it yet)",
                },
                t.dim,
            ),
        ])];
        if let Some(r) = self.request(job.name).filter(|r| r.finished_at.is_none()) {
            lines.push(Line::from(Span::styled(format!("  {}", request_text(r, z)), t.warning)));
        }
        if job.runs.is_empty() {
            lines.push(Line::from(Span::styled(
                "  No run recorded yet: jobs run inside sessiond, on the instance holding the job's lease.",
                t.dim,
            )));
        }
        for r in &job.runs {
            lines.extend(run_line(r, false, z, t));
        }
        Paragraph::new(lines)
            .style(t.text)
            .wrap(Wrap { trim: false })
            .render(runs_area, buf);
    }
}

//! The Jobs tab: every scheduled job with its schedule, next run, last outcome and lease, and
//! the selected job's recent runs.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, StatefulWidget, Table, TableState, Widget, Wrap};
use sessiond_core::domain::from_millis;

use super::fit::{self, Column, Fitted};
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
    /// The zone times are shown in.
    pub zone: Zone,
}

fn duration(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

impl JobsView {
    /// The rows passing the filter.
    pub fn visible(&self) -> Vec<&JobOverview> {
        self.rows
            .iter()
            .filter(|j| j.name.contains(self.filter_text.as_str()))
            .collect()
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
        Scope::Jobs
    }

    fn handle(&mut self, command: Command) -> Option<Action> {
        match command {
            Command::Down => self.selected = (self.selected + 1).min(self.visible().len().saturating_sub(1)),
            Command::Up => self.selected = self.selected.saturating_sub(1),
            Command::Filter => return Some(Action::StartFilter(self.filter_text.clone())),
            Command::ClearFilter if !self.filter_text.is_empty() => return self.apply_filter(""),
            _ => {}
        }
        None
    }
}

impl Draw for JobsView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
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
            vec![
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
            ],
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
        if job.runs.is_empty() {
            lines.push(Line::from(Span::styled(
                "  No run recorded yet: jobs run inside sessiond, on the instance holding the job's lease.",
                t.dim,
            )));
        }
        for r in &job.runs {
            let took = r
                .finished_at
                .map(|f| duration((f - r.started_at).num_milliseconds()))
                .unwrap_or_else(|| "…".into());
            let detail = r.error.clone().unwrap_or_else(|| r.counts.to_string());
            lines.push(Line::from(vec![
                Span::raw(format!("  {} ", z.datetime(r.started_at))),
                Span::styled(format!("{:<9}", r.status), t.status(r.status.as_str())),
                Span::raw(format!(" {took:>8}  ")),
                Span::styled(detail, t.dim),
            ]));
        }
        Paragraph::new(lines)
            .style(t.text)
            .wrap(Wrap { trim: false })
            .render(runs_area, buf);
    }
}

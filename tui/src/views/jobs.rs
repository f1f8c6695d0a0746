//! The Jobs tab: every scheduled job with its schedule, next run, last outcome and lease, and
//! the selected job's recent runs.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap};

use super::{Action, Draw, View};
use crate::fmt;
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
        let mut spans = vec![Span::styled(" Jobs", t.accent)];
        if let Some(j) = visible.first() {
            spans.push(Span::styled(
                if j.enabled {
                    " · scheduler enabled"
                } else {
                    " · jobs.enabled = false"
                },
                t.text,
            ));
        }
        if let Some(h) = &self.health {
            if !h.webhooks.is_empty() {
                let style = if h.webhooks_failing { t.warning } else { t.text };
                spans.push(Span::styled(format!(" · {}", h.webhooks), style));
            }
            let style = if h.chain_broken { t.warning } else { t.text };
            spans.push(Span::styled(format!(" · {}", h.chain), style));
        }
        if !self.filter_text.is_empty() {
            spans.push(Span::styled(format!(" · filter {}", self.filter_text), t.warning));
        }
        Line::from(spans).render(title, buf);
        if !self.loaded {
            Paragraph::new("Loading…").style(t.dim).render(table_area, buf);
            return;
        }
        let rows = visible.iter().map(|j| {
            let last = j.runs.first();
            Row::new(vec![
                Cell::from(j.name),
                Cell::from(j.next_run.map(fmt::short).unwrap_or_else(|| "—".into())),
                Cell::from(
                    last.map(|r| fmt::short(r.started_at.timestamp_millis()))
                        .unwrap_or_else(|| "never".into()),
                ),
                match last {
                    Some(r) => Cell::from(Span::styled(r.status.as_str(), t.status(r.status.as_str()))),
                    None => Cell::from(Span::styled("—", t.dim)),
                },
                Cell::from(j.lease.as_ref().map(|l| l.holder.clone()).unwrap_or_default()),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Length(19),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(9),
                Constraint::Fill(1),
            ],
        )
        .header(Row::new(["job", "next run", "last run", "outcome", "lease holder"]).style(t.header))
        .style(t.text)
        .row_highlight_style(t.selected);
        let mut state = TableState::default().with_selected(Some(self.selected));
        StatefulWidget::render(table, table_area, buf, &mut state);

        let Some(job) = visible.get(self.selected) else { return };
        let mut lines = vec![Line::from(vec![
            Span::styled(format!(" {} ", job.name), t.header),
            Span::styled(format!("schedule `{}`", job.schedule), t.dim),
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
                Span::raw(format!("  {} ", fmt::datetime(r.started_at.timestamp_millis()))),
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

//! The confirmation dialog in front of every destructive action: it says exactly what will
//! happen, and only `y` confirms.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};
use sessiond_core::jobs::JobName;
use uuid::Uuid;

use super::Draw;
use crate::theme::Theme;

/// What a confirmation will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Reset this session.
    Reset(Uuid),
    /// Ask the daemons to run this job now.
    RunJob(JobName),
}

/// An open confirmation dialog.
#[derive(Debug, Clone)]
pub struct ConfirmView {
    /// Dialog title.
    pub title: String,
    /// What will happen.
    pub lines: Vec<String>,
    /// The action `y` runs.
    pub pending: Pending,
}

impl ConfirmView {
    /// The dialog for resetting `id`, which has `uploads` uploads.
    pub fn reset(id: Uuid, status: &str, uploads: i64) -> Self {
        Self {
            title: " Reset session? ".into(),
            lines: vec![
                format!("Session {id}"),
                format!("Status: {status}"),
                format!(
                    "It will be revoked and its {uploads} upload{} deleted.",
                    if uploads == 1 { "" } else { "s" }
                ),
                String::new(),
                "y: reset    any other key: cancel".into(),
            ],
            pending: Pending::Reset(id),
        }
    }

    /// The dialog for running `job` now.
    pub fn run_job(job: JobName) -> Self {
        Self {
            title: " Run job now? ".into(),
            lines: vec![
                format!("Job: {job}"),
                "A daemon with jobs enabled takes the request within seconds".into(),
                "and runs the job under its lease (after the current run, if".into(),
                "one is going). The request is audited (job.requested).".into(),
                String::new(),
                "y: request the run    any other key: cancel".into(),
            ],
            pending: Pending::RunJob(job),
        }
    }

    /// `Some(action)` if `key` confirms; any other key cancels.
    pub fn answer(&self, key: KeyCode) -> Option<Pending> {
        (key == KeyCode::Char('y')).then_some(self.pending)
    }
}

impl Draw for ConfirmView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let width = self.lines.iter().map(|l| l.chars().count()).max().unwrap_or(20) as u16 + 4;
        let rect = super::centered(area, width, self.lines.len() as u16 + 2);
        Clear.render(rect, buf);
        let lines: Vec<Line> = self
            .lines
            .iter()
            .map(|l| Line::from(Span::styled(format!(" {l}"), t.text)))
            .collect();
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .title(Span::styled(self.title.clone(), t.critical))
                    .border_style(t.critical),
            )
            .render(rect, buf);
    }
}

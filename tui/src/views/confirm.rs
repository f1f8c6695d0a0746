//! The confirmation dialog in front of every destructive action: it says exactly what will
//! happen, and only `y` confirms. When an action would change nothing, the same dialog says
//! so and only closes.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};
use sessiond_core::jobs::JobName;
use uuid::Uuid;

use super::Draw;
use crate::fmt::Zone;
use crate::ops::ResetFacts;
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
    /// The action `y` runs (`None`: nothing to do, the dialog only informs).
    pub pending: Option<Pending>,
}

fn uploads(n: i64) -> String {
    format!("{n} upload{}", if n == 1 { "" } else { "s" })
}

impl ConfirmView {
    /// The dialog for resetting `id`, which has `uploads` uploads.
    pub fn reset(id: Uuid, status: &str, uploads: i64) -> Self {
        let mut lines = vec![format!("Session {id}"), format!("Status: {status}")];
        if status == "expired" {
            // Expiry already queued its files: a reset only changes the status (and is audited).
            lines.push("It will be marked revoked.".into());
            if uploads > 0 {
                lines.push(format!(
                    "The files of its {} went when it expired.",
                    self::uploads(uploads)
                ));
            }
        } else {
            lines.push(format!(
                "It will be revoked and its {} deleted.",
                self::uploads(uploads)
            ));
            if uploads > 0 {
                lines.push("(The files go; the upload records stay, marked deleted.)".into());
            }
        }
        lines.extend([String::new(), "y: reset    any other key: cancel".into()]);
        Self {
            title: " Reset session? ".into(),
            lines,
            pending: Some(Pending::Reset(id)),
        }
    }

    /// The dialog for `r` on a session that is already revoked: resetting it again would
    /// change nothing, so nothing is done and no event is written.
    pub fn already_revoked(f: &ResetFacts, zone: Zone) -> Self {
        let mut lines = vec![format!("Session {}", f.id)];
        lines.push(match (f.ended_at, &f.ended_by) {
            (Some(at), Some(by)) => format!("Revoked {} by {by}.", zone.datetime(at)),
            (Some(at), None) => format!("Revoked {}.", zone.datetime(at)),
            _ => "Revoked.".into(),
        });
        if f.uploads > 0 {
            lines.push(format!(
                "The files of its {} were queued for deletion then.",
                uploads(f.uploads)
            ));
        }
        lines.extend([
            "A reset would change nothing: nothing is done.".into(),
            String::new(),
            "any key: close".into(),
        ]);
        Self {
            title: " Already revoked ".into(),
            lines,
            pending: None,
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
            pending: Some(Pending::RunJob(job)),
        }
    }

    /// `Some(action)` if `key` confirms; any other key cancels.
    pub fn answer(&self, key: KeyCode) -> Option<Pending> {
        self.pending.filter(|_| key == KeyCode::Char('y'))
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
        // A dialog that only informs is not drawn as a warning.
        let style = if self.pending.is_some() { t.critical } else { t.accent };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .title(Span::styled(self.title.clone(), style))
                    .border_style(style),
            )
            .render(rect, buf);
    }
}

//! The `?` overlay: every key of the current view, generated from the keymap.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget};

use super::Draw;
use crate::keymap::{Scope, help_entries};
use crate::theme::Theme;

/// The help overlay for one scope.
#[derive(Debug, Clone, Copy)]
pub struct HelpView {
    /// Whose keys.
    pub scope: Scope,
}

impl Draw for HelpView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let entries = help_entries(self.scope);
        let key_width = entries.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(4);
        let lines: Vec<Line> = entries
            .into_iter()
            .map(|(keys, label)| {
                Line::from(vec![
                    Span::styled(format!(" {keys:>key_width$}  "), t.key),
                    Span::styled(label, t.text),
                ])
            })
            .collect();
        let width = (lines.iter().map(Line::width).max().unwrap_or(20) + 3) as u16;
        let height = lines.len() as u16 + 2;
        let rect = super::centered(area, width, height);
        Clear.render(rect, buf);
        Paragraph::new(lines)
            .block(
                Block::bordered()
                    .title(Span::styled(" Keys (any key closes) ", t.accent))
                    .border_style(t.dim),
            )
            .render(rect, buf);
    }
}

//! Sorting and moving in the tables and panes: the column order of the in-memory tables
//! (Alerts, Jobs, Audit; Sessions sort in the store), the ▲/▼ in their headers, and the
//! navigation keys every list and pane shares (`keymap::Scope::Navigation`).

use std::cell::Cell;
use std::cmp::Ordering;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::fit::Column;
use crate::keymap::Command;

/// A column an in-memory table sorts by.
pub trait SortColumn: Copy + PartialEq + std::fmt::Debug + 'static {
    /// Every sortable column, in the order `s` cycles through them.
    const ALL: &'static [Self];
    /// The table column (0-based) whose header carries the arrow: its place in [`Self::ALL`]
    /// (the tables list their sortable columns in that order).
    fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
    /// The direction it takes when picked: times and counts newest or largest first, text and
    /// names A→Z, states most urgent first.
    fn descending_first(self) -> bool;
}

/// A table's order: a column and a direction (`s` picks the next column, `S` reverses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortBy<C> {
    /// The column.
    pub column: C,
    /// Largest first.
    pub descending: bool,
}

impl<C: SortColumn> SortBy<C> {
    /// Sort by `column` in its usual direction.
    pub fn by(column: C) -> Self {
        Self {
            column,
            descending: column.descending_first(),
        }
    }

    /// The next column, in its usual direction.
    pub fn next_column(self) -> Self {
        let i = C::ALL.iter().position(|c| *c == self.column).unwrap_or(0);
        Self::by(C::ALL[(i + 1) % C::ALL.len()])
    }

    /// The same column the other way.
    pub fn reversed(self) -> Self {
        Self {
            descending: !self.descending,
            ..self
        }
    }

    /// `ascending` (the column's natural order) turned the way this sort goes.
    pub fn order(self, ascending: Ordering) -> Ordering {
        if self.descending {
            ascending.reverse()
        } else {
            ascending
        }
    }

    /// A table's `columns` with this sort's column marked (▲/▼ after its titles).
    pub fn mark(self, mut columns: Vec<Column>) -> Vec<Column> {
        if let Some(c) = columns.get_mut(self.column.index()) {
            *c = c.clone().sorted(self.descending);
        }
        columns
    }
}

/// What a list or pane learns only when drawn: the rows a page shows and, for a scrolled
/// pane, the furthest it scrolls. A `Cell`, so drawing (`&self`) can record it for the next
/// key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Viewport(Cell<(u16, u16)>);

impl Viewport {
    /// Record a draw: `page` rows shown, scrolling up to `max_scroll`.
    pub fn set(&self, page: u16, max_scroll: u16) {
        self.0.set((page, max_scroll));
    }

    /// Rows a page moves (at least 1).
    pub fn page(&self) -> usize {
        usize::from(self.0.get().0.max(1))
    }

    /// The furthest the pane scrolls.
    pub fn max_scroll(&self) -> u16 {
        self.0.get().1
    }
}

/// Move a list's `selected` row among `len` for a navigation command, `page` rows per page.
/// False (nothing changed) for any other command.
pub fn move_selection(selected: &mut usize, len: usize, command: Command, page: usize) -> bool {
    let last = len.saturating_sub(1);
    *selected = match command {
        Command::Down => (*selected + 1).min(last),
        Command::Up => selected.saturating_sub(1),
        Command::PageDown => (*selected + page).min(last),
        Command::PageUp => selected.saturating_sub(page),
        Command::Top => 0,
        Command::Bottom => last,
        _ => return false,
    };
    true
}

/// Scroll a pane's `offset` for a navigation command, within what `viewport` recorded. False
/// for any other command.
pub fn scroll(offset: &mut u16, command: Command, viewport: &Viewport) -> bool {
    let max = viewport.max_scroll();
    let page = u16::try_from(viewport.page()).unwrap_or(u16::MAX);
    let at = (*offset).min(max);
    *offset = match command {
        Command::Down => at.saturating_add(1).min(max),
        Command::Up => at.saturating_sub(1),
        Command::PageDown => at.saturating_add(page).min(max),
        Command::PageUp => at.saturating_sub(page),
        Command::Top => 0,
        Command::Bottom => max,
        _ => return false,
    };
    true
}

/// Draw `lines` wrapped into `area` from line `offset` (clamped to the end), recording the
/// pane's extent in `viewport`.
pub fn render_scrolled(lines: Vec<Line>, offset: u16, viewport: &Viewport, style: Style, area: Rect, buf: &mut Buffer) {
    let paragraph = Paragraph::new(lines).style(style).wrap(Wrap { trim: false });
    let total = paragraph.line_count(area.width);
    let max = u16::try_from(total.saturating_sub(usize::from(area.height))).unwrap_or(u16::MAX);
    viewport.set(area.height, max);
    paragraph.scroll((offset.min(max), 0)).render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_and_scroll_stay_within_bounds() {
        let mut at = 0;
        for (command, expect) in [
            (Command::Up, 0),
            (Command::Down, 1),
            (Command::PageDown, 6),
            (Command::Bottom, 9),
            (Command::Down, 9),
            (Command::PageUp, 4),
            (Command::Top, 0),
        ] {
            assert!(move_selection(&mut at, 10, command, 5));
            assert_eq!(at, expect, "{command:?}");
        }
        assert!(!move_selection(&mut at, 10, Command::Open, 5));
        let mut empty = 0;
        move_selection(&mut empty, 0, Command::Bottom, 5);
        assert_eq!(empty, 0);

        let viewport = Viewport::default();
        viewport.set(4, 7);
        let mut offset = 0;
        for (command, expect) in [
            (Command::Bottom, 7),
            (Command::Down, 7),
            (Command::PageUp, 3),
            (Command::Up, 2),
            (Command::PageDown, 6),
            (Command::Top, 0),
        ] {
            assert!(scroll(&mut offset, command, &viewport));
            assert_eq!(offset, expect, "{command:?}");
        }
    }
}

//! The header (database, session counts, events per minute, open alerts, objects queued for
//! deletion), the tab bar and the
//! footer (main keys, the filter prompt, or a toast).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};
use sessiond_core::store::StatusCounts;
use sessiond_core::store::deletions::DeletionBacklog;

use super::{Draw, Tab};
use crate::fmt;
use crate::keymap::{Scope, footer_entries};
use crate::theme::Theme;

/// What the header shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderView {
    /// The database, password redacted.
    pub database: String,
    /// `--read-only`.
    pub read_only: bool,
    /// Sessions per status (None until loaded).
    pub counts: Option<StatusCounts>,
    /// Audit events per minute, oldest first (the last is the current minute).
    pub per_minute: Vec<u64>,
    /// Open alerts (None until loaded).
    pub open_alerts: Option<i64>,
    /// Objects queued for deletion (`pending_object_deletions`); shown while any wait.
    pub pending_deletions: Option<DeletionBacklog>,
    /// Why the database is lost, while it is (the figures are then the last ones read).
    pub disconnected: Option<String>,
}

impl Draw for HeaderView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let [top, bottom] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
        let mut spans = vec![
            Span::styled("sessionctl ", t.accent),
            Span::styled(self.database.clone(), t.text),
        ];
        if self.read_only {
            spans.push(Span::styled("  READ-ONLY", t.warning));
        }
        Line::from(spans).render(top, buf);
        let counts = match self.counts {
            Some(c) => format!(
                "active {}  revoked {}  expired {}",
                fmt::count(c.active),
                fmt::count(c.revoked),
                fmt::count(c.expired)
            ),
            None => "counting sessions…".into(),
        };
        let alerts = match self.open_alerts {
            Some(n) => (format!(" │ alerts {n} open"), if n > 0 { t.critical } else { t.text }),
            None => (" │ alerts …".into(), t.dim),
        };
        let current = self.per_minute.last().copied().unwrap_or(0);
        let mut spans = vec![Span::styled(counts, t.text), Span::styled(alerts.0, alerts.1)];
        if self.disconnected.is_some() {
            // The last figures read, dimmed, after a mark that says they are old.
            spans = std::iter::once(Span::styled("DISCONNECTED", t.critical))
                .chain(std::iter::once(Span::styled(" stale: ", t.warning)))
                .chain(spans.into_iter().map(|s| s.style(t.dim)))
                .collect();
        }
        if let Some(d) = self.pending_deletions.filter(|d| d.pending > 0) {
            let text = if d.failing > 0 {
                format!(" │ deletions {} pending, {} failing", d.pending, d.failing)
            } else {
                format!(" │ deletions {} pending", d.pending)
            };
            spans.push(Span::styled(text, if d.failing > 0 { t.warning } else { t.text }));
        }
        if self.disconnected.is_some() {
            // Events per minute are of no use while none can be read, and the mark needs room.
            Line::from(spans).render(bottom, buf);
            return;
        }
        spans.push(Span::styled(format!(" │ ev/min {current:>4} "), t.text));
        let left = Line::from(spans);
        let lw = left.width() as u16;
        let [l, r] = Layout::horizontal([Constraint::Length(lw), Constraint::Fill(1)]).areas(bottom);
        left.render(l, buf);
        Sparkline::default()
            .data(
                self.per_minute
                    .iter()
                    .copied()
                    .rev()
                    .take(r.width as usize)
                    .rev()
                    .collect::<Vec<_>>(),
            )
            .style(t.accent)
            .render(r, buf);
    }
}

/// Most lines [`disconnected_lines`] takes.
pub const DISCONNECTED_LINES: usize = 3;

/// The lost database's reason, word-wrapped to `width` columns on at most
/// [`DISCONNECTED_LINES`] lines (the last one ends with `…` when that is not enough), drawn
/// above the footer while the console retries.
pub fn disconnected_lines(reason: &str, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let text = format!("disconnected: {reason} — retrying");
    wrap(&text, usize::from(width.saturating_sub(1)).max(10), DISCONNECTED_LINES)
        .into_iter()
        .map(|l| Line::from(Span::styled(format!(" {l}"), theme.critical)))
        .collect()
}

/// Greedy word wrap of `text` to `width` columns, at most `max` lines; a word longer than a
/// line is split, and text that does not fit ends the last line with `…`.
fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut overflow = false;
    for word in text.split_whitespace() {
        let mut word = word.to_owned();
        loop {
            let used = line.chars().count();
            let gap = usize::from(used > 0);
            let len = word.chars().count();
            if used + gap + len <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if used == 0 {
                // Longer than a whole line: split it.
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                lines.push(head);
            } else {
                lines.push(std::mem::take(&mut line));
            }
            if lines.len() == max {
                overflow = true;
                break;
            }
        }
        if overflow {
            break;
        }
    }
    if !overflow && !line.is_empty() {
        lines.push(line);
    }
    if overflow && let Some(last) = lines.last_mut() {
        let keep: String = last.chars().take(width.saturating_sub(1)).collect();
        *last = format!("{keep}…");
    }
    lines
}

/// The tab bar.
pub fn tabs_line(active: Tab, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, tab) in Tab::ALL.into_iter().enumerate() {
        let name = tab.title();
        let style = if tab == active {
            theme.selected.patch(theme.accent)
        } else {
            theme.dim
        };
        spans.push(Span::styled(format!(" {} {name} ", i + 1), style));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// The footer's key hints for `scope`.
pub fn footer_line(scope: Scope, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (key, label) in footer_entries(scope) {
        spans.push(Span::styled(format!(" {key}"), theme.key));
        spans.push(Span::styled(format!(" {label} "), theme.dim));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces_splits_long_words_and_marks_what_is_cut() {
        assert_eq!(wrap("one two three", 7, 3), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4, 3), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("aa bb cc dd ee", 5, 2), vec!["aa bb", "cc d…"]);
        assert!(wrap("", 5, 2).is_empty());
        for l in wrap(
            "database \"sessiond_t_0123456789abcdef\" does not exist on 127.0.0.1:5432",
            20,
            9,
        ) {
            assert!(l.chars().count() <= 20, "{l}");
        }
    }
}

//! The header (database, the zone of the times shown, session counts, events per minute, open
//! alerts, objects queued for deletion), the tab bar and the footer (main keys, the filter
//! prompt, or a toast). On a narrow terminal the header leaves out whole figures, never a digit.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};
use sessiond_core::store::StatusCounts;
use sessiond_core::store::deletions::DeletionBacklog;

use super::fit::{self, width};
use super::{Draw, Tab};
use crate::fmt::{self, Zone};
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
    /// The zone times are shown in.
    pub zone: Zone,
    /// Why the database is lost, while it is (the figures are then the last ones read).
    pub disconnected: Option<String>,
}

impl Draw for HeaderView {
    fn draw(&self, area: Rect, buf: &mut Buffer, t: &Theme) {
        let [top, bottom] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
        // Top: the database gets what the name, READ-ONLY and the zone leave (cut with `…`);
        // the zone goes first when the line is short.
        let read_only = if self.read_only { "  READ-ONLY" } else { "" };
        let zone = format!("  times {}", self.zone.name());
        let fixed = width("sessionctl ") + width(read_only);
        let room = usize::from(top.width).saturating_sub(fixed);
        let zone = if room >= width(&zone) + 12 { zone } else { String::new() };
        let database = fmt::clip(&self.database, room.saturating_sub(width(&zone)));
        Line::from(vec![
            Span::styled("sessionctl ", t.accent),
            Span::styled(database, t.text),
            Span::styled(read_only, t.warning),
            Span::styled(zone, t.dim),
        ])
        .render(top, buf);
        let mut items = match self.counts {
            Some(c) => vec![
                (Span::styled(format!("active {}", fmt::count(c.active)), t.text), 90),
                (Span::styled(format!("  revoked {}", fmt::count(c.revoked)), t.text), 60),
                (Span::styled(format!("  expired {}", fmt::count(c.expired)), t.text), 55),
            ],
            None => vec![(Span::styled("counting sessions…", t.text), 90)],
        };
        items.push(match self.open_alerts {
            Some(n) => (
                Span::styled(
                    format!(" │ alerts {} open", fmt::count(n)),
                    if n > 0 { t.critical } else { t.text },
                ),
                95,
            ),
            None => (Span::styled(" │ alerts …", t.dim), 95),
        });
        let current = self.per_minute.last().copied().unwrap_or(0);
        if let Some(d) = self.pending_deletions.filter(|d| d.pending > 0) {
            let text = if d.failing > 0 {
                format!(
                    " │ deletions {} pending, {} failing",
                    fmt::count(d.pending),
                    fmt::count(d.failing)
                )
            } else {
                format!(" │ deletions {} pending", fmt::count(d.pending))
            };
            items.push((Span::styled(text, if d.failing > 0 { t.warning } else { t.text }), 70));
        }
        if self.disconnected.is_some() {
            // The last figures read, dimmed, after a mark that says they are old; events per
            // minute are of no use while none can be read, and the mark needs room.
            let mut marked = vec![
                (Span::styled("DISCONNECTED", t.critical), 100),
                (Span::styled(" stale: ", t.warning), 99),
            ];
            marked.extend(items.into_iter().map(|(s, keep)| (s.style(t.dim), keep)));
            fit::line(marked, bottom.width).render(bottom, buf);
            return;
        }
        items.push((Span::styled(format!(" │ ev/min {current:>4} "), t.text), 40));
        let left = fit::line(items, bottom.width);
        // The sparkline is the ev/min figure's history: without its label it would be a
        // picture of nothing in particular.
        let spark = left.spans.last().is_some_and(|s| s.content.contains("ev/min"));
        let lw = left.width() as u16;
        let [l, r] = Layout::horizontal([Constraint::Length(lw), Constraint::Fill(1)]).areas(bottom);
        left.render(l, buf);
        if !spark {
            return;
        }
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

//! Tables and title lines that fit their width without cutting a value. A column has one or
//! more forms, widest first (a time with its date, then without), each ranked by how much it
//! is worth keeping; while the table is too wide, the lowest-ranked step is taken: a column
//! gives up its form for the next one, or goes when it is at its narrowest. Title lines drop
//! whole items the same way. So a number or a time is shown whole or not at all, and the
//! columns that matter least go first.

use ratatui::layout::Constraint;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

/// Space between columns (ratatui's `Table` default).
const SPACING: u16 = 1;

/// The rank of a sort arrow in a header ([`Column::sorted`]): below every column's.
const ARROW_KEEP: u8 = 0;

/// Display width of `s` (as ratatui measures it).
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
}

#[derive(Debug, Clone)]
struct Form {
    title: String,
    width: u16,
    keep: u8,
    /// Which of the column's value forms it shows ([`Fit::form`]): a sorted column's title
    /// comes with and without its arrow for the same values.
    values: usize,
}

impl Form {
    fn new(title: String, width: usize, keep: u8) -> Self {
        let w = width.max(self::width(&title));
        Self {
            title,
            width: u16::try_from(w).unwrap_or(u16::MAX),
            keep,
            values: 0,
        }
    }
}

/// A column: its forms, widest first.
#[derive(Debug, Clone)]
pub struct Column {
    forms: Vec<Form>,
    /// Takes the width left over, up to this much.
    fill: Option<u16>,
}

impl Column {
    /// A column whose values are at most `width` wide (the title widens it when longer).
    /// `keep` ranks it against the other steps: the lowest goes first.
    pub fn new(title: impl Into<String>, width: usize, keep: u8) -> Self {
        Self {
            forms: vec![Form::new(title.into(), width, keep)],
            fill: None,
        }
    }

    /// A narrower form, taken when the previous one gives way; `keep` ranks giving up this
    /// one in turn (dropping the column, when it is the last).
    pub fn or(mut self, title: impl Into<String>, width: usize, keep: u8) -> Self {
        let values = self.forms.len();
        self.forms.push(Form {
            values,
            ..Form::new(title.into(), width, keep)
        });
        self
    }

    /// This column is the table's order: ▲ (ascending) or ▼ (descending) after its title. The
    /// arrow is worth less than any value: when it would widen a form the table has no room
    /// for, it is the first thing to go (each form is preceded by itself with the arrow, ranked
    /// below every other step), so marking the order never drops a column.
    pub fn sorted(mut self, descending: bool) -> Self {
        let arrow = if descending { "▼" } else { "▲" };
        self.forms = std::mem::take(&mut self.forms)
            .into_iter()
            .flat_map(|f| {
                let marked = Form {
                    values: f.values,
                    ..Form::new(format!("{}{arrow}", f.title), usize::from(f.width), ARROW_KEEP)
                };
                [marked, f]
            })
            .collect();
        if let (Some(max), Some(first)) = (self.fill, self.forms.first()) {
            self.fill = Some(max.max(first.width));
        }
        self
    }

    /// A column that takes the width left over, at least `min` and at most `max` (its
    /// widest value: the rest stays blank at the end of the row rather than pushing the
    /// columns after it away). Its values are cut to fit, marked with `…`.
    pub fn fill(title: impl Into<String>, min: usize, max: usize, keep: u8) -> Self {
        let form = Form::new(title.into(), min.min(max), keep);
        let max = u16::try_from(max).unwrap_or(u16::MAX).max(form.width);
        Self {
            forms: vec![form],
            fill: Some(max),
        }
    }
}

/// The form a column is shown in, and its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// Index of the form (0 = widest).
    pub form: usize,
    /// Columns it gets.
    pub width: u16,
}

/// Columns fitted to a width.
#[derive(Debug, Clone)]
pub struct Fitted {
    columns: Vec<Column>,
    fits: Vec<Option<Fit>>,
    /// The form each shown column takes (its title), by column.
    forms: Vec<Option<usize>>,
}

impl Fitted {
    /// Fit `columns` into `width`.
    pub fn new(columns: Vec<Column>, width: u16) -> Self {
        let mut forms: Vec<Option<usize>> = vec![Some(0); columns.len()];
        let total = |forms: &[Option<usize>]| -> u32 {
            let shown: Vec<u32> = forms
                .iter()
                .zip(&columns)
                .filter_map(|(f, c)| f.map(|f| u32::from(c.forms[f].width)))
                .collect();
            shown.iter().sum::<u32>() + u32::from(SPACING) * (shown.len().saturating_sub(1) as u32)
        };
        while total(&forms) > u32::from(width) {
            // The cheapest step; on a tie the rightmost column gives way.
            let Some(i) = (0..columns.len())
                .filter_map(|i| forms[i].map(|f| (i, columns[i].forms[f].keep)))
                .min_by_key(|&(i, keep)| (keep, std::cmp::Reverse(i)))
                .map(|(i, _)| i)
            else {
                break;
            };
            forms[i] = forms[i].map(|f| f + 1).filter(|f| *f < columns[i].forms.len());
        }
        let mut spare = u32::from(width).saturating_sub(total(&forms));
        let fits = forms
            .iter()
            .enumerate()
            .map(|(i, f)| {
                f.map(|form| {
                    let mut width = u32::from(columns[i].forms[form].width);
                    if let Some(max) = columns[i].fill {
                        let more = spare.min(u32::from(max).saturating_sub(width));
                        width += more;
                        spare -= more;
                    }
                    Fit {
                        form: columns[i].forms[form].values,
                        width: u16::try_from(width).unwrap_or(u16::MAX),
                    }
                })
            })
            .collect();
        Self { columns, fits, forms }
    }

    /// How column `i` is shown (`None`: dropped).
    pub fn get(&self, i: usize) -> Option<Fit> {
        self.fits.get(i).copied().flatten()
    }

    /// The table's column widths (the shown columns only).
    pub fn widths(&self) -> Vec<Constraint> {
        self.fits
            .iter()
            .flatten()
            .map(|f| Constraint::Length(f.width))
            .collect()
    }

    /// The header row: each shown column's title in its form.
    pub fn header(&self) -> Row<'static> {
        Row::new(
            self.forms
                .iter()
                .zip(&self.columns)
                .filter_map(|(f, c)| f.map(|f| Cell::from(c.forms[f].title.clone()))),
        )
    }

    /// A row: `cell(i, fit)` for each shown column `i`.
    pub fn row<'a>(&self, mut cell: impl FnMut(usize, Fit) -> Cell<'a>) -> Row<'a> {
        Row::new(
            self.fits
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.map(|f| cell(i, f)))
                .collect::<Vec<_>>(),
        )
    }
}

/// A title line of `items` (a span and its rank) fitted to `width`: the lowest-ranked items
/// are left out, whole, until the rest fits (possibly none); the others keep their order.
pub fn line<'a>(items: Vec<(Span<'a>, u8)>, width: u16) -> Line<'a> {
    let mut shown: Vec<bool> = vec![true; items.len()];
    let total = |shown: &[bool]| -> usize {
        items
            .iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|((span, _), _)| span.width())
            .sum()
    };
    while total(&shown) > usize::from(width) {
        let Some(i) = (0..items.len())
            .filter(|&i| shown[i])
            .min_by_key(|&i| (items[i].1, std::cmp::Reverse(i)))
        else {
            break;
        };
        shown[i] = false;
    }
    Line::from(
        items
            .into_iter()
            .zip(shown)
            .filter_map(|((span, _), s)| s.then_some(span))
            .collect::<Vec<_>>(),
    )
}

/// The width of the widest of `values` (at least 1).
pub fn widest<I, S>(values: I) -> usize
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    values.into_iter().map(|v| width(v.as_ref())).max().unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(f: &Fitted) -> Vec<Option<(usize, u16)>> {
        f.fits.iter().map(|x| x.map(|x| (x.form, x.width))).collect()
    }

    #[test]
    fn a_sort_arrow_gives_way_before_any_column() {
        let titles = |f: &Fitted| -> Vec<String> {
            f.forms
                .iter()
                .zip(&f.columns)
                .filter_map(|(i, c)| i.map(|i| c.forms[i].title.clone()))
                .collect()
        };
        // Values 6 wide under "status": the arrow widens the column to 7.
        let cols = || {
            vec![
                Column::new("id", 4, 40),
                Column::new("status", 6, 20).or("st", 4, 70).sorted(false),
            ]
        };
        let wide = Fitted::new(cols(), 12);
        assert_eq!(titles(&wide), ["id", "status▲"]);
        assert_eq!(shown(&wide), [Some((0, 4)), Some((0, 7))]);
        // One column short: the arrow goes, not the id, and the values keep their form.
        let exact = Fitted::new(cols(), 11);
        assert_eq!(titles(&exact), ["id", "status"]);
        assert_eq!(shown(&exact), [Some((0, 4)), Some((0, 6))]);
        // A narrower form carries it too ("st▲" fits the 4 columns of its values).
        let narrow = Fitted::new(cols(), 9);
        assert_eq!(titles(&narrow), ["id", "st▲"]);
        assert_eq!(shown(&narrow), [Some((0, 4)), Some((1, 4))]);
        // Values wider than the title: the arrow costs nothing.
        let long = Fitted::new(vec![Column::new("status", 12, 20).sorted(true)], 12);
        assert_eq!(
            (titles(&long), shown(&long)),
            (vec!["status▼".to_owned()], vec![Some((0, 12))])
        );
    }

    #[test]
    fn the_cheapest_step_goes_first_and_nothing_overflows() {
        let cols = || {
            vec![
                Column::new("id", 4, 40),
                Column::new("status", 12, 20).or("st", 4, 70),
                Column::fill("subject", 10, 30, 90),
                Column::new("count", 6, 85),
            ]
        };
        // Everything fits: the fill column takes the rest, up to its widest value.
        assert_eq!(
            shown(&Fitted::new(cols(), 40)),
            [Some((0, 4)), Some((0, 12)), Some((0, 15)), Some((0, 6))]
        );
        assert_eq!(
            shown(&Fitted::new(cols(), 100)),
            [Some((0, 4)), Some((0, 12)), Some((0, 30)), Some((0, 6))]
        );
        // 4+12+10+6+3 = 35 > 30: status narrows first (keep 20).
        assert_eq!(
            shown(&Fitted::new(cols(), 30)),
            [Some((0, 4)), Some((1, 4)), Some((0, 13)), Some((0, 6))]
        );
        // 4+4+10+6+3 = 27 > 20: id goes (40), then 21 > 20: status goes (70).
        assert_eq!(
            shown(&Fitted::new(cols(), 20)),
            [None, None, Some((0, 13)), Some((0, 6))]
        );
        for w in 0..50 {
            let f = Fitted::new(cols(), w);
            let used: u16 = f.fits.iter().flatten().map(|x| x.width + 1).sum::<u16>();
            assert!(used.saturating_sub(1) <= w, "{w}");
        }
    }

    #[test]
    fn titles_widen_their_column_and_lines_drop_whole_items() {
        let f = Fitted::new(vec![Column::new("time (UTC)", 8, 50)], 80);
        assert_eq!(f.get(0), Some(Fit { form: 0, width: 10 }));
        let items = || {
            vec![
                (Span::raw("active 999,123"), 90),
                (Span::raw("  revoked 12"), 60),
                (Span::raw("  expired 24"), 50),
            ]
        };
        assert_eq!(line(items(), 40).to_string(), "active 999,123  revoked 12  expired 24");
        assert_eq!(line(items(), 30).to_string(), "active 999,123  revoked 12");
        assert_eq!(line(items(), 20).to_string(), "active 999,123");
        // Not even the first fits: nothing rather than a cut number.
        assert_eq!(line(items(), 5).to_string(), "");
    }
}

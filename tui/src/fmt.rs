//! Formatting shared by the views and the subcommands: times in UTC, compact counts.

use chrono::{DateTime, Utc};
use sessiond_core::domain::from_millis;

/// `2026-11-28 01:02:03` (UTC).
pub fn datetime(ms: i64) -> String {
    from_millis(ms).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `11-28 01:02` (UTC), for narrow columns.
pub fn short(ms: i64) -> String {
    from_millis(ms).format("%m-%d %H:%M").to_string()
}

/// `01:02:03` (UTC).
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// `1,234,567`.
pub fn count(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Cut `s` to `width` characters, marking the cut with `…`.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_get_separators() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(1_000_000), "1,000,000");
        assert_eq!(super::count(-12_345), "-12,345");
        assert_eq!(super::clip("abcdef", 4), "abc…");
    }
}

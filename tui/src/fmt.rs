//! Formatting shared by the views and the subcommands: times (the subcommands' in UTC, the
//! console's in its [`Zone`]), compact counts.

use std::ffi::OsStr;

use chrono::{DateTime, Utc};
use chrono_tz::{OffsetName, Tz};
use sessiond_core::domain::from_millis;

/// The zone the console shows times in: UTC, or a zone of the tz database (from `TZ`, else
/// the system's), never a bare offset: a zone knows its summer time, and its abbreviation
/// labels the times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zone(Option<Tz>);

impl Zone {
    /// Coordinated Universal Time (the default, and `--utc`).
    pub const UTC: Zone = Zone(None);

    /// The tz database zone `name` (`Europe/Paris`); `UTC`, `Etc/UTC` and their aliases are
    /// [`Zone::UTC`]. `None` when the database has no such zone.
    pub fn named(name: &str) -> Option<Zone> {
        use chrono::TimeZone;
        let tz: Tz = name.parse().ok()?;
        // The UTC aliases (Etc/UTC, UCT, Universal, Zulu) all call their one offset "UTC".
        let utc = tz
            .offset_from_utc_datetime(&chrono::NaiveDateTime::default())
            .abbreviation()
            == Some("UTC");
        Some(if utc { Zone::UTC } else { Zone(Some(tz)) })
    }

    /// `UTC` or the zone's tz database name.
    pub fn name(&self) -> &'static str {
        self.0.map_or("UTC", |tz| tz.name())
    }

    /// Whether this is UTC.
    pub fn is_utc(&self) -> bool {
        self.0.is_none()
    }

    fn format(&self, t: DateTime<Utc>, pattern: &str) -> String {
        match self.0 {
            None => t.format(pattern).to_string(),
            Some(tz) => t.with_timezone(&tz).format(pattern).to_string(),
        }
    }

    /// The zone's abbreviation at `t`: `UTC`, `CET`, `CEST`, `-03`.
    pub fn abbreviation(&self, t: DateTime<Utc>) -> String {
        self.format(t, "%Z")
    }

    /// `2026-01-08 10:15:30 UTC`: a time standing alone (detail panes), with its zone.
    pub fn datetime(&self, t: DateTime<Utc>) -> String {
        self.format(t, "%Y-%m-%d %H:%M:%S %Z")
    }

    /// [`Zone::datetime`] of Unix milliseconds.
    pub fn datetime_ms(&self, ms: i64) -> String {
        self.datetime(from_millis(ms))
    }

    /// `2026-01-08 10:15:30`, for a column labelled with the zone.
    pub fn long(&self, ms: i64) -> String {
        self.format(from_millis(ms), "%Y-%m-%d %H:%M:%S")
    }

    /// `01-08 10:15:30`.
    pub fn day_time(&self, t: DateTime<Utc>) -> String {
        self.format(t, "%m-%d %H:%M:%S")
    }

    /// `01-08 10:15`.
    pub fn short(&self, ms: i64) -> String {
        self.format(from_millis(ms), "%m-%d %H:%M")
    }

    /// `10:15:30`.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        self.format(t, "%H:%M:%S")
    }

    /// `10:15`.
    pub fn hour_minute(&self, ms: i64) -> String {
        self.format(from_millis(ms), "%H:%M")
    }

    /// The label of a column of `times`: `UTC`; in another zone, the abbreviation the times
    /// share (`CET`), or `local` when they straddle a change (winter and summer time).
    pub fn label(&self, times: impl IntoIterator<Item = DateTime<Utc>>) -> String {
        if self.is_utc() {
            return "UTC".into();
        }
        let mut label: Option<String> = None;
        for t in times {
            let a = self.abbreviation(t);
            match &label {
                None => label = Some(a),
                Some(l) if *l == a => {}
                Some(_) => return "local".into(),
            }
        }
        label.unwrap_or_else(|| "local".into())
    }

    /// The console's zone: UTC with `--utc` (`utc`); else the `TZ` variable's zone (`tz`: a
    /// tz database name, optionally after `:`, or a path into a `zoneinfo` directory; empty
    /// means UTC, as for the C library); else the system's (`system`: its tz database name).
    /// A `TZ` this console cannot read falls back to UTC with the warning returned.
    pub fn resolve(utc: bool, tz: Option<&OsStr>, system: impl FnOnce() -> Option<String>) -> (Zone, Option<String>) {
        if utc {
            return (Zone::UTC, None);
        }
        let Some(raw) = tz else {
            // No TZ: the system's zone; a system without one is on UTC.
            return match system() {
                Some(name) => match Zone::named(&name) {
                    Some(z) => (z, None),
                    None => (
                        Zone::UTC,
                        Some(format!("times in UTC: the system time zone `{name}` is unknown here")),
                    ),
                },
                None => (Zone::UTC, None),
            };
        };
        // The outcome first: a footer on a narrow terminal shows the start.
        let unreadable = || {
            (
                Zone::UTC,
                Some(format!(
                    "times in UTC: TZ={} is not a time zone name (such as Europe/Paris)",
                    raw.to_string_lossy()
                )),
            )
        };
        let Some(text) = raw.to_str() else { return unreadable() };
        let name = text.strip_prefix(':').unwrap_or(text);
        if name.is_empty() {
            return (Zone::UTC, None);
        }
        let name = if name == "/etc/localtime" {
            match system() {
                Some(n) => n,
                None => return (Zone::UTC, None),
            }
        } else if name.starts_with('/') {
            match name.find("zoneinfo/") {
                Some(i) => name[i + "zoneinfo/".len()..].to_owned(),
                None => return unreadable(),
            }
        } else {
            name.to_owned()
        };
        match Zone::named(&name) {
            Some(z) => (z, None),
            None => unreadable(),
        }
    }

    /// The console's zone from the process environment (see [`Zone::resolve`]).
    pub fn from_env(utc: bool) -> (Zone, Option<String>) {
        Zone::resolve(utc, std::env::var_os("TZ").as_deref(), || {
            iana_time_zone::get_timezone().ok()
        })
    }
}

/// `2026-11-28 01:02:03Z`: UTC, and marked so (the subcommands' tables; JSON has RFC 3339).
pub fn datetime(ms: i64) -> String {
    from_millis(ms).format("%Y-%m-%d %H:%M:%SZ").to_string()
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
    use std::ffi::OsStr;

    use chrono::TimeZone;

    use super::Zone;

    #[test]
    fn zones_come_from_tz_then_the_system_and_bad_values_fall_back_to_utc() {
        let system = || Some("Europe/Paris".to_owned());
        let paris = Zone::named("Europe/Paris").expect("zone");
        let tz = |v: &str| Zone::resolve(false, Some(OsStr::new(v)), system);
        assert_eq!(
            Zone::resolve(true, Some(OsStr::new("Asia/Tokyo")), system),
            (Zone::UTC, None)
        );
        assert_eq!(Zone::resolve(false, None, system), (paris, None));
        assert_eq!(Zone::resolve(false, None, || None), (Zone::UTC, None));
        assert_eq!(tz("Asia/Tokyo").0.name(), "Asia/Tokyo");
        assert_eq!(tz(":America/New_York").0.name(), "America/New_York");
        assert_eq!(tz("/usr/share/zoneinfo/Asia/Kolkata").0.name(), "Asia/Kolkata");
        assert_eq!(tz(":/etc/localtime"), (paris, None));
        for utc in ["", "UTC", "Etc/UTC", "Zulu", ":UTC"] {
            assert_eq!(tz(utc), (Zone::UTC, None), "{utc:?}");
        }
        for bad in [
            "Mars/Olympus",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "/tmp/x",
            "../../etc/passwd",
            "\u{0}",
        ] {
            let (zone, warning) = tz(bad);
            assert_eq!(zone, Zone::UTC, "{bad:?}");
            assert!(warning.is_some_and(|w| w.starts_with("times in UTC: TZ=")), "{bad:?}");
        }
        let (zone, warning) = Zone::resolve(false, None, || Some("Nowhere/Special".into()));
        assert_eq!(zone, Zone::UTC);
        assert!(warning.is_some());
    }

    #[test]
    fn times_are_shown_in_the_zone_and_labelled() {
        let winter = chrono::Utc
            .with_ymd_and_hms(2026, 1, 8, 10, 15, 30)
            .single()
            .expect("time");
        let summer = chrono::Utc
            .with_ymd_and_hms(2026, 7, 8, 10, 15, 30)
            .single()
            .expect("time");
        let paris = Zone::named("Europe/Paris").expect("zone");
        assert_eq!(Zone::UTC.datetime(winter), "2026-01-08 10:15:30 UTC");
        assert_eq!(paris.datetime(winter), "2026-01-08 11:15:30 CET");
        assert_eq!(paris.datetime(summer), "2026-07-08 12:15:30 CEST");
        assert_eq!(paris.time(winter), "11:15:30");
        assert_eq!(Zone::UTC.label([winter, summer]), "UTC");
        assert_eq!(paris.label([winter, winter]), "CET");
        assert_eq!(paris.label([winter, summer]), "local");
    }

    #[test]
    fn counts_get_separators() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(1_000_000), "1,000,000");
        assert_eq!(super::count(-12_345), "-12,345");
        assert_eq!(super::clip("abcdef", 4), "abc…");
    }
}

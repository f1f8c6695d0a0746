//! Value types of config keys: durations written `30s`, rates written `10/minute`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written `30s`, `5m`, `1h`, `30d` (humantime syntax).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// `s` seconds (usable in `const` defaults).
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
    /// As a [`Duration`].
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Display for HumanDuration {
    /// In the largest unit that divides it (`365d`, `90m`, `1500ms`): what a person writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let unit = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
            (1, "ms"),
        ]
        .into_iter()
        .find(|(size, _)| ms.is_multiple_of(*size) && (ms > 0 || *size == 1000));
        match unit {
            Some((size, name)) if self.0.subsec_nanos().is_multiple_of(1_000_000) => write!(f, "{}{name}", ms / size),
            _ => write!(f, "{}", humantime::format_duration(self.0)),
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        humantime::parse_duration(raw.trim()).map(HumanDuration).map_err(|e| {
            serde::de::Error::custom(format!("`{raw}` is not a duration ({e}); write e.g. 30s, 5m, 1h, 30d"))
        })
    }
}

/// The period of a [`Quota`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
}

impl Period {
    /// Length of the period.
    pub const fn duration(self) -> Duration {
        match self {
            Period::Second => Duration::from_secs(1),
            Period::Minute => Duration::from_secs(60),
            Period::Hour => Duration::from_secs(3600),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
        }
    }
}

/// A rate: `count` requests per `period`, burst = `count` (written `10/minute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per period (and the burst).
    pub count: u32,
    /// Over which `count` requests are allowed.
    pub period: Period,
}

impl FromStr for Quota {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a quota; write N/second, N/minute or N/hour");
        let (count, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("`{s}`: the count must be at least 1"));
        }
        let period = match period.trim() {
            "second" | "s" | "sec" => Period::Second,
            "minute" | "m" | "min" => Period::Minute,
            "hour" | "h" => Period::Hour,
            _ => return Err(bad()),
        };
        Ok(Quota { count, period })
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period.name())
    }
}

impl Serialize for Quota {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Quota {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

//! Sessions as the service sees them: status, timestamps and expiry rules (SPEC §2.2).

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A session's stored status. Expiry is also evaluated on every read, see
/// [`Session::effective_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Live.
    Active,
    /// Reset by the client or an administrator.
    Revoked,
    /// Idle or too old.
    Expired,
}

impl SessionStatus {
    /// The stored and wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Revoked => "revoked",
            SessionStatus::Expired => "expired",
        }
    }
    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(SessionStatus::Active),
            "revoked" => Some(SessionStatus::Revoked),
            "expired" => Some(SessionStatus::Expired),
            _ => None,
        }
    }
    /// Every status, in display order.
    pub const ALL: [SessionStatus; 3] = [SessionStatus::Active, SessionStatus::Revoked, SessionStatus::Expired];
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: tables align these with `{:<9}`.
        f.pad(self.as_str())
    }
}

/// Idle and absolute timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Sliding idle expiry.
    pub idle: chrono::Duration,
    /// Expiry counted from creation.
    pub absolute: chrono::Duration,
}

impl Timeouts {
    /// From the config's std durations (saturating at ~292 million years).
    pub fn new(idle: std::time::Duration, absolute: std::time::Duration) -> Self {
        let conv = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Self {
            idle: conv(idle),
            absolute: conv(absolute),
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The session UUID.
    pub id: Uuid,
    /// Stored status (see [`Session::effective_status`]).
    pub status: SessionStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful validation.
    pub last_seen_at: DateTime<Utc>,
    /// When it was revoked or marked expired.
    pub ended_at: Option<DateTime<Utc>>,
    /// `client`, `admin:<name>` or `system`.
    pub ended_by: Option<String>,
    /// Client facts given at creation.
    pub user_info: Option<serde_json::Value>,
    /// Address that created it (anonymized after `privacy.ip_retention_days`).
    pub created_ip: Option<String>,
    /// Address of the last validation.
    pub last_ip: Option<String>,
}

impl Session {
    /// The earlier of idle and absolute expiry.
    pub fn expires_at(&self, t: &Timeouts) -> DateTime<Utc> {
        let idle = self
            .last_seen_at
            .checked_add_signed(t.idle)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let absolute = self
            .created_at
            .checked_add_signed(t.absolute)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        idle.min(absolute)
    }

    /// Status as of `now`: an active session past its time is expired even before the expiry
    /// job marks it.
    pub fn effective_status(&self, now: DateTime<Utc>, t: &Timeouts) -> SessionStatus {
        match self.status {
            SessionStatus::Active if now >= self.expires_at(t) => SessionStatus::Expired,
            s => s,
        }
    }
}

/// Current time truncated to milliseconds, the precision we store and answer.
pub fn now_millis() -> DateTime<Utc> {
    from_millis(Utc::now().timestamp_millis())
}

/// Unix milliseconds to a UTC time (clamped to the representable range).
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// RFC 3339 UTC with millisecond precision: `2026-01-08T10:15:30.123Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

//! The audit trail's vocabulary (SPEC §4): event types, severities, actors and the event row.
//! The group-commit writer that stores events lives in [`crate::writer`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// Every audit event type. The dotted names are stable: dashboards and alert rules
        /// match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $(#[doc = $name] $variant,)* }

        impl EventType {
            /// Every event type.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];
            /// The stored, dotted name.
            pub const fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }
            /// Parse a dotted name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(EventType::$variant),)* _ => None }
            }
        }
    };
}

event_types! {
    SessionGenerated => "session.generated",
    SessionValidated => "session.validated",
    SessionValidationFailed => "session.validation_failed",
    SessionRead => "session.read",
    SessionReset => "session.reset",
    SessionExpired => "session.expired",
    SessionPurged => "session.purged",
    UploadAccepted => "upload.accepted",
    UploadRejected => "upload.rejected",
    UploadAborted => "upload.aborted",
    UploadDeleted => "upload.deleted",
    RateLimitExceeded => "rate_limit.exceeded",
    RequestRejected => "request.rejected",
    RequestError => "request.error",
    AlertRaised => "alert.raised",
    AlertAcknowledged => "alert.acknowledged",
    AlertUnacknowledged => "alert.unacknowledged",
    NotificationSent => "notification.sent",
    NotificationFailed => "notification.failed",
    JobCompleted => "job.completed",
    JobFailed => "job.failed",
    JobRequested => "job.requested",
    DependencyDown => "dependency.down",
    DependencyUp => "dependency.up",
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Normal operation.
    Info,
    /// A refusal or something an operator may want to look at.
    Warning,
    /// A bug or an outage.
    Critical,
}

impl Severity {
    /// Stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: tables align these with `{:<9}`.
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("`{s}` is not a severity (info, warning, critical)"))
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An API client.
    Client,
    /// An operator, by name (`admin:<os user>`).
    Admin(String),
    /// The daemon itself (jobs).
    System,
}

impl Actor {
    /// Stored form: `client`, `admin:<name>`, `system`.
    pub fn to_stored(&self) -> String {
        match self {
            Actor::Client => "client".into(),
            Actor::Admin(name) => format!("admin:{name}"),
            Actor::System => "system".into(),
        }
    }
}

/// Facts about the request (or job) that caused an event.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The request id (`X-Request-Id`), or a job run id.
    pub request_id: String,
    /// Client IP as resolved by the daemon.
    pub ip: Option<String>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// Who.
    pub actor: Actor,
}

impl Origin {
    /// An origin for work the daemon does by itself.
    pub fn system(request_id: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
            ip: None,
            user_agent: None,
            actor: Actor::System,
        }
    }
}

/// An event to be written.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened.
    pub event_type: EventType,
    /// How much it matters.
    pub severity: Severity,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Stored actor.
    pub actor: String,
    /// Event-specific facts.
    pub metadata: serde_json::Value,
}

impl NewEvent {
    /// An event caused by `origin`.
    pub fn new(
        origin: &Origin,
        at: DateTime<Utc>,
        event_type: EventType,
        severity: Severity,
        session_id: Option<Uuid>,
        metadata: serde_json::Value,
    ) -> Self {
        Self {
            occurred_at: at,
            event_type,
            severity,
            session_id,
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            request_id: Some(origin.request_id.clone()),
            actor: origin.actor.to_stored(),
            metadata,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Monotonic id; the cursor for live tails.
    pub id: i64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Dotted type name (kept as text so rows written by newer versions still load).
    pub event_type: String,
    /// `info`, `warning` or `critical` ([`Severity`]'s stored form), kept as text like
    /// `event_type`: `sessionctl audit verify` must load a row whose text was tampered with
    /// and report the broken link, not fail to decode it.
    pub severity: String,
    /// The session concerned.
    pub session_id: Option<Uuid>,
    /// Client IP (anonymized after retention).
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// `client`, `admin:<name>`, `system`.
    pub actor: String,
    /// Event-specific facts.
    pub metadata: serde_json::Value,
}

/// Which events to list, newest or oldest first: the one audit query of the store
/// ([`crate::store::Store::list_audit`]), for the API's jobs, scripts and the console alike.
/// A session filter looks the session's events up by index (on SQLite through the segment
/// index of migration 0008, on PostgreSQL through `audit_events_session`); the other filters
/// are checked while walking the id index. The console keeps its filter as a query with only
/// the filter fields set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only ids greater than this (live tail cursor).
    pub after_id: Option<i64>,
    /// Only ids smaller than this (paging backwards).
    pub before_id: Option<i64>,
    /// Only this session.
    pub session_id: Option<Uuid>,
    /// Only this request.
    pub request_id: Option<String>,
    /// Only this IP.
    pub ip: Option<String>,
    /// Only this type (dotted name).
    pub event_type: Option<String>,
    /// Only this severity.
    pub severity: Option<Severity>,
    /// Leave out routine system events: those the daemon writes about itself (actor `system`),
    /// for no session, at severity `info` (`job.completed`, `notification.sent`,
    /// `dependency.up`, …). Failures and warnings (`job.failed`, `dependency.down`) and the
    /// system's events about a session (`session.expired`) stay. Filtered in the query, so a
    /// page still holds `limit` of the other events.
    pub hide_routine_system: bool,
    /// At most this many (capped at 10 000).
    pub limit: u32,
    /// Oldest first (tails) instead of newest first.
    pub ascending: bool,
}

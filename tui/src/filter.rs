//! Filter values as an operator types them, parsed once for the subcommands' flags and the
//! console's `/` prompt alike: case-insensitive, the console's own abbreviations (`WARN`,
//! `CRIT`) accepted, and anything unknown an error naming what is accepted (an event type
//! close to a real one gets a "did you mean"), never a filter that silently matches nothing.

use std::net::IpAddr;

use sessiond_core::audit::{AuditQuery, EventType, Severity};
use sessiond_core::domain::SessionStatus;
use sessiond_core::store::console::UuidRange;
use uuid::Uuid;

/// Why a filter value was refused; the text is what the operator reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Not a severity.
    #[error("`{0}` is not a severity: use info, warning (WARN) or critical (CRIT)")]
    Severity(String),
    /// Not an event type.
    #[error("`{value}` is not an event type{}; event types: {}", suggestion(.closest), event_types())]
    EventType {
        /// What was typed.
        value: String,
        /// The most similar event type, if one is close.
        closest: Option<&'static str>,
    },
    /// Not an IP address.
    #[error("`{0}` is not an IP address (e.g. 203.0.113.7 or 2001:db8::1)")]
    Ip(String),
    /// Not a session status.
    #[error("`{0}` is not a session status: use active, revoked or expired")]
    Status(String),
    /// Not a session UUID.
    #[error("`{0}` is not a session UUID (8-4-4-4-12 hex digits)")]
    Uuid(String),
    /// Not a UUID prefix.
    #[error("`{0}` is not a UUID prefix: use up to 32 hex digits (dashes ignored)")]
    Prefix(String),
    /// An audit filter token the console cannot place.
    #[error(
        "`{0}`: expected a severity (info, WARN, CRIT), an event type (e.g. session.reset), a session UUID \
         or an IP; or type=, severity=, session=, ip="
    )]
    AuditToken(String),
    /// An unknown `key=` in a filter.
    #[error("`{key}=`: unknown filter key; use {accepted}")]
    Key {
        /// The key typed.
        key: String,
        /// The keys this filter takes.
        accepted: &'static str,
    },
    /// A sessions filter that is neither a UUID prefix nor an IP.
    #[error("`{0}` is neither a UUID prefix (hex) nor an IP address")]
    SessionToken(String),
}

fn suggestion(closest: &Option<&'static str>) -> String {
    closest.map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}

fn event_types() -> String {
    EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
}

/// A severity: `info`, `warning` / `warn`, `critical` / `crit`, in any case.
pub fn severity(value: &str) -> Result<Severity, FilterError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "info" => Ok(Severity::Info),
        "warning" | "warn" => Ok(Severity::Warning),
        "critical" | "crit" => Ok(Severity::Critical),
        _ => Err(FilterError::Severity(value.to_owned())),
    }
}

/// One of the event types of [`EventType::ALL`], in any case; otherwise the error names the
/// closest one (by the Jaro similarity clap uses for its own suggestions).
pub fn event_type(value: &str) -> Result<EventType, FilterError> {
    let lower = value.trim().to_ascii_lowercase();
    if let Some(t) = EventType::parse(&lower) {
        return Ok(t);
    }
    let closest = EventType::ALL
        .iter()
        .map(|t| (strsim::jaro(&lower, t.as_str()), t.as_str()))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name);
    Err(FilterError::EventType {
        value: value.to_owned(),
        closest,
    })
}

/// An IP address, in the canonical form the daemon stores (`::ffff:1.2.3.4` is `1.2.3.4`).
pub fn ip(value: &str) -> Result<IpAddr, FilterError> {
    value
        .trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| FilterError::Ip(value.to_owned()))
}

/// A session status, in any case.
pub fn status(value: &str) -> Result<SessionStatus, FilterError> {
    SessionStatus::parse(&value.trim().to_ascii_lowercase()).ok_or_else(|| FilterError::Status(value.to_owned()))
}

/// A UUID prefix (hex, dashes ignored, any case).
pub fn prefix(value: &str) -> Result<UuidRange, FilterError> {
    UuidRange::from_prefix(value.trim()).ok_or_else(|| FilterError::Prefix(value.to_owned()))
}

/// A session UUID.
pub fn session_id(value: &str) -> Result<Uuid, FilterError> {
    Uuid::parse_str(value.trim()).map_err(|_| FilterError::Uuid(value.to_owned()))
}

/// The Audit tab's `/` filter: space-separated tokens, each a severity, an event type, a
/// session UUID or an IP recognised by its shape, or a `type=`, `severity=` (`sev=`),
/// `session=`, `ip=` pair (keys in any case). A token that looks like an event type (it has a
/// dot and is not an IP) but is not one is reported as a mistyped event type.
pub fn audit_filter(text: &str) -> Result<AuditQuery, FilterError> {
    let mut f = AuditQuery::default();
    for token in text.split_whitespace() {
        match token.split_once('=') {
            Some((key, value)) => match key.to_ascii_lowercase().as_str() {
                "type" => f.event_type = Some(event_type(value)?.as_str().to_owned()),
                "severity" | "sev" => f.severity = Some(severity(value)?),
                "session" => f.session_id = Some(session_id(value)?),
                "ip" => f.ip = Some(ip(value)?.to_string()),
                _ => {
                    return Err(FilterError::Key {
                        key: key.to_owned(),
                        accepted: "type=, severity=, session=, ip=",
                    });
                }
            },
            None => {
                if let Ok(s) = severity(token) {
                    f.severity = Some(s);
                } else if let Ok(t) = event_type(token) {
                    f.event_type = Some(t.as_str().to_owned());
                } else if let Ok(id) = Uuid::parse_str(token) {
                    f.session_id = Some(id);
                } else if let Ok(a) = ip(token) {
                    f.ip = Some(a.to_string());
                } else if looks_like_ip(token) {
                    return Err(FilterError::Ip(token.to_owned()));
                } else if token.contains('.') {
                    return Err(event_type(token)
                        .err()
                        .unwrap_or(FilterError::AuditToken(token.to_owned())));
                } else {
                    return Err(FilterError::AuditToken(token.to_owned()));
                }
            }
        }
    }
    Ok(f)
}

/// What the Sessions tab's `/` filter selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionMatch {
    /// Every session (an empty filter).
    All,
    /// Sessions last seen from this IP (canonical form).
    Ip(String),
    /// Sessions whose UUID starts with a hex prefix.
    Prefix(UuidRange),
}

/// The Sessions tab's `/` filter: empty, an IP, or a UUID prefix (recognised by shape), or an
/// `ip=` / `prefix=` pair.
pub fn session_filter(text: &str) -> Result<SessionMatch, FilterError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(SessionMatch::All);
    }
    if let Some((key, value)) = text.split_once('=') {
        return match key.trim().to_ascii_lowercase().as_str() {
            "ip" => Ok(SessionMatch::Ip(ip(value)?.to_string())),
            "prefix" | "uuid" | "id" => Ok(SessionMatch::Prefix(prefix(value)?)),
            _ => Err(FilterError::Key {
                key: key.to_owned(),
                accepted: "ip=, prefix=",
            }),
        };
    }
    if let Ok(a) = ip(text) {
        return Ok(SessionMatch::Ip(a.to_string()));
    }
    prefix(text).map(SessionMatch::Prefix).map_err(|_| {
        if looks_like_ip(text) {
            FilterError::Ip(text.to_owned())
        } else {
            FilterError::SessionToken(text.to_owned())
        }
    })
}

/// Digits and dots (`1.2.3`) or a colon: meant as an address, so an error says why it is not one.
fn looks_like_ip(token: &str) -> bool {
    token.contains(':') || (token.contains('.') && token.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// For clap's `value_parser`: the same parsers, their error as clap's message.
pub mod arg {
    use super::*;

    /// `--severity`.
    pub fn severity(v: &str) -> Result<Severity, String> {
        super::severity(v).map_err(|e| e.to_string())
    }
    /// `--type`: the stored (dotted, lower-case) name.
    pub fn event_type(v: &str) -> Result<String, String> {
        super::event_type(v)
            .map(|t| t.as_str().to_owned())
            .map_err(|e| e.to_string())
    }
    /// `--ip`: the canonical form.
    pub fn ip(v: &str) -> Result<String, String> {
        super::ip(v).map(|a| a.to_string()).map_err(|e| e.to_string())
    }
    /// `--status`.
    pub fn status(v: &str) -> Result<SessionStatus, String> {
        super::status(v).map_err(|e| e.to_string())
    }
    /// `--prefix`.
    pub fn prefix(v: &str) -> Result<UuidRange, String> {
        super::prefix(v).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_in_any_case_and_as_displayed() {
        for (text, want) in [
            ("info", Severity::Info),
            ("INFO", Severity::Info),
            ("warning", Severity::Warning),
            ("WARNING", Severity::Warning),
            ("WARN", Severity::Warning),
            ("warn", Severity::Warning),
            ("CRIT", Severity::Critical),
            ("Critical", Severity::Critical),
        ] {
            assert_eq!(severity(text), Ok(want), "{text}");
        }
        let e = severity("foo").expect_err("foo");
        assert_eq!(
            e.to_string(),
            "`foo` is not a severity: use info, warning (WARN) or critical (CRIT)"
        );
    }

    #[test]
    fn event_types_suggest_the_closest() {
        assert_eq!(event_type("Session.Reset"), Ok(EventType::SessionReset));
        let e = event_type("session.resett").expect_err("typo");
        let text = e.to_string();
        assert!(
            text.starts_with("`session.resett` is not an event type (did you mean `session.reset`?); event types: session.generated, "),
            "{text}"
        );
        assert!(text.contains("job.completed"), "{text}");
        let e = event_type("foo.bar").expect_err("unknown");
        assert!(
            e.to_string()
                .starts_with("`foo.bar` is not an event type; event types:"),
            "{e}"
        );
    }

    #[test]
    fn ips_must_parse_and_are_canonical() {
        assert_eq!(ip("10.0.0.1").map(|a| a.to_string()), Ok("10.0.0.1".into()));
        assert_eq!(ip("::FFFF:10.0.0.1").map(|a| a.to_string()), Ok("10.0.0.1".into()));
        assert_eq!(ip("2001:DB8::1").map(|a| a.to_string()), Ok("2001:db8::1".into()));
        for bad in ["1.2.3", "nope", "1.2.3.4.5", ""] {
            assert_eq!(ip(bad), Err(FilterError::Ip(bad.into())), "{bad}");
        }
    }

    #[test]
    fn audit_filter_tokens() {
        let f = audit_filter("WARN session.reset 10.0.0.1").expect("valid");
        assert_eq!(f.severity, Some(Severity::Warning));
        assert_eq!(f.event_type.as_deref(), Some("session.reset"));
        assert_eq!(f.ip.as_deref(), Some("10.0.0.1"));
        let f = audit_filter("TYPE=Job.Completed sev=crit").expect("valid");
        assert_eq!(f.event_type.as_deref(), Some("job.completed"));
        assert_eq!(f.severity, Some(Severity::Critical));
        assert!(matches!(audit_filter("severity=foo"), Err(FilterError::Severity(_))));
        assert!(matches!(
            audit_filter("type=foo.bar"),
            Err(FilterError::EventType { .. })
        ));
        assert!(matches!(audit_filter("ip=notanip"), Err(FilterError::Ip(_))));
        assert!(matches!(
            audit_filter("session.resett"),
            Err(FilterError::EventType {
                closest: Some("session.reset"),
                ..
            })
        ));
        assert!(matches!(audit_filter("colour=red"), Err(FilterError::Key { .. })));
        assert!(matches!(audit_filter("nonsense"), Err(FilterError::AuditToken(_))));
        assert_eq!(audit_filter("").expect("empty"), AuditQuery::default());
    }

    #[test]
    fn session_filter_shapes() {
        assert_eq!(session_filter(" "), Ok(SessionMatch::All));
        assert_eq!(session_filter("10.0.0.1"), Ok(SessionMatch::Ip("10.0.0.1".into())));
        assert_eq!(session_filter("ip=10.0.0.1"), Ok(SessionMatch::Ip("10.0.0.1".into())));
        assert!(matches!(session_filter("6bb1"), Ok(SessionMatch::Prefix(_))));
        assert_eq!(session_filter("1.2.3"), Err(FilterError::Ip("1.2.3".into())));
        assert_eq!(session_filter("ip=1.2.3"), Err(FilterError::Ip("1.2.3".into())));
        assert_eq!(session_filter("zzz"), Err(FilterError::SessionToken("zzz".into())));
        assert!(matches!(session_filter("prefix=xyz"), Err(FilterError::Prefix(_))));
    }
}

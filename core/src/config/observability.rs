//! `metrics.*` (who may read `/metrics`) and `log.*` (level and format of the log).

use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `metrics.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Clients allowed to read `/metrics`.
    pub allow: Vec<IpNet>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            allow: vec![
                IpNet::from_str("127.0.0.1/32").unwrap_or_default(),
                IpNet::from_str("::1/128").unwrap_or_default(),
            ],
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `log.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    pub level: String,
    /// Also log every committed audit event (target `sessiond::audit`), for log shippers.
    pub audit_events: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
            audit_events: false,
        }
    }
}

impl LogSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = check_log_filter(&self.level) {
            return Err(ConfigError::new("log.level", e));
        }
        Ok(())
    }
}

/// The log levels `log.level` (and `RUST_LOG`) accept, alone or after `target=`.
pub const LOG_LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];

/// Check a `log.level` / `RUST_LOG` value: comma-separated directives, each a level
/// ([`LOG_LEVELS`], any case) or `target=level`. A bare word that is not a level is refused:
/// tracing would read `inf` as "everything of the target `inf`" and log nothing else.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    let forms = "write a level (error, warn, info, debug, trace, off) or comma-separated \
                 directives like `info,sessiond=debug`";
    if filter.trim().is_empty() {
        return Err(format!("must not be empty; {forms}"));
    }
    let is_level = |l: &str| LOG_LEVELS.iter().any(|k| k.eq_ignore_ascii_case(l.trim()));
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let ok = match directive.rsplit_once('=') {
            // `target[span{field=value}]=level`: only the last `=` separates the level.
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(directive),
        };
        if !ok {
            return Err(format!(
                "`{directive}` is not a log level or a target=level directive; {forms}"
            ));
        }
    }
    Ok(())
}

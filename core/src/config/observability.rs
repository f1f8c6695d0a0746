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
        if let Err(e) = tracing_level_ok(&self.level) {
            return Err(ConfigError::new("log.level", e));
        }
        Ok(())
    }
}

fn tracing_level_ok(level: &str) -> Result<(), String> {
    let level = level.trim();
    if level.is_empty() {
        return Err("must not be empty".into());
    }
    if level.chars().all(|c| c.is_ascii_alphanumeric() || "_=,:.-".contains(c)) {
        Ok(())
    } else {
        Err(format!("`{level}` is not a log level or filter directive"))
    }
}

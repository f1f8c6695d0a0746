//! Configuration shared by `sessiond` and `sessionctl`: built-in defaults, then a TOML file,
//! then `SESSIOND_<SECTION>__<KEY>` environment variables (environment wins). Loaded and
//! validated once at start-up; a bad value stops start-up with one message naming the key.
//! Secrets are wrapped in [`Secret`] so that `Debug`, logs and serialized settings never show
//! them. One file per section holds its keys, their defaults and their checks.

mod alerts;
mod audit;
mod cors;
mod cron;
mod database;
mod email;
mod jobs;
mod observability;
mod rate_limit;
mod secret;
mod server;
mod session;
mod storage;
mod uploads;
mod values;
mod webhooks;

use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use alerts::{AlertRules, AlertSettings, RuleSettings};
pub use audit::{AuditSettings, PrivacySettings};
pub use cors::CorsSettings;
pub use cron::{check_cron, parse_cron};
pub use database::{DatabaseSettings, SqliteSync};
pub use email::EmailSettings;
pub use jobs::{JobSchedule, JobSettings, RetentionJobSettings};
pub use observability::{LOG_LEVELS, LogFormat, LogSettings, MetricsSettings, check_log_filter};
pub use rate_limit::{RateLimitBackend, RateLimitSettings, RedisFailure, RouteQuotas};
pub use secret::{REDACTED, Secret, SecretUrl, redact_url};
pub use server::ServerSettings;
pub use session::SessionSettings;
pub use storage::{FsStorageSettings, S3StorageSettings, StorageBackend, StorageSettings};
pub use uploads::UploadSettings;
pub use values::{HumanDuration, Period, Quota};
pub use webhooks::{WebhookSettings, secret_bytes as webhook_secret_bytes};

/// The default config file, used when it exists and no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "./config/sessiond.toml";
/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "SESSIOND_";

/// Why the configuration could not be loaded. `key` is the dotted config key at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    /// Dotted key, e.g. `server.listen`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The whole configuration. Field docs name the config keys; `config/sessiond.example.toml`
/// documents each with its default.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `server.*`
    pub server: ServerSettings,
    /// `database.*`
    pub database: DatabaseSettings,
    /// `storage.*`
    pub storage: StorageSettings,
    /// `uploads.*`
    pub uploads: UploadSettings,
    /// `session.*`
    pub session: SessionSettings,
    /// `rate_limit.*`
    pub rate_limit: RateLimitSettings,
    /// `cors.*`
    pub cors: CorsSettings,
    /// `audit.*`
    pub audit: AuditSettings,
    /// `privacy.*`
    pub privacy: PrivacySettings,
    /// `alerts.*`
    pub alerts: AlertSettings,
    /// `email.*`
    pub email: EmailSettings,
    /// `jobs.*`
    pub jobs: JobSettings,
    /// `metrics.*`
    pub metrics: MetricsSettings,
    /// `log.*`
    pub log: LogSettings,
    /// `[[webhooks]]`: endpoints that receive matching audit events (docs/audit.md).
    pub webhooks: Vec<WebhookSettings>,
}

impl Settings {
    /// Load from defaults, then `path` (or [`DEFAULT_CONFIG_PATH`] when it exists), then the
    /// process environment; then validate.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match path {
            Some(p) => {
                if !p.is_file() {
                    return Err(ConfigError::new(
                        "--config",
                        format!("{} does not exist or is not a file", p.display()),
                    ));
                }
                figment = figment.merge(Toml::file(p));
            }
            None => {
                let default = Path::new(DEFAULT_CONFIG_PATH);
                if default.is_file() {
                    figment = figment.merge(Toml::file(default));
                }
            }
        }
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            // Every key is `<section>__<key>`; a variable without `__` (SESSIOND_CONFIG, which
            // names the file, or a tool's own SESSIOND_* setting) is not a config key.
            if !rest.contains("__") {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            // Lists and numbers are written as TOML/JSON values; anything else is a string.
            // figment's escape handling slices by character index, so a backslash after
            // non-ASCII text panics (found by the config fuzz target): such a value is taken
            // as the plain string it is.
            let value = if raw.contains('\\') && !raw.is_ascii() {
                figment::value::Value::from(raw.clone())
            } else {
                raw.parse::<figment::value::Value>()
                    .unwrap_or_else(|_| figment::value::Value::from(raw.clone()))
            };
            figment = figment.merge(Serialized::default(&key, value).profile(figment::Profile::Default));
        }
        let settings: Settings = figment.extract().map_err(from_figment)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Cross-field and value checks serde cannot express, section by section (each section's
    /// checks are beside its keys, in `config/<section>.rs`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.database.validate()?;
        self.audit.validate()?;
        webhooks::validate_all(&self.webhooks)?;
        self.storage.validate(self.server.request_timeout.get())?;
        self.uploads.validate()?;
        self.session.validate()?;
        self.rate_limit.validate()?;
        self.cors.validate()?;
        self.email.validate()?;
        self.jobs.validate()?;
        self.log.validate()
    }
}

fn from_figment(err: figment::Error) -> ConfigError {
    // figment reports the path of the offending value; turn it into the dotted key.
    let mut key = String::new();
    for part in &err.path {
        if part.parse::<usize>().is_ok() {
            key.push_str(&format!("[{part}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        }
    }
    if key.is_empty() {
        key.push_str("(config)");
    }
    let key = match &err.kind {
        figment::error::Kind::UnknownField(field, _) => {
            if err.path.last().is_some_and(|p| p == field) {
                key
            } else if key == "(config)" {
                field.clone()
            } else {
                format!("{key}.{field}")
            }
        }
        _ => key,
    };
    let origin = match err.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
        _ => " (from the environment)".to_owned(),
    };
    let message = match &err.kind {
        figment::error::Kind::UnknownField(field, _) => format!("unknown key `{field}`{origin}"),
        kind => format!("{kind}{origin}"),
    };
    ConfigError { key, message }
}

#[cfg(test)]
mod tests;

//! `[[webhooks]]`: endpoints that receive matching audit events, signed per Standard Webhooks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// One `[[webhooks]]` endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Unique name (the outbox key: renaming an endpoint starts it afresh).
    pub name: String,
    /// Where to POST (http or https).
    pub url: String,
    /// Standard Webhooks secret, `whsec_<base64>`.
    pub secret: Secret,
    /// Event types to send (`[]` = all, unless `alert_rules` or `severities` narrow it).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Only `alert.raised` / `alert.acknowledged` events of these rules (`[]` = no rule filter).
    #[serde(default)]
    pub alert_rules: Vec<String>,
    /// Only events of these severities (`[]` = all).
    #[serde(default)]
    pub severities: Vec<String>,
    /// Failed attempts after which a delivery is dead-lettered.
    #[serde(default = "WebhookSettings::default_max_attempts")]
    pub max_attempts: u32,
}

impl WebhookSettings {
    fn default_max_attempts() -> u32 {
        8
    }

    fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let key = |k: &str| format!("webhooks[{i}].{k}");
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(ConfigError::new(key("name"), "must be 1-64 characters"));
        }
        let url = reqwest::Url::parse(&self.url).map_err(|e| ConfigError::new(key("url"), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::new(key("url"), "must be an http:// or https:// URL"));
        }
        if secret_bytes(self.secret.expose()).is_none() {
            return Err(ConfigError::new(
                key("secret"),
                "must be `whsec_` followed by base64 (Standard Webhooks)",
            ));
        }
        for t in &self.event_types {
            if crate::audit::EventType::parse(t).is_none() {
                return Err(ConfigError::new(
                    key("event_types"),
                    format!("unknown event type `{t}`"),
                ));
            }
        }
        for sev in &self.severities {
            if crate::audit::Severity::parse(sev).is_none() {
                return Err(ConfigError::new(key("severities"), format!("unknown severity `{sev}`")));
            }
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::new(key("max_attempts"), "must be at least 1"));
        }
        Ok(())
    }
}

/// Every endpoint valid, and names unique (the name is the outbox key).
pub(super) fn validate_all(webhooks: &[WebhookSettings]) -> Result<(), ConfigError> {
    for (i, w) in webhooks.iter().enumerate() {
        w.validate(i)?;
        if webhooks[..i].iter().any(|o| o.name == w.name) {
            return Err(ConfigError::new(format!("webhooks[{i}].name"), "must be unique"));
        }
    }
    Ok(())
}

/// The key of a `whsec_<base64>` secret; `None` when it is not one. Checked at load, used to
/// sign (`crate::webhooks`).
pub fn secret_bytes(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_")?;
    STANDARD.decode(b64).ok().filter(|k| !k.is_empty())
}

//! `email.*`: admin email through SMTP.

use serde::{Deserialize, Serialize};

use super::{ConfigError, SecretUrl};

/// `email.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// Send mail at all.
    pub enabled: bool,
    /// `smtp://`, `smtps://` (TLS) or `smtp://...?tls=required` (STARTTLS), with optional auth.
    pub smtp_url: SecretUrl,
    /// The `From` address of every mail.
    pub from: String,
    /// Who receives alerts and digests; at least one when enabled.
    pub to: Vec<String>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_url: SecretUrl::new("smtp://127.0.0.1:25"),
            from: "sessiond@localhost".into(),
            to: Vec::new(),
        }
    }
}

impl EmailSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled {
            let scheme = self.smtp_url.scheme();
            if scheme != "smtp" && scheme != "smtps" {
                return Err(ConfigError::new(
                    "email.smtp_url",
                    "must start with smtp:// or smtps://",
                ));
            }
            if self.to.is_empty() {
                return Err(ConfigError::new(
                    "email.to",
                    "at least one recipient is needed when email.enabled = true",
                ));
            }
        }
        Ok(())
    }
}

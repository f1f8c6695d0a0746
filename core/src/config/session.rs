//! `session.*`: how long sessions live.

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration};

/// `session.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Sliding idle expiry.
    pub idle_timeout: HumanDuration,
    /// Expiry counted from creation.
    pub absolute_timeout: HumanDuration,
    /// Resolution of the stored `last_seen_at`: a validation rewrites it only when it is at
    /// least this old (or the client's IP changed). `0s` rewrites it on every validation.
    pub touch_interval: HumanDuration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout: HumanDuration::secs(30 * 86_400),
            absolute_timeout: HumanDuration::secs(365 * 86_400),
            touch_interval: HumanDuration::secs(60),
        }
    }
}

impl SessionSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.idle_timeout.get().is_zero() {
            return Err(ConfigError::new("session.idle_timeout", "must be more than 0s"));
        }
        if self.absolute_timeout.get().is_zero() {
            return Err(ConfigError::new("session.absolute_timeout", "must be more than 0s"));
        }
        if self.touch_interval.get() >= self.idle_timeout.get() {
            return Err(ConfigError::new(
                "session.touch_interval",
                "must be shorter than session.idle_timeout",
            ));
        }
        Ok(())
    }
}

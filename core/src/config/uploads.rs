//! `uploads.*`: limits of one upload.

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration};

/// `uploads.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadSettings {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Uploads kept per session.
    pub max_per_session: u32,
    /// An upload whose body sends no byte for this long is answered 408 (a stalled client).
    /// Uploads are not bound by `server.request_timeout`, so slow links can finish.
    pub idle_timeout: HumanDuration,
    /// The most one upload request may take in all, however steadily its bytes arrive.
    pub total_timeout: HumanDuration,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024 * 1024,
            max_per_session: 50,
            idle_timeout: HumanDuration::secs(30),
            total_timeout: HumanDuration::secs(15 * 60),
        }
    }
}

impl UploadSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 {
            return Err(ConfigError::new("uploads.max_bytes", "must be at least 1"));
        }
        if self.idle_timeout.get().is_zero() {
            return Err(ConfigError::new("uploads.idle_timeout", "must be more than 0s"));
        }
        if self.total_timeout.get() < self.idle_timeout.get() {
            return Err(ConfigError::new(
                "uploads.total_timeout",
                "must be at least uploads.idle_timeout",
            ));
        }
        Ok(())
    }
}

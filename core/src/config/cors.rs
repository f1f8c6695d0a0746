//! `cors.*`: which browser origins may call the API.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `cors.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Exact origins allowed.
    pub allowed_origins: Vec<String>,
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            allowed_origins: vec!["http://localhost:3000".into(), "http://localhost:5173".into()],
            allow_credentials: false,
        }
    }
}

impl CorsSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if origin == "*"
                || !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(ConfigError::new(
                    format!("cors.allowed_origins[{i}]"),
                    format!("`{origin}` is not an exact origin like https://app.example (no `*`, no trailing slash)"),
                ));
            }
        }
        Ok(())
    }
}

//! `audit.*` (the keyed chain over audit events) and `privacy.*` (how long client addresses
//! are kept whole).

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// `audit.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Audit events older than this are deleted.
    pub retention_days: u32,
    /// Key of the tamper-evident chain (`SESSIOND_AUDIT__HMAC_KEY`); no key, no chain.
    pub hmac_key: Option<Secret>,
    /// Id stored with each link signed by `hmac_key`, so the key can be rotated.
    pub hmac_key_id: String,
    /// Earlier keys by id, kept so that `sessionctl audit verify` can check old links.
    pub previous_hmac_keys: std::collections::BTreeMap<String, Secret>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention_days: 90,
            hmac_key: None,
            hmac_key_id: "k1".into(),
            previous_hmac_keys: std::collections::BTreeMap::new(),
        }
    }
}

impl AuditSettings {
    /// Shortest accepted `audit.hmac_key`, in bytes.
    pub const MIN_KEY_BYTES: usize = 16;

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let id_ok = |id: &str| {
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !id_ok(&self.hmac_key_id) {
            return Err(ConfigError::new(
                "audit.hmac_key_id",
                "must be 1-64 characters of letters, digits, `-`, `_` or `.`",
            ));
        }
        if let Some(key) = &self.hmac_key
            && key.expose().len() < Self::MIN_KEY_BYTES
        {
            return Err(ConfigError::new(
                "audit.hmac_key",
                format!(
                    "must be at least {} bytes (use e.g. 32 random bytes, base64)",
                    Self::MIN_KEY_BYTES
                ),
            ));
        }
        for (id, key) in &self.previous_hmac_keys {
            if !id_ok(id) || key.expose().len() < Self::MIN_KEY_BYTES {
                return Err(ConfigError::new(
                    format!("audit.previous_hmac_keys.{id}"),
                    "needs a valid key id and a key of at least 16 bytes",
                ));
            }
        }
        Ok(())
    }
}

/// `privacy.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// Full IPs are kept this long, then anonymized.
    pub ip_retention_days: u32,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self { ip_retention_days: 7 }
    }
}

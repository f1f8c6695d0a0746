//! `alerts.*`: the thresholds and windows of the suspicious-activity rules.

use serde::{Deserialize, Serialize};

use super::HumanDuration;

/// One alert rule's threshold and window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Events within `window` that raise the alert.
    pub threshold: u32,
    /// The sliding window.
    pub window: HumanDuration,
}

const fn rule(threshold: u32, window_secs: u64) -> RuleSettings {
    RuleSettings {
        threshold,
        window: HumanDuration::secs(window_secs),
    }
}

/// `alerts.rules.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRules {
    /// Failed validations from one IP key.
    pub uuid_probing: RuleSettings,
    /// Refused requests from one IP key.
    pub rate_limit_abuse: RuleSettings,
    /// Rejected uploads from one IP key.
    pub upload_abuse: RuleSettings,
    /// 5xx answers, any IP.
    pub error_spike: RuleSettings,
    /// A dependency down this long (`threshold` unused, keep 1).
    pub dependency_down: RuleSettings,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            uuid_probing: rule(20, 300),
            rate_limit_abuse: rule(100, 600),
            upload_abuse: rule(10, 600),
            error_spike: rule(5, 300),
            dependency_down: rule(1, 60),
        }
    }
}

/// `alerts.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Least time between two emails for one (rule, subject).
    pub email_cooldown: HumanDuration,
    /// Rule thresholds.
    pub rules: AlertRules,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            email_cooldown: HumanDuration::secs(3600),
            rules: AlertRules::default(),
        }
    }
}

//! `rate_limit.*`: quotas per route class, the key of a client, and where the state lives.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Period, Quota, SecretUrl};

/// Where rate-limit state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    /// In this process.
    #[default]
    Memory,
    /// Shared through Redis.
    Redis,
}

/// What to do when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailure {
    /// Let requests through.
    #[default]
    Open,
    /// Refuse requests.
    Closed,
}

/// `rate_limit.routes.*`: per route class quotas; unset classes use `rate_limit.default`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RouteQuotas {
    /// `POST /api/session/generate-uuid`
    pub generate: Option<Quota>,
    /// `POST /api/session/validate-uuid`
    pub validate: Option<Quota>,
    /// `GET` routes.
    pub read: Option<Quota>,
    /// `POST .../uploads`
    pub upload: Option<Quota>,
    /// `DELETE` routes.
    pub delete: Option<Quota>,
}

/// `rate_limit.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Off for tests and development.
    pub enabled: bool,
    /// `memory` or `redis`.
    pub backend: RateLimitBackend,
    /// Redis URL for the `redis` backend.
    pub redis_url: Option<SecretUrl>,
    /// `open` or `closed` when Redis is unreachable.
    pub redis_failure: RedisFailure,
    /// Prefix of every Redis key the limiter writes (several deployments can share a Redis).
    pub redis_key_prefix: String,
    /// Quota for every limited route.
    pub default: Quota,
    /// Per route class quotas.
    pub routes: RouteQuotas,
    /// Never limited.
    pub exempt: Vec<IpNet>,
    /// IPv6 clients are keyed by this prefix length.
    pub ipv6_prefix: u8,
    /// Count and audit, never refuse.
    pub dry_run: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: RateLimitBackend::Memory,
            redis_url: None,
            redis_failure: RedisFailure::Open,
            redis_key_prefix: "sessiond:rl:".into(),
            default: Quota {
                count: 10,
                period: Period::Minute,
            },
            routes: RouteQuotas::default(),
            exempt: Vec::new(),
            ipv6_prefix: 64,
            dry_run: false,
        }
    }
}

impl RateLimitSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.ipv6_prefix == 0 || self.ipv6_prefix > 128 {
            return Err(ConfigError::new("rate_limit.ipv6_prefix", "must be between 1 and 128"));
        }
        if self.backend == RateLimitBackend::Redis && self.redis_url.is_none() {
            return Err(ConfigError::new(
                "rate_limit.redis_url",
                "required when rate_limit.backend = \"redis\"",
            ));
        }
        if let Some(url) = &self.redis_url
            && !matches!(url.scheme().as_str(), "redis" | "rediss" | "redis+unix" | "unix")
        {
            return Err(ConfigError::new(
                "rate_limit.redis_url",
                "must start with redis://, rediss:// or unix://",
            ));
        }
        Ok(())
    }
}

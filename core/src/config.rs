//! Configuration shared by `sessiond` and `sessionctl`: built-in defaults, then a TOML file,
//! then `SESSIOND_<SECTION>__<KEY>` environment variables (environment wins). Loaded and
//! validated once at start-up; a bad value stops start-up with one message naming the key.
//! Secrets are wrapped in [`Secret`] so that `Debug` and logs never show them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// A secret string: deserialized like a string, never printed, and serialized as
/// `[redacted]` (settings are serialized only to seed the loader with defaults, which hold no
/// secrets, and by whoever dumps them: neither may see the value).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// What a serialized [`Secret`] reads.
pub const REDACTED: &str = "[redacted]";

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL that may carry a password (`postgres://user:pw@host/db`, `redis://:pw@host`,
/// `smtp://user:pw@host`) or a token as its user name (`redis://token@host`). `Debug`,
/// `Display` and `Serialize` show it redacted (see [`redact_url`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wrap a URL.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The URL with its password, for the connection itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password (or a user name alone, which may be a token) replaced by
    /// `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
    /// The scheme, lower-cased (`sqlite`, `postgres`, ...).
    pub fn scheme(&self) -> String {
        self.0
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// Replace the password of `scheme://user:password@host...` with `***`; userinfo without a
/// password (`scheme://token@host`) is a credential of its own and is replaced whole.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => format!("{scheme}://***@{host}{tail}"),
        },
        None => url.to_owned(),
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretUrl)
    }
}

/// A duration written `30s`, `5m`, `1h`, `30d` (humantime syntax).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// From whole seconds.
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Debug for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        humantime::parse_duration(raw.trim()).map(HumanDuration).map_err(|e| {
            serde::de::Error::custom(format!("`{raw}` is not a duration ({e}); write e.g. 30s, 5m, 1h, 30d"))
        })
    }
}

/// The period of a [`Quota`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
}

impl Period {
    /// Length of the period.
    pub const fn duration(self) -> Duration {
        match self {
            Period::Second => Duration::from_secs(1),
            Period::Minute => Duration::from_secs(60),
            Period::Hour => Duration::from_secs(3600),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
        }
    }
}

/// A rate: `count` requests per `period`, burst = `count` (written `10/minute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per period (and the burst).
    pub count: u32,
    /// The period.
    pub period: Period,
}

impl FromStr for Quota {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a quota; write N/second, N/minute or N/hour");
        let (count, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("`{s}`: the count must be at least 1"));
        }
        let period = match period.trim() {
            "second" | "s" | "sec" => Period::Second,
            "minute" | "m" | "min" => Period::Minute,
            "hour" | "h" => Period::Hour,
            _ => return Err(bad()),
        };
        Ok(Quota { count, period })
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.period.name())
    }
}

impl Serialize for Quota {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Quota {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
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
        if crate::webhooks::secret_bytes(self.secret.expose()).is_none() {
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

/// `server.*`: the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Largest JSON body accepted, in bytes.
    pub max_json_body: usize,
    /// Whole-request deadline.
    pub request_timeout: HumanDuration,
    /// Deadline for a client to send its request head.
    pub header_read_timeout: HumanDuration,
    /// Open connections accepted at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: HumanDuration,
    /// On SIGTERM, how long `/readyz` answers 503 while the daemon still serves, so a load
    /// balancer takes it out of rotation before it stops accepting; `0s` turns this off.
    pub drain_delay: HumanDuration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            trusted_proxies: Vec::new(),
            max_json_body: 4096,
            request_timeout: HumanDuration::secs(30),
            header_read_timeout: HumanDuration::secs(10),
            max_connections: 10_000,
            shutdown_grace: HumanDuration::secs(10),
            drain_delay: HumanDuration::secs(5),
        }
    }
}

/// When a SQLite commit counts as done (PostgreSQL always waits for its WAL flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// fsync the WAL on every commit: survives power loss.
    #[default]
    Full,
    /// Commit to the WAL without fsync: survives any crash of the daemon, not of the machine.
    Normal,
}

/// `database.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://...`; the scheme picks the backend.
    pub url: SecretUrl,
    /// Pool size.
    pub max_connections: u32,
    /// SQLite only: `full` (fsync per commit) or `normal`.
    pub sqlite_synchronous: SqliteSync,
    /// SQLite only: how often, while writes come in, the checkpoint thread copies the log back
    /// into the database file. Longer coalesces more rewrites of the same pages into one copy
    /// and costs fewer fsyncs; the log then holds up to this long of writes. 10 ms to 60 s.
    pub sqlite_checkpoint_interval: HumanDuration,
    /// SQLite only: once the log holds this many MiB it is made to start over, which holds
    /// writes back for a few milliseconds (see `store/sqlite_checkpoint.rs`).
    pub sqlite_wal_restart_mib: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("sqlite://./data/sessiond.db"),
            max_connections: 16,
            sqlite_synchronous: SqliteSync::Full,
            sqlite_checkpoint_interval: HumanDuration::secs(1),
            sqlite_wal_restart_mib: 64,
        }
    }
}

/// Which object store holds uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Local filesystem under `storage.fs.root`.
    #[default]
    Fs,
    /// S3-compatible object store.
    S3,
}

/// `storage.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `fs` or `s3`.
    pub backend: StorageBackend,
    /// Longest one object-store call (put, get, delete, list, ping) may take before it is
    /// abandoned and the request answered `503 storage_unavailable`. Below
    /// `server.request_timeout`, so a stalled store is a 503, never a 408.
    pub operation_timeout: HumanDuration,
    /// `storage.fs.*`
    pub fs: FsStorageSettings,
    /// `storage.s3.*`
    pub s3: S3StorageSettings,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: StorageBackend::default(),
            operation_timeout: HumanDuration::secs(10),
            fs: FsStorageSettings::default(),
            s3: S3StorageSettings::default(),
        }
    }
}

/// `storage.fs.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FsStorageSettings {
    /// Directory holding the objects.
    pub root: PathBuf,
}

impl Default for FsStorageSettings {
    fn default() -> Self {
        Self {
            root: PathBuf::from("./data/objects"),
        }
    }
}

/// `storage.s3.*`; credentials may instead come from the standard AWS chain.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct S3StorageSettings {
    /// Bucket name.
    pub bucket: Option<String>,
    /// Region (`us-east-1` when unset).
    pub region: Option<String>,
    /// Endpoint URL for S3-compatible stores.
    pub endpoint: Option<String>,
    /// Path-style addressing (MinIO, moto, Ceph).
    pub force_path_style: bool,
    /// Access key id.
    pub access_key_id: Option<Secret>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
}

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

    fn validate(&self) -> Result<(), ConfigError> {
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

/// `email.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// Send mail at all.
    pub enabled: bool,
    /// `smtp://`, `smtps://` (TLS) or `smtp://...?tls=required` (STARTTLS), with optional auth.
    pub smtp_url: SecretUrl,
    /// Sender address.
    pub from: String,
    /// Recipients.
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

/// One job's schedule (6-field cron, seconds first).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSchedule {
    /// Cron expression.
    pub schedule: String,
}

fn schedule(expr: &str) -> JobSchedule {
    JobSchedule { schedule: expr.into() }
}

/// `jobs.retention.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionJobSettings {
    /// Cron expression.
    pub schedule: String,
    /// Rows per transaction.
    pub batch_size: u32,
}

impl Default for RetentionJobSettings {
    fn default() -> Self {
        Self {
            schedule: "0 15 3 * * *".into(),
            batch_size: 1000,
        }
    }
}

/// `jobs.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Run the scheduler at all.
    pub enabled: bool,
    /// Marks idle and too-old sessions expired.
    pub session_expiry: JobSchedule,
    /// Deletes and anonymizes old data.
    pub retention: RetentionJobSettings,
    /// Raises alerts from the audit log.
    pub alert_detection: JobSchedule,
    /// Mails the warning digest.
    pub alert_digest: JobSchedule,
    /// Delivers the outbox.
    pub notification_sender: JobSchedule,
    /// Deletes orphaned objects.
    pub upload_gc: JobSchedule,
    /// Deletes the objects queued in `pending_object_deletions` (resets, expiries, purges,
    /// deleted uploads), retrying with backoff until they are gone.
    pub object_deletion: JobSchedule,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            session_expiry: schedule("0 */5 * * * *"),
            retention: RetentionJobSettings::default(),
            alert_detection: schedule("*/30 * * * * *"),
            alert_digest: schedule("0 0 * * * *"),
            notification_sender: schedule("*/30 * * * * *"),
            upload_gc: schedule("0 30 * * * *"),
            object_deletion: schedule("*/30 * * * * *"),
        }
    }
}

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
            let value = raw
                .parse::<figment::value::Value>()
                .unwrap_or_else(|_| figment::value::Value::from(raw.clone()));
            figment = figment.merge(Serialized::default(&key, value).profile(figment::Profile::Default));
        }
        let settings: Settings = figment.extract().map_err(from_figment)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Cross-field and value checks serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_json_body == 0 {
            return Err(ConfigError::new("server.max_json_body", "must be at least 1"));
        }
        if self.server.max_connections == 0 {
            return Err(ConfigError::new("server.max_connections", "must be at least 1"));
        }
        if self.server.request_timeout.get().is_zero() {
            return Err(ConfigError::new("server.request_timeout", "must be more than 0s"));
        }
        if self.server.drain_delay.get() > Duration::from_secs(600) {
            return Err(ConfigError::new(
                "server.drain_delay",
                "must be at most 10m (it delays every SIGTERM)",
            ));
        }
        if self.server.header_read_timeout.get().is_zero() {
            return Err(ConfigError::new("server.header_read_timeout", "must be more than 0s"));
        }
        match self.database.url.scheme().as_str() {
            "sqlite" | "postgres" | "postgresql" => {}
            other => {
                return Err(ConfigError::new(
                    "database.url",
                    format!("unsupported scheme `{other}`; use sqlite:// or postgres://"),
                ));
            }
        }
        self.audit.validate()?;
        for (i, w) in self.webhooks.iter().enumerate() {
            w.validate(i)?;
            if self.webhooks[..i].iter().any(|o| o.name == w.name) {
                return Err(ConfigError::new(format!("webhooks[{i}].name"), "must be unique"));
            }
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new("database.max_connections", "must be at least 1"));
        }
        let interval = self.database.sqlite_checkpoint_interval.get();
        if interval < Duration::from_millis(10) || interval > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "database.sqlite_checkpoint_interval",
                "must be between 10ms and 60s",
            ));
        }
        if self.database.sqlite_wal_restart_mib == 0 {
            return Err(ConfigError::new(
                "database.sqlite_wal_restart_mib",
                "must be at least 1",
            ));
        }
        if self.storage.backend == StorageBackend::Fs && self.storage.fs.root.exists() && !self.storage.fs.root.is_dir()
        {
            return Err(ConfigError::new(
                "storage.fs.root",
                format!("{} exists and is not a directory", self.storage.fs.root.display()),
            ));
        }
        let op_timeout = self.storage.operation_timeout.get();
        if op_timeout < Duration::from_millis(100) || op_timeout >= self.server.request_timeout.get() {
            return Err(ConfigError::new(
                "storage.operation_timeout",
                "must be at least 100ms and less than server.request_timeout",
            ));
        }
        if self.storage.backend == StorageBackend::S3 && self.storage.s3.bucket.as_deref().unwrap_or("").is_empty() {
            return Err(ConfigError::new(
                "storage.s3.bucket",
                "required when storage.backend = \"s3\"",
            ));
        }
        if self.uploads.max_bytes == 0 {
            return Err(ConfigError::new("uploads.max_bytes", "must be at least 1"));
        }
        if self.uploads.idle_timeout.get().is_zero() {
            return Err(ConfigError::new("uploads.idle_timeout", "must be more than 0s"));
        }
        if self.uploads.total_timeout.get() < self.uploads.idle_timeout.get() {
            return Err(ConfigError::new(
                "uploads.total_timeout",
                "must be at least uploads.idle_timeout",
            ));
        }
        if self.session.idle_timeout.get().is_zero() {
            return Err(ConfigError::new("session.idle_timeout", "must be more than 0s"));
        }
        if self.session.absolute_timeout.get().is_zero() {
            return Err(ConfigError::new("session.absolute_timeout", "must be more than 0s"));
        }
        if self.session.touch_interval.get() >= self.session.idle_timeout.get() {
            return Err(ConfigError::new(
                "session.touch_interval",
                "must be shorter than session.idle_timeout",
            ));
        }
        if self.rate_limit.ipv6_prefix == 0 || self.rate_limit.ipv6_prefix > 128 {
            return Err(ConfigError::new("rate_limit.ipv6_prefix", "must be between 1 and 128"));
        }
        if self.rate_limit.backend == RateLimitBackend::Redis && self.rate_limit.redis_url.is_none() {
            return Err(ConfigError::new(
                "rate_limit.redis_url",
                "required when rate_limit.backend = \"redis\"",
            ));
        }
        if let Some(url) = &self.rate_limit.redis_url
            && !matches!(url.scheme().as_str(), "redis" | "rediss" | "redis+unix" | "unix")
        {
            return Err(ConfigError::new(
                "rate_limit.redis_url",
                "must start with redis://, rediss:// or unix://",
            ));
        }
        for (i, origin) in self.cors.allowed_origins.iter().enumerate() {
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
        if self.email.enabled {
            let scheme = self.email.smtp_url.scheme();
            if scheme != "smtp" && scheme != "smtps" {
                return Err(ConfigError::new(
                    "email.smtp_url",
                    "must start with smtp:// or smtps://",
                ));
            }
            if self.email.to.is_empty() {
                return Err(ConfigError::new(
                    "email.to",
                    "at least one recipient is needed when email.enabled = true",
                ));
            }
        }
        let jobs = &self.jobs;
        for (key, expr) in [
            ("jobs.session_expiry.schedule", &jobs.session_expiry.schedule),
            ("jobs.retention.schedule", &jobs.retention.schedule),
            ("jobs.alert_detection.schedule", &jobs.alert_detection.schedule),
            ("jobs.alert_digest.schedule", &jobs.alert_digest.schedule),
            ("jobs.notification_sender.schedule", &jobs.notification_sender.schedule),
            ("jobs.upload_gc.schedule", &jobs.upload_gc.schedule),
            ("jobs.object_deletion.schedule", &jobs.object_deletion.schedule),
        ] {
            check_cron(expr).map_err(|m| ConfigError::new(key, m))?;
        }
        if jobs.retention.batch_size == 0 {
            return Err(ConfigError::new("jobs.retention.batch_size", "must be at least 1"));
        }
        if let Err(e) = tracing_level_ok(&self.log.level) {
            return Err(ConfigError::new("log.level", e));
        }
        Ok(())
    }
}

/// A 6-field cron expression (seconds first), parsed by `croner` with the options the
/// scheduler (tokio-cron-scheduler) uses, so what passes here is what the scheduler runs.
pub fn check_cron(expr: &str) -> Result<(), String> {
    parse_cron(expr).map(|_| ())
}

/// Parse a 6-field cron expression the way the scheduler does.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "`{expr}` has {fields} fields; write 6 (sec min hour day month weekday), e.g. `0 */5 * * * *`"
        ));
    }
    // croner takes a stray comma (`0 0 , 31 * *`) as a field that matches nothing, and the
    // search for its next run then spins for seconds (found by the `cron` fuzz target).
    if expr.split_whitespace().any(|field| field.split(',').any(str::is_empty)) {
        return Err(format!("`{expr}` has an empty item in a list (a stray comma)"));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))
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
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    fn load(text: Option<&str>, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let f = text.map(file);
        Settings::load_with_env(f.as_ref().map(|f| f.path()), env(vars))
    }

    #[test]
    fn defaults_are_the_embedded_shape() {
        let s = load(None, &[]).expect("defaults load");
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database.url.expose(), "sqlite://./data/sessiond.db");
        assert_eq!(s.storage.backend, StorageBackend::Fs);
        assert_eq!(s.storage.fs.root, PathBuf::from("./data/objects"));
        assert!(!s.email.enabled);
        assert_eq!(s.rate_limit.default.to_string(), "10/minute");
        assert_eq!(s.session.idle_timeout.get(), Duration::from_secs(30 * 86_400));
        assert_eq!(s.jobs.session_expiry.schedule, "0 */5 * * * *");
        assert_eq!(s.metrics.allow.len(), 2);
    }

    #[test]
    fn file_then_environment_and_environment_wins() {
        let toml = r#"
            [server]
            listen = "0.0.0.0:9000"
            max_json_body = 1000
            [rate_limit]
            default = "5/second"
            [rate_limit.routes]
            generate = "2/minute"
            [alerts.rules.uuid_probing]
            threshold = 7
            window = "2m"
        "#;
        let s = load(
            Some(toml),
            &[
                ("SESSIOND_SERVER__MAX_JSON_BODY", "2048"),
                ("SESSIOND_DATABASE__URL", "postgres://u:pw@db.example/sessiond"),
                ("SESSIOND_CORS__ALLOWED_ORIGINS", r#"["https://app.example"]"#),
                ("SESSIOND_ALERTS__RULES__UUID_PROBING__THRESHOLD", "5"),
                ("SESSIOND_SESSION__IDLE_TIMEOUT", "45m"),
                ("OTHER_VARIABLE", "ignored"),
                ("SESSIOND_CONFIG", "/etc/sessiond.toml"),
                ("SESSIOND_TEST_TOOLS", "/tmp/tools"),
            ],
        )
        .expect("load");
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.server.max_json_body, 2048);
        assert_eq!(s.database.url.scheme(), "postgres");
        assert_eq!(s.cors.allowed_origins, vec!["https://app.example".to_string()]);
        assert_eq!(s.alerts.rules.uuid_probing.threshold, 5);
        assert_eq!(s.alerts.rules.uuid_probing.window.get(), Duration::from_secs(120));
        assert_eq!(
            s.rate_limit.default,
            Quota {
                count: 5,
                period: Period::Second
            }
        );
        assert_eq!(
            s.rate_limit.routes.generate,
            Some(Quota {
                count: 2,
                period: Period::Minute
            })
        );
        assert_eq!(s.session.idle_timeout.get(), Duration::from_secs(45 * 60));
    }

    #[test]
    fn every_bad_value_names_its_key() {
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (Some("[server]\nlisten = \"nowhere\""), &[], "server.listen"),
            (Some("[server]\nbogus = 1"), &[], "server.bogus"),
            (Some("[nonsense]\nx = 1"), &[], "nonsense"),
            (None, &[("SESSIOND_SERVER__LISTNE", "1.2.3.4:5")], "server.listne"),
            (
                None,
                &[("SESSIOND_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/33"]"#)],
                "server.trusted_proxies[0]",
            ),
            (
                None,
                &[("SESSIOND_RATE_LIMIT__EXEMPT", r#"["10.0.0.0/8", "not-a-cidr"]"#)],
                "rate_limit.exempt[1]",
            ),
            (
                None,
                &[("SESSIOND_RATE_LIMIT__DEFAULT", "10/fortnight")],
                "rate_limit.default",
            ),
            (
                None,
                &[("SESSIOND_SESSION__IDLE_TIMEOUT", "soon")],
                "session.idle_timeout",
            ),
            (
                None,
                &[
                    ("SESSIOND_SESSION__IDLE_TIMEOUT", "10m"),
                    ("SESSIOND_SESSION__TOUCH_INTERVAL", "10m"),
                ],
                "session.touch_interval",
            ),
            (
                None,
                &[("SESSIOND_JOBS__RETENTION__SCHEDULE", "0 15 3 * *")],
                "jobs.retention.schedule",
            ),
            (None, &[("SESSIOND_DATABASE__URL", "mysql://x")], "database.url"),
            (
                None,
                &[("SESSIOND_DATABASE__SQLITE_CHECKPOINT_INTERVAL", "1ms")],
                "database.sqlite_checkpoint_interval",
            ),
            (
                None,
                &[("SESSIOND_DATABASE__SQLITE_WAL_RESTART_MIB", "0")],
                "database.sqlite_wal_restart_mib",
            ),
            (
                None,
                &[("SESSIOND_RATE_LIMIT__IPV6_PREFIX", "129")],
                "rate_limit.ipv6_prefix",
            ),
            (
                None,
                &[("SESSIOND_RATE_LIMIT__BACKEND", "redis")],
                "rate_limit.redis_url",
            ),
            (None, &[("SESSIOND_STORAGE__BACKEND", "s3")], "storage.s3.bucket"),
            (
                None,
                &[("SESSIOND_UPLOADS__IDLE_TIMEOUT", "0s")],
                "uploads.idle_timeout",
            ),
            (
                None,
                &[
                    ("SESSIOND_UPLOADS__IDLE_TIMEOUT", "2m"),
                    ("SESSIOND_UPLOADS__TOTAL_TIMEOUT", "1m"),
                ],
                "uploads.total_timeout",
            ),
            (None, &[("SESSIOND_EMAIL__ENABLED", "true")], "email.to"),
            (
                None,
                &[("SESSIOND_CORS__ALLOWED_ORIGINS", r#"["*"]"#)],
                "cors.allowed_origins[0]",
            ),
            (None, &[("SESSIOND_LOG__FORMAT", "xml")], "log.format"),
        ];
        for (toml, vars, key) in cases {
            let err = load(*toml, vars).expect_err(&format!("{key} must be refused"));
            assert_eq!(&err.key, key, "{err}");
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    /// Found by the `cron` fuzz target: `0 0 , 31 * *` was accepted, and finding its next run
    /// took 11 s (a field of nothing). A stray comma is refused, with the key named.
    #[test]
    fn cron_lists_have_no_empty_items() {
        for bad in ["0 0 , 31 * *", "0 0 1,,2 * * *", "0 0 ,1 * * *", "0 0 1, * * *"] {
            assert!(parse_cron(bad).is_err(), "{bad}");
            let err = load(None, &[("SESSIOND_JOBS__RETENTION__SCHEDULE", bad)]).expect_err(bad);
            assert!(err.to_string().contains("jobs.retention.schedule"), "{err}");
        }
        for good in ["0 */5 * * * *", "0 15 3 * * *", "0 0 1,2 * * *", "0 0 0 31 2 *"] {
            assert!(parse_cron(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let err = Settings::load_with_env(Some(Path::new("/nonexistent/sessiond.toml")), Vec::new())
            .expect_err("missing file");
        assert_eq!(err.key, "--config");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = load(
            None,
            &[
                ("SESSIOND_DATABASE__URL", "postgres://admin:hunter2@db/sessiond"),
                ("SESSIOND_STORAGE__S3__SECRET_ACCESS_KEY", "s3cr3t-key"),
                ("SESSIOND_STORAGE__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
                ("SESSIOND_EMAIL__SMTP_URL", "smtp://mailer:mailpw@smtp.example:587"),
                ("SESSIOND_RATE_LIMIT__REDIS_URL", "redis://:redispw@127.0.0.1:6379"),
            ],
        )
        .expect("load");
        let debug = format!("{s:?} {s:#?}");
        for secret in ["hunter2", "s3cr3t-key", "AKIAEXAMPLE", "mailpw", "redispw"] {
            assert!(!debug.contains(secret), "{secret} leaked");
        }
        assert!(debug.contains("postgres://admin:***@db/sessiond"));
        assert_eq!(s.database.url.expose(), "postgres://admin:hunter2@db/sessiond");
    }

    #[test]
    fn redaction_of_urls() {
        assert_eq!(
            redact_url("postgres://u:p@h:5432/d?x=1"),
            "postgres://u:***@h:5432/d?x=1"
        );
        assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
        assert_eq!(redact_url("redis://:pw@h"), "redis://:***@h");
        // A user name alone may be a token (`redis://token@h`): it is hidden whole.
        assert_eq!(redact_url("smtp://user@h"), "smtp://***@h");
        assert_eq!(redact_url("redis://t0ken@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact_url("https://h/p?x=a@b"), "https://h/p?x=a@b");
    }

    #[test]
    fn secrets_serialize_redacted() {
        let mut s = Settings::default();
        s.database.url = SecretUrl::new("postgres://admin:hunter2@db/sessiond");
        s.rate_limit.redis_url = Some(SecretUrl::new("redis://t0ken@cache:6379"));
        s.audit.hmac_key = Some(Secret::new("s3cr3t-key"));
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(json.contains("postgres://admin:***@db/sessiond"), "{json}");
        assert!(json.contains("redis://***@cache:6379"), "{json}");
        assert!(json.contains(REDACTED), "{json}");
        for secret in ["hunter2", "t0ken", "s3cr3t-key"] {
            assert!(!json.contains(secret), "{secret} leaked: {json}");
        }
    }

    #[test]
    fn the_defaults_survive_the_redacting_serializer() {
        // The loader is seeded by serializing the defaults: they must hold nothing it redacts.
        let loaded = Settings::load_with_env(None, Vec::new()).map_err(|e| e.to_string());
        let defaults = Settings::default();
        let loaded = loaded
            .as_ref()
            .map(|s| (s.database.url.expose(), s.email.smtp_url.expose()));
        assert_eq!(
            loaded,
            Ok((defaults.database.url.expose(), defaults.email.smtp_url.expose()))
        );
    }

    #[test]
    fn quotas_parse() {
        assert_eq!(
            "10/minute".parse(),
            Ok(Quota {
                count: 10,
                period: Period::Minute
            })
        );
        assert_eq!(
            "3/hour".parse(),
            Ok(Quota {
                count: 3,
                period: Period::Hour
            })
        );
        assert!("0/minute".parse::<Quota>().is_err());
        assert!("ten/minute".parse::<Quota>().is_err());
        assert!("10".parse::<Quota>().is_err());
    }

    #[test]
    fn the_example_config_is_the_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/sessiond.example.toml");
        let s = Settings::load_with_env(Some(&example), Vec::new()).expect("example config loads");
        let defaults = Settings::default();
        assert_eq!(
            format!("{s:?}"),
            format!("{defaults:?}"),
            "the example must show every default"
        );
    }
}

//! Per-IP rate limiting (SPEC §3), applied by the pipeline in `app` to every route that has a
//! rate-limit class (never the operational routes). GCRA per client key and route class, in
//! memory (`memory`, governor) or shared through Redis (`redis`, one Lua script per check).
//! Refusals are audited without amplification (`refusals`); idle memory keys are evicted on a
//! timer. See `docs/rate-limiting.md` for the choices made.

pub mod memory;
pub mod redis;
pub mod refusals;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sessiond_core::audit::Origin;
use sessiond_core::client_key as key;
use sessiond_core::config::{Quota, RateLimitBackend, RateLimitSettings, RedisFailure};
use sessiond_core::writer::BatchWriter;
use tokio::task::JoinHandle;

use crate::problem::ApiError;
use crate::routes::RouteClass;

pub use memory::ClockShift;

/// Every route class, in a fixed order (the index of per-class tables).
pub const CLASSES: [RouteClass; 5] = [
    RouteClass::Generate,
    RouteClass::Validate,
    RouteClass::Read,
    RouteClass::Upload,
    RouteClass::Delete,
];

/// `Retry-After` of a fail-closed refusal while Redis is unreachable.
const REDIS_DOWN_RETRY_SECS: u64 = 5;

pub(crate) fn class_index(class: RouteClass) -> usize {
    match class {
        RouteClass::Generate => 0,
        RouteClass::Validate => 1,
        RouteClass::Read => 2,
        RouteClass::Upload => 3,
        RouteClass::Delete => 4,
    }
}

/// The config name of a class (`rate_limit.routes.<name>`), also used in keys and audit.
pub fn class_name(class: RouteClass) -> &'static str {
    match class {
        RouteClass::Generate => "generate",
        RouteClass::Validate => "validate",
        RouteClass::Read => "read",
        RouteClass::Upload => "upload",
        RouteClass::Delete => "delete",
    }
}

/// The quota of each class: `rate_limit.routes.<class>`, else `rate_limit.default`.
pub struct ClassQuotas([Quota; 5]);

impl ClassQuotas {
    /// Resolve the quotas of `settings`.
    pub fn from_settings(s: &RateLimitSettings) -> Self {
        let r = &s.routes;
        let per = [r.generate, r.validate, r.read, r.upload, r.delete];
        Self(per.map(|q| q.unwrap_or(s.default)))
    }

    /// The quota of `class`.
    pub fn get(&self, class: RouteClass) -> Quota {
        self.0[class_index(class)]
    }
}

/// Why the limiter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    /// `rate_limit.backend = "redis"` without a URL.
    #[error("rate_limit.redis_url is required when rate_limit.backend = \"redis\"")]
    RedisUrlMissing,
    /// The URL does not parse as a Redis URL.
    #[error("rate_limit.redis_url is not usable: {0}")]
    RedisUrlUnusable(::redis::RedisError),
    /// The client could not be built around the URL.
    #[error("rate_limit.redis_url: cannot set up the Redis client: {0}")]
    RedisClient(::redis::RedisError),
}

/// What the GCRA said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Within the budget.
    pub allowed: bool,
    /// The quota's count (= the burst).
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// When refused: until the next request would be allowed.
    pub retry_after: Duration,
    /// Until the budget is whole again.
    pub reset: Duration,
}

/// Timers and clock of the limiter; tests shorten them.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How often idle memory keys are evicted (and the key gauge refreshed).
    pub evict_every: Duration,
    /// How often closed refusal windows are written as summaries.
    pub flush_every: Duration,
    /// Shift of the memory backend's clock (tests make keys idle without waiting).
    pub clock: ClockShift,
    /// While Redis is down, one request per this interval tries it again.
    pub redis_probe_every: Duration,
    /// While Redis is down, the outage is logged and audited again after this long.
    pub redis_report_every: Duration,
    /// Connect and answer deadline of a Redis check.
    pub redis_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            evict_every: Duration::from_secs(30),
            flush_every: Duration::from_secs(5),
            clock: ClockShift::default(),
            redis_probe_every: Duration::from_secs(1),
            redis_report_every: Duration::from_secs(60),
            redis_timeout: Duration::from_millis(500),
        }
    }
}

/// The `RateLimit-*` headers of one answer.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitHeaders {
    limit: u32,
    remaining: u32,
    reset_secs: u64,
}

impl RateLimitHeaders {
    fn of(v: &Verdict) -> Self {
        Self {
            limit: v.limit,
            remaining: v.remaining,
            reset_secs: ceil_secs(v.reset),
        }
    }

    /// Put them on a response.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
    }
}

/// The limiter's answer for one request: headers to add, and a refusal if it is refused.
#[derive(Debug, Default)]
pub struct Gate {
    /// `RateLimit-*` headers (none when the client is exempt or the backend is unavailable).
    pub headers: Option<RateLimitHeaders>,
    /// The error to answer with instead of running the handler.
    pub refusal: Option<ApiError>,
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

enum Backend {
    Memory(Box<memory::MemoryBackend>),
    Redis(Box<redis::RedisBackend>),
}

/// The rate limiter of one daemon.
pub struct RateLimiter {
    backend: Backend,
    exempt: Vec<IpNet>,
    ipv6_prefix: u8,
    dry_run: bool,
    quotas: ClassQuotas,
    refusals: Arc<refusals::RefusalLog>,
    keys: Gauge,
    refused: Counter,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl RateLimiter {
    /// Build the limiter of `settings` (enabled or not, the caller decides), register its
    /// metrics, and start its timers. Refusals are audited through `refusals`.
    pub fn start(
        settings: &RateLimitSettings,
        writer: BatchWriter,
        refusals: Arc<refusals::RefusalLog>,
        registry: &mut Registry,
        tuning: Tuning,
    ) -> Result<Arc<Self>, LimiterError> {
        let quotas = ClassQuotas::from_settings(settings);
        let backend = match settings.backend {
            RateLimitBackend::Memory => {
                Backend::Memory(Box::new(memory::MemoryBackend::new(&quotas, tuning.clock.clone())))
            }
            RateLimitBackend::Redis => {
                Backend::Redis(Box::new(redis::RedisBackend::new(settings, writer.clone(), &tuning)?))
            }
        };
        let keys = Gauge::default();
        let refused = Counter::default();
        registry.register(
            "rate_limit_keys",
            "Client keys held by the memory rate limiter (refreshed at each eviction)",
            keys.clone(),
        );
        registry.register(
            "rate_limit_refused",
            "Requests over their rate limit (dry-run included)",
            refused.clone(),
        );
        let limiter = Arc::new(Self {
            backend,
            exempt: settings.exempt.clone(),
            ipv6_prefix: settings.ipv6_prefix,
            dry_run: settings.dry_run,
            quotas,
            refusals,
            keys,
            refused,
            tasks: Mutex::new(Vec::new()),
        });
        let evictor = spawn_every(&limiter, tuning.evict_every, |l| async move {
            // A sweep over a million keys takes a while: keep it off the async workers.
            let swept = tokio::task::spawn_blocking(move || l.evict_now()).await;
            if let Err(e) = swept {
                tracing::error!(error = %e, "rate-limit eviction failed");
            }
        });
        limiter.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(evictor);
        Ok(limiter)
    }

    /// Check one request of `class` from the client at `ip`; a refusal is audited as from
    /// `origin`.
    pub async fn check(&self, class: RouteClass, ip: IpAddr, origin: &Origin) -> Gate {
        if self.exempt.iter().any(|n| n.contains(&ip)) {
            return Gate::default();
        }
        let key = key::key_for(ip, self.ipv6_prefix);
        let verdict = match &self.backend {
            Backend::Memory(m) => m.check(class, key),
            Backend::Redis(r) => match r.check(class, &key::describe(key, self.ipv6_prefix)).await {
                Ok(v) => v,
                Err(redis::Unavailable) => {
                    return match r.failure_mode() {
                        RedisFailure::Open => Gate::default(),
                        RedisFailure::Closed => Gate {
                            headers: None,
                            refusal: Some(ApiError::RateLimited(REDIS_DOWN_RETRY_SECS)),
                        },
                    };
                }
            },
        };
        let headers = Some(RateLimitHeaders::of(&verdict));
        if verdict.allowed {
            return Gate { headers, refusal: None };
        }
        self.refused.inc();
        let mut fields = serde_json::Map::new();
        fields.insert("route_class".into(), class_name(class).into());
        fields.insert("key".into(), key::describe(key, self.ipv6_prefix).into());
        fields.insert("dry_run".into(), self.dry_run.into());
        let audited = self
            .refusals
            .record(refusals::Refusal {
                kind: refusals::Kind::RateLimited(class),
                key,
                origin,
                window: self.quotas.get(class).period.duration(),
                event_type: sessiond_core::audit::EventType::RateLimitExceeded,
                fields,
            })
            .await;
        if let Err(e) = audited {
            tracing::warn!(error = %e, request_id = %origin.request_id, "could not audit a rate-limit refusal");
            return Gate {
                headers,
                refusal: Some(ApiError::DatabaseUnavailable),
            };
        }
        let refusal = (!self.dry_run).then(|| ApiError::RateLimited(ceil_secs(verdict.retry_after).max(1)));
        Gate { headers, refusal }
    }

    /// Evict idle memory keys now; returns (and publishes) the number of keys left.
    pub fn evict_now(&self) -> usize {
        let left = match &self.backend {
            Backend::Memory(m) => m.evict(),
            Backend::Redis(_) => 0,
        };
        self.keys.set(i64::try_from(left).unwrap_or(i64::MAX));
        left
    }

    /// Stop the timers. (The refusal log, which outlives the limiter, writes the open
    /// windows' summaries at its own shutdown.)
    pub fn shutdown(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            t.abort();
        }
    }
}

/// Run `work` every `every` while the limiter lives.
fn spawn_every<F, Fut>(limiter: &Arc<RateLimiter>, every: Duration, work: F) -> JoinHandle<()>
where
    F: Fn(Arc<RateLimiter>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let weak: Weak<RateLimiter> = Arc::downgrade(limiter);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(l) = weak.upgrade() else { return };
            work(l).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(6)), 6);
        assert_eq!(ceil_secs(Duration::from_millis(6001)), 7);
    }

    #[test]
    fn redis_settings_are_validated_and_read_from_the_environment() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let err = sessiond_core::Settings::load_with_env(
            None,
            env(&[
                ("SESSIOND_RATE_LIMIT__BACKEND", "redis"),
                ("SESSIOND_RATE_LIMIT__REDIS_URL", "http://127.0.0.1:6379"),
            ]),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("rate_limit.redis_url"), "{err}");
        let ok = sessiond_core::Settings::load_with_env(
            None,
            env(&[
                ("SESSIOND_RATE_LIMIT__BACKEND", "redis"),
                ("SESSIOND_RATE_LIMIT__REDIS_URL", "redis://:pw@127.0.0.1:6379/0"),
                ("SESSIOND_RATE_LIMIT__REDIS_KEY_PREFIX", "app1:rl:"),
                ("SESSIOND_RATE_LIMIT__REDIS_FAILURE", "closed"),
            ]),
        );
        let s = ok.map(|s| s.rate_limit).map_err(|e| e.to_string());
        let s = s.as_ref().map_err(String::as_str);
        assert_eq!(s.map(|r| r.redis_key_prefix.as_str()), Ok("app1:rl:"));
        assert_eq!(s.map(|r| r.redis_failure), Ok(RedisFailure::Closed));
        assert!(!format!("{s:?}").contains("pw"), "the password is redacted");
    }

    #[test]
    fn class_quotas_fall_back_to_the_default() {
        let mut s = RateLimitSettings::default();
        s.routes.validate = Some(Quota {
            count: 100,
            period: sessiond_core::config::Period::Second,
        });
        let q = ClassQuotas::from_settings(&s);
        assert_eq!(q.get(RouteClass::Validate).count, 100);
        assert_eq!(q.get(RouteClass::Generate), s.default);
        assert_eq!(q.get(RouteClass::Delete), s.default);
    }
}

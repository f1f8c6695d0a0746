//! The shared backend: one atomic Lua script per check (`gcra.lua`, the same GCRA as the memory
//! backend) so several daemons on one Redis share one budget per client. When Redis cannot be
//! reached the limiter fails open or closed (`rate_limit.redis_failure`); the outage is logged
//! and audited as `dependency.down` at most once per report interval (a minute), never per
//! request, and `dependency.up` is audited when Redis answers again. While Redis is down only
//! one request per probe interval tries it; the others get the failure mode at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use serde_json::json;
use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
use sessiond_core::config::{RateLimitSettings, RedisFailure};
use sessiond_core::domain::now_millis;
use sessiond_core::store::WriteOp;
use sessiond_core::writer::BatchWriter;

use super::{ClassQuotas, LimiterError, Tuning, Verdict};
use crate::routes::RouteClass;

const SCRIPT: &str = include_str!("gcra.lua");

/// Redis is down and the limiter has nothing to say.
#[derive(Debug)]
pub struct Unavailable;

#[derive(Default)]
struct Health {
    down: bool,
    /// While down: when the next request may try Redis again.
    next_probe: Option<Instant>,
    /// While down: when the outage was last logged and audited.
    last_report: Option<Instant>,
}

struct ClassParams {
    limit: u32,
    emission_us: u64,
}

/// GCRA in Redis.
pub struct RedisBackend {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
    classes: [ClassParams; 5],
    failure: RedisFailure,
    url_for_logs: String,
    health: Mutex<Health>,
    writer: BatchWriter,
    probe_every: Duration,
    report_every: Duration,
    timeout: Duration,
}

impl RedisBackend {
    /// Prepare a lazily connecting client; an unreachable Redis is not an error here (the
    /// daemon serves anyway), an unparsable URL is.
    pub fn new(settings: &RateLimitSettings, writer: BatchWriter, tuning: &Tuning) -> Result<Self, LimiterError> {
        let url = settings.redis_url.as_ref().ok_or(LimiterError::RedisUrlMissing)?;
        let client = Client::open(url.expose()).map_err(LimiterError::RedisUrlUnusable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(tuning.redis_timeout))
            .set_response_timeout(Some(tuning.redis_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(LimiterError::RedisClient)?;
        let quotas = ClassQuotas::from_settings(settings);
        let classes = super::CLASSES.map(|class| {
            let q = quotas.get(class);
            let period_us = u64::try_from(q.period.duration().as_micros()).unwrap_or(u64::MAX);
            ClassParams {
                limit: q.count.max(1),
                emission_us: (period_us / u64::from(q.count.max(1))).max(1),
            }
        });
        Ok(Self {
            conn,
            script: Script::new(SCRIPT),
            prefix: settings.redis_key_prefix.clone(),
            classes,
            failure: settings.redis_failure,
            url_for_logs: url.redacted(),
            health: Mutex::new(Health::default()),
            writer,
            probe_every: tuning.redis_probe_every,
            report_every: tuning.redis_report_every,
            timeout: tuning.redis_timeout,
        })
    }

    /// What to do with requests while Redis is unreachable.
    pub fn failure_mode(&self) -> RedisFailure {
        self.failure
    }

    /// The Redis key of a bucket: `<prefix><class>:<key>`.
    pub fn key(&self, class: RouteClass, key: &str) -> String {
        format!("{}{}:{}", self.prefix, super::class_name(class), key)
    }

    /// Run the script for `key`'s budget of `class`.
    pub async fn check(&self, class: RouteClass, key: &str) -> Result<Verdict, Unavailable> {
        if !self.may_try() {
            return Err(Unavailable);
        }
        let c = &self.classes[super::class_index(class)];
        let mut conn = self.conn.clone();
        let mut call = self.script.key(self.key(class, key));
        call.arg(c.emission_us).arg(c.limit);
        let result = tokio::time::timeout(self.timeout, call.invoke_async::<Vec<i64>>(&mut conn)).await;
        match result {
            Ok(Ok(v)) if v.len() == 4 => {
                self.mark_up();
                let us = |x: i64| Duration::from_micros(u64::try_from(x).unwrap_or(0));
                Ok(Verdict {
                    allowed: v[0] == 1,
                    limit: c.limit,
                    remaining: u32::try_from(v[1]).unwrap_or(0),
                    retry_after: us(v[2]),
                    reset: us(v[3]),
                })
            }
            Ok(Ok(v)) => {
                self.mark_down(&format!("unexpected script answer of {} values", v.len()));
                Err(Unavailable)
            }
            Ok(Err(e)) => {
                self.mark_down(&e.to_string());
                Err(Unavailable)
            }
            Err(_) => {
                self.mark_down("timed out");
                Err(Unavailable)
            }
        }
    }

    /// Up: always. Down: one caller per probe interval.
    fn may_try(&self) -> bool {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if !h.down {
            return true;
        }
        let now = Instant::now();
        match h.next_probe {
            Some(at) if now < at => false,
            _ => {
                h.next_probe = Some(now + self.probe_every);
                true
            }
        }
    }

    fn mark_down(&self, cause: &str) {
        let now = Instant::now();
        let report = {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            let first = !h.down;
            h.down = true;
            if first {
                h.next_probe = Some(now + self.probe_every);
            }
            let due = first
                || h.last_report
                    .is_none_or(|at| now.duration_since(at) >= self.report_every);
            if due {
                h.last_report = Some(now);
            }
            due.then_some(first)
        };
        if let Some(first) = report {
            let mode = failure_name(self.failure);
            tracing::error!(
                redis = %self.url_for_logs,
                cause,
                failure_mode = mode,
                "rate limiter: Redis is unreachable; failing {mode}"
            );
            self.audit(
                EventType::DependencyDown,
                Severity::Critical,
                json!({"dependency": "redis", "failure_mode": mode, "first": first}),
            );
        }
    }

    fn mark_up(&self) {
        let was_down = {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            let was = h.down;
            *h = Health::default();
            was
        };
        if was_down {
            tracing::info!(redis = %self.url_for_logs, "rate limiter: Redis is reachable again");
            self.audit(EventType::DependencyUp, Severity::Info, json!({"dependency": "redis"}));
        }
    }

    /// Written in the background: requests do not wait for an outage report.
    fn audit(&self, event_type: EventType, severity: Severity, metadata: serde_json::Value) {
        let origin = Origin::system(format!("ratelimit-{}", uuid::Uuid::new_v4().simple()));
        let event = NewEvent::new(&origin, now_millis(), event_type, severity, None, metadata);
        let writer = self.writer.clone();
        tokio::spawn(async move {
            if let Err(e) = writer.submit(vec![WriteOp::Event(event)]).await {
                tracing::warn!(error = %e, event = %event_type, "could not audit a dependency change");
            }
        });
    }
}

fn failure_name(f: RedisFailure) -> &'static str {
    match f {
        RedisFailure::Open => "open",
        RedisFailure::Closed => "closed",
    }
}

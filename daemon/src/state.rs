//! What every request shares: the daemon's state, assembled once at start-up, and the facts
//! about one request that the pipeline (`app`), the handlers and the limiter read.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ipnet::IpNet;
use sessiond_core::Settings;
use sessiond_core::audit::Origin;
use sessiond_core::session::SessionService;
use sessiond_core::store::Store;
use sessiond_core::uploads::UploadService;

use crate::cors::Cors;
use crate::health::DatabaseHealth;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::ratelimit::refusals::RefusalLog;

/// Everything a request needs, shared by all connections.
pub struct AppState {
    /// The configuration in force.
    pub settings: Arc<Settings>,
    /// The session service (and through it the store and the batch writer).
    pub sessions: SessionService,
    /// Request and job metrics, rendered by `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The upload service; `/readyz` pings its object store.
    pub uploads: UploadService,
    /// Whether database writes work (readiness, metrics); `None` in a state assembled
    /// without it.
    pub db_health: Option<Arc<DatabaseHealth>>,
    pub(crate) cors: Cors,
    pub(crate) trusted_proxies: Vec<IpNet>,
    metrics_allow: Vec<IpNet>,
    pub(crate) request_timeout: Duration,
    pub(crate) rate_limiter: Option<Arc<RateLimiter>>,
    pub(crate) refusals: Arc<RefusalLog>,
    /// Set on SIGTERM for `server.drain_delay`: `/readyz` answers 503 (see `server.rs`).
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    /// Assemble the state; free refusals are audited through `refusals`.
    pub fn new(
        settings: Arc<Settings>,
        sessions: SessionService,
        uploads: UploadService,
        metrics: Arc<Metrics>,
        refusals: Arc<RefusalLog>,
    ) -> Self {
        Self {
            cors: Cors::new(&settings.cors),
            trusted_proxies: settings.server.trusted_proxies.clone(),
            metrics_allow: settings.metrics.allow.clone(),
            request_timeout: settings.server.request_timeout.get(),
            rate_limiter: None,
            refusals,
            draining: Arc::default(),
            settings,
            sessions,
            metrics,
            uploads,
            db_health: None,
        }
    }

    /// Report write health through `health`.
    pub fn with_db_health(mut self, health: Arc<DatabaseHealth>) -> Self {
        self.db_health = Some(health);
        self
    }

    /// Limit every rate-limited route with `limiter`.
    pub fn with_rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The store behind the session service.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.sessions.store()
    }

    /// May this client read `/metrics`?
    pub fn metrics_allowed(&self, ip: IpAddr) -> bool {
        self.metrics_allow.iter().any(|n| n.contains(&ip))
    }
}

/// Facts about one request that handlers and the pipeline share.
pub struct RequestContext {
    /// `X-Request-Id`, echoed or generated.
    pub request_id: String,
    /// The client's address, after `server.trusted_proxies`.
    pub client_ip: IpAddr,
    /// Who asked, as audit events record it.
    pub origin: Origin,
}

//! Prometheus metrics: request counts and latency by route and status, audit batch sizes,
//! database pool occupancy, open connections and scheduled jobs. Served at `/metrics` to
//! `metrics.allow`. docs/deployment.md says what each one means.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sessiond_core::store::PoolStats;

/// Labels of the HTTP metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Path template.
    pub route: &'static str,
    /// HTTP method: one of [`method_label`]'s, so a client inventing methods cannot add series.
    pub method: &'static str,
    /// Status code.
    pub status: u16,
}

/// The metrics label of a request method: the standard methods by name, anything else
/// `"other"` (each label value is a series kept for the daemon's life).
pub fn method_label(method: &http::Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT", "PATCH", "CONNECT", "TRACE",
    ];
    STANDARD.into_iter().find(|m| *m == method.as_str()).unwrap_or("other")
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Labels of the per-job metrics. `name`, not `job`: Prometheus puts its own `job` label
/// (the scrape job) on every series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// Job name (`session_expiry`, `retention`, ...).
    pub name: &'static str,
}

/// Labels of the job run and skip counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobOutcomeLabels {
    /// Job name.
    pub name: &'static str,
    /// `succeeded` / `failed` for runs; `tick_taken` / `lease_held` / `still_running` for
    /// skipped ticks.
    pub outcome: &'static str,
}

/// The scheduled jobs' metrics. Runs, failures and durations count what this daemon ran; the
/// last success comes from the shared `job_runs` table, so every daemon reports the
/// cluster's value and it survives restarts.
#[derive(Clone)]
pub struct JobMetrics {
    runs: Family<JobOutcomeLabels, Counter>,
    skipped: Family<JobOutcomeLabels, Counter>,
    duration: Family<JobLabels, Histogram, fn() -> Histogram>,
    last_success: Family<JobLabels, Gauge<f64, AtomicU64>>,
}

fn job_duration_histogram() -> Histogram {
    // 1 ms … ~70 min
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

impl JobMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = JobMetrics {
            runs: Family::default(),
            skipped: Family::default(),
            duration: Family::new_with_constructor(job_duration_histogram as fn() -> Histogram),
            last_success: Family::default(),
        };
        registry.register(
            "job_runs",
            "Scheduled job runs by this daemon, by outcome (succeeded, failed)",
            m.runs.clone(),
        );
        registry.register(
            "job_ticks_skipped",
            "Scheduled ticks this daemon did not run: tick_taken (another daemon runs it), lease_held, still_running",
            m.skipped.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Duration of the job runs of this daemon",
            m.duration.clone(),
        );
        registry.register(
            "job_last_success_timestamp_seconds",
            "When the job last succeeded on any daemon (Unix seconds, from job_runs)",
            m.last_success.clone(),
        );
        m
    }

    /// Make the run counters of `name` exist at 0, so `increase()` and alerts see them before
    /// the first run.
    pub fn declare(&self, name: &'static str) {
        for outcome in ["succeeded", "failed"] {
            let _ = self.runs.get_or_create(&JobOutcomeLabels { name, outcome });
        }
    }

    /// One run of `name` by this daemon ended.
    pub fn observe_run(&self, name: &'static str, succeeded: bool, seconds: f64) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.runs.get_or_create(&JobOutcomeLabels { name, outcome }).inc();
        self.duration.get_or_create(&JobLabels { name }).observe(seconds);
    }

    /// A tick of `name` this daemon did not run, and why.
    pub fn observe_skip(&self, name: &'static str, outcome: &'static str) {
        self.skipped.get_or_create(&JobOutcomeLabels { name, outcome }).inc();
    }

    /// The last success of `name` (on any daemon).
    pub fn set_last_success(&self, name: &'static str, at: chrono::DateTime<chrono::Utc>) {
        let seconds = at.timestamp_millis() as f64 / 1000.0;
        self.last_success.get_or_create(&JobLabels { name }).set(seconds);
    }
}

/// All of the daemon's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    audit_batch: Histogram,
    pool_size: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    /// Open client connections.
    pub connections: Gauge<i64, AtomicI64>,
    /// Scheduled jobs.
    pub jobs: JobMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sessiond");
        let requests = Family::<HttpLabels, Counter>::default();
        let latency = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let audit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let pool_size = Gauge::default();
        let pool_idle = Gauge::default();
        let pool_max = Gauge::default();
        let connections = Gauge::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request",
            latency.clone(),
        );
        registry.register(
            "audit_batch_ops",
            "Writes committed per group-commit batch",
            audit_batch.clone(),
        );
        registry.register("db_pool_connections", "Open database connections", pool_size.clone());
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        registry.register("db_pool_max_connections", "Configured pool maximum", pool_max.clone());
        registry.register("open_connections", "Open client connections", connections.clone());
        let jobs = JobMetrics::register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            audit_batch,
            pool_size,
            pool_idle,
            pool_max,
            connections,
            jobs,
        }
    }

    /// Registry, so other parts (rate limiter, jobs) can add their metrics at start-up.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Record one answered request.
    pub fn observe_request(&self, labels: &HttpLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.latency.get_or_create(labels).observe(seconds);
    }

    /// A hook for the audit writer.
    pub fn batch_observer(&self) -> sessiond_core::writer::BatchObserver {
        let h = self.audit_batch.clone();
        Arc::new(move |n| h.observe(n as f64))
    }

    /// Prometheus text exposition, with pool gauges refreshed.
    pub fn render(&self, pool: PoolStats) -> String {
        self.pool_size.set(i64::from(pool.size));
        self.pool_idle.set(i64::try_from(pool.idle).unwrap_or(i64::MAX));
        self.pool_max.set(i64::from(pool.max));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

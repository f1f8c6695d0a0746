//! Prometheus metrics: request counts and latency by route and status, audit batch sizes,
//! database pool occupancy, open connections and scheduled jobs. Served at `/metrics` to
//! `metrics.allow`, as OpenMetrics or the classic text format by the request's `Accept`.
//! docs/deployment.md says what each one means.

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

    /// A hook for the batch writer.
    pub fn batch_observer(&self) -> sessiond_core::writer::BatchObserver {
        let h = self.audit_batch.clone();
        Arc::new(move |n| h.observe(n as f64))
    }

    /// The exposition in `format`, with pool gauges refreshed.
    pub fn render(&self, pool: PoolStats, format: Format) -> String {
        self.pool_size.set(i64::from(pool.size));
        self.pool_idle.set(i64::try_from(pool.idle).unwrap_or(i64::MAX));
        self.pool_max.set(i64::from(pool.max));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        match format {
            Format::OpenMetrics => out,
            Format::Text => to_classic_text(&out),
        }
    }
}

/// The two exposition formats `/metrics` serves, chosen by the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0, what Prometheus asks for first.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4: for `curl`, older scrapers and `promtool
    /// check metrics`; the default when `Accept` does not ask for OpenMetrics.
    Text,
}

impl Format {
    /// OpenMetrics when `accept` names `application/openmetrics-text` (version 1.0.0 or none)
    /// with a quality at least that of `text/plain`; otherwise the classic text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let (mut q, mut version) = (1.0_f32, None);
            for param in parts {
                match param
                    .split_once('=')
                    .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                {
                    Some(("q", v)) => q = v.parse().unwrap_or(0.0),
                    Some(("version", v)) => version = Some(v.to_owned()),
                    _ => {}
                }
            }
            match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0")) => openmetrics = openmetrics.max(q),
                ("text/plain", None | Some("0.0.4")) => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Rewrite prometheus-client's OpenMetrics into the classic text format: a counter family is
/// named with its `_total` suffix in `# HELP`/`# TYPE` (as its samples are), `info` becomes a
/// `gauge` named `_info`, `unknown` is `untyped`; `# UNIT` and `# EOF` go.
fn to_classic_text(openmetrics: &str) -> String {
    let mut renamed: std::collections::HashMap<&str, (&'static str, &'static str)> = Default::default();
    for line in openmetrics.lines() {
        if let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|rest| rest.split_once(' ')) {
            match kind.trim() {
                "counter" => renamed.insert(name, ("_total", "counter")),
                "info" => renamed.insert(name, ("_info", "gauge")),
                "unknown" => renamed.insert(name, ("", "untyped")),
                _ => None,
            };
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let header = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match header.and_then(|(prefix, rest)| rest.split_once(' ').map(|(name, tail)| (prefix, name, tail))) {
            Some((prefix, name, tail)) => {
                let (suffix, kind) = renamed.get(name).copied().unwrap_or(("", ""));
                let tail = match prefix {
                    // OpenMetrics escapes `"` in help text; the classic format knows only `\\` and `\n`.
                    "# HELP " => tail.replace("\\\"", "\""),
                    _ if kind.is_empty() => tail.to_owned(),
                    _ => kind.to_owned(),
                };
                out.push_str(&format!("{prefix}{name}{suffix} {tail}\n"));
            }
            None => {
                // An exemplar (` # {...}`) has no place in the classic format.
                out.push_str(line.split(" # {").next().unwrap_or(line));
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        for (accept, format) in [
            (None, Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some(prometheus), Format::OpenMetrics),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (
                Some("text/plain;q=0.9, application/openmetrics-text; version=\"1.0.0\""),
                Format::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;q=0.2,text/plain;q=0.5"),
                Format::Text,
            ),
            (Some("application/openmetrics-text;version=0.0.1"), Format::Text),
            (Some("application/openmetrics-text;q=0"), Format::Text),
        ] {
            assert_eq!(Format::negotiate(accept), format, "{accept:?}");
        }
    }

    #[test]
    fn openmetrics_becomes_the_classic_text_format() {
        let openmetrics = "# HELP x_requests Requests \\\"answered\\\".\n# TYPE x_requests counter\n\
                           x_requests_total{route=\"/a\"} 3\n# HELP x_build Build.\n# TYPE x_build info\n\
                           x_build_info{version=\"1\"} 1\n# HELP x_up Up.\n# TYPE x_up gauge\n# UNIT x_up seconds\n\
                           x_up 1 # {trace=\"a\"} 1.0\n# EOF\n";
        assert_eq!(
            to_classic_text(openmetrics),
            "# HELP x_requests_total Requests \"answered\".\n# TYPE x_requests_total counter\n\
             x_requests_total{route=\"/a\"} 3\n# HELP x_build_info Build.\n# TYPE x_build_info gauge\n\
             x_build_info{version=\"1\"} 1\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}

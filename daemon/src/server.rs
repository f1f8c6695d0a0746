//! The accept loop and the daemon's life cycle: connect and migrate the database, start the
//! batch writer, serve until `shutdown` resolves, turn `/readyz` to 503 for
//! `server.drain_delay` while still serving (so a load balancer stops sending traffic), drain
//! in-flight requests with a deadline, then flush the batch writer. An accept error is logged
//! and retried, never fatal.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use sessiond_core::Settings;
use sessiond_core::domain::Timeouts;
use sessiond_core::id::IdGenerator;
use sessiond_core::session::SessionService;
use sessiond_core::store::{self, Store, StoreError};
use sessiond_core::uploads::UploadService;
use sessiond_core::writer::{BatchWriter, WriterOptions};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::handle;
use crate::metrics::Metrics;
use crate::ratelimit::refusals::RefusalLog;
use crate::ratelimit::{self, RateLimiter};
use crate::state::AppState;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database connection or migration failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rate limiter could not be set up (e.g. an unusable `rate_limit.redis_url`).
    #[error(transparent)]
    RateLimit(#[from] crate::ratelimit::LimiterError),
    /// The job scheduler could not start (bad schedule, email or object storage settings).
    #[error(transparent)]
    Jobs(#[from] crate::jobs::JobsError),
    /// The object store could not be opened.
    #[error(transparent)]
    Storage(#[from] sessiond_core::storage::StorageError),
}

/// How the daemon was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM (and a test's `()`): `/readyz` answers 503 for `server.drain_delay` while the
    /// daemon still serves, then the graceful shutdown.
    Drain,
    /// Ctrl-C, an operator at a terminal: the graceful shutdown at once.
    Now,
}

impl From<()> for Stop {
    fn from((): ()) -> Self {
        Stop::Drain
    }
}

/// Open the configured database and apply migrations.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StoreError> {
    let store = store::connect(&settings.database).await?;
    store.migrate().await?;
    let keys = sessiond_core::audit_chain::ChainKeys::from_settings(&settings.audit);
    match &keys {
        Some(k) => tracing::info!(
            key_id = k.current_id(),
            "audit chain on: every audit event is covered by a keyed hash chain"
        ),
        None => tracing::warn!("audit.hmac_key is not set: audit events are not chained (no tamper evidence)"),
    }
    store.set_chain_keys(keys);
    Ok(store)
}

/// Parts a test may replace.
#[derive(Default, Clone)]
pub struct Hooks {
    /// Session id source (default: the OS CSPRNG).
    pub ids: Option<Arc<dyn IdGenerator>>,
    /// Rate limiter timers and clock (default: production values).
    pub rate_limit: Option<ratelimit::Tuning>,
}

/// Run the daemon on `listener` until `shutdown` resolves. Returns after in-flight requests
/// have drained (or `server.shutdown_grace` passed) and every accepted audit write is stored.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = impl Into<Stop>>,
) -> Result<(), StartError> {
    serve_with(settings, listener, shutdown, Hooks::default()).await
}

/// [`serve`] with replaced parts.
pub async fn serve_with(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = impl Into<Stop>>,
    hooks: Hooks,
) -> Result<(), StartError> {
    let settings = Arc::new(settings);
    let store = open_store(&settings).await?;
    let mut metrics = Metrics::new();
    let (writer, writer_handle) = BatchWriter::spawn(
        store.clone(),
        WriterOptions {
            observer: Some(metrics.batch_observer()),
            pipeline: settings.database.postgres_write_pipeline as usize,
            ..WriterOptions::default()
        },
    );
    let tuning = hooks.rate_limit.clone().unwrap_or_default();
    // Refusals are summarized whether or not rate limiting is on (SPEC §3).
    let refusals = RefusalLog::start(writer.clone(), tuning.flush_every);
    let limiter = if settings.rate_limit.enabled {
        Some(RateLimiter::start(
            &settings.rate_limit,
            writer.clone(),
            refusals.clone(),
            metrics.registry_mut(),
            tuning,
        )?)
    } else {
        None
    };
    let db_health = crate::health::DatabaseHealth::register(&settings, writer.health().clone(), metrics.registry_mut());
    let metrics = Arc::new(metrics);
    let objects = sessiond_core::storage::from_settings(&settings.storage).await?;
    let scheduler = if settings.jobs.enabled {
        let ctx = crate::jobs::job_context_with(settings.clone(), store.clone(), objects.clone())?;
        Some(crate::jobs::start(ctx, metrics.jobs.clone()).await?)
    } else {
        None
    };
    let timeouts = Timeouts::new(
        settings.session.idle_timeout.get(),
        settings.session.absolute_timeout.get(),
    );
    let sessions = match hooks.ids {
        Some(ids) => SessionService::with_ids(store.clone(), writer, timeouts, ids),
        None => SessionService::new(store.clone(), writer, timeouts),
    };
    let sessions = sessions
        .with_objects(objects.clone())
        .with_touch_interval(settings.session.touch_interval.get());
    let uploads = UploadService::new(sessions.clone(), objects.clone(), &settings.uploads);
    let mut state =
        AppState::new(settings.clone(), sessions, uploads, metrics, refusals.clone()).with_db_health(db_health);
    if let Some(limiter) = &limiter {
        state = state.with_rate_limiter(limiter.clone());
    }
    let state = Arc::new(state);
    tracing::info!(
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        database = %store.describe(),
        objects = %objects.describe(),
        "sessiond ready"
    );

    let audit_log = settings
        .log
        .audit_events
        .then(|| crate::audit_log::spawn(store.clone()));
    let drain_delay = settings.server.drain_delay.get();
    let draining = state.draining.clone();
    let shutdown = async move {
        let how: Stop = shutdown.await.into();
        if how == Stop::Drain && !drain_delay.is_zero() {
            draining.store(true, Ordering::Release);
            tracing::info!(
                ?drain_delay,
                "draining: /readyz answers 503 while requests are still served"
            );
            tokio::time::sleep(drain_delay).await;
        }
    };
    accept_loop(state.clone(), listener, shutdown).await;

    drop(state);
    if let Some(scheduler) = scheduler {
        scheduler.shutdown(settings.server.shutdown_grace.get()).await;
    }
    if let Some(limiter) = limiter {
        limiter.shutdown();
    }
    // Summaries of open refusal windows go through the writer: before it stops.
    refusals.shutdown().await;
    writer_handle.shutdown().await;
    if let Some(task) = audit_log {
        task.abort();
    }
    store.close().await;
    tracing::info!("sessiond stopped");
    Ok(())
}

async fn accept_loop(state: Arc<AppState>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let server = &state.settings.server;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout.get())
        // Per-connection read buffer cap (hyper's default is ~400 KiB): uploads stream through
        // in 64 KiB pieces, so 100 concurrent uploads stay within the memory target.
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let grace = server.shutdown_grace.get();
    let mut backoff = Duration::from_millis(5);
    tokio::pin!(shutdown);

    loop {
        // At the connection cap we stop accepting; new clients wait in the kernel backlog.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    backoff = Duration::from_millis(5);
                    conn
                }
                Err(e) => {
                    // EMFILE, ECONNABORTED...: log, pause briefly, keep serving.
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let st = state.clone();
        let service = service_fn(move |req| {
            let st = st.clone();
            async move {
                let mut res = handle(st.clone(), req, peer).await;
                if st.draining.load(Ordering::Acquire) {
                    // Clients and balancers open their next request elsewhere.
                    res.headers_mut()
                        .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(res)
            }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let gauge = state.metrics.connections.clone();
        gauge.inc();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            gauge.dec();
            drop(permit);
        });
    }

    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "shutdown grace expired; closing remaining connections"),
    }
}

/// Resolves on SIGTERM ([`Stop::Drain`]) or Ctrl-C ([`Stop::Now`]).
pub async fn shutdown_signal() -> Stop {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {
            tracing::info!("Ctrl-C received");
            Stop::Now
        }
        () = term => {
            tracing::info!("SIGTERM received");
            Stop::Drain
        }
    }
}

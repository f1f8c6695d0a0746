//! Refusal auditing without amplification (SPEC §3): the first refusal of a key in a window is
//! written at once (the 429 waits for it, like every audited answer); later refusals of that key
//! in the window only bump a counter, written as ONE summary `rate_limit.exceeded` event when the
//! window closes (a timer flushes closed windows; shutdown flushes all). The sum of `count` over
//! a key's events is the number of refusals.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sessiond_core::audit::{Actor, EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::{now_millis, rfc3339};
use sessiond_core::store::WriteOp;
use sessiond_core::writer::{AuditWriter, WriteError};

use crate::routes::RouteClass;

struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Refusals after the first.
    later: u64,
    key: String,
    ip: Option<String>,
    user_agent: Option<String>,
    dry_run: bool,
}

/// Open refusal windows, by route class and key.
pub struct RefusalLog {
    windows: Mutex<HashMap<(RouteClass, IpAddr), Window>>,
    writer: AuditWriter,
    /// Held while summaries taken out of `windows` are being written, so shutdown can wait for
    /// a timer flush in progress instead of cancelling it half-way (losing its summaries).
    flushing: tokio::sync::Mutex<()>,
}

/// What one refusal of a key is to the audit trail.
pub struct Refusal<'a> {
    /// Route class refused.
    pub class: RouteClass,
    /// Bucket key.
    pub key: IpAddr,
    /// Bucket key as text (`2001:db8::/64`).
    pub key_text: String,
    /// The request.
    pub origin: &'a Origin,
    /// Window length: the quota's period.
    pub window: Duration,
    /// Counted but let through.
    pub dry_run: bool,
}

impl RefusalLog {
    /// An empty log writing through `writer`.
    pub fn new(writer: AuditWriter) -> Self {
        Self {
            windows: Mutex::new(HashMap::new()),
            writer,
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Record one refusal; returns once the first refusal of a window is committed.
    pub async fn record(&self, r: Refusal<'_>) -> Result<(), WriteError> {
        let now = now_millis();
        let (closed, first) = {
            let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let slot = (r.class, r.key);
            if let Some(w) = map.get_mut(&slot)
                && now < w.end
            {
                w.later += 1;
                return Ok(());
            }
            let w = Window {
                start: now,
                end: now + chrono::Duration::from_std(r.window).unwrap_or(chrono::Duration::MAX),
                later: 0,
                key: r.key_text.clone(),
                ip: r.origin.ip.clone(),
                user_agent: r.origin.user_agent.clone(),
                dry_run: r.dry_run,
            };
            let first = NewEvent::new(
                r.origin,
                now,
                EventType::RateLimitExceeded,
                Severity::Warning,
                None,
                json!({
                    "count": 1,
                    "window_start": rfc3339(now),
                    "route_class": super::class_name(r.class),
                    "key": r.key_text,
                    "dry_run": r.dry_run,
                    "summary": false,
                }),
            );
            (map.insert(slot, w).and_then(|old| summary(r.class, old)), first)
        };
        if let Some(event) = closed {
            self.spawn_write(vec![event]);
        }
        self.writer.submit(vec![WriteOp::Event(first)]).await.map(|_| ())
    }

    /// Summaries of the windows that have closed (all of them when `all`), removed from the log.
    pub fn take_closed(&self, all: bool) -> Vec<NewEvent> {
        let now = now_millis();
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let closed: Vec<(RouteClass, IpAddr)> = map
            .iter()
            .filter(|(_, w)| all || w.end <= now)
            .map(|(slot, _)| *slot)
            .collect();
        let mut events = Vec::new();
        for slot in closed {
            if let Some(w) = map.remove(&slot)
                && let Some(e) = summary(slot.0, w)
            {
                events.push(e);
            }
        }
        if map.capacity() > 4 * map.len() + 64 {
            map.shrink_to_fit();
        }
        events
    }

    /// Write closed windows' summaries (the timer).
    pub async fn flush(&self, all: bool) {
        let _flushing = self.flushing.lock().await;
        self.flush_locked(all).await;
    }

    /// Wait for a flush in progress and keep others out while the guard lives.
    pub async fn lock_flush(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.flushing.lock().await
    }

    /// [`RefusalLog::flush`] for the holder of [`RefusalLog::lock_flush`].
    pub async fn flush_locked(&self, all: bool) {
        let events = self.take_closed(all);
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let ops = events.into_iter().map(WriteOp::Event).collect();
        if let Err(e) = self.writer.submit(ops).await {
            tracing::warn!(error = %e, summaries = n, "could not write rate-limit summaries");
        }
    }

    fn spawn_write(&self, events: Vec<NewEvent>) {
        let writer = self.writer.clone();
        tokio::spawn(async move {
            let ops = events.into_iter().map(WriteOp::Event).collect();
            if let Err(e) = writer.submit(ops).await {
                tracing::warn!(error = %e, "could not write a rate-limit summary");
            }
        });
    }
}

/// The summary of a window with refusals after the first; none when there were none.
fn summary(class: RouteClass, w: Window) -> Option<NewEvent> {
    if w.later == 0 {
        return None;
    }
    let origin = Origin {
        request_id: format!("ratelimit-summary-{}", uuid::Uuid::new_v4().simple()),
        ip: w.ip,
        user_agent: w.user_agent,
        actor: Actor::Client,
    };
    Some(NewEvent::new(
        &origin,
        now_millis(),
        EventType::RateLimitExceeded,
        Severity::Warning,
        None,
        json!({
            "count": w.later,
            "window_start": rfc3339(w.start),
            "window_end": rfc3339(w.end),
            "route_class": super::class_name(class),
            "key": w.key,
            "dry_run": w.dry_run,
            "summary": true,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_core::config::{DatabaseSettings, SecretUrl};
    use sessiond_core::store::{self, Store};
    use sessiond_core::writer::{WriterHandle, WriterOptions};
    use std::sync::Arc;

    async fn log() -> (RefusalLog, Arc<dyn Store>, WriterHandle, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = DatabaseSettings {
            url: SecretUrl::new(format!("sqlite://{}", dir.path().join("t.db").display())),
            max_connections: 2,
            ..DatabaseSettings::default()
        };
        let store = store::connect(&settings).await.expect("connect");
        store.migrate().await.expect("migrate");
        let (writer, handle) = AuditWriter::spawn(store.clone(), WriterOptions::default());
        (RefusalLog::new(writer), store, handle, dir)
    }

    fn origin() -> Origin {
        Origin {
            request_id: "r1".into(),
            ip: Some("203.0.113.7".into()),
            user_agent: None,
            actor: Actor::Client,
        }
    }

    #[tokio::test]
    async fn first_refusal_is_written_the_rest_summarised() {
        let (log, store, handle, _dir) = log().await;
        let o = origin();
        let key: IpAddr = [203, 0, 113, 7].into();
        for _ in 0..6 {
            let r = Refusal {
                class: RouteClass::Generate,
                key,
                key_text: "203.0.113.7".into(),
                origin: &o,
                window: Duration::from_secs(3600),
                dry_run: false,
            };
            log.record(r).await.expect("record");
        }
        let q = sessiond_core::audit::AuditQuery {
            limit: 100,
            ..Default::default()
        };
        assert_eq!(store.list_audit(&q).await.expect("list").len(), 1);
        assert!(log.take_closed(false).is_empty(), "the window is still open");
        let summaries = log.take_closed(true);
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].metadata["count"], 5);
        assert_eq!(summaries[0].metadata["summary"], true);
        assert!(log.take_closed(true).is_empty(), "taken once");
        drop(log);
        handle.shutdown().await;
    }
}

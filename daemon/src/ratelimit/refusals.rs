//! Refusal auditing without amplification (SPEC §3): the first refusal of a key in a window is
//! written at once (the answer waits for it, like every audited answer); later refusals of that
//! key in the window only bump a counter, written as ONE summary event when the window closes
//! (a timer flushes closed windows; shutdown flushes all). The sum of `count` over a key's
//! events is the number of refusals. Two kinds share it: rate-limit refusals
//! (`rate_limit.exceeded`, per route class) and the refusals a client can repeat for free under
//! `/api/session/...` (`request.rejected`: unknown routes, wrong methods, malformed bodies, per
//! code and route), so no client grows the audit trail faster than one event per kind and
//! window, whether or not rate limiting is on.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sessiond_core::audit::{Actor, EventType, NewEvent, Origin, Severity};
use sessiond_core::domain::{now_millis, rfc3339};
use sessiond_core::store::WriteOp;
use sessiond_core::writer::{BatchWriter, WriteError};
use tokio::task::JoinHandle;

use crate::routes::RouteClass;

/// What was refused: the part of a window's identity besides the client's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Over the rate limit of a route class (`rate_limit.exceeded`).
    RateLimited(RouteClass),
    /// A refusal a client can repeat for free (`request.rejected`).
    Rejected {
        /// The problem code.
        code: &'static str,
        /// The route label (`unmatched` for no route).
        route: &'static str,
        /// The method label.
        method: &'static str,
    },
}

struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Refusals after the first.
    later: u64,
    event_type: EventType,
    /// What the first event and the summary both say.
    fields: Map<String, Value>,
    ip: Option<String>,
}

/// Open refusal windows, by kind and key.
pub struct RefusalLog {
    windows: Mutex<HashMap<(Kind, IpAddr), Window>>,
    writer: BatchWriter,
    /// Held while summaries taken out of `windows` are being written, so shutdown can wait for
    /// a timer flush in progress instead of cancelling it half-way (losing its summaries).
    flushing: tokio::sync::Mutex<()>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

/// What one refusal is to the audit trail.
pub struct Refusal<'a> {
    /// What was refused.
    pub kind: Kind,
    /// Bucket key.
    pub key: IpAddr,
    /// The request.
    pub origin: &'a Origin,
    /// Window length.
    pub window: Duration,
    /// The first event's and the summary's type.
    pub event_type: EventType,
    /// Metadata both carry (the summary adds `count`, `window_start`, `window_end`).
    pub fields: Map<String, Value>,
}

impl RefusalLog {
    /// An empty log writing through `writer`, whose closed windows a timer writes every
    /// `flush_every`.
    pub fn start(writer: BatchWriter, flush_every: Duration) -> std::sync::Arc<Self> {
        let log = std::sync::Arc::new(Self::new(writer));
        let weak = std::sync::Arc::downgrade(&log);
        let timer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(flush_every.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(log) = weak.upgrade() else { return };
                log.flush(false).await;
            }
        });
        *log.timer.lock().unwrap_or_else(|p| p.into_inner()) = Some(timer);
        log
    }

    /// An empty log writing through `writer` (no timer).
    pub fn new(writer: BatchWriter) -> Self {
        Self {
            windows: Mutex::new(HashMap::new()),
            writer,
            flushing: tokio::sync::Mutex::new(()),
            timer: Mutex::new(None),
        }
    }

    /// Record one refusal; returns once the first refusal of a window is committed.
    pub async fn record(&self, r: Refusal<'_>) -> Result<(), WriteError> {
        let now = now_millis();
        let (closed, first) = {
            let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let slot = (r.kind, r.key);
            if let Some(w) = map.get_mut(&slot)
                && now < w.end
            {
                w.later += 1;
                return Ok(());
            }
            let mut meta = r.fields.clone();
            meta.insert("count".into(), json!(1));
            meta.insert("window_start".into(), json!(rfc3339(now)));
            meta.insert("summary".into(), json!(false));
            let first = NewEvent::new(
                r.origin,
                now,
                r.event_type,
                Severity::Warning,
                None,
                Value::Object(meta),
            );
            let w = Window {
                start: now,
                end: now + chrono::Duration::from_std(r.window).unwrap_or(chrono::Duration::MAX),
                later: 0,
                event_type: r.event_type,
                fields: r.fields,
                ip: r.origin.ip.clone(),
            };
            (map.insert(slot, w).and_then(summary), first)
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
        let closed: Vec<(Kind, IpAddr)> = map
            .iter()
            .filter(|(_, w)| all || w.end <= now)
            .map(|(slot, _)| *slot)
            .collect();
        let mut events = Vec::new();
        for slot in closed {
            if let Some(w) = map.remove(&slot)
                && let Some(e) = summary(w)
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

    /// Stop the timer and write the summaries of every open window. Call before the audit
    /// writer shuts down.
    pub async fn shutdown(&self) {
        // A timer flush in progress finishes first, so aborting the timer loses nothing.
        let _flushing = self.flushing.lock().await;
        if let Some(timer) = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            timer.abort();
        }
        self.flush_locked(true).await;
    }

    async fn flush_locked(&self, all: bool) {
        let events = self.take_closed(all);
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let ops = events.into_iter().map(WriteOp::Event).collect();
        if let Err(e) = self.writer.submit(ops).await {
            tracing::warn!(error = %e, summaries = n, "could not write refusal summaries");
        }
    }

    fn spawn_write(&self, events: Vec<NewEvent>) {
        let writer = self.writer.clone();
        tokio::spawn(async move {
            let ops = events.into_iter().map(WriteOp::Event).collect();
            if let Err(e) = writer.submit(ops).await {
                tracing::warn!(error = %e, "could not write a refusal summary");
            }
        });
    }
}

/// The summary of a window with refusals after the first; none when there were none.
fn summary(w: Window) -> Option<NewEvent> {
    if w.later == 0 {
        return None;
    }
    let origin = Origin {
        request_id: format!("refusal-summary-{}", uuid::Uuid::new_v4().simple()),
        ip: w.ip,
        user_agent: None,
        actor: Actor::Client,
    };
    let mut meta = w.fields;
    meta.insert("count".into(), json!(w.later));
    meta.insert("window_start".into(), json!(rfc3339(w.start)));
    meta.insert("window_end".into(), json!(rfc3339(w.end)));
    meta.insert("summary".into(), json!(true));
    Some(NewEvent::new(
        &origin,
        now_millis(),
        w.event_type,
        Severity::Warning,
        None,
        Value::Object(meta),
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
        let (writer, handle) = BatchWriter::spawn(store.clone(), WriterOptions::default());
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
                kind: Kind::RateLimited(RouteClass::Generate),
                key,
                origin: &o,
                window: Duration::from_secs(3600),
                event_type: EventType::RateLimitExceeded,
                fields: Map::new(),
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

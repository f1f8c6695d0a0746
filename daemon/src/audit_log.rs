//! `log.audit_events = true`: every committed audit event also becomes one log line (target
//! `sessiond::audit`, the event as JSON in the `event` field), for log shippers that feed a SIEM
//! (docs/audit.md). The events are read back from the database after they commit — a tail like
//! the console's — so nothing is logged that is not stored, and events written by the jobs
//! and the console are included. Several daemons on one database each log every event: turn it
//! on for one of them.

use std::sync::Arc;
use std::time::Duration;

use sessiond_core::audit::AuditQuery;
use sessiond_core::store::Store;
use tokio::task::JoinHandle;

/// How often the tail looks for new events.
const EVERY: Duration = Duration::from_millis(250);

/// Log each event committed from now on until the task is aborted.
pub fn spawn(store: Arc<dyn Store>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut cursor = match store.max_audit_id().await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "audit event log: cannot read the audit trail; starting from its beginning");
                0
            }
        };
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let page = store
                .list_audit(&AuditQuery {
                    after_id: Some(cursor),
                    ascending: true,
                    limit: 1000,
                    ..AuditQuery::default()
                })
                .await;
            match page {
                Ok(events) => {
                    for e in events {
                        cursor = e.id;
                        let json = serde_json::to_string(&e).unwrap_or_default();
                        tracing::info!(target: "sessiond::audit", event_id = e.id, event_type = %e.event_type,
                            severity = %e.severity, event = %json, "audit event");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "audit event log: reading new events failed; retrying"),
            }
        }
    })
}

//! The database's health beyond "it answers a query": whether the batch writer's commits work
//! (a full disk answers `SELECT 1` and refuses every write), and on SQLite the free space on
//! the database's file system. `/readyz` reports failing writes, and while they fail it probes
//! a write of its own, so a daemon a balancer took out of rotation learns that writes work
//! again without waiting for client traffic. The same facts are metrics.

use std::path::PathBuf;
use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sessiond_core::Settings;
use sessiond_core::store::Store;
use sessiond_core::writer::WriteHealth;

/// The writer's health and the gauges that show it.
pub struct DatabaseHealth {
    writes: Arc<WriteHealth>,
    /// The directory of the SQLite file (none on PostgreSQL).
    sqlite_dir: Option<PathBuf>,
    failing: Gauge,
    failures: Gauge,
    disk_free: Gauge,
}

impl DatabaseHealth {
    /// Register the gauges for the writer whose health is `writes`.
    pub fn register(settings: &Settings, writes: Arc<WriteHealth>, registry: &mut Registry) -> Arc<Self> {
        let h = Self {
            writes,
            sqlite_dir: sqlite_dir(settings.database.url.expose()),
            failing: Gauge::default(),
            failures: Gauge::default(),
            disk_free: Gauge::default(),
        };
        registry.register(
            "audit_writes_failing",
            "1 while the batch writer's last commit failed (e.g. the disk is full), else 0",
            h.failing.clone(),
        );
        registry.register(
            "audit_write_failures",
            "Audit writer commits that failed since start (a refused client value not counted)",
            h.failures.clone(),
        );
        if h.sqlite_dir.is_some() {
            registry.register(
                "database_disk_free_bytes",
                "Free bytes for the daemon on the SQLite database's file system",
                h.disk_free.clone(),
            );
        }
        Arc::new(h)
    }

    /// Refresh the gauges (before the metrics are rendered).
    pub fn refresh(&self) {
        self.failing.set(i64::from(self.writes.failing().is_some()));
        self.failures
            .set(i64::try_from(self.writes.failures()).unwrap_or(i64::MAX));
        if let Some(free) = self.sqlite_dir.as_deref().and_then(free_bytes) {
            self.disk_free.set(i64::try_from(free).unwrap_or(i64::MAX));
        }
    }

    /// Do writes work? While the writer's last commit failed, try one small write now.
    pub async fn check_writes(&self, store: &dyn Store) -> Result<(), String> {
        let Some(failure) = self.writes.failing() else {
            return Ok(());
        };
        match store.probe_write().await {
            Ok(()) => {
                tracing::info!(failing_since = %failure.since, "database writes work again");
                self.writes.record_ok();
                Ok(())
            }
            Err(e) => {
                self.writes.record_failure(&e);
                Err(e.to_string())
            }
        }
    }
}

/// The directory holding the SQLite file of `url` (`sqlite://./data/sessiond.db?mode=rwc` →
/// `./data`); `None` for another database.
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    let parent = std::path::Path::new(path).parent()?;
    Some(if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    })
}

fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_directory_comes_from_the_url() {
        assert_eq!(sqlite_dir("sqlite://./data/sessiond.db"), Some(PathBuf::from("./data")));
        assert_eq!(
            sqlite_dir("sqlite:///var/lib/s/db.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/s"))
        );
        assert_eq!(sqlite_dir("sqlite://sessiond.db"), Some(PathBuf::from(".")));
        assert_eq!(sqlite_dir("postgres://u@h/db"), None);
        assert!(free_bytes(std::path::Path::new(".")).is_some_and(|b| b > 0));
    }
}

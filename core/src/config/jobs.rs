//! `jobs.*`: the schedule of each scheduled job (6-field cron, UTC).

use serde::{Deserialize, Serialize};

use super::{ConfigError, check_cron};

/// One job's schedule (6-field cron, seconds first).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSchedule {
    /// 6-field cron expression, seconds first, UTC.
    pub schedule: String,
}

fn schedule(expr: &str) -> JobSchedule {
    JobSchedule { schedule: expr.into() }
}

/// `jobs.retention.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionJobSettings {
    /// 6-field cron expression, seconds first, UTC.
    pub schedule: String,
    /// Rows per transaction.
    pub batch_size: u32,
}

impl Default for RetentionJobSettings {
    fn default() -> Self {
        Self {
            schedule: "0 15 3 * * *".into(),
            batch_size: 1000,
        }
    }
}

/// `jobs.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Run the scheduler at all.
    pub enabled: bool,
    /// Marks idle and too-old sessions expired.
    pub session_expiry: JobSchedule,
    /// Deletes and anonymizes old data.
    pub retention: RetentionJobSettings,
    /// Raises alerts from the audit log.
    pub alert_detection: JobSchedule,
    /// Mails the warning digest.
    pub alert_digest: JobSchedule,
    /// Delivers the outbox.
    pub notification_sender: JobSchedule,
    /// Deletes orphaned objects.
    pub upload_gc: JobSchedule,
    /// Deletes the objects queued in `pending_object_deletions` (resets, expiries, purges,
    /// deleted uploads), retrying with backoff until they are gone.
    pub object_deletion: JobSchedule,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            session_expiry: schedule("0 */5 * * * *"),
            retention: RetentionJobSettings::default(),
            alert_detection: schedule("*/30 * * * * *"),
            alert_digest: schedule("0 0 * * * *"),
            notification_sender: schedule("*/30 * * * * *"),
            upload_gc: schedule("0 30 * * * *"),
            object_deletion: schedule("*/30 * * * * *"),
        }
    }
}

impl JobSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let jobs = self;
        for (key, expr) in [
            ("jobs.session_expiry.schedule", &jobs.session_expiry.schedule),
            ("jobs.retention.schedule", &jobs.retention.schedule),
            ("jobs.alert_detection.schedule", &jobs.alert_detection.schedule),
            ("jobs.alert_digest.schedule", &jobs.alert_digest.schedule),
            ("jobs.notification_sender.schedule", &jobs.notification_sender.schedule),
            ("jobs.upload_gc.schedule", &jobs.upload_gc.schedule),
            ("jobs.object_deletion.schedule", &jobs.object_deletion.schedule),
        ] {
            check_cron(expr).map_err(|m| ConfigError::new(key, m))?;
        }
        if jobs.retention.batch_size == 0 {
            return Err(ConfigError::new("jobs.retention.batch_size", "must be at least 1"));
        }
        Ok(())
    }
}

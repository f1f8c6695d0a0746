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
    /// The cron expression of `job`.
    pub fn schedule(&self, job: crate::jobs::JobName) -> &str {
        use crate::jobs::JobName as J;
        match job {
            J::SessionExpiry => &self.session_expiry.schedule,
            J::Retention => &self.retention.schedule,
            J::AlertDetection => &self.alert_detection.schedule,
            J::AlertDigest => &self.alert_digest.schedule,
            J::NotificationSender => &self.notification_sender.schedule,
            J::UploadGc => &self.upload_gc.schedule,
            J::ObjectDeletion => &self.object_deletion.schedule,
        }
    }

    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let jobs = self;
        for job in crate::jobs::JobName::ALL {
            check_cron(jobs.schedule(job)).map_err(|m| ConfigError::new(job.schedule_key(), m))?;
        }
        if jobs.retention.batch_size == 0 {
            return Err(ConfigError::new("jobs.retention.batch_size", "must be at least 1"));
        }
        Ok(())
    }
}

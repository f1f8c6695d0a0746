//! The names of the scheduled jobs (SPEC §6), defined once: the config keys
//! (`jobs.<name>.schedule`), the registry, `sessiond run-job <name>`, the job records and the
//! console all spell a job this way. A leaf: it imports nothing from the crate.

use std::fmt;
use std::str::FromStr;

/// One scheduled job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobName {
    /// Marks idle and too-old sessions expired.
    SessionExpiry,
    /// Deletes and anonymizes old data.
    Retention,
    /// Raises alerts from the audit log.
    AlertDetection,
    /// Mails the warning digest.
    AlertDigest,
    /// Delivers the outbox (emails and webhooks).
    NotificationSender,
    /// Deletes orphaned objects.
    UploadGc,
    /// Deletes the objects queued for deletion.
    ObjectDeletion,
}

impl JobName {
    /// Every job, in SPEC §6 order.
    pub const ALL: [JobName; 7] = [
        JobName::SessionExpiry,
        JobName::Retention,
        JobName::AlertDetection,
        JobName::AlertDigest,
        JobName::NotificationSender,
        JobName::UploadGc,
        JobName::ObjectDeletion,
    ];

    /// The name in config keys, job records and the CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobName::SessionExpiry => "session_expiry",
            JobName::Retention => "retention",
            JobName::AlertDetection => "alert_detection",
            JobName::AlertDigest => "alert_digest",
            JobName::NotificationSender => "notification_sender",
            JobName::UploadGc => "upload_gc",
            JobName::ObjectDeletion => "object_deletion",
        }
    }

    /// The config key of its cron expression, `jobs.<name>.schedule`.
    pub const fn schedule_key(self) -> &'static str {
        match self {
            JobName::SessionExpiry => "jobs.session_expiry.schedule",
            JobName::Retention => "jobs.retention.schedule",
            JobName::AlertDetection => "jobs.alert_detection.schedule",
            JobName::AlertDigest => "jobs.alert_digest.schedule",
            JobName::NotificationSender => "jobs.notification_sender.schedule",
            JobName::UploadGc => "jobs.upload_gc.schedule",
            JobName::ObjectDeletion => "jobs.object_deletion.schedule",
        }
    }

    /// Every name, comma-separated (for help and error messages).
    pub fn list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for JobName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A name that is not one of [`JobName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job `{0}`; the jobs are {list}", list = JobName::list())]
pub struct UnknownJob(pub String);

impl FromStr for JobName {
    type Err = UnknownJob;
    fn from_str(s: &str) -> Result<Self, UnknownJob> {
        Self::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| UnknownJob(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::JobName;

    #[test]
    fn names_round_trip_and_keys_follow_them() {
        for job in JobName::ALL {
            assert_eq!(job.as_str().parse::<JobName>(), Ok(job));
            assert_eq!(job.schedule_key(), format!("jobs.{job}.schedule"));
        }
        let err = "gc".parse::<JobName>().expect_err("unknown");
        assert!(err.to_string().contains("upload_gc, object_deletion"), "{err}");
    }
}

//! `object_deletion` (issue 16, points 4-5): works the `pending_object_deletions` queue. Each
//! due record (a single object key, or a session's prefix `uploads/<session>/`) is deleted from
//! the object store, each call bounded by `storage.operation_timeout`; the record goes once the
//! store confirms, and stays with `attempts + 1` and a later `next_attempt_at` otherwise
//! (30 s, doubling, at most an hour). The first failure ends the run (the store is likely
//! down; the next run tries again), and a run with failures is recorded `failed`, so the
//! console shows it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::context::{Counts, JobContext, JobError, count};
use crate::domain::now_millis;
use crate::storage::{ObjectStore, StorageError};
use crate::store::deletions::PendingDeletion;

/// Records taken per query.
const BATCH: u32 = 100;
/// Records handled per run at most (the next run takes the rest).
const MAX_PER_RUN: u64 = 10_000;
/// The first retry delay; doubled per failed attempt.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);
/// The longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);

/// When to try again after `attempts` failed attempts (this one included).
pub fn retry_at(now: DateTime<Utc>, attempts: i32) -> DateTime<Utc> {
    let exp = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(16);
    let delay = FIRST_RETRY.saturating_mul(1 << exp).min(MAX_RETRY);
    now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))
}

async fn delete(objects: &dyn ObjectStore, record: &PendingDeletion) -> Result<u64, StorageError> {
    if record.target.ends_with('/') {
        objects.delete_prefix(&record.target).await
    } else {
        objects.delete(&record.target).await.map(|()| 1)
    }
}

/// One pass over the due records with the job context's object store.
pub async fn delete_pending_objects(ctx: &JobContext) -> Result<Counts, JobError> {
    delete_pending_with(ctx, ctx.objects.as_ref()).await
}

/// One pass over the due records with `objects`.
pub async fn delete_pending_with(ctx: &JobContext, objects: &dyn ObjectStore) -> Result<Counts, JobError> {
    let store = &ctx.store;
    let mut counts = Counts::new();
    for key in ["records_done", "objects_deleted", "records_failed"] {
        count(&mut counts, key, 0);
    }
    let mut handled = 0u64;
    let mut failure = None;
    'run: while handled < MAX_PER_RUN {
        let due = store.due_object_deletions(now_millis(), BATCH).await?;
        let last_batch = due.len() < BATCH as usize;
        for record in due {
            handled += 1;
            match delete(objects, &record).await {
                Ok(n) => {
                    store.finish_object_deletion(record.id).await?;
                    count(&mut counts, "records_done", 1);
                    count(&mut counts, "objects_deleted", n);
                }
                Err(e) => {
                    let attempts = record.attempts.saturating_add(1);
                    let next = retry_at(now_millis(), attempts);
                    store.retry_object_deletion(record.id, next, &e.to_string()).await?;
                    count(&mut counts, "records_failed", 1);
                    tracing::warn!(target_key = %record.target, attempts, error = %e, "object deletion failed; retried later");
                    failure = Some(JobError::ObjectDeletion {
                        target: record.target,
                        attempts,
                        retry_at: crate::domain::rfc3339(next),
                        cause: e,
                    });
                    break 'run;
                }
            }
        }
        if last_batch {
            break;
        }
    }
    match failure {
        None => Ok(counts),
        Some(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let now = now_millis();
        let secs = |a| (retry_at(now, a) - now).num_seconds();
        assert_eq!(secs(1), 30);
        assert_eq!(secs(2), 60);
        assert_eq!(secs(3), 120);
        assert_eq!(secs(8), 3600);
        assert_eq!(secs(1000), 3600);
        assert_eq!(secs(0), 30);
    }
}

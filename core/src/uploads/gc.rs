//! `upload_gc` (SPEC §6): objects that have no upload row are leftovers of a crash between
//! storing an object and committing its row, or of a failed clean-up. They are deleted once
//! older than an hour, so an upload in flight (object stored, row about to commit) is never
//! touched. The filesystem store's stale spool files are swept at the same time.

use std::time::Duration;

use chrono::Utc;

use crate::storage::{ObjectStore, StorageError, UPLOADS_PREFIX};
use crate::store::{StoreError, UploadStore};

/// The age past which an object without a row is garbage (SPEC §6: 1 h).
pub const UPLOAD_GC_AGE: Duration = Duration::from_secs(3600);

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Objects looked at.
    pub scanned: u64,
    /// Objects without a row, deleted.
    pub deleted: u64,
    /// Objects without a row, too young to delete yet.
    pub kept_young: u64,
    /// Stale spool files removed.
    pub spool_deleted: u64,
}

/// Why a run stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GcError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Delete every object under `uploads/` that has no upload row and was last written more than
/// `older_than` ago (use [`UPLOAD_GC_AGE`]). Safe to run on several daemons at once.
pub async fn upload_gc(
    store: &dyn UploadStore,
    objects: &dyn ObjectStore,
    older_than: Duration,
) -> Result<GcReport, GcError> {
    let cutoff = Utc::now() - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let mut report = GcReport::default();
    for object in objects.list(UPLOADS_PREFIX).await? {
        report.scanned += 1;
        if store.upload_key_exists(&object.key).await? {
            continue;
        }
        if object.last_modified >= cutoff {
            report.kept_young += 1;
            continue;
        }
        objects.delete(&object.key).await?;
        tracing::info!(key = %object.key, "upload_gc: deleted an object without a row");
        report.deleted += 1;
    }
    report.spool_deleted = objects.sweep_spool(cutoff).await?;
    Ok(report)
}

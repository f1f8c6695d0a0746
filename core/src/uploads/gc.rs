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

/// Objects listed, and looked up in the database, at a time.
pub const GC_PAGE: usize = 500;

/// Delete every object under `uploads/` that has no upload row and was last written more than
/// `older_than` ago (use [`UPLOAD_GC_AGE`]). Safe to run on several daemons at once. Objects
/// are walked [`GC_PAGE`] at a time, one query per page.
pub async fn upload_gc(
    store: &dyn UploadStore,
    objects: &dyn ObjectStore,
    older_than: Duration,
) -> Result<GcReport, GcError> {
    upload_gc_paged(store, objects, older_than, GC_PAGE).await
}

/// [`upload_gc`] with pages of `page` objects (tests use small pages).
pub async fn upload_gc_paged(
    store: &dyn UploadStore,
    objects: &dyn ObjectStore,
    older_than: Duration,
    page: usize,
) -> Result<GcReport, GcError> {
    let cutoff = Utc::now() - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let mut report = GcReport::default();
    let mut after: Option<String> = None;
    loop {
        let listed = objects.list_page(UPLOADS_PREFIX, after.as_deref(), page.max(1)).await?;
        let Some(last) = listed.last() else { break };
        after = Some(last.key.clone());
        let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
        let with_rows = store.upload_keys_with_rows(&keys).await?;
        for object in &listed {
            report.scanned += 1;
            if with_rows.contains(&object.key) {
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
    }
    report.spool_deleted = objects.sweep_spool(cutoff).await?;
    Ok(report)
}

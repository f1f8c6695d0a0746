//! The one thing the rest of the system needs from object storage: deleting everything stored
//! under a session. The session service (client and administrator resets), the expiry job and
//! the console's purge all go through this, so a reset means the same everywhere.

use std::sync::Arc;

use uuid::Uuid;

use crate::config::Settings;

/// Object storage failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("object storage unavailable: {0}")]
pub struct ObjectsError(pub String);

/// Deletes a session's stored objects.
#[async_trait::async_trait]
pub trait SessionObjects: Send + Sync + 'static {
    /// Delete every object stored under `session`; returns how many were deleted.
    async fn delete_session_objects(&self, session: Uuid) -> Result<u64, ObjectsError>;
}

/// No object storage: nothing to delete.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObjects;

#[async_trait::async_trait]
impl SessionObjects for NoObjects {
    async fn delete_session_objects(&self, _session: Uuid) -> Result<u64, ObjectsError> {
        Ok(0)
    }
}

/// The configured object storage (`storage.*`), as seen by resets and purges.
pub async fn from_settings(settings: &Settings) -> Result<Arc<dyn SessionObjects>, ObjectsError> {
    let store = crate::storage::from_settings(&settings.storage)
        .await
        .map_err(|e| ObjectsError(e.to_string()))?;
    Ok(store)
}

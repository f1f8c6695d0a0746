//! What every job shares: the context it runs with, what it reports ([`Counts`]) and how it
//! fails ([`JobError`]). A leaf: the jobs (`alerts`, `mailer`, `webhooks`, the ones in this
//! folder) import it, and so does the registry in `jobs/mod.rs`, without importing each other.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::config::Settings;
use crate::mailer::smtp::Mailer;
use crate::storage::{ObjectStore, StorageError};
use crate::store::{Store, StoreError};

/// What a job run did, e.g. `{"expired": 3}`; stored in `job_runs.counts`.
pub type Counts = Map<String, Value>;

/// Why a job run failed; its text is stored in `job_runs.error` and the `job.failed` event.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store failed (listing or opening it).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// One queued object could not be deleted; the record is retried later.
    #[error("deleting {target} failed (attempt {attempts}, retried from {retry_at}): {cause}")]
    ObjectDeletion {
        /// The key or prefix.
        target: String,
        /// Failed attempts so far, this one included.
        attempts: i32,
        /// RFC 3339 time of the next attempt.
        retry_at: String,
        /// What the object store said.
        cause: StorageError,
    },
    /// The HTTP client for webhooks could not be built.
    #[error("webhook client: {0}")]
    WebhookClient(String),
    /// Another instance took the lease while the job ran.
    #[error("lease lost to another instance")]
    LeaseLost,
    /// The job panicked; the message is the panic's.
    #[error("the job panicked: {0}")]
    Panicked(String),
}

impl From<crate::uploads::GcError> for JobError {
    fn from(e: crate::uploads::GcError) -> Self {
        match e {
            crate::uploads::GcError::Store(e) => JobError::Store(e),
            crate::uploads::GcError::Storage(e) => JobError::Storage(e),
        }
    }
}

/// Everything a job needs.
#[derive(Clone)]
pub struct JobContext {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The configuration in force.
    pub settings: Arc<Settings>,
    /// The object store (opened once per process): objects of expired sessions, queued
    /// deletions and upload garbage go through it.
    pub objects: Arc<dyn ObjectStore>,
    /// SMTP, when `email.enabled`.
    pub mailer: Option<Arc<Mailer>>,
    /// This process's instance id (the lease holder).
    pub holder: String,
}

/// Add `n` to the count `key` of `counts`.
pub(crate) fn count(counts: &mut Counts, key: &str, n: u64) {
    let prev = counts.get(key).and_then(Value::as_u64).unwrap_or(0);
    counts.insert(key.to_owned(), json!(prev + n));
}

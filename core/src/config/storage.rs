//! `storage.*`: where upload objects live (filesystem or S3).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration, Secret};

/// Which object store holds uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Local filesystem under `storage.fs.root`.
    #[default]
    Fs,
    /// S3-compatible object store.
    S3,
}

/// `storage.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `fs` or `s3`.
    pub backend: StorageBackend,
    /// Longest one object-store call (put, get, delete, list, ping) may take before it is
    /// abandoned and the request answered `503 storage_unavailable`. Below
    /// `server.request_timeout`, so a stalled store is a 503, never a 408.
    pub operation_timeout: HumanDuration,
    /// `storage.fs.*`
    pub fs: FsStorageSettings,
    /// `storage.s3.*`
    pub s3: S3StorageSettings,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: StorageBackend::default(),
            operation_timeout: HumanDuration::secs(10),
            fs: FsStorageSettings::default(),
            s3: S3StorageSettings::default(),
        }
    }
}

/// `storage.fs.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FsStorageSettings {
    /// Directory holding the objects.
    pub root: PathBuf,
}

impl Default for FsStorageSettings {
    fn default() -> Self {
        Self {
            root: PathBuf::from("./data/objects"),
        }
    }
}

/// `storage.s3.*`; credentials may instead come from the standard AWS chain.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct S3StorageSettings {
    /// The bucket; required when `storage.backend = "s3"`.
    pub bucket: Option<String>,
    /// Region (`us-east-1` when unset).
    pub region: Option<String>,
    /// Endpoint URL for S3-compatible stores.
    pub endpoint: Option<String>,
    /// Path-style addressing (MinIO, moto, Ceph).
    pub force_path_style: bool,
    /// With `secret_access_key`: static credentials instead of the AWS chain.
    pub access_key_id: Option<Secret>,
    /// The secret half of the static credentials.
    pub secret_access_key: Option<Secret>,
}

impl StorageSettings {
    /// The checks of this section serde cannot express; an operation must fit in a request
    /// (`server.request_timeout`).
    pub(super) fn validate(&self, request_timeout: Duration) -> Result<(), ConfigError> {
        if self.backend == StorageBackend::Fs && self.fs.root.exists() && !self.fs.root.is_dir() {
            return Err(ConfigError::new(
                "storage.fs.root",
                format!("{} exists and is not a directory", self.fs.root.display()),
            ));
        }
        let op_timeout = self.operation_timeout.get();
        if op_timeout < Duration::from_millis(100) || op_timeout >= request_timeout {
            return Err(ConfigError::new(
                "storage.operation_timeout",
                "must be at least 100ms and less than server.request_timeout",
            ));
        }
        if self.backend == StorageBackend::S3 && self.s3.bucket.as_deref().unwrap_or("").is_empty() {
            return Err(ConfigError::new(
                "storage.s3.bucket",
                "required when storage.backend = \"s3\"",
            ));
        }
        Ok(())
    }
}

//! Objects in an S3 bucket (AWS S3 or any S3-compatible store: MinIO, R2, Ceph, moto) through
//! aws-sdk-s3. A PutObject is atomic on S3's side: an object appears whole or not at all.
//! Credentials come from `storage.s3.*` when set, else from the standard AWS chain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use super::{ObjectInfo, ObjectReader, ObjectStore, StorageError};
use crate::config::S3StorageSettings;

/// S3 object store.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    spool: PathBuf,
}

fn unavailable(what: &str, e: impl std::error::Error) -> StorageError {
    StorageError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

impl S3Store {
    /// A client for `settings.bucket`, spooling under `<fs_root>/.tmp`, giving up on any one
    /// call after `operation_timeout` (all attempts included). Does not contact the store.
    pub async fn connect(
        settings: &S3StorageSettings,
        fs_root: &Path,
        operation_timeout: Duration,
    ) -> Result<Self, StorageError> {
        let spool = super::create_spool(fs_root)?;
        let bucket = settings
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| StorageError::Unavailable("storage.s3.bucket is not set".into()))?;
        let region = settings.region.clone().unwrap_or_else(|| "us-east-1".into());
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(region))
            // A store that is down or stalled must answer 503 within `storage.operation_timeout`
            // rather than hold requests (the `Timed` wrapper bounds the call again, and the
            // streamed body of a download).
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3).min(operation_timeout))
                    .operation_attempt_timeout(operation_timeout)
                    .operation_timeout(operation_timeout)
                    .read_timeout(operation_timeout)
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2));
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id.expose(),
                secret.expose(),
                None,
                None,
                "sessiond-config",
            ));
        }
        if let Some(endpoint) = settings.endpoint.as_deref().filter(|e| !e.is_empty()) {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            // Checksums only where S3 requires them: several S3-compatible stores reject the
            // newer default trailing checksums on streamed bodies.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            bucket,
            spool,
        })
    }
}

fn to_chrono(t: &aws_sdk_s3::primitives::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_else(Utc::now)
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn spool_dir(&self) -> PathBuf {
        self.spool.clone()
    }

    async fn put_file(&self, key: &str, path: &Path, size: u64) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::Unavailable(format!("cannot read spool file: {e}")))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/pdf")
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable("put object", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_no_such_key() => StorageError::NotFound(key.to_owned()),
                _ => unavailable("get object", e),
            })?;
        let size = out.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        Ok(ObjectReader {
            size,
            reader: Box::pin(out.body.into_async_read()),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable("delete object", e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unavailable("list objects", e))?;
            out.extend(page.contents().iter().filter_map(object_info));
        }
        Ok(out)
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StorageError> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(after.map(str::to_owned))
            .max_keys(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| unavailable("list objects", e))?;
        Ok(page.contents().iter().filter_map(object_info).collect())
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| unavailable("head bucket", e))?;
        Ok(())
    }
}

fn object_info(object: &aws_sdk_s3::types::Object) -> Option<ObjectInfo> {
    Some(ObjectInfo {
        key: object.key()?.to_owned(),
        last_modified: object.last_modified().map(to_chrono).unwrap_or_else(Utc::now),
    })
}

//! Every object-store call bounded in time (`storage.operation_timeout`): a store that accepts
//! connections and never answers (or a filesystem that hangs) fails the call with
//! [`StorageError::Unavailable`] instead of holding the request until `server.request_timeout`.
//! A download's body is bounded too: a read that waits longer than the limit for its next
//! bytes fails the stream.
//!
//! A call given up on may still finish in the background (a blocking filesystem call cannot be
//! cancelled; an S3 PUT may have been received whole). Callers treat a timed-out write as
//! failed and queue its key for deletion, so a late object is never served and never kept.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Sleep;

use super::{ObjectInfo, ObjectReader, ObjectStore, StorageError};

/// An object store whose every call gives up after `limit`.
pub struct Timed {
    inner: Arc<dyn ObjectStore>,
    limit: Duration,
}

impl Timed {
    /// Bound every call of `inner` by `limit`.
    pub fn new(inner: Arc<dyn ObjectStore>, limit: Duration) -> Self {
        Self { inner, limit }
    }

    async fn bounded<T>(
        &self,
        what: &str,
        f: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.limit, f).await {
            Ok(r) => r,
            Err(_) => Err(StorageError::Unavailable(format!(
                "{what} did not finish within storage.operation_timeout ({})",
                humantime::format_duration(self.limit)
            ))),
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for Timed {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn spool_dir(&self) -> PathBuf {
        self.inner.spool_dir()
    }

    async fn put_file(&self, key: &str, path: &Path, size: u64) -> Result<(), StorageError> {
        self.bounded("put", self.inner.put_file(key, path, size)).await
    }

    async fn get(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let object = self.bounded("get", self.inner.get(key)).await?;
        Ok(ObjectReader {
            size: object.size,
            reader: Box::pin(IdleTimeout {
                inner: object.reader,
                limit: self.limit,
                sleep: None,
            }),
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.bounded("delete", self.inner.delete(key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        self.bounded("list", self.inner.list(prefix)).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectInfo>, StorageError> {
        self.bounded("list", self.inner.list_page(prefix, after, limit)).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        // Each listing and each delete bounded on its own: a large prefix may take longer than
        // one operation in all, but never stalls.
        let mut n = 0;
        for object in self.list(prefix).await? {
            self.delete(&object.key).await?;
            n += 1;
        }
        Ok(n)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.bounded("ping", self.inner.ping()).await
    }

    async fn sweep_spool(&self, cutoff: DateTime<Utc>) -> Result<u64, StorageError> {
        self.bounded("spool sweep", self.inner.sweep_spool(cutoff)).await
    }
}

/// A reader that fails with `TimedOut` when it waits more than `limit` for its next bytes.
struct IdleTimeout {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for IdleTimeout {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.sleep = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = this.limit;
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.sleep = None;
                        Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "object store sent nothing within storage.operation_timeout",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    struct Never;

    impl AsyncRead for Never {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_stalled_body_fails_after_the_limit() {
        let mut r = IdleTimeout {
            inner: Box::pin(Never),
            limit: Duration::from_millis(50),
            sleep: None,
        };
        let mut buf = [0u8; 4];
        let t = std::time::Instant::now();
        let err = r.read(&mut buf).await.expect_err("times out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(50));
    }
}

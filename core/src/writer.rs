//! The group-commit writer. Requests hand it their writes (audit events, `last_seen_at`
//! refreshes, new sessions); one task commits whatever has queued up as one transaction and
//! wakes each request when its writes are durable. Under load a single fsync covers many
//! requests; when idle a write commits at once. A failed batch fails every request in it:
//! nothing is acknowledged that is not stored.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{OpOutcome, Store, StoreError, WriteOp};

/// Why a submission was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The batch's transaction failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer has shut down (the daemon is stopping).
    #[error("the audit writer is shut down")]
    Closed,
}

/// Called with the number of ops in each committed batch (for metrics).
pub type BatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

/// Tuning of the writer.
#[derive(Clone)]
pub struct WriterOptions {
    /// Most ops committed in one transaction.
    pub max_batch_ops: usize,
    /// Submissions queued before `submit` waits.
    pub queue: usize,
    /// Metrics hook.
    pub observer: Option<BatchObserver>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            max_batch_ops: 512,
            queue: 8192,
            observer: None,
        }
    }
}

struct Job {
    ops: Vec<WriteOp>,
    done: oneshot::Sender<Result<Vec<OpOutcome>, WriteError>>,
}

/// Handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Job>,
}

/// Owns the writer task; [`WriterHandle::shutdown`] flushes what is queued and stops it.
pub struct WriterHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl AuditWriter {
    /// Start the writer task on the current runtime.
    pub fn spawn(store: Arc<dyn Store>, options: WriterOptions) -> (AuditWriter, WriterHandle) {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(store, options, rx, stop_rx));
        (
            AuditWriter { tx },
            WriterHandle {
                stop: Some(stop_tx),
                task,
            },
        )
    }

    /// Queue `ops` and wait until they are committed. Outcomes come back in order.
    pub async fn submit(&self, ops: Vec<WriteOp>) -> Result<Vec<OpOutcome>, WriteError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Job { ops, done }).await.map_err(|_| WriteError::Closed)?;
        wait.await.map_err(|_| WriteError::Closed)?
    }
}

impl WriterHandle {
    /// Stop taking new writes, commit everything already queued, and wait for the task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::error!(error = %e, "audit writer task ended abnormally");
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    options: WriterOptions,
    mut rx: mpsc::Receiver<Job>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut stopping = false;
    let mut jobs: Vec<Job> = Vec::new();
    let mut ops: Vec<WriteOp> = Vec::new();
    let mut lens: Vec<usize> = Vec::new();
    loop {
        let first = if stopping {
            rx.recv().await
        } else {
            tokio::select! {
                biased;
                job = rx.recv() => job,
                _ = &mut stop => {
                    // Refuse new submissions; what is already queued is still committed.
                    stopping = true;
                    rx.close();
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let mut n = first.ops.len();
        jobs.push(first);
        while n < options.max_batch_ops {
            match rx.try_recv() {
                Ok(job) => {
                    n += job.ops.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        for job in &mut jobs {
            lens.push(job.ops.len());
            ops.append(&mut job.ops);
        }
        let result = store.commit_batch(&ops).await;
        if let Some(observe) = &options.observer {
            observe(ops.len());
        }
        match result {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for (job, len) in jobs.drain(..).zip(lens.drain(..)) {
                    let _ = job.done.send(Ok(outcomes.by_ref().take(len).collect()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, ops = ops.len(), "audit batch failed; its requests get 503");
                for job in jobs.drain(..) {
                    let _ = job.done.send(Err(WriteError::Store(e.clone())));
                }
                lens.clear();
            }
        }
        ops.clear();
    }
}

//! The group-commit writer. Requests hand it their writes (audit events, validations,
//! `last_seen_at` refreshes, new sessions); one loop commits whatever has queued up as one transaction and
//! wakes each request when its writes are durable. Under load a single fsync covers many
//! requests; when idle a write commits at once. A failed batch fails every request in it:
//! nothing is acknowledged that is not stored.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{OpOutcome, Store, StoreError, SyncCommit, WriteOp};

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

enum Msg {
    Job(Job),
    /// Refuse new submissions; commit what is queued, then end.
    Stop,
}

/// Handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Msg>,
}

/// Owns the writer; [`WriterHandle::shutdown`] flushes what is queued and stops it.
pub struct WriterHandle {
    tx: mpsc::Sender<Msg>,
    finished: Finished,
}

enum Finished {
    Task(JoinHandle<()>),
    Thread(oneshot::Receiver<()>),
}

impl AuditWriter {
    /// Start the writer. With a store that commits synchronously (SQLite) it runs on a thread
    /// of its own, so a batch is one hand-off from the requests and one back; otherwise it is
    /// a task on the current runtime.
    pub fn spawn(store: Arc<dyn Store>, options: WriterOptions) -> (AuditWriter, WriterHandle) {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let batcher = Batcher::new(options);
        let finished = match store.sync_committer() {
            Some(committer) => {
                let (done_tx, done_rx) = oneshot::channel();
                let spawned = std::thread::Builder::new()
                    .name("sessiond-writer".into())
                    .spawn(move || {
                        run_on_thread(committer.as_ref(), batcher, rx);
                        let _ = done_tx.send(());
                    });
                if let Err(e) = spawned {
                    // Without its thread the writer cannot run; every submission then fails
                    // as `Closed` (503), which is what a writer that cannot start should do.
                    tracing::error!(error = %e, "cannot start the audit writer thread");
                }
                Finished::Thread(done_rx)
            }
            None => Finished::Task(tokio::spawn(run_on_runtime(store, batcher, rx))),
        };
        (AuditWriter { tx: tx.clone() }, WriterHandle { tx, finished })
    }

    /// Queue `ops` and wait until they are committed. Outcomes come back in order.
    pub async fn submit(&self, ops: Vec<WriteOp>) -> Result<Vec<OpOutcome>, WriteError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Job(Job { ops, done }))
            .await
            .map_err(|_| WriteError::Closed)?;
        wait.await.map_err(|_| WriteError::Closed)?
    }
}

impl WriterHandle {
    /// Stop taking new writes, commit everything already queued, and wait for the writer.
    pub async fn shutdown(self) {
        let _ = self.tx.send(Msg::Stop).await;
        match self.finished {
            Finished::Task(task) => {
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "audit writer task ended abnormally");
                }
            }
            Finished::Thread(done) => {
                if done.await.is_err() {
                    tracing::error!("audit writer thread ended abnormally");
                }
            }
        }
    }
}

/// Gathers queued submissions into one batch and answers each when the batch is done.
struct Batcher {
    options: WriterOptions,
    jobs: Vec<Job>,
    lens: Vec<usize>,
    ops: Vec<WriteOp>,
}

impl Batcher {
    fn new(options: WriterOptions) -> Self {
        Self {
            options,
            jobs: Vec::new(),
            lens: Vec::new(),
            ops: Vec::new(),
        }
    }

    /// Take `msg` and whatever else is queued (up to the batch limit) into a batch; false when
    /// there is nothing to commit.
    fn gather(&mut self, msg: Msg, rx: &mut mpsc::Receiver<Msg>) -> bool {
        let mut next = Some(msg);
        let mut n = 0;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(job) => {
                    n += job.ops.len();
                    self.jobs.push(job);
                }
                // Refuse new submissions; what is already queued is still committed.
                Msg::Stop => rx.close(),
            }
            if n < self.options.max_batch_ops {
                next = rx.try_recv().ok();
            }
        }
        for job in &mut self.jobs {
            self.lens.push(job.ops.len());
            self.ops.append(&mut job.ops);
        }
        !self.jobs.is_empty()
    }

    /// Answer every submission of the batch with its outcomes, or all with the failure.
    fn finish(&mut self, result: Result<Vec<OpOutcome>, StoreError>) {
        if let Some(observe) = &self.options.observer {
            observe(self.ops.len());
        }
        match result {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for (job, len) in self.jobs.drain(..).zip(self.lens.drain(..)) {
                    let _ = job.done.send(Ok(outcomes.by_ref().take(len).collect()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, ops = self.ops.len(), "audit batch failed; its requests get 503");
                for job in self.jobs.drain(..) {
                    let _ = job.done.send(Err(WriteError::Store(e.clone())));
                }
                self.lens.clear();
            }
        }
        self.ops.clear();
    }
}

async fn run_on_runtime(store: Arc<dyn Store>, mut batcher: Batcher, mut rx: mpsc::Receiver<Msg>) {
    while let Some(msg) = rx.recv().await {
        if batcher.gather(msg, &mut rx) {
            let result = store.commit_batch(&batcher.ops).await;
            batcher.finish(result);
        }
    }
}

fn run_on_thread(committer: &dyn SyncCommit, mut batcher: Batcher, mut rx: mpsc::Receiver<Msg>) {
    while let Some(msg) = rx.blocking_recv() {
        if batcher.gather(msg, &mut rx) {
            let result = committer.commit(&batcher.ops);
            batcher.finish(result);
        }
    }
}
